"""The inventory model validation: each class of mistake is refused, naming host and variable."""
import pytest

from ansible_collections.sovereign.datacenter.plugins.module_utils._platform import inventory_errors

TIERS = ["dmz", "app", "data", "ai", "security", "management"]
SITES = ["dc1", "dc2"]
SEGMENTS = {
    "dc1": {"app": ["10.0.10.0/24"], "data": ["10.0.20.0/24"]},
    "dc2": {"data": ["10.1.20.0/24"]},
}


def host(tier, site, address, *extra):
    return {"group_names": ["tiers", "sites", tier, site] + list(extra), "platform_address": address}


def valid_hosts():
    return {
        "app1": host("app", "dc1", "10.0.10.11", "app_servers"),
        "pg1": host("data", "dc1", "10.0.20.11", "postgresql"),
        "pg3": host("data", "dc2", "10.1.20.11", "postgresql"),
    }


def test_valid_inventory_has_no_errors():
    assert inventory_errors(valid_hosts(), TIERS, SITES, SEGMENTS) == []


def test_unknown_tier_names_the_host_and_group_names():
    hosts = valid_hosts()
    hosts["be1"] = {"group_names": ["tiers", "sites", "backend", "dc1"], "platform_address": "10.0.10.50"}
    errors = inventory_errors(hosts, TIERS, SITES, SEGMENTS)
    assert len(errors) == 1
    assert "'be1'" in errors[0] and "group_names" in errors[0] and "backend" in errors[0]


def test_unknown_site():
    hosts = valid_hosts()
    hosts["x1"] = {"group_names": ["app", "dc9"], "platform_address": "10.0.10.60"}
    errors = inventory_errors(hosts, TIERS, SITES, SEGMENTS)
    assert any("'x1'" in e and "platform_sites" in e and "dc9" in e for e in errors)


def test_host_in_two_tiers_is_refused():
    hosts = valid_hosts()
    hosts["app1"]["group_names"].append("data")
    assert any("'app1'" in e and "exactly one tier" in e for e in inventory_errors(hosts, TIERS, SITES, SEGMENTS))


@pytest.mark.parametrize("cidr, fragment", [
    ("10.0.300.0/24", "not a valid CIDR"),
    ("10.0.10.5/24", "host bits set"),
    ("10.0.10.0", "CIDR notation"),
    ("banana/24", "not a valid CIDR"),
])
def test_malformed_cidr_names_the_variable(cidr, fragment):
    segments = {"dc1": {"app": [cidr], "data": ["10.0.20.0/24"]}, "dc2": {"data": ["10.1.20.0/24"]}}
    errors = inventory_errors(valid_hosts(), TIERS, SITES, segments)
    assert any(e.startswith("platform_segments.dc1.app[0]:") and fragment in e for e in errors), errors


def test_unknown_tier_or_site_in_segments():
    segments = dict(SEGMENTS, dc3={"app": ["10.3.0.0/24"]})
    segments["dc1"] = dict(SEGMENTS["dc1"], web=["10.0.99.0/24"])
    errors = inventory_errors(valid_hosts(), TIERS, SITES, segments)
    assert any(e.startswith("platform_segments.dc3:") for e in errors)
    assert any(e.startswith("platform_segments.dc1.web:") for e in errors)


def test_overlapping_segments_are_refused():
    segments = {"dc1": {"app": ["10.0.0.0/16"], "data": ["10.0.20.0/24"]}, "dc2": {"data": ["10.1.20.0/24"]}}
    errors = inventory_errors(valid_hosts(), TIERS, SITES, segments)
    assert any("overlaps" in e and "platform_segments.dc1.app" in e for e in errors)


def test_host_outside_its_segment():
    hosts = valid_hosts()
    hosts["pg3"]["platform_address"] = "10.0.20.99"  # a DC1 address on a DC2 host
    errors = inventory_errors(hosts, TIERS, SITES, SEGMENTS)
    assert errors == ["host 'pg3': platform_address 10.0.20.99 is outside its segment "
                      "platform_segments.dc2.data (10.1.20.0/24)"]


def test_duplicate_address_names_both_hosts():
    hosts = valid_hosts()
    hosts["pg2"] = host("data", "dc1", "10.0.20.11", "postgresql")
    errors = inventory_errors(hosts, TIERS, SITES, SEGMENTS)
    assert len(errors) == 1 and "'pg2'" in errors[0] and "'pg1'" in errors[0] and "10.0.20.11" in errors[0]


def test_missing_and_invalid_address():
    hosts = valid_hosts()
    hosts["app1"]["platform_address"] = None
    hosts["pg1"]["platform_address"] = "10.0.20.x"
    errors = inventory_errors(hosts, TIERS, SITES, SEGMENTS)
    assert "host 'app1': platform_address is not set" in errors
    assert any("'pg1'" in e and "not an IP address" in e for e in errors)


def test_missing_segment_for_site_and_tier():
    hosts = valid_hosts()
    hosts["gw1"] = host("dmz", "dc1", "10.0.1.5")
    errors = inventory_errors(hosts, TIERS, SITES, SEGMENTS)
    assert errors == ["host 'gw1': no segment platform_segments.dc1.dmz is defined for its site and tier"]
