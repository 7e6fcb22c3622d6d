"""Issue 17 item 2 on the lab, as the issue asks: kill the primary, fail over, then site.yml without updating
the inventory. It must be refused before any host task, and replication to pg3 must still stream.

The inventory says `postgresql_role: primary` on pg1. The switchover runbooks before this module leave pg2
the primary, so the primary is moved back to pg1 first (playbooks/runbooks/pg_switchover.yml). Then pg1 is
killed (SIGKILL to its container), and the DR runbook promotes the synchronous standby pg2
(playbooks/runbooks/pg_dr_failover.yml). The inventory still names pg1: the state an operator is in after
a failover until they edit it. A routine site.yml (an AWX schedule) must stop right after its preflight,
before the base, hardening and firewall plays: changed=0, no role task started, a message that names pg2 as
the primary and says what to set. pg3 streams from pg2. Runs last before test_zz_down: it leaves pg1 killed."""
import re
import subprocess
import warnings

from conftest import PG_MEMBERS, pg_primary, psql, recap
from support import firewall_audit
from support.waiting import wait_until

DECLARED = "pg1"  # postgresql_role: primary in inventories/lab/hosts.yml
TARGET = "pg2"    # the synchronous standby
DR = "pg3"


def _runbook(name, *args):
    res, seconds = firewall_audit.lab_playbook(name, *args, log="stale-inventory-%s-lab.log" % name.split("/")[-1])
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    return seconds


def test_site_after_a_failover_on_the_stale_inventory_is_refused_before_any_host_task(lab_up):
    steps = []
    current = pg_primary()
    if current != DECLARED:
        steps.append("switchover %s -> %s %.1f s" % (current, DECLARED, _runbook(
            "runbooks/pg_switchover.yml", "-e", "pg_switchover_from=" + current, "-e", "pg_switchover_to=" + DECLARED)))
    assert pg_primary() == DECLARED
    subprocess.run(["podman", "kill", "-s", "KILL", "sovlab-" + DECLARED], check=True, capture_output=True)
    steps.append("failover to %s %.1f s" % (TARGET, _runbook("runbooks/pg_dr_failover.yml", "-e",
                                                             "pg_failover_target=" + TARGET)))
    assert psql(TARGET, "SELECT pg_is_in_recovery()") == "f"

    res, seconds = firewall_audit.lab_playbook("site.yml", log="site-stale-inventory-lab.log")
    assert res.returncode != 0, res.stdout[-3000:]
    out = re.sub(r"\s+", " ", res.stdout + res.stderr)
    assert "%s is the primary now" % TARGET in out and "postgresql_role: primary on %s" % TARGET in out, out[-3000:]
    counts = recap(res.stdout)
    assert counts and all(c["changed"] == 0 for c in counts.values()), counts
    # refused before the roles: no task of any role after the guard started on any host
    assert not re.search(r"TASK \[sovereign\.datacenter\.(base|hardening|firewall|rsyslog)", res.stdout), \
        res.stdout[-3000:]
    # DR intact: the DR standby streams from the promoted member
    assert wait_until(lambda: psql(DR, "SELECT sender_host || ':' || status FROM pg_stat_wal_receiver")
                      == "%s:streaming" % PG_MEMBERS[TARGET], 60), \
        psql(DR, "SELECT sender_host || ':' || status FROM pg_stat_wal_receiver")
    warnings.warn("stale inventory after a failover: %s; site.yml refused before any role after %.1f s; %s streams "
                  "from %s" % ("; ".join(steps), seconds, DR, TARGET))
