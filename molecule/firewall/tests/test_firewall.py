"""Behaviour of the firewall role with real traffic (Molecule scenario `firewall`).

Every host runs listeners on 22, 3306, 5432, 6379, 8000 and 9100 (prepare.yml), so a probe ends
`open` when the firewall lets it through and `filtered` (timeout) when the policy drops it.
"""
import json
import os
import sys
import time
import warnings

import pytest

ADDR = {"fw-mgmt": "10.247.50.10", "fw-app": "10.247.10.11", "fw-db": "10.247.20.11"}
HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(SCENARIO))
sys.path.insert(0, os.path.join(REPO, "tests"))
from support import firewall_probes  # noqa: E402  pylint: disable=wrong-import-position
from support.firewall_probes import molecule_playbook as ansible  # noqa: E402  pylint: disable=wrong-import-position
from support.waiting import wait_until  # noqa: E402  pylint: disable=wrong-import-position


def probe(hosts, src, dst, port):
    return firewall_probes.probe(hosts[src], ADDR.get(dst, dst), port)


def live(host):
    return host.check_output("nft list table inet sovereign")


# Declared flows get through, everything else is dropped. (source, target, port, expected)
MATRIX = [
    ("fw-app", "fw-db", 5432, "open"),        # app_to_postgresql
    ("fw-mgmt", "fw-db", 5432, "filtered"),   # nobody declared management -> postgresql
    ("fw-app", "fw-db", 6379, "filtered"),    # undeclared port
    ("fw-app", "fw-db", 3306, "filtered"),
    ("fw-mgmt", "fw-db", 22, "open"),         # management_ssh
    ("fw-mgmt", "fw-app", 22, "open"),
    ("fw-app", "fw-db", 22, "filtered"),      # SSH only from the management segment
    ("fw-db", "fw-app", 22, "filtered"),
    ("fw-db", "fw-mgmt", 22, "filtered"),     # fw-db is outside the management segment
    ("fw-mgmt", "fw-app", 9100, "open"),      # monitoring_node_exporter
    ("fw-db", "fw-app", 9100, "filtered"),
    ("fw-mgmt", "fw-app", 8000, "open"),      # dmz_to_app, widened to management by the contributed layer
    ("fw-db", "fw-app", 8000, "filtered"),
    ("fw-app", "fw-mgmt", 8000, "filtered"),
]


@pytest.fixture(scope="module")
def matrix(hosts):
    """Every probe of MATRIX, made at once from each source host (one timeout per source, not per dropped
    port), before any test below changes a rule."""
    return firewall_probes.probe_matrix(hosts, [(src, dst, port, "tcp") for src, dst, port, _expected in MATRIX], ADDR)


@pytest.mark.parametrize("src,dst,port,expected", MATRIX)
def test_declared_flows_connect_and_undeclared_ports_are_dropped(matrix, src, dst, port, expected):
    assert matrix[(src, dst, port, "tcp")] == expected


def test_loopback_and_established_traffic_pass(hosts):
    assert probe(hosts, "fw-db", "127.0.0.1", 6379) == "open"


def test_ruleset_is_default_drop_with_one_rule_per_flow(hosts):
    text = live(hosts["fw-db"])
    assert "policy drop" in text
    assert 'comment "flow app_to_postgresql: app tier to PostgreSQL"' in text
    assert "10.247.10.0/24" in text
    # the DC2-only replication flow reaches no host here: not in any ruleset
    assert "replication_dc2" not in text
    assert "app_to_postgresql" not in live(hosts["fw-app"])


def test_ruleset_persists_for_boot(hosts):
    host = hosts["fw-db"]
    assert host.file("/etc/nftables.d/sovereign.nft").mode == 0o600
    assert host.run("nft -c -f /etc/nftables.conf").rc == 0
    assert host.service("nftables").is_enabled
    assert "flush ruleset" not in host.file("/etc/nftables.conf").content_string


def test_no_rollback_left_armed(hosts):
    for host in hosts.values():
        assert host.run("systemctl is-active --quiet sovereign-firewall-rollback.timer").rc != 0


def test_check_diff_shows_drift_and_converge_repairs_it(hosts):
    db = hosts["fw-db"]
    db.check_output("nft add rule inet sovereign input tcp dport 6379 accept")
    assert probe(hosts, "fw-app", "fw-db", 6379) == "open"
    res = ansible([os.path.join(SCENARIO, "converge.yml"), "--check", "--diff", "--limit", "fw-db"], check=True)
    assert "tcp dport 6379 accept" in res.stdout  # the diff names the rule that would go
    assert "changed=1" in res.stdout
    assert probe(hosts, "fw-app", "fw-db", 6379) == "open"  # check mode changed nothing
    ansible([os.path.join(SCENARIO, "converge.yml"), "--limit", "fw-db"], check=True)
    assert probe(hosts, "fw-app", "fw-db", 6379) == "filtered"
    assert "6379" not in live(db)
    res = ansible([os.path.join(SCENARIO, "converge.yml"), "--check", "--diff", "--limit", "fw-db"], check=True)
    assert "changed=0" in res.stdout and "changed=1" not in res.stdout


def test_broken_policy_fails_naming_the_flow_before_any_host_changes(hosts, tmp_path):
    before = dict((name, live(host)) for name, host in hosts.items())
    extra = tmp_path / "broken.json"
    extra.write_text(json.dumps({"platform_flows_zz_broken": [
        {"name": "evil", "from": ["app"], "to": "nosuch", "ports": [5432]},
        {"name": "wide_open", "from": ["0.0.0.0/0"], "to": "postgresql", "ports": [70000]},
    ]}))
    res = ansible([os.path.join(SCENARIO, "converge.yml"), "-e", "@%s" % extra])
    assert res.returncode != 0
    out = res.stdout + res.stderr  # failures may go to stderr (display_failed_stderr)
    assert "flow evil: unknown group 'nosuch' in to" in out
    assert "flow wide_open: port 70000 out of range 1-65535" in out
    assert "flow wide_open: source '0.0.0.0/0' lies outside the platform segments" in out
    assert dict((name, live(host)) for name, host in hosts.items()) == before


def test_unconfirmed_change_rolls_back_by_itself(hosts, tmp_path):
    db = hosts["fw-db"]
    before_live = live(db)
    before_file = db.file("/etc/nftables.d/sovereign.nft").content_string
    playbook = tmp_path / "lockout.yml"
    playbook.write_text("""
- hosts: fw-db
  gather_facts: false
  tasks:
    - name: A ruleset that cuts every flow, applied without confirming it
      sovereign.datacenter.nftables_ruleset:
        rollback_timeout: 20
        content: |
          table inet sovereign
          delete table inet sovereign
          table inet sovereign {
            chain input {
              type filter hook input priority filter; policy drop;
              iifname "lo" accept
            }
          }
""")
    ansible([str(playbook)], check=True)
    applied_at = time.monotonic()
    # 20 s leave room for ansible-playbook's own exit on a loaded CI machine (with 8 s the rollback could
    # fire before the probe below ran); the probe counts only while the rollback is still armed
    cut = probe(hosts, "fw-app", "fw-db", 5432)
    assert db.run("systemctl is-active --quiet sovereign-firewall-rollback.timer").rc == 0, "fired before the probe"
    assert cut == "filtered"
    wait_until(lambda: probe(hosts, "fw-app", "fw-db", 5432) == "open", 60, step=1)
    restored_after = time.monotonic() - applied_at
    assert probe(hosts, "fw-app", "fw-db", 5432) == "open"
    assert restored_after < 35, restored_after
    assert live(db) == before_live
    assert db.file("/etc/nftables.d/sovereign.nft").content_string == before_file
    # shown in pytest's warnings summary: the measured time to self-heal
    warnings.warn("rollback restored the previous ruleset %.1f s after the unconfirmed change "
                  "(rollback_timeout 20 s)" % restored_after)


def test_audit_playbook_proves_the_policy(hosts):
    data = firewall_probes.molecule_audit()
    assert data["failed"] == 0
    assert 5432 in data["pairs"]["fw-app -> fw-db"]["allowed_ok"]
    assert 5432 in data["pairs"]["fw-mgmt -> fw-db"]["denied_ok"]
    assert 22 in data["pairs"]["fw-app -> fw-db"]["denied_ok"]
    assert len(data["pairs"]) == 6


def test_data_host_egress_is_default_deny(hosts):
    db, mgmt = hosts["fw-db"], hosts["fw-mgmt"]
    table = live(db)
    assert "type filter hook output priority filter; policy drop;" in table
    assert 'comment "egress ntp: time from the bastion"' in table
    # open 6379 on the bastion by hand for everybody: the app host gets in, the data host may not leave
    mgmt.check_output("nft insert rule inet sovereign input tcp dport 6379 accept")
    try:
        assert probe(hosts, "fw-app", "fw-mgmt", 6379) == "open"
        assert probe(hosts, "fw-db", "fw-mgmt", 6379) == "filtered"
    finally:
        handle = [line.split("# handle ")[1] for line in mgmt.check_output("nft -a list chain inet sovereign input")
                  .splitlines() if "tcp dport 6379 accept" in line][0]
        mgmt.check_output("nft delete rule inet sovereign input handle %s" % handle)
    # replies to what others may open on the data host still leave it (established)
    assert probe(hosts, "fw-app", "fw-db", 5432) == "open"
