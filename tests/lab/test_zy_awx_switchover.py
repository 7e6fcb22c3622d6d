"""Issue 16 on the lab: the DR drill, a planned switchover and back, run as its AWX job template runs it
(ansible-runner, the survey's defaults plus the operator's answers; tests/support/awx_template.py).

playbooks/runbooks/pg_switchover.yml moves the primary from the current one to the synchronous standby, then
back, while an application client on app1 writes a row every 0.2 s (tests/support/pg_writer.py, a multi-host
connection that follows the read-write member). After each leg: the target is the primary, every other member
streams from it, and every row the client was told was written is there. The write outage of each leg (the
longest gap between two writes) is in tests/output/switchover_drill-lab.txt and pytest's warnings summary.
Sorted after test_zy_awx_runbooks and before test_zy_rolling_upgrade, which switches over once more."""
import os
import time
import warnings

import pytest

from conftest import PG_MEMBERS, REPO, pg_primary, psql, secrets_dir
from support import awx_template, pg_writer
from support.waiting import wait_until

pytestmark = pytest.mark.skipif(not awx_template.available(),
                                reason="ansible_runner is not importable: pip install -r tests/requirements.txt")
SYNC = "pg2"  # postgresql_synchronous: true in inventories/lab/hosts.yml
CLIENT = "app1"
RUNBOOK = "playbooks/runbooks/pg_switchover.yml"
MEASUREMENTS = os.path.join(REPO, "tests", "output", "switchover_drill-lab.txt")


@pytest.fixture(scope="module")
def drill(lab_up):
    with open(os.path.join(secrets_dir(), "secrets", "postgresql", "app"), encoding="utf-8") as handle:
        password = handle.read().strip()
    start = pg_primary()
    target = SYNC if start != SYNC else sorted(set(PG_MEMBERS) - {SYNC, "pg3"})[0]
    legs = []
    run_id = pg_writer.start(CLIENT, list(PG_MEMBERS.values()), password)
    try:
        assert wait_until(lambda: sum(1 for e in pg_writer.events(CLIENT) if e["kind"] == "write") >= 5, 30)
        for source, dest in ((start, target), (target, start)):
            before = len(pg_writer.events(CLIENT))
            run = awx_template.run(RUNBOOK, {"pg_switchover_from": source, "pg_switchover_to": dest},
                                   log="switchover_drill-%s-to-%s-lab.log" % (source, dest))
            ended = time.time()  # the containers share the controller's clock
            assert run["status"] == "successful" and run["rc"] == 0, run["stdout"][-4000:]
            # the client is writing on the new primary before the next leg
            assert wait_until(lambda t=ended: any(e["kind"] == "write" and e["t"] > t for e in pg_writer.events(CLIENT)),
                              30)
            legs.append({"from": source, "to": dest, "run": run, "primary": pg_primary(),
                         "events": pg_writer.events(CLIENT)[before:]})
    finally:
        pg_writer.stop(CLIENT)
    return {"legs": legs, "start": start, "run_id": run_id, "events": pg_writer.events(CLIENT)}


def test_each_leg_succeeds_through_ansible_runner(drill):
    for leg in drill["legs"]:
        assert leg["run"]["status"] == "successful" and leg["run"]["rc"] == 0, leg["run"]["stdout"][-4000:]
        assert leg["run"]["extravars"]["pg_switchover_to"] == leg["to"]


def test_each_leg_moves_the_primary_and_every_other_member_streams_from_it(drill):
    assert [leg["primary"] for leg in drill["legs"]] == [drill["legs"][0]["to"], drill["start"]]
    current = drill["start"]
    rows = psql(current, "SELECT application_name || ':' || state FROM pg_stat_replication ORDER BY 1").split()
    assert len(rows) == len(PG_MEMBERS) - 1 and all(r.endswith(":streaming") for r in rows), rows


def test_no_acknowledged_write_is_lost_and_the_outage_is_reported(drill):
    written = set(e["seq"] for e in drill["events"] if e["kind"] == "write")
    present = set(int(x) for x in psql(drill["start"], "SELECT seq FROM pg_writer_rows WHERE run = '%s'"
                                       % drill["run_id"], db="app").split())
    assert written - present == set()
    parts = []
    for leg in drill["legs"]:
        gap = pg_writer.longest_write_gap(leg["events"])[0]
        errors = sum(1 for e in leg["events"] if e["kind"] == "error")
        parts.append("%s -> %s: runbook %.1f s, longest gap between two writes %.2f s (%d failed attempts)"
                     % (leg["from"], leg["to"], leg["run"]["seconds"], gap, errors))
    line = "DR drill through ansible-runner (as AWX): " + "; ".join(parts) + "; %d rows, none lost" % len(written)
    with open(MEASUREMENTS, "w", encoding="utf-8") as handle:
        handle.write(line + "\n")
    warnings.warn(line)
