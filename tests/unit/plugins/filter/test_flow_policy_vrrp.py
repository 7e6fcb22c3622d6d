# -*- coding: utf-8 -*-
"""Unit tests of flows whose protocol has no ports (VRRP between the load balancers, issue 11): validated,
compiled and rendered for nftables, ufw and firewalld, never probed by the firewall audit's TCP/UDP plan."""
from __future__ import absolute_import, division, print_function

import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.sovereign.datacenter.plugins.filter import flow_policy as filters
from ansible_collections.sovereign.datacenter.plugins.module_utils._firewall_audit import audit_plan

from test_flow_policy import ADDR, CDN, FLOWS, GROUPS, OPTS, SEGMENTS, errors  # pylint: disable=import-error

GROUPS_LB = dict(GROUPS, all=GROUPS["all"] + ["lb2"], dmz=["lb1", "lb2"], loadbalancers=["lb1", "lb2"],
                 dc1=GROUPS["dc1"] + ["lb2"])
ADDR_LB = dict(ADDR, lb2="10.210.1.12")
HOSTS_LB = filters.flow_policy_hosts(GROUPS_LB, dict((h, {"platform_address": a}) for h, a in ADDR_LB.items()))
OPTS_LB = {key: value for key, value in OPTS.items() if key != "known_groups"}
OPTS_LB["known_groups"] = list(GROUPS_LB)
VRRP = {"name": "lb_vrrp", "description": "VRRP between the load balancers", "from": ["loadbalancers"],
        "to": "loadbalancers", "proto": "vrrp"}
HTTP = {"name": "cdn_http", "from": CDN, "to": "loadbalancers", "ports": [80]}


def rulesets(flows, egress=None):
    return filters.flow_policy_compile(flows, HOSTS_LB, SEGMENTS, egress=egress, **OPTS_LB)


def test_vrrp_flow_has_no_ports_and_compiles_to_the_peers():
    rs = rulesets(FLOWS + [VRRP])
    flow = [f for f in rs["lb2"]["flows"] if f["name"] == "lb_vrrp"][0]
    assert flow["proto"] == "vrrp" and flow["ports"] == []
    assert flow["v4"] == ["10.210.1.11/31"] or sorted(flow["v4"]) == ["10.210.1.11/32", "10.210.1.12/32"]
    assert "lb_vrrp" not in [f["name"] for f in rs["app1"]["flows"]]


def test_vrrp_with_ports_and_unknown_protocols_are_refused():
    text = "\n".join(errors([dict(VRRP, ports=[112])]) + errors([dict(VRRP, proto="gre")]))
    assert "flow lb_vrrp: proto vrrp has no ports; remove ports [112]" in text
    assert "flow lb_vrrp: proto 'gre' must be one of ['tcp', 'udp', 'vrrp']" in text
    assert errors([dict(VRRP, ports=[])]) == [] and errors([VRRP]) == []


def test_tcp_flows_still_need_ports():
    assert "flow cdn_http2: ports must list at least one port" in "\n".join(
        errors([{"name": "cdn_http2", "from": CDN, "to": "loadbalancers"}]))


def test_nftables_matches_the_protocol_number():
    text = filters.nftables_render(rulesets(FLOWS + [VRRP, HTTP], egress={"lb1": []})["lb1"])
    assert "ip saddr @f_lb_vrrp_v4 meta l4proto 112 accept" in text
    assert "ip daddr @e_lb_vrrp_v4 meta l4proto 112 accept" in text   # the egress view: to the peers
    assert "ip saddr @f_cdn_http_v4 tcp dport 80 accept" in text
    assert "dport  accept" not in text and "vrrp dport" not in text


@pytest.mark.skipif(not shutil.which("nft") or not shutil.which("unshare"), reason="nft/unshare not installed")
def test_nftables_vrrp_ruleset_is_accepted_by_nft(tmp_path):
    path = tmp_path / "lb1.nft"
    path.write_text(filters.nftables_render(rulesets(FLOWS + [VRRP, HTTP], egress={"lb1": []})["lb1"]))
    result = subprocess.run(["unshare", "-n", "nft", "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_ufw_gets_plain_iptables_rules_without_a_tuple():
    files = filters.ufw_render(rulesets(FLOWS + [VRRP], egress={"lb1": []})["lb1"])
    v4 = files["user.rules"]
    assert "-A ufw-user-input -p 112 -s 10.210.1.11 -j ACCEPT" in v4 or "-A ufw-user-input -p 112 -s 10.210.1.11/31 -j ACCEPT" in v4
    assert "-A ufw-user-output -p 112 -d" in v4
    assert "### tuple ### allow vrrp" not in v4 and "--dport" not in v4.split("lb_vrrp")[1].split("\n")[1]


@pytest.mark.skipif(not shutil.which("iptables-restore") or not shutil.which("unshare"),
                    reason="iptables-restore/unshare not installed")
def test_ufw_vrrp_rules_load_into_iptables(tmp_path):
    files = filters.ufw_render(rulesets(FLOWS + [VRRP])["lb1"])
    path = tmp_path / "user.rules"
    path.write_text(files["user.rules"])
    result = subprocess.run(["unshare", "-n", "iptables-restore", "--test", str(path)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_firewalld_rich_rule_matches_the_protocol():
    files = filters.firewalld_render(rulesets(FLOWS + [VRRP])["lb2"])
    zone = files["zones/sovereign.xml"]
    ET.fromstring(zone)
    assert '<protocol value="vrrp"/><accept/></rule>' in zone
    assert '<port port=""' not in zone


def test_audit_plan_never_probes_vrrp():
    rs = rulesets(FLOWS + [VRRP])
    for proto in ("tcp", "udp"):
        plan = audit_plan(rs, HOSTS_LB, sample_ports=[112], proto=proto)
        probes = [p for p in plan["lb1"] if p["target"] == "lb2"]
        assert all("lb_vrrp" not in p["flows"] for p in probes)
        assert [p["port"] for p in probes if p["expect"] == "allow"] == []
