"""Issue 16 on the lab: playbooks/runbooks/rolling_upgrade.yml on the data tier keeps PostgreSQL writable
except for the switchover window, and reports that window.

An application client on app1 (tests/support/pg_writer.py: a row every 0.2 s, connecting to the first
read-write member of the three, as a multi-host DSN does) writes through the whole run. The runbook upgrades
the data tier: the backup host, then the standbys one at a time with a health gate each (they stream again),
then a planned switchover (pg_switchover.yml) to the synchronous standby, then the old primary, now a standby.
Afterwards:
- every failed or missing write lies inside the switchover interval the runbook printed;
- the writer wrote on the new primary after it, and the old primary and the DR standby stream from it;
- no row the writer was told was written is missing on the new primary.
The measured outage (the longest gap between two writes) is in tests/output/rolling_upgrade-lab.txt and
pytest's warnings summary. The lab's images are built the same day, so there is usually nothing to upgrade:
the gates and the switchover still run, and the measurement is the switchover's. Sorted before
test_zy_secret_rotation (which finds the primary itself) and test_zz_down."""
import datetime
import json
import os
import re
import warnings

import pytest

from conftest import PG_MEMBERS, REPO, pg_primary, psql, secrets_dir
from support import firewall_audit, pg_writer
from support.waiting import wait_until

CLIENT = "app1"
MEASUREMENTS = os.path.join(REPO, "tests", "output", "rolling_upgrade-lab.txt")
WINDOW = re.compile(r"switchover (\S+) -> (\S+) started (\S+), ended (\S+)")


def epoch(stamp):
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def app_password():
    with open(os.path.join(secrets_dir(), "secrets", "postgresql", "app"), encoding="utf-8") as handle:
        return handle.read().strip()


@pytest.fixture(scope="module")
def upgrade(lab_up):
    before = pg_primary()
    run = pg_writer.start(CLIENT, list(PG_MEMBERS.values()), app_password())
    try:
        assert wait_until(lambda: sum(1 for e in pg_writer.events(CLIENT) if e["kind"] == "write") >= 5, 30)
        res, seconds = firewall_audit.lab_playbook("runbooks/rolling_upgrade.yml", "-e",
                                                   json.dumps({"rolling_upgrade_tiers": ["data"]}),
                                                   log="rolling_upgrade-lab.log")
        assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
        window = WINDOW.search(re.sub(r"\s+", " ", res.stdout))
        assert window, res.stdout[-3000:]
        after = pg_primary()
        # a few writes on the new primary after the run
        ended = epoch(window.group(4))
        assert wait_until(lambda: sum(1 for e in pg_writer.events(CLIENT) if e["kind"] == "write" and e["t"] > ended)
                          >= 5, 30)
    finally:
        pg_writer.stop(CLIENT)
    return {"run": run, "res": res, "seconds": seconds, "before": before, "after": after, "events": pg_writer.events(CLIENT),
            "window": (window.group(1), window.group(2), epoch(window.group(3)), ended)}


def test_the_switchover_went_to_the_synchronous_standby(upgrade):
    source, target, _start, _end = upgrade["window"]
    assert (source, target) == (upgrade["before"], upgrade["after"]), upgrade["window"]
    assert upgrade["after"] != upgrade["before"]


def test_writes_failed_only_inside_the_switchover_window(upgrade):
    _source, _target, start, end = upgrade["window"]
    evts = upgrade["events"]
    errors = [e for e in evts if e["kind"] == "error"]
    outside = [e for e in errors if not start <= e["t"] <= end]
    assert outside == [], outside[:5]
    writes = [e["t"] for e in evts if e["kind"] == "write"]
    # every gap of more than 2 s between two writes overlaps the window
    long_gaps = [(a, b) for a, b in zip(writes, writes[1:]) if b - a > 2.0]
    assert all(a <= end and b >= start for a, b in long_gaps), (long_gaps, start, end)
    gap, gap_start, _gap_end = pg_writer.longest_write_gap(evts)
    line = ("rolling upgrade (data tier): runbook %.1f s; switchover %s -> %s, window printed by the runbook %.1f s; "
            "longest gap between two writes %.2f s (%d failed attempts), starting %.1f s into the window"
            % (upgrade["seconds"], upgrade["before"], upgrade["after"], end - start, gap, len(errors),
               (gap_start or start) - start))
    with open(MEASUREMENTS, "w", encoding="utf-8") as handle:
        handle.write(line + "\n")
    warnings.warn(line)


def test_the_writer_continued_on_the_new_primary_and_lost_no_row(upgrade):
    connects = [e for e in upgrade["events"] if e["kind"] == "connected"]
    assert connects[-1]["server"] == PG_MEMBERS[upgrade["after"]], connects[-3:]
    written = sorted(e["seq"] for e in upgrade["events"] if e["kind"] == "write")
    present = set(int(x) for x in psql(upgrade["after"], "SELECT seq FROM pg_writer_rows WHERE run = '%s'"
                                       % upgrade["run"], db="app").split())
    assert set(written) - present == set()


def test_every_other_member_streams_from_the_new_primary(upgrade):
    rows = psql(upgrade["after"], "SELECT application_name || ':' || state FROM pg_stat_replication ORDER BY 1").split()
    assert len(rows) == len(PG_MEMBERS) - 1 and all(r.endswith(":streaming") for r in rows), rows
    for member in sorted(set(PG_MEMBERS) - {upgrade["after"]}):
        assert psql(member, "SELECT pg_is_in_recovery()") == "t", member
