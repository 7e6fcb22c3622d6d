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
    firewalld_ipset_name,
    parse_egress_allow,
)

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


def test_firewalld_refuses_egress():
    with pytest.raises(AnsibleFilterError, match="egress policy is not supported by the firewalld backend"):
        filters.firewalld_render(rulesets(egress={"pg1": []})["pg1"])


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
