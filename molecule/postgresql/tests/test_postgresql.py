"""Behaviour of the PostgreSQL tier (Molecule scenario `postgresql`).

Order matters: replication checks first, then the destructive failover test (kill -9 of the
primary while a client writes, DR failover runbook, RTO and lost commits), then the fence test.
Measured numbers go to PGT_RESULTS (default: <ephemeral dir>/postgresql-results.json).
"""
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

# wait_for retries any exception of the predicate (a failing psql, a refused connection) until the timeout.
from support.waiting import wait_for

REPO = Path(__file__).resolve().parents[3]
PRIMARY, SYNC, ASYNC, BACKUP = "pgt-pg1", "pgt-pg2", "pgt-pg3", "pgt-backup"
REPO_DIR = "/var/lib/pgbackrest"
ADDR = {PRIMARY: "10.241.20.11", SYNC: "10.241.20.12", ASYNC: "10.241.20.140"}
RESULTS = {}


def psql(host, sql, db="postgres"):
    """Run SQL as postgres inside the container; return stripped output."""
    return host.check_output("runuser -u postgres -- psql -X -At -d %s -c %s" % (db, _quote(sql)))


def _quote(sql):
    return "'" + sql.replace("'", "'\\''") + "'"


@pytest.fixture(scope="module")
def eph(ephemeral_dir):
    return Path(ephemeral_dir)


@pytest.fixture(scope="module")
def app_dsn(eph):
    password = (eph / "secrets" / "pg-app").read_text().split()[0]
    return ("host={h} port=5432 dbname=app user=app password=%s sslmode=verify-full "
            "sslrootcert=%s connect_timeout=2" % (password, eph / "secrets" / "pki" / "ca.crt"))


@pytest.fixture(scope="module", autouse=True)
def write_results(eph):
    yield
    path = Path(os.environ.get("PGT_RESULTS", eph / "postgresql-results.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(RESULTS, indent=2, sort_keys=True) + "\n")


def test_data_checksums_tls_and_scram(hosts):
    for name in (PRIMARY, SYNC, ASYNC):
        assert psql(hosts[name], "SHOW data_checksums") == "on"
        assert psql(hosts[name], "SHOW ssl") == "on"
        assert psql(hosts[name], "SHOW password_encryption") == "scram-sha-256"
    methods = psql(hosts[PRIMARY], "SELECT DISTINCT type || ':' || auth_method FROM pg_hba_file_rules ORDER BY 1")
    assert set(methods.split()) == {"local:peer", "hostssl:scram-sha-256"}


def test_client_without_tls_is_rejected(app_dsn):
    with pytest.raises(psycopg.OperationalError, match="no pg_hba.conf entry|SSL off"):
        psycopg.connect(app_dsn.format(h=ADDR[PRIMARY]).replace("sslmode=verify-full", "sslmode=disable"))


def test_client_with_tls_and_password_is_accepted(app_dsn):
    with psycopg.connect(app_dsn.format(h=ADDR[PRIMARY])) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0] is True


def test_replication_is_tls_and_sync_state(hosts):
    rows = psql(hosts[PRIMARY], "SELECT r.application_name || ':' || r.sync_state || ':' || s.ssl "
                "FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) ORDER BY 1").split()
    assert rows == ["%s:sync:true" % SYNC, "%s:async:true" % ASYNC]
    slots = psql(hosts[PRIMARY], "SELECT slot_name || ':' || active FROM pg_replication_slots ORDER BY 1").split()
    assert slots == ["pgt_pg2:true", "pgt_pg3:true"]


def test_10000_rows_reach_both_standbys(hosts):
    psql(hosts[PRIMARY], "DROP TABLE IF EXISTS rows10k; CREATE TABLE rows10k (id int PRIMARY KEY, v text); "
         "INSERT INTO rows10k SELECT g, md5(g::text) FROM generate_series(1, 10000) g", db="app")
    digest = "SELECT count(*) || ':' || md5(string_agg(v, ',' ORDER BY id)) FROM rows10k"
    expected = psql(hosts[PRIMARY], digest, db="app")
    assert expected.startswith("10000:")
    for name in (SYNC, ASYNC):
        assert wait_for(lambda n=name: psql(hosts[n], digest, db="app") == expected, timeout=30), name


def test_replication_info_module(hosts, eph):
    """The collection's module reports roles, sync state, lag and slot health."""
    out = _ansible(eph, [PRIMARY + "," + ASYNC, "-m", "sovereign.datacenter.postgresql_replication_info",
                         "-b", "--become-user", "postgres", "-o"])
    assert out.returncode == 0, out.stdout + out.stderr
    info = {}
    for line in out.stdout.splitlines():
        name, unused_sep, payload = line.partition(" | SUCCESS => ")
        if payload:
            info[name.strip()] = json.loads(payload)
    primary, standby = info[PRIMARY], info[ASYNC]
    assert primary["role"] == "primary" and standby["role"] == "standby"
    assert {s["application_name"]: s["sync_state"] for s in primary["standbys"]} == {SYNC: "sync", ASYNC: "async"}
    assert all(s["healthy"] for s in primary["slots"])
    assert standby["wal_receiver"]["status"] == "streaming"
    RESULTS["lag_before_kill"] = {s["application_name"]: {"bytes": s["replay_lag_bytes"], "seconds": s["replay_lag_seconds"]}
                                  for s in primary["standbys"]}


def _env(eph):
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / ".ansible" / "collections"))
    env["ANSIBLE_CONFIG"] = str(eph / "ansible.cfg")
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    try:
        import ansible_mitogen
        env.setdefault("ANSIBLE_STRATEGY_PLUGINS", os.pathsep.join([
            str(REPO / "scripts" / "strategy"), os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy")]))
        env.setdefault("ANSIBLE_STRATEGY", "mitogen_linear_unpinned")
    except ImportError:
        pass
    return env


def _ansible(eph, args):
    return subprocess.run(["ansible", "-i", str(eph / "inventory")] + args, capture_output=True, text=True,
                          env=_env(eph), timeout=300, check=False)


def _playbook(eph, playbook, *extra):
    return subprocess.run(["ansible-playbook", "-i", str(eph / "inventory"), str(REPO / playbook)] + list(extra),
                          capture_output=True, text=True, env=_env(eph), timeout=600, check=False)


def test_encrypted_backup_restores_and_hides_data(hosts, eph):
    """A known row value goes into a backup; the restore test proves the backup restores with
    identical row counts and checksums; the value appears nowhere in clear in the repository."""
    import secrets
    canary = "sovereign-canary-" + secrets.token_hex(8)
    pg1 = hosts[PRIMARY]
    psql(pg1, "CREATE TABLE IF NOT EXISTS canary (v text); INSERT INTO canary VALUES ('%s')" % canary, db="app")
    psql(pg1, "CHECKPOINT")
    psql(pg1, "SELECT pg_switch_wal()")
    start = time.monotonic()
    run = _playbook(eph, "playbooks/runbooks/pg_restore_test.yml", "-e", "pg_restore_test_host=" + PRIMARY,
                    "-e", "pg_restore_test_backup_first=true")
    RESULTS["backup_full_and_restore_test_seconds"] = round(time.monotonic() - start, 2)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert re.search(r"differences['\"]?: \[\]", run.stdout), run.stdout[-3000:]
    restored = re.search(r"rows['\"]?: ['\"]?(\d+)", run.stdout)
    RESULTS["restore_test_rows_compared"] = int(restored.group(1)) if restored else None
    for key in ("backup_seconds", "restore_seconds"):
        found = re.search(key + r"['\"]?: ['\"]?([0-9:.]+)", run.stdout)
        RESULTS["restore_test_" + key] = found.group(1) if found else None
    # The value is in clear in the data directory (the grep can see it) ...
    assert pg1.run("grep -rlF %s /var/lib/postgresql/15/main/base" % canary).rc == 0
    # ... the repository is on the backup host, not on the database host ...
    backup = hosts[BACKUP]
    assert pg1.run("find %s -name backup.info" % REPO_DIR).stdout.strip() == ""
    # ... and the value is nowhere in clear there (backup files and archived WAL).
    found = backup.run("grep -rlF %s %s" % (canary, REPO_DIR))
    assert found.rc == 1, "canary in clear in: " + found.stdout
    assert backup.check_output("head -c 8 %s/repo1/backup/main/backup.info" % REPO_DIR) == "Salted__"
    archived = backup.check_output("find %s/repo1/archive/main -type f -name '0000*' | head -n 1" % REPO_DIR)
    assert archived and backup.check_output("head -c 8 %s" % archived) == "Salted__"
    # The key is on the backup host only.
    assert "cipher-pass" not in pg1.check_output("cat /etc/pgbackrest.conf")
    for timer in ("weekly-full", "daily-diff", "monthly-full"):
        assert backup.service("sovereign-pgbackrest-%s.timer" % timer).is_enabled
    info = json.loads(backup.check_output("runuser -u postgres -- pgbackrest --stanza=main --repo=1 info --output=json"))
    RESULTS["backups_in_repo1_before_failover"] = len(info[0]["backup"])


def test_repository_tls_server_serves_only_member_certificates(hosts):
    """The backup host's pgBackRest TLS server (mutual TLS) serves the stanza to a cluster member
    (pg3's certificate CN) and refuses a certificate of the same CA whose CN is not a member (the
    backup host's own)."""
    member = hosts[ASYNC].check_output("runuser -u postgres -- pgbackrest --log-level-file=off --stanza=main --repo=1 info")
    assert "status: ok" in member, member
    stranger = hosts[BACKUP].check_output(
        "runuser -u postgres -- pgbackrest --config=/dev/null --log-level-file=off --stanza=main "
        "--repo1-host=%s --repo1-host-type=tls --repo1-host-cert-file=/etc/ssl/sovereign/host.crt "
        "--repo1-host-key-file=/etc/ssl/sovereign/private/host.key --repo1-host-ca-file=/etc/ssl/sovereign/ca.crt info" % BACKUP)
    assert "access denied" in stranger, stranger


class Writer(threading.Thread):
    """Writes one row per transaction; remembers every commit the server acknowledged."""

    def __init__(self, dsn):
        super().__init__(daemon=True)
        self.dsn = dsn
        self.acked = []
        self.first_ok_after = {}
        self.stop = threading.Event()
        self.kill_time = None
        self.errors = 0
        self.acked_offset = 1

    def run(self):
        next_id, conn = self.acked_offset, None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.dsn, autocommit=True, target_session_attrs="read-write")
                conn.execute("INSERT INTO failover_probe (id) VALUES (%s)", (next_id,))
                now = time.monotonic()
                self.acked.append(next_id)
                host = conn.info.host
                if self.kill_time is not None and host not in self.first_ok_after:
                    self.first_ok_after[host] = now
                next_id += 1
            except psycopg.Error:
                self.errors += 1
                next_id += 1  # an unacknowledged id is never reused
                try:
                    if conn is not None:
                        conn.close()
                except psycopg.Error:
                    pass
                conn = None
                time.sleep(0.2)


def test_kill_primary_while_writing_and_fail_over(hosts, eph, app_dsn):
    psql(hosts[PRIMARY], "CREATE TABLE IF NOT EXISTS failover_probe (id bigint PRIMARY KEY, at timestamptz DEFAULT now())", db="app")
    psql(hosts[PRIMARY], "ALTER TABLE failover_probe OWNER TO app", db="app")
    dsn = app_dsn.format(h="%s,%s" % (ADDR[PRIMARY], ADDR[SYNC]))
    writer = Writer(dsn)
    writer.start()
    assert wait_for(lambda: len(writer.acked) > 200, timeout=30), "the client could not write"
    acked_before_kill = len(writer.acked)
    # The race a real failover meets: the asynchronous DR standby has WAL that the synchronous one
    # never received, so once the synchronous one is promoted the DR standby is past the fork point
    # and can never follow the new timeline by itself. Made certain here: the synchronous standby
    # is cut off from the primary (its primary_conninfo points at a closed local port) while one row
    # is committed locally (never acknowledged to the writer, whose commits wait for the
    # synchronous standby), and the DR standby receives it. (Freezing the WAL receiver was not
    # enough: the row waited in its socket buffer and arrived after the kill.)
    psql(hosts[SYNC], "ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=1 connect_timeout=1'")
    psql(hosts[SYNC], "SELECT pg_reload_conf()")
    try:
        assert wait_for(lambda: psql(hosts[PRIMARY], "SELECT count(*) FROM pg_stat_replication WHERE application_name = "
                                                     "'%s'" % SYNC) == "0", timeout=30), "the synchronous standby still streams"
        psql(hosts[PRIMARY], "SET synchronous_commit = local; INSERT INTO failover_probe (id) VALUES (-7)", db="app")
        lsn = psql(hosts[PRIMARY], "SELECT pg_current_wal_lsn()")
        assert wait_for(lambda: psql(hosts[ASYNC], "SELECT pg_last_wal_receive_lsn() >= '%s'::pg_lsn" % lsn) == "t",
                        timeout=30), "the DR standby did not receive the unacknowledged row"
        writer.kill_time = time.monotonic()
        subprocess.run(["podman", "kill", "-s", "KILL", PRIMARY], check=True, capture_output=True)
    finally:
        psql(hosts[SYNC], "ALTER SYSTEM RESET primary_conninfo")
        psql(hosts[SYNC], "SELECT pg_reload_conf()")
    run = _playbook(eph, "playbooks/runbooks/pg_dr_failover.yml", "-e", "pg_failover_target=" + SYNC)
    runbook_done = time.monotonic()
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    report = re.sub(r"\s+", " ", run.stdout)
    # The killed primary could not be reached: the report says so instead of "fenced".
    assert "old primary %s: unreachable, not fenced now" % PRIMARY in report, run.stdout[-3000:]
    # The DR standby went past the fork point: the runbook rewound it (test_async_standby_follows_new_primary).
    assert "%s: rewound to the new timeline" % ASYNC in report, run.stdout[-3000:]
    assert wait_for(lambda: ADDR[SYNC] in writer.first_ok_after, timeout=60), "no write on the new primary"
    time.sleep(2)
    writer.stop.set()
    writer.join(10)
    rto = writer.first_ok_after[ADDR[SYNC]] - writer.kill_time
    present = set(int(x) for x in psql(hosts[SYNC], "SELECT id FROM failover_probe", db="app").split())
    lost = sorted(set(writer.acked) - present)
    RESULTS["failover_sync_standby"] = {
        "rto_seconds": round(rto, 2), "runbook_seconds": round(runbook_done - writer.kill_time, 2),
        "acked_commits": len(writer.acked), "acked_before_kill": acked_before_kill,
        "lost_acked_commits": len(lost), "client_errors": writer.errors}
    assert not lost, "acknowledged commits lost: %s" % lost[:20]
    assert rto < 60, "RTO %.1f s" % rto
    assert psql(hosts[SYNC], "SELECT pg_is_in_recovery()") == "f"


def test_async_standby_follows_new_primary(hosts):
    assert wait_for(lambda: psql(hosts[SYNC], "SELECT application_name || ':' || state FROM pg_stat_replication")
                    == "%s:streaming" % ASYNC, timeout=60)
    # the row only the DR standby had (committed locally, never acknowledged) went with the rewind
    assert psql(hosts[ASYNC], "SELECT count(*) FROM failover_probe WHERE id = -7", db="app") == "0"
    count = psql(hosts[SYNC], "SELECT count(*) FROM failover_probe", db="app")
    assert wait_for(lambda: psql(hosts[ASYNC], "SELECT count(*) FROM failover_probe", db="app") == count, timeout=30)


def test_converge_on_the_stale_inventory_is_refused_and_dr_keeps_streaming(hosts, eph):
    """The failover above left the inventory naming the killed pg1 as primary. A routine converge
    then (an AWX schedule) must stop before any change, say which host is the primary now and what
    to change, and leave the DR standby streaming from the new primary."""
    run = _playbook(eph, "playbooks/postgresql.yml")
    assert run.returncode != 0, run.stdout[-3000:]
    out = re.sub(r"\s+", " ", run.stdout + run.stderr)  # failures go to stderr (display_failed_stderr)
    assert "%s is the primary now" % SYNC in out and "postgresql_role: primary on %s" % SYNC in out, out[-3000:]
    recap = [line for line in run.stdout.splitlines() if "changed=" in line and "ok=" in line]
    assert recap and all(re.search(r"changed=0\s", line) for line in recap), "\n".join(recap)
    assert not any(line.startswith(BACKUP) for line in recap), "the backup host's play ran on the stale inventory"
    assert psql(hosts[ASYNC], "SELECT sender_host || ':' || status FROM pg_stat_wal_receiver") == \
        "%s:streaming" % ADDR[SYNC]
    assert psql(hosts[SYNC], "SELECT application_name || ':' || state FROM pg_stat_replication") == \
        "%s:streaming" % ASYNC


def test_old_primary_started_again_is_fenced(hosts, app_dsn):
    subprocess.run(["podman", "start", PRIMARY], check=True, capture_output=True)
    started = time.monotonic()
    old = hosts[PRIMARY]
    assert wait_for(lambda: old.run("systemctl is-system-running").stdout.strip() in ("running", "degraded"), timeout=60)
    assert wait_for(lambda: old.run("systemctl is-failed postgresql@15-main").stdout.strip() == "failed", timeout=30)
    RESULTS["fence_seconds_after_start"] = round(time.monotonic() - started, 2)
    assert old.run("pg_ctlcluster 15 main status").rc != 0
    assert old.file("/etc/postgresql/15/main/FENCED").exists
    assert "is a primary" in old.check_output("journalctl -u postgresql@15-main --no-pager")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(app_dsn.format(h=ADDR[PRIMARY]), autocommit=True).execute(
            "INSERT INTO failover_probe (id) VALUES (-1)")


def test_backups_follow_the_new_primary(hosts):
    """After the failover the backup host finds the new primary by itself (the repository lists
    every member) and backs it up; the fenced old primary only produces a warning."""
    backup = hosts[BACKUP]
    start = time.monotonic()
    run = backup.run("runuser -u postgres -- pgbackrest --stanza=main --repo=1 --type=full backup")
    RESULTS["backup_after_failover_seconds"] = round(time.monotonic() - start, 2)
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-2000:]
    info = json.loads(backup.check_output("runuser -u postgres -- pgbackrest --stanza=main --repo=1 info --output=json"))
    newest = info[0]["backup"][-1]
    assert newest["type"] == "full"
    # The new primary (pg2, timeline 2) wrote it.
    assert newest["archive"]["start"].startswith("00000002"), newest["archive"]


def test_dc1_lost_promotes_dc2(hosts, eph, app_dsn):
    """Both dc1 hosts die while a client writes to the primary: dc2 is promoted and writable;
    lost commits are bounded by the asynchronous lag measured just before the kill."""
    dsn = app_dsn.format(h="%s,%s" % (ADDR[SYNC], ADDR[ASYNC]))
    writer = Writer(dsn)
    start_id = int(psql(hosts[SYNC], "SELECT coalesce(max(id), 0) + 1000000 FROM failover_probe", db="app"))
    writer.acked_offset = start_id
    writer.start()
    assert wait_for(lambda: len(writer.acked) > 200, timeout=30)
    lag = psql(hosts[SYNC], "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint || ' ' || "
               "coalesce(extract(epoch FROM replay_lag), 0) FROM pg_stat_replication WHERE application_name = '%s'" % ASYNC)
    writer.kill_time = time.monotonic()
    for name in (SYNC, PRIMARY):
        subprocess.run(["podman", "kill", "-s", "KILL", name], check=False, capture_output=True)
    run = _playbook(eph, "playbooks/runbooks/pg_dr_failover.yml", "-e", "pg_failover_lost_site=dc1",
                    "-e", "pg_failover_old_primary=" + SYNC)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert wait_for(lambda: ADDR[ASYNC] in writer.first_ok_after, timeout=60), "no write on dc2"
    time.sleep(1)
    writer.stop.set()
    writer.join(10)
    present = set(int(x) for x in psql(hosts[ASYNC], "SELECT id FROM failover_probe", db="app").split())
    lost = sorted(set(writer.acked) - present)
    lag_bytes, lag_seconds = lag.split()
    RESULTS["failover_dc1_lost"] = {
        "rto_seconds": round(writer.first_ok_after[ADDR[ASYNC]] - writer.kill_time, 2),
        "async_lag_before_kill_bytes": int(lag_bytes), "async_lag_before_kill_seconds": float(lag_seconds),
        "acked_commits": len(writer.acked), "lost_acked_commits": len(lost)}
    assert psql(hosts[ASYNC], "SELECT pg_is_in_recovery()") == "f"


def test_dc1_hosts_started_again_are_fenced(hosts):
    for name in (PRIMARY, SYNC):
        subprocess.run(["podman", "start", name], check=True, capture_output=True)
    for name in (PRIMARY, SYNC):
        assert wait_for(lambda n=name: hosts[n].run("systemctl is-failed postgresql@15-main").stdout.strip() == "failed",
                        timeout=60), name
        assert hosts[name].file("/etc/postgresql/15/main/FENCED").exists
        assert hosts[name].run("pg_ctlcluster 15 main status").rc != 0


def test_failback_rebuilds_dc1_and_switches_back(hosts, eph):
    count_before = psql(hosts[ASYNC], "SELECT count(*) FROM failover_probe", db="app")
    start = time.monotonic()
    run = _playbook(eph, "playbooks/runbooks/pg_dr_failback.yml", "-e", "pg_failback_primary=" + ASYNC,
                    "-e", json.dumps({"pg_failback_hosts": [PRIMARY, SYNC]}), "-e", "pg_failback_switchover_to=" + PRIMARY)
    RESULTS["failback_and_switchover_seconds"] = round(time.monotonic() - start, 2)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert psql(hosts[PRIMARY], "SELECT pg_is_in_recovery()") == "f"
    assert psql(hosts[PRIMARY], "SELECT count(*) FROM failover_probe", db="app") == count_before
    assert wait_for(lambda: psql(hosts[PRIMARY], "SELECT string_agg(application_name || ':' || sync_state, ' ' "
                                 "ORDER BY application_name) FROM pg_stat_replication")
                    == "%s:sync %s:async" % (SYNC, ASYNC), timeout=60)
    psql(hosts[PRIMARY], "INSERT INTO failover_probe (id) VALUES (-42)", db="app")
    for name in (SYNC, ASYNC):
        assert wait_for(lambda n=name: psql(hosts[n], "SELECT count(*) FROM failover_probe WHERE id = -42", db="app") == "1")


def test_role_rerun_after_the_cycle_changes_nothing(eph):
    run = _playbook(eph, "playbooks/postgresql.yml")
    assert run.returncode == 0, run.stdout[-4000:]
    recap = [line for line in run.stdout.splitlines() if "changed=" in line and "ok=" in line]
    assert recap and all("changed=0" in line for line in recap), "\n".join(recap)
