"""Issue 4 on the lab: the flow policy proven from the outside with real traffic (firewall_audit.yml)."""
import json
import os
import subprocess

import pytest

from conftest import REPO

REPORT = os.path.join(REPO, "tests", "output", "firewall_audit-lab.json")


@pytest.fixture(scope="module")
def audit(lab_up):
    env = dict(os.environ)
    res = subprocess.run(["bash", "-c", "source scripts/env.sh && ansible-playbook -i inventories/lab "
                          "playbooks/firewall_audit.yml -e firewall_audit_report=%s" % REPORT],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=900, check=False)
    with open(os.path.join(REPO, "tests", "output", "firewall_audit-lab.log"), "w", encoding="utf-8") as handle:
        handle.write(res.stdout + res.stderr)
    assert res.returncode == 0, res.stdout[-4000:]
    with open(REPORT, encoding="utf-8") as handle:
        return json.load(handle)


def _pair(audit, src, dst):
    return audit["pairs"]["%s -> %s" % (src, dst)]


def test_every_declared_flow_connects_and_no_sampled_port_is_open(audit):
    assert int(audit["probes"]) > 500
    assert int(audit["failed"]) == 0


def test_sampled_udp_ports_are_dropped(audit):
    # the lab policy has no UDP flow: every sampled UDP port (DNS, NTP, SNMP, syslog, ...) stays silent
    assert int(audit["udp_probes"]) > 0
    for source, target in (("app1", "pg1"), ("lb1", "app1"), ("pg1", "bastion1")):
        assert {53, 123, 161, 514} <= set(_pair(audit, source, target)["udp_denied_ok"]), (source, target)


def test_dc2_data_accepts_replication_only_from_dc1_data(audit):
    assert 5432 in _pair(audit, "pg1", "pg3")["allowed_ok"]
    assert 5432 in _pair(audit, "pg2", "pg3")["allowed_ok"]
    # (app1 reaches every PostgreSQL host on 5432 by the app_to_postgresql flow; replication
    # itself is restricted further by pg_hba.)
    for other in ("lb1", "mon1", "bastion1"):
        assert 5432 not in _pair(audit, other, "pg3")["allowed_ok"]
        assert 5432 in _pair(audit, other, "pg3")["denied_ok"]


def test_ssh_only_from_the_management_segment(audit):
    for target in ("pg1", "app1", "lb1"):
        assert 22 in _pair(audit, "bastion1", target)["allowed_ok"]
    for source, target in (("app1", "pg1"), ("lb1", "app1"), ("pg1", "pg2"), ("pg3", "pg1")):
        assert 22 in _pair(audit, source, target)["denied_ok"], (source, target)


def test_rulesets_are_live_and_default_deny(lab_up):
    res = subprocess.run(["podman", "exec", "sovlab-pg1", "nft", "list", "chain", "inet", "sovereign", "input"],
                         capture_output=True, text=True, check=True)
    assert "policy drop" in res.stdout
