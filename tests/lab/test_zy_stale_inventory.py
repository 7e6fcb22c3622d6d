"""Issue 17 item 2 on the lab: site.yml on an inventory that a switchover made stale is refused before any
host task, and DR replication stays intact.

test_zy_rolling_upgrade switched the primary to the synchronous standby (pg2) and nothing changed the
inventory, which still says `postgresql_role: primary` on pg1: the state an operator is in after a failover
until they edit it. A routine site.yml then (an AWX schedule) must stop right after its preflight, before the base,
hardening and firewall plays, say which member is the primary now and what to change, and change nothing;
the DR standby (pg3) keeps streaming from the new primary. Sorted after the runbooks that move the primary
and before test_zz_down."""
import re
import warnings

import pytest

from conftest import PG_MEMBERS, lab_hosts, pg_primary, psql, recap
from support import firewall_audit

DECLARED = "pg1"  # postgresql_role: primary in inventories/lab/hosts.yml
DR = "pg3"


def test_site_on_the_stale_inventory_is_refused_before_any_host_task(lab_up):
    primary = pg_primary()
    if primary == DECLARED:
        pytest.skip("the inventory is not stale: %s is still the primary (the switchover tests did not run)" % DECLARED)
    res, seconds = firewall_audit.lab_playbook("site.yml", log="site-stale-inventory-lab.log")
    assert res.returncode != 0, res.stdout[-3000:]
    out = re.sub(r"\s+", " ", res.stdout + res.stderr)
    assert "%s is the primary now" % primary in out and "postgresql_role: primary on %s" % primary in out, out[-3000:]
    counts = recap(res.stdout)
    assert counts and all(c["changed"] == 0 for c in counts.values()), counts
    # refused before the roles: no task of any role after it ran on any host
    assert not re.search(r"TASK \[sovereign\.datacenter\.(base|hardening|firewall|rsyslog)", res.stdout), \
        res.stdout[-3000:]
    assert set(counts) <= lab_hosts(), counts
    # DR intact: the DR standby streams from the member that is the primary
    assert psql(DR, "SELECT sender_host || ':' || status FROM pg_stat_wal_receiver") == \
        "%s:streaming" % PG_MEMBERS[primary]
    warnings.warn("site.yml on the stale inventory refused before any role ran, after %.1f s; %s streams from %s"
                  % (seconds, DR, primary))

