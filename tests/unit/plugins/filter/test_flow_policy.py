# -*- coding: utf-8 -*-
"""Unit tests of the flow policy model and its filters (behaviour, not files)."""
from __future__ import absolute_import, division, print_function

import shutil
import subprocess

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.sovereign.datacenter.plugins.filter import flow_policy as filters
from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_policy import (
    FlowPolicyError,
    compile_policy,
    validate_policy,
)
from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_render_nftables import render_nftables

TIERS = ["dmz", "app", "data", "ai", "security", "management"]
SITES = ["dc1", "dc2"]
PORTS = {"ssh": 22, "https": 443, "postgresql": 5432, "node_exporter": 9100}
CDN = ["198.51.100.0/24", "2001:db8::/32"]
SEGMENTS = {
    "dc1": {"dmz": ["10.210.1.0/24"], "app": ["10.210.10.0/24"], "data": ["10.210.20.0/24", "fd00:20::/64"],
            "management": ["10.210.50.0/24"]},
    "dc2": {"data": ["10.220.20.0/24"], "management": ["10.220.50.0/24"]},
}
GROUPS = {
    "all": ["lb1", "app1", "pg1", "pg2", "pg3", "mon1", "bastion1"],
    "dmz": ["lb1"], "loadbalancers": ["lb1"],
    "app": ["app1"], "app_servers": ["app1"],
    "data": ["pg1", "pg2", "pg3"], "postgresql": ["pg1", "pg2", "pg3"],
    "management": ["mon1", "bastion1"], "monitoring": ["mon1"], "bastions": ["bastion1"],
    "vault": [], "security": [], "ai": [],
    "dc1": ["lb1", "app1", "pg1", "pg2", "mon1", "bastion1"], "dc2": ["pg3"],
}
ADDR = {"lb1": "10.210.1.11", "app1": "10.210.10.11", "pg1": "10.210.20.11", "pg2": "10.210.20.12",
        "pg3": "10.220.20.11", "mon1": "10.210.50.11", "bastion1": "10.210.50.10"}
HOSTS = filters.flow_policy_hosts(GROUPS, dict((h, {"platform_address": a}) for h, a in ADDR.items()))
OPTS = dict(tiers=TIERS, sites=SITES, ports_map=PORTS, cdn_ranges=CDN, known_groups=list(GROUPS))

FLOWS = [
    {"name": "management_ssh", "from": ["management"], "to": "all", "ports": ["ssh"]},
    {"name": "monitoring_node_exporter", "from": "monitoring", "to": "all", "ports": ["node_exporter"]},
    {"name": "cdn_https", "from": CDN, "to": "loadbalancers", "ports": ["https"]},
    {"name": "app_to_postgresql", "from": ["app"], "to": "postgresql", "ports": [5432]},
    {"name": "postgresql_replication_dc2", "from": ["dc1.data"], "to": "postgresql&dc2", "ports": ["postgresql"]},
]


def compiled(flows=None, **extra):
    flows = FLOWS if flows is None else flows
    opts = dict(OPTS)
    opts.update(extra)
    return compile_policy(HOSTS, SEGMENTS, flows, **opts)


def errors(flows):
    return validate_policy(HOSTS, SEGMENTS, flows, **OPTS)


def flow_names(ruleset):
    return [f["name"] for f in ruleset["flows"]]


def test_valid_policy_has_no_errors():
    assert errors(FLOWS) == []


def test_each_host_gets_only_flows_that_target_it():
    rules = compiled()
    assert flow_names(rules["lb1"]) == ["cdn_https", "management_ssh", "monitoring_node_exporter"]
    assert flow_names(rules["pg1"]) == ["app_to_postgresql", "management_ssh", "monitoring_node_exporter"]
    assert flow_names(rules["pg3"]) == ["app_to_postgresql", "management_ssh", "monitoring_node_exporter",
                                        "postgresql_replication_dc2"]
    assert flow_names(rules["app1"]) == ["management_ssh", "monitoring_node_exporter"]


def test_dc2_replication_only_from_dc1_data_segment():
    flow = [f for f in compiled()["pg3"]["flows"] if f["name"] == "postgresql_replication_dc2"][0]
    assert flow["v4"] == ["10.210.20.0/24"]
    assert flow["v6"] == ["fd00:20::/64"]
    assert flow["ports"] == [(5432, 5432)]


def test_sources_are_cidr_merged():
    # bastion1 (10.210.50.10) lies inside the management segment: one /24 per site, no /32
    flows = [{"name": "ssh", "from": ["bastions", "management"], "to": "all", "ports": [22]}]
    flow = compiled(flows)["pg1"]["flows"][0]
    assert flow["v4"] == ["10.210.50.0/24", "10.220.50.0/24"]


def test_ports_are_merged_and_named():
    flows = [{"name": "many", "from": "app", "to": "postgresql", "ports": [5433, "5432", "5434-5440", "ssh", 22]}]
    assert compiled(flows)["pg1"]["flows"][0]["ports"] == [(22, 22), (5432, 5440)]


def test_hosts_with_same_flows_share_one_ruleset():
    rules = compiled()
    assert rules["pg1"] is rules["pg2"]
    assert rules["mon1"] is rules["bastion1"]


def test_output_is_deterministic():
    a = compiled()
    b = compiled(list(reversed(FLOWS)))
    assert dict((h, render_nftables(r)) for h, r in a.items()) == dict((h, render_nftables(r)) for h, r in b.items())


@pytest.mark.parametrize("flow,expected", [
    ({"name": "x", "from": "app", "to": "nosuch", "ports": [1]}, "flow x: unknown group 'nosuch' in to"),
    ({"name": "x", "from": "nosuch", "to": "postgresql", "ports": [1]}, "flow x: unknown group 'nosuch' in from"),
    ({"name": "x", "from": "10.210.10.0/33", "to": "postgresql", "ports": [1]}, "flow x: bad CIDR '10.210.10.0/33'"),
    ({"name": "x", "from": "10.210.10.5/24", "to": "postgresql", "ports": [1]}, "flow x: bad CIDR '10.210.10.5/24': host bits set"),
    ({"name": "x", "from": "app", "to": "postgresql", "ports": [0]}, "flow x: port 0 out of range"),
    ({"name": "x", "from": "app", "to": "postgresql", "ports": [65536]}, "flow x: port 65536 out of range"),
    ({"name": "x", "from": "app", "to": "postgresql", "ports": ["90-80"]}, "flow x: port range '90-80' is reversed"),
    ({"name": "x", "from": "app", "to": "postgresql", "ports": ["nope"]}, "flow x: unknown port name 'nope'"),
    ({"name": "x", "from": "app", "to": "postgresql", "ports": []}, "flow x: ports must list"),
    ({"name": "x", "from": "app", "to": "postgresql", "ports": [1], "proto": "icmp"}, "flow x: proto 'icmp'"),
    ({"name": "x", "from": "app", "to": "postgresql", "port": [1]}, "flow x: unknown keys ['port']"),
    ({"name": "x", "from": "dc3.data", "to": "postgresql", "ports": [1]}, "flow x: unknown site 'dc3'"),
    ({"name": "x", "from": "dc2.dmz", "to": "postgresql", "ports": [1]}, "flow x: segment 'dc2.dmz' is not declared"),
    ({"name": "x", "from": "app", "to": "loadbalancers", "ports": [443]},
     "flow x: source 'app' may not enter the internet-facing dmz tier"),
    ({"name": "x", "from": "0.0.0.0/0", "to": "loadbalancers", "ports": [443]},
     "flow x: source '0.0.0.0/0' may not enter the internet-facing dmz tier"),
    ({"name": "x", "from": "203.0.113.0/24", "to": "postgresql", "ports": [5432]},
     "flow x: source '203.0.113.0/24' lies outside the platform segments"),
    ({"name": "bad name!", "from": "app", "to": "postgresql", "ports": [1]}, "flow #6 ('bad name!'): name must match"),
])
def test_validation_errors_name_the_flow(flow, expected):
    found = errors(FLOWS + [flow])
    assert any(e.startswith(expected) for e in found), found


def test_management_and_monitoring_may_enter_the_dmz():
    flows = [{"name": "ok", "from": ["management", "monitoring", "10.210.50.0/25"], "to": "dmz", "ports": [22]}]
    assert errors(flows) == []


def test_duplicate_names_are_reported():
    assert "flow management_ssh: defined twice" in errors(FLOWS + [FLOWS[0]])[0]


def test_host_problems_are_reported():
    hosts = dict(HOSTS)
    hosts["stray"] = {"platform_address": "10.99.0.1", "groups": ["data", "dc1"]}
    hosts["nosite"] = {"platform_address": "bogus", "groups": ["data"]}
    found = validate_policy(hosts, SEGMENTS, FLOWS, **OPTS)
    assert any(e.startswith("host stray: platform_address 10.99.0.1 is outside segment dc1.data") for e in found)
    assert any(e.startswith("host nosite: must belong to exactly one site group") for e in found)
    assert any(e.startswith("host nosite: platform_address 'bogus' is not an IP address") for e in found)


def test_compile_raises_with_every_problem():
    with pytest.raises(FlowPolicyError) as info:
        compiled(FLOWS + [{"name": "a", "from": "nosuch", "to": "all", "ports": [1]},
                          {"name": "b", "from": "app", "to": "postgresql", "ports": [0]}])
    assert len(info.value.errors) == 2


def test_filter_compile_fails_naming_the_flow():
    with pytest.raises(AnsibleFilterError, match="flow broken: unknown group 'ghosts' in from"):
        filters.flow_policy_compile(FLOWS + [{"name": "broken", "from": "ghosts", "to": "all", "ports": [1]}],
                                    HOSTS, SEGMENTS, **OPTS)


def test_merge_by_name_updates_and_removes():
    base = [{"name": "a", "from": "app", "to": "postgresql", "ports": [5432]},
            {"name": "b", "from": "app", "to": "all", "ports": [22]}]
    role = [{"name": "a", "from": "app_servers"}, {"name": "c", "from": "app", "to": "vault", "ports": [8200]}]
    host = [{"name": "b", "state": "absent"}]
    merged = filters.flow_policy_merge(base, role, host)
    assert merged == [{"name": "a", "from": "app_servers", "to": "postgresql", "ports": [5432]},
                      {"name": "c", "from": "app", "to": "vault", "ports": [8200]}]
    assert base[0]["from"] == "app"  # inputs untouched


def test_empty_target_group_is_not_an_error():
    flows = [{"name": "v", "from": "app", "to": "vault", "ports": [8200]}]
    assert errors(flows) == []
    assert all(rs["flows"] == [] for rs in compiled(flows).values())


def test_nftables_output_shape():
    text = filters.flow_policy_compile(FLOWS, HOSTS, SEGMENTS, output="nftables", **OPTS)["pg3"]
    assert "type filter hook input priority filter; policy drop;" in text
    assert "ct state established,related accept" in text
    assert 'iifname "lo" accept' in text
    assert "ip saddr @f_postgresql_replication_dc2_v4 tcp dport 5432 accept" in text
    assert "ip6 saddr @f_postgresql_replication_dc2_v6 tcp dport 5432 accept" in text
    assert text.count(" accept comment ") == 5  # 4 flows, one of them dual-stack
    assert text.startswith("#!/usr/sbin/nft -f")


@pytest.mark.skipif(not shutil.which("nft") or not shutil.which("unshare"), reason="nft/unshare not installed")
def test_rendered_ruleset_passes_nft_check_in_a_private_netns(tmp_path):
    for host, text in filters.flow_policy_compile(FLOWS, HOSTS, SEGMENTS, output="nftables", **OPTS).items():
        path = tmp_path / ("%s.nft" % host)
        path.write_text(text)
        # nft -c never commits; unshare -n keeps even the check away from the host's ruleset
        result = subprocess.run(["unshare", "-n", "nft", "-c", "-f", str(path)], capture_output=True, text=True,
                                check=False)
        if result.returncode != 0 and "Operation not permitted" in result.stderr:
            pytest.skip("no permission to create a network namespace")
        assert result.returncode == 0, (host, result.stderr)
