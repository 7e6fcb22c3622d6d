"""The lab's firewall audit: run playbooks/firewall_audit.yml (or the firewall play) on the lab and check
the properties issue 4 asks of every backend. Shared by tests/lab/test_firewall.py (nftables, as site.yml
converged it) and tests/lab/test_firewall_backends.py (ufw, firewalld, and nftables again)."""
import json
import os
import subprocess
import time

from support import awx_template

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTPUT = os.path.join(REPO, "tests", "output")


def lab_playbook(playbook, *args, log=None, timeout=1800):
    """ansible-playbook -i inventories/lab playbooks/<playbook> with the project's environment.

    Returns (CompletedProcess, seconds); the output goes to tests/output/<log> when given."""
    command = " ".join(["source scripts/env.sh && ansible-playbook -i inventories/lab",
                        os.path.join("playbooks", playbook)] + ["'%s'" % a.replace("'", "'\\''") for a in args])
    start = time.monotonic()
    res = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=REPO, timeout=timeout,
                         check=False)
    seconds = time.monotonic() - start
    if log:
        os.makedirs(OUTPUT, exist_ok=True)
        with open(os.path.join(OUTPUT, log), "w", encoding="utf-8") as handle:
            handle.write(res.stdout + "\n--- stderr ---\n" + res.stderr)
    return res, seconds


def run_audit(name, as_awx=False):
    """Run the audit on the lab; the report is tests/output/<name>.json, the log <name>.log.

    With ``as_awx``, as its AWX job template runs it (tests/support/awx_template.py: ansible-runner, the
    survey's defaults), when ansible_runner is importable. Returns (report, seconds); fails with the end of
    the output when the playbook failed."""
    report = os.path.join(OUTPUT, name + ".json")
    if os.path.exists(report):
        os.unlink(report)
    if as_awx and awx_template.available():
        run = awx_template.run("playbooks/firewall_audit.yml", {"firewall_audit_report": report}, log=name + ".log")
        assert run["status"] == "successful" and run["rc"] == 0, run["stdout"][-4000:]
        seconds = run["seconds"]
    else:
        res, seconds = lab_playbook("firewall_audit.yml", "-e", "firewall_audit_report=%s" % report, log=name + ".log")
        assert res.returncode == 0, res.stdout[-4000:]
    with open(report, encoding="utf-8") as handle:
        return json.load(handle), seconds


def pair(audit, src, dst):
    return audit["pairs"]["%s -> %s" % (src, dst)]


def every_declared_flow_connects_and_no_sampled_port_is_open(audit):
    assert int(audit["probes"]) > 500
    assert int(audit["failed"]) == 0, [p["failed"] for p in audit["pairs"].values() if p["failed"]][:5]


def sampled_udp_ports_are_dropped(audit):
    # the lab policy has no UDP flow: every sampled UDP port (DNS, NTP, SNMP, syslog, ...) stays silent
    assert int(audit["udp_probes"]) > 0
    for source, target in (("app1", "pg1"), ("lb1", "app1"), ("pg1", "bastion1")):
        assert {53, 123, 161, 514} <= set(pair(audit, source, target)["udp_denied_ok"]), (source, target)


def dc2_data_accepts_replication_only_from_dc1_data(audit):
    assert 5432 in pair(audit, "pg1", "pg3")["allowed_ok"]
    assert 5432 in pair(audit, "pg2", "pg3")["allowed_ok"]
    # (app1 reaches every PostgreSQL host on 5432 by the app_to_postgresql flow; replication
    # itself is restricted further by pg_hba.)
    for other in ("lb1", "mon1", "bastion1"):
        assert 5432 not in pair(audit, other, "pg3")["allowed_ok"]
        assert 5432 in pair(audit, other, "pg3")["denied_ok"]


def ssh_only_from_the_management_segment(audit):
    for target in ("pg1", "app1", "lb1"):
        assert 22 in pair(audit, "bastion1", target)["allowed_ok"]
    for source, target in (("app1", "pg1"), ("lb1", "app1"), ("pg1", "pg2"), ("pg3", "pg1")):
        assert 22 in pair(audit, source, target)["denied_ok"], (source, target)


# What every backend must prove on the lab (issue 4, "Done when").
LAB_PROPERTIES = (
    every_declared_flow_connects_and_no_sampled_port_is_open,
    sampled_udp_ports_are_dropped,
    dc2_data_accepts_replication_only_from_dc1_data,
    ssh_only_from_the_management_segment,
)
