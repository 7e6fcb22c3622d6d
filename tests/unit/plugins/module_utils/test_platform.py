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


# --- the one model: parse_cidr, placement, the ansible-inventory document, the lab -------------

def test_one_parse_cidr_for_every_caller():
    from ansible_collections.sovereign.datacenter.plugins.module_utils._platform import CidrError, parse_cidr

    assert str(parse_cidr("10.0.0.0/8")) == "10.0.0.0/8"
    assert str(parse_cidr(" 10.0.0.1 ", allow_address=True)) == "10.0.0.1/32"
    assert str(parse_cidr("2001:db8::1", allow_address=True)) == "2001:db8::1/128"
    for value, kind in (("10.0.0.1", "notation"), ("10.0.0.1/8", "host_bits"), ("10.0.0.0/33", "invalid"), (5, "notation")):
        with pytest.raises(CidrError) as info:
            parse_cidr(value)
        assert info.value.kind == kind and isinstance(info.value, ValueError)


def test_placement_is_the_one_membership_check():
    from ansible_collections.sovereign.datacenter.plugins.module_utils._platform import placement

    assert placement(["app", "dc1", "app_servers"], TIERS, SITES) == (["app"], ["dc1"])
    assert placement(["app", "data", "dc1"], TIERS, SITES) == (["app", "data"], ["dc1"])


def _listing(**host_overrides):
    hostvars = {
        "app1": {"platform_address": "10.0.10.11"},
        "pg1": {"platform_address": "10.0.20.11"},
    }
    for host, hv in hostvars.items():
        hv.update({"platform_tiers": TIERS, "platform_sites": SITES, "platform_segments": SEGMENTS,
                   "lab_link_cidr": "10.99.0.0/24"})
        hv.update(host_overrides.get(host, {}))
    return {"_meta": {"hostvars": hostvars},
            "all": {"children": ["tiers", "sites", "ungrouped"]},
            "tiers": {"children": ["app", "data"]}, "sites": {"children": ["dc1"]},
            "app": {"hosts": ["app1"]}, "data": {"children": ["postgresql"]},
            "postgresql": {"hosts": ["pg1"]}, "dc1": {"hosts": ["app1", "pg1"]}}


def test_model_from_inventory_json():
    from ansible_collections.sovereign.datacenter.plugins.module_utils._platform import model_from_inventory_json

    model, settings, errors = model_from_inventory_json(_listing(), shared=("lab_link_cidr", "lab_absent"))
    assert errors == []
    assert model.tier_of == {"app1": "app", "pg1": "data"} and model.site_of == {"app1": "dc1", "pg1": "dc1"}
    assert settings["lab_link_cidr"] == "10.99.0.0/24" and "lab_absent" not in settings
    assert sorted(model.members["postgresql"]) == ["pg1"]


def test_model_refuses_a_host_in_two_tiers_and_a_host_with_its_own_platform_settings():
    from ansible_collections.sovereign.datacenter.plugins.module_utils._platform import model_from_inventory_json

    listing = _listing(pg1={"platform_sites": ["dc1", "dc9"]})
    listing["data"]["hosts"] = ["app1"]  # app1 in app and data: the last one must not win
    unused_model, settings, errors = model_from_inventory_json(listing)
    assert settings["platform_sites"] in (SITES, ["dc1", "dc9"])
    assert any("pg1" in e and "platform_sites differs" in e for e in errors), errors
    assert any("'app1'" in e and "exactly one tier" in e for e in errors), errors


def test_lab_reads_the_one_model(tmp_path):
    """lab/lab.py builds its placement from the model and refuses a host in two tiers (no podman call)."""
    import importlib.util
    import os
    import subprocess
    import yaml

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
    spec = importlib.util.spec_from_file_location("sovereign_lab", os.path.join(repo, "lab", "lab.py"))
    lab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lab)
    base = {"platform_tiers": TIERS, "platform_sites": SITES, "platform_segments": SEGMENTS,
            "lab_link_cidr": "10.99.0.0/24", "lab_uplink_cidr": "10.98.0.0/24"}
    doc = {"all": {"vars": base, "children": {
        "app": {"hosts": {"app1": {"platform_address": "10.0.10.11"}}},
        "data": {"hosts": {"pg1": {"platform_address": "10.0.20.11"}}},
        "dc1": {"hosts": {"app1": None, "pg1": None}}}}}
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(doc))
    if subprocess.run(["ansible-inventory", "--version"], capture_output=True, check=False).returncode != 0:
        pytest.skip("ansible-inventory not on PATH")
    model = lab.Lab(str(inv))
    assert model.placement == {"app1": ("dc1", "app"), "pg1": ("dc1", "data")}
    assert [str(n) for n in model.segments[("dc1", "data")]] == ["10.0.20.0/24"]
    doc["all"]["children"]["data"]["hosts"]["app1"] = None
    inv.write_text(yaml.safe_dump(doc))
    with pytest.raises(SystemExit) as info:
        lab.Lab(str(inv))
    assert "'app1'" in str(info.value) and "exactly one tier" in str(info.value)
