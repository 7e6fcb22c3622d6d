# -*- coding: utf-8 -*-
"""Unit tests of the ufw and firewalld renderers and of the egress policy (same compiled policy)."""
from __future__ import absolute_import, division, print_function

import binascii
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.sovereign.datacenter.plugins.filter import flow_policy as filters
from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_policy import (
    FlowPolicyError,
    parse_egress_allow,
)
from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_render_firewalld import firewalld_ipset_name

from test_flow_policy import FLOWS, HOSTS, OPTS, SEGMENTS  # pylint: disable=import-error

DNS = [{"name": "dns", "description": "resolvers", "to": ["10.210.50.53", "fd00:53::53"], "proto": "udp", "ports": [53]}]
FLOWS_OUT = FLOWS + [{"name": "pg_backup", "description": "backups", "from": ["data"], "to": "bastions",
                      "ports": [8432, "9000-9001"]}]


def rulesets(flows=None, egress=None):
    return filters.flow_policy_compile(FLOWS_OUT if flows is None else flows, HOSTS, SEGMENTS,
                                       egress=egress, **OPTS)


def test_egress_lists_originated_flows_with_target_addresses_and_allowances():
    rs = rulesets(egress={"pg1": DNS})
    out = dict((f["name"], f) for f in rs["pg1"]["egress"])
    assert sorted(out) == ["dns", "pg_backup", "postgresql_replication_dc2"]
    assert out["pg_backup"]["v4"] == ["10.210.50.10/32"]        # the bastion, not the segment
    assert out["postgresql_replication_dc2"]["v4"] == ["10.220.20.11/32"]  # pg1 is in dc1.data: it may reach pg3
    assert out["dns"]["v6"] == ["fd00:53::53/128"] and out["dns"]["proto"] == "udp"
    assert "egress" not in rs["pg2"]      # only the hosts named get an egress policy
    assert "_sources" not in str(rs)      # no private compiler state leaks into the output


def test_egress_allowance_errors_name_the_entry():
    with pytest.raises(FlowPolicyError) as info:
        parse_egress_allow([{"name": "ntp", "to": ["10.0.0.1/8"], "ports": [123], "proto": "udp"},
                            {"name": "mirror", "to": ["10.0.0.0/8"], "ports": [70000]},
                            {"name": "management_ssh", "to": ["10.0.0.0/8"], "ports": [22]}],
                           taken={"management_ssh"})
    text = "\n".join(info.value.errors)
    assert "egress allowance ntp: bad CIDR '10.0.0.1/8': host bits set" in text
    assert "egress allowance mirror: port 70000 out of range" in text
    assert "egress allowance management_ssh: name already used by a flow" in text


def test_nftables_egress_chain_is_default_drop_with_one_rule_per_outbound_flow():
    text = filters.nftables_render(rulesets(egress={"pg1": DNS})["pg1"])
    assert "type filter hook output priority filter; policy drop;" in text
    assert 'oifname "lo" accept' in text
    assert "ip daddr @e_pg_backup_v4 tcp dport { 8432, 9000-9001 } accept" in text
    assert "ip6 daddr @e_dns_v6 udp dport 53 accept" in text
    assert "chain output" not in filters.nftables_render(rulesets(egress={"pg1": DNS})["pg2"])


def test_ufw_rules_carry_ufw_tuples_one_rule_per_cidr():
    files = filters.ufw_render(rulesets(egress={"pg1": DNS})["pg1"])
    v4, v6 = files["user.rules"], files["user6.rules"]
    assert v4.startswith("*filter\n:ufw-user-input - [0:0]") and v4.endswith("COMMIT\n")
    comment = binascii.hexlify(b"flow app_to_postgresql").decode()
    assert "### tuple ### allow tcp 5432 0.0.0.0/0 any 10.210.10.0/24 in comment=%s" % comment in v4
    assert "-A ufw-user-input -p tcp --dport 5432 -s 10.210.10.0/24 -j ACCEPT" in v4
    assert "-A ufw-user-output -p tcp -d 10.210.50.10 -m multiport --dports 8432,9000:9001 -j ACCEPT" in v4
    assert "-A ufw6-user-output -p udp -d fd00:53::53 --dport 53 -j ACCEPT" in v6
    assert "-A ufw6-user-input -p tcp --dport 5432 -s fd00:20::/64 -j ACCEPT" in filters.ufw_render(rulesets()["pg3"])["user6.rules"]
    assert "ufw-user-output" not in filters.ufw_render(rulesets()["pg2"])["user.rules"].split("### RULES ###")[1]


def test_ufw_multiport_groups_stay_within_15_ports():
    flows = [{"name": "many", "from": "app", "to": "postgresql", "ports": list(range(1000, 1040, 2))}]
    text = filters.ufw_render(rulesets(flows)["pg1"])["user.rules"]
    groups = [line.split("--dports ")[1].split(" ")[0] for line in text.splitlines() if "--dports" in line]
    assert len(groups) == 2 and all(len(g.split(",")) <= 15 for g in groups)


def test_firewalld_zone_and_ipsets():
    files = filters.firewalld_render(rulesets()["pg3"])
    zone = ET.fromstring(files["zones/sovereign.xml"].split("\n", 1)[1])
    assert zone.get("target") == "DROP"
    rules = [ET.tostring(r).decode() for r in zone.findall("rule")]
    assert any('source ipset="sv_postgresql_replication_dc2_4"' in r and 'port="5432"' in r for r in rules)
    assert any('family="ipv6"' in r and "sv_postgresql_replication_dc2_6" in r for r in rules)
    assert any('icmp-type name="packet-too-big"' in r for r in rules)
    ipset = ET.fromstring(files["ipsets/sv_postgresql_replication_dc2_6.xml"].split("\n", 1)[1])
    assert ipset.get("type") == "hash:net"
    assert [e.text for e in ipset.findall("entry")] == ["fd00:20::/64"]
    assert ipset.find("option").get("value") == "inet6"


def test_firewalld_ipset_names_fit_and_stay_unique():
    long_a, long_b = "a" * 40 + "_one", "a" * 40 + "_two"
    names = [firewalld_ipset_name(n, 4) for n in (long_a, long_b)]
    assert all(len(n) <= 31 for n in names) and names[0] != names[1]
    assert firewalld_ipset_name(long_a, 4) == names[0]  # stable


def _xml(text):
    return ET.fromstring(text.split("\n", 1)[1])  # without the XML declaration (ElementTree wants bytes for it)


def _rich_rules(element):
    return [(r.get("family"), (r.find("source") if r.find("source") is not None else r.find("destination")),
             r.find("port")) for r in element.findall("rule") if r.find("port") is not None]


def test_firewalld_egress_policy_object_filters_what_the_host_sends():
    files = filters.firewalld_render(rulesets(egress={"pg1": DNS})["pg1"])
    policy = _xml(files["policies/sovereign_egress.xml"])
    assert policy.tag == "policy" and policy.get("target") == "DROP"
    assert [z.get("name") for z in policy.findall("ingress-zone")] == ["HOST"]
    assert [z.get("name") for z in policy.findall("egress-zone")] == ["ANY"]
    rules = set((fam, match.tag, match.get("ipset"), port.get("port"), port.get("protocol"))
                for fam, match, port in _rich_rules(policy))
    assert ("ipv4", "destination", "sv_pg_backup_o4", "8432", "tcp") in rules
    assert ("ipv4", "destination", "sv_pg_backup_o4", "9000-9001", "tcp") in rules
    assert ("ipv6", "destination", "sv_dns_o6", "53", "udp") in rules
    replication = firewalld_ipset_name("postgresql_replication_dc2", 4, outbound=True)  # hashed: > 31 characters
    assert replication.endswith("_o4") and ("ipv4", "destination", replication, "5432", "tcp") in rules
    assert all(rule[1] == "destination" for rule in rules)
    icmp = [r.find("icmp-type").get("name") for r in policy.findall("rule") if r.find("icmp-type") is not None]
    assert {"packet-too-big", "neighbour-solicitation", "router-solicitation", "echo-request"} <= set(icmp)
    # the destinations: the bastion's address for an originated flow, the allowance's own addresses
    assert [e.text for e in _xml(files["ipsets/sv_pg_backup_o4.xml"]).findall("entry")] == ["10.210.50.10"]
    dns6 = _xml(files["ipsets/sv_dns_o6.xml"])
    assert [e.text for e in dns6.findall("entry")] == ["fd00:53::53"] and dns6.find("option").get("value") == "inet6"
    # the zone (inbound) is the same with and without the egress policy
    assert files["zones/sovereign.xml"] == filters.firewalld_render(rulesets()["pg1"])["zones/sovereign.xml"]


def test_firewalld_egress_policy_has_every_outbound_flow_and_nothing_else():
    ruleset = rulesets(egress={"pg1": DNS})["pg1"]
    files = filters.firewalld_render(ruleset)
    wanted = set()
    for flow in ruleset["egress"]:
        for version, family in ((4, "ipv4"), (6, "ipv6")):
            if not flow["v%d" % version]:
                continue
            ipset = firewalld_ipset_name(flow["name"], version, outbound=True)
            entries = [e.text for e in _xml(files["ipsets/%s.xml" % ipset]).findall("entry")]
            assert sorted(entries) == sorted(c.replace("/32", "") if version == 4 else c.replace("/128", "")
                                             for c in flow["v%d" % version])
            for low, high in flow["ports"]:
                wanted.add((family, ipset, str(low) if low == high else "%d-%d" % (low, high), flow["proto"]))
    got = set((fam, match.get("ipset"), port.get("port"), port.get("protocol"))
              for fam, match, port in _rich_rules(_xml(files["policies/sovereign_egress.xml"])))
    assert got == wanted


def test_firewalld_without_egress_policy_has_no_policy_object():
    files = filters.firewalld_render(rulesets(egress={"pg1": DNS})["pg2"])
    assert not [path for path in files if path.startswith("policies/") or path.endswith("_o4.xml")]
    # an empty egress policy still denies: only ICMP and what firewalld accepts itself go out
    empty = filters.firewalld_render({"flows": [], "egress": []}, policy="dc_egress", egress_target="REJECT")
    policy = _xml(empty["policies/dc_egress.xml"])
    assert policy.get("target") == "REJECT" and _rich_rules(policy) == []


def test_firewalld_inbound_and_outbound_ipsets_never_share_a_name():
    for name in ("pg_backup", "x_o", "a" * 40 + "_one"):
        inbound = set(firewalld_ipset_name(name, v) for v in (4, 6))
        outbound = set(firewalld_ipset_name(name, v, outbound=True) for v in (4, 6))
        assert not inbound & outbound and all(len(n) <= 31 for n in inbound | outbound)
    # a flow named like another's outbound suffix still gets its own sets
    assert firewalld_ipset_name("x_o", 4) != firewalld_ipset_name("x", 4, outbound=True)


@pytest.mark.parametrize("options,message", [
    ({"policy": "sovereign_egress_policy"}, "at most 18 characters"),
    ({"policy": "bad name"}, "letters, digits"),
    ({"egress_target": "ACCEPT"}, "one of"),
])
def test_firewalld_refuses_a_bad_policy_name_or_target(options, message):
    with pytest.raises(AnsibleFilterError, match=message):
        filters.firewalld_render(rulesets(egress={"pg1": []})["pg1"], **options)


def test_renderers_are_deterministic():
    a, b = rulesets(), rulesets(list(reversed(FLOWS_OUT)))
    for host in a:
        assert filters.ufw_render(a[host]) == filters.ufw_render(b[host])
        assert filters.firewalld_render(a[host]) == filters.firewalld_render(b[host])


@pytest.mark.skipif(not shutil.which("nft") or not shutil.which("unshare"), reason="nft/unshare not installed")
def test_egress_ruleset_passes_nft_check_in_a_private_netns(tmp_path):
    path = tmp_path / "pg1.nft"
    path.write_text(filters.nftables_render(rulesets(egress={"pg1": DNS})["pg1"]))
    result = subprocess.run(["unshare", "-n", "nft", "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    if result.returncode != 0 and "Operation not permitted" in result.stderr:
        pytest.skip("no permission to create a network namespace")
    assert result.returncode == 0, result.stderr
