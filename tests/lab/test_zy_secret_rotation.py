"""Issue 16 on the lab: playbooks/runbooks/secret_rotation.yml rotates the PostgreSQL application and
replication passwords while an application client keeps writing.

A client on app1 (the app tier: TLS + scram-sha-256 to the app database, as pg_hba allows it) writes a row
every 0.2 s through one open session, logging every write and every (re)connection. The runbook then rotates
postgresql/app and postgresql/replication (the exporter credentials are left out here: they re-run the
monitoring play, minutes on the lab, and are not what the issue asks). Afterwards:
- the open session kept writing through the whole rotation (no failed write);
- the client, handed the new value from the store as a deployment would and cut off by the server, reconnects
  with it and writes on;
- the old password is refused;
- both standbys stream again (they reconnected with the new replication password) and have the client's last
  row;
- neither value is in the runbook's output, and no <name>.previous is left in the store.
Sorted after test_zy_awx_runbooks (which greps a bundle for every value in the store) and before
test_zz_down. Times: tests/output/secret_rotation-lab.txt and pytest's warnings summary."""
import json
import os
import subprocess
import time
import warnings

import pytest

from conftest import PG_MEMBERS, REPO, Lab, pg_primary, psql, recap, secrets_dir
from support import firewall_audit, pg_writer
from support.pg_writer import fingerprint
from support.waiting import wait_until

CLIENT = "app1"
MEASUREMENTS = os.path.join(REPO, "tests", "output", "secret_rotation-lab.txt")


def events():
    return pg_writer.events(CLIENT)


@pytest.fixture(scope="module")
def rotation(lab_up):
    store = os.path.join(secrets_dir(), "secrets")
    with open(os.path.join(store, "postgresql", "app"), encoding="utf-8") as handle:
        old_app = handle.read().strip()
    with open(os.path.join(store, "postgresql", "replication"), encoding="utf-8") as handle:
        old_replication = handle.read().strip()
    current = pg_primary()
    run = pg_writer.start(CLIENT, list(PG_MEMBERS.values()), old_app)
    try:
        assert wait_until(lambda: sum(1 for e in events() if e["kind"] == "write") >= 5, 30), events()[-5:]
        before = events()
        started = time.time()
        res, seconds = firewall_audit.lab_playbook(
            "runbooks/secret_rotation.yml", "-e",
            json.dumps({"secret_rotation_secrets": ["postgresql/app", "postgresql/replication"]}),
            log="secret_rotation-lab.log")
        during = [e for e in events() if e["t"] >= started]
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
        with open(os.path.join(store, "postgresql", "app"), encoding="utf-8") as handle:
            new_app = handle.read().strip()
        with open(os.path.join(store, "postgresql", "replication"), encoding="utf-8") as handle:
            new_replication = handle.read().strip()
        # the deployment hands the client the new value; the server cuts the old session (as a pooler's
        # recycling or a restart would), so the client's next connection uses what it was handed
        pg_writer.put(CLIENT, "password", new_app)
        cut_at = time.time()
        psql(current, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pg-writer'")
        reconnected = wait_until(lambda: any(e["kind"] == "connected" and e["t"] >= cut_at and e["pw"] == fingerprint(new_app)
                                             and any(w["kind"] == "write" and w["t"] > e["t"] for w in events())
                                             for e in events()), 30)
        yield {"before": before, "during": during, "after": [e for e in events() if e["t"] >= cut_at],
               "reconnected": reconnected, "primary": current, "run": run, "res": res, "seconds": seconds, "store": store,
               "old": {"app": old_app, "replication": old_replication},
               "new": {"app": new_app, "replication": new_replication}}
    finally:
        pg_writer.stop(CLIENT)


def test_the_runbook_rotates_both_values_and_retires_the_old_ones(rotation):
    res = rotation["res"]
    counts = recap(res.stdout)
    assert counts and all(c["failed"] == 0 and c["unreachable"] == 0 for c in counts.values()), counts
    for name in ("app", "replication"):
        assert rotation["new"][name] != rotation["old"][name] and len(rotation["new"][name]) == 32, name
        assert not os.path.exists(os.path.join(rotation["store"], "postgresql", name + ".previous")), name


def test_the_open_session_kept_writing_through_the_rotation(rotation):
    writes = [e for e in rotation["during"] if e["kind"] == "write"]
    errors = [e for e in rotation["during"] if e["kind"] == "error"]
    assert errors == [], errors[:5]
    assert [e for e in rotation["during"] if e["kind"] == "connected"] == []  # one session, never re-opened
    # 5 rows/s when idle; a commit waits for the synchronous standby, which reconnects once (new password)
    assert len(writes) >= rotation["seconds"], (len(writes), rotation["seconds"])
    gap = pg_writer.longest_write_gap(rotation["during"])[0]
    line = ("secret rotation: runbook %.1f s; the open session wrote %d rows meanwhile, longest gap between two "
            "writes %.2f s, 0 errors" % (rotation["seconds"], len(writes), gap))
    with open(MEASUREMENTS, "w", encoding="utf-8") as handle:
        handle.write(line + "\n")
    warnings.warn(line)


def test_the_client_reconnects_with_the_new_password(rotation):
    assert rotation["reconnected"], rotation["after"][-10:]
    connects = [e for e in rotation["after"] if e["kind"] == "connected"]
    assert connects and connects[-1]["pw"] == fingerprint(rotation["new"]["app"])
    assert all(e["pw"] != fingerprint(rotation["old"]["app"]) for e in connects)


def test_the_old_password_is_refused(rotation):
    def login(password):
        return subprocess.run(["podman", "exec", "-i", "-e", "PGPASSWORD", "-e", "PGSSLMODE=require",
                               "sovlab-" + CLIENT, "psql", "-X", "-At", "-h", PG_MEMBERS[rotation["primary"]], "-U", "app",
                               "-d", "app",
                               "-c", "SELECT 1"],
                              env=dict(os.environ, PGPASSWORD=password), capture_output=True, text=True, check=False)
    old = login(rotation["old"]["app"])
    assert old.returncode != 0 and "password authentication failed" in old.stderr, (old.returncode, old.stderr)
    new = login(rotation["new"]["app"])
    assert new.returncode == 0 and new.stdout.strip() == "1", new.stderr


def test_replication_streams_with_the_new_password_and_the_standbys_have_the_last_row(rotation):
    current = rotation["primary"]
    standbys = sorted(set(PG_MEMBERS) - {current})
    rows = psql(current, "SELECT application_name || ':' || state FROM pg_stat_replication ORDER BY 1").splitlines()
    assert len(rows) == len(standbys) and all(r.endswith(":streaming") for r in rows), rows
    last = psql(current, "SELECT max(seq) FROM pg_writer_rows WHERE run = '%s'" % rotation["run"], db="app")
    for standby in standbys:
        assert wait_until(lambda s=standby: psql(s, "SELECT max(seq) >= %s FROM pg_writer_rows WHERE run = '%s'"
                                                 % (last, rotation["run"]), db="app") == "t",
                          30), standby
        # the standby's passfile holds the new replication password, not the old one
        pgpass = Lab.exec(standby, "cat", "/var/lib/postgresql/.pgpass").stdout
        assert rotation["new"]["replication"] in pgpass and rotation["old"]["replication"] not in pgpass, standby


def test_no_value_in_the_runbook_output(rotation):
    text = rotation["res"].stdout + rotation["res"].stderr
    for kind in ("old", "new"):
        for name, value in rotation[kind].items():
            assert value not in text, "%s %s value in the runbook's output" % (kind, name)
