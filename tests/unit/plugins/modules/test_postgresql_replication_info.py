"""postgresql_replication_info against a real local PostgreSQL primary + streaming standby.

No mocks: initdb runs as the postgres user in a temporary directory; the servers listen on
127.0.0.1 only (ports PGT_UNIT_PORT and +1, default 25432/25433) and are stopped afterwards.
Needs the Debian package postgresql (PostgreSQL 15) on the controller; skipped without it.
"""
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.sovereign.datacenter.plugins.modules import postgresql_replication_info as mod
from ansible_collections.sovereign.datacenter.plugins.module_utils import _postgresql

BIN = Path("/usr/lib/postgresql/15/bin")
PORT = int(os.environ.get("PGT_UNIT_PORT", "25432"))
pytestmark = pytest.mark.skipif(not (BIN / "initdb").exists() or os.geteuid() != 0,
                                reason="needs root and the Debian package postgresql (15)")


def _as_postgres(*args, env=None):
    return subprocess.run(["runuser", "-u", "postgres", "--"] + [str(a) for a in args], check=True,
                          capture_output=True, text=True, env=env, timeout=120)


class Cluster:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="pgt-unit-", dir="/tmp"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.password = secrets.token_hex(16)
        pwfile = self.dir / "pw"
        pwfile.write_text(self.password + "\n")
        shutil.chown(pwfile, "postgres", "postgres")
        self.primary, self.standby = self.dir / "primary", self.dir / "standby"

    def start(self):
        _as_postgres(BIN / "initdb", "-D", self.primary, "--data-checksums", "--auth=scram-sha-256",
                     "--pwfile", self.dir / "pw", "-U", "postgres")
        with open(self.primary / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"
                       "wal_level = replica\nmax_wal_senders = 5\n" % (PORT, self.dir))
        with open(self.primary / "pg_hba.conf", "a", encoding="utf-8") as hba:
            hba.write("host replication postgres 127.0.0.1/32 scram-sha-256\n")
        self._ctl(self.primary, "start")
        env = dict(os.environ, PGPASSWORD=self.password)
        _as_postgres(BIN / "pg_basebackup", "-h", "127.0.0.1", "-p", PORT, "-U", "postgres", "-D", self.standby,
                     "-X", "stream", "-R", "-C", "-S", "standby1", "-c", "fast", env=env)
        with open(self.standby / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("port = %d\n" % (PORT + 1))
        with open(self.standby / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
            conf.write("primary_conninfo = 'host=127.0.0.1 port=%d user=postgres password=%s application_name=standby1'\n"
                       % (PORT, self.password))
        self._ctl(self.standby, "start")

    def _ctl(self, data, action):
        _as_postgres(BIN / "pg_ctl", "-D", data, "-w", "-l", self.dir / (data.name + ".log"), action)

    def sql(self, port, query):
        env = dict(os.environ, PGPASSWORD=self.password)
        return _as_postgres("psql", "-X", "-At", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "postgres",
                            "-c", query, env=env).stdout.strip()

    def stop(self):
        for data in (self.standby, self.primary):
            if (data / "postmaster.pid").exists():
                subprocess.run(["runuser", "-u", "postgres", "--", str(BIN / "pg_ctl"), "-D", str(data), "-m",
                                "immediate", "stop"], capture_output=True, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        c.start()
        yield c
    finally:
        c.stop()


def run_module(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            mod.main()
    result = json.loads(capsys.readouterr().out)
    return exc.value.code, result


def login(cluster, port, **extra):
    return dict(login_host="127.0.0.1", port=port, login_user="postgres", login_password=cluster.password,
                ssl_mode="disable", **extra)


def wait(predicate, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_primary_reports_async_standby_and_slot(cluster, capsys):
    # streaming, and the standby has reported a replay position (lag is unknown, NULL, before that)
    assert wait(lambda: cluster.sql(PORT, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' "
                                          "AND replay_lsn IS NOT NULL") == "1")
    rc, res = run_module(capsys, **login(cluster, PORT))
    assert rc == 0, res
    assert res["changed"] is False
    assert res["role"] == "primary" and res["in_recovery"] is False
    assert res["timeline"] == 1
    [standby] = res["standbys"]
    assert standby["application_name"] == "standby1"
    assert standby["state"] == "streaming" and standby["sync_state"] == "async"
    assert standby["replay_lag_bytes"] >= 0 and standby["replay_lag_seconds"] >= 0
    [slot] = res["slots"]
    assert slot["slot_name"] == "standby1" and slot["active"] is True and slot["healthy"] is True
    assert slot["wal_status"] == "reserved"


def test_sync_state_after_synchronous_standby_names(cluster, capsys):
    cluster.sql(PORT, "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (standby1)'")
    cluster.sql(PORT, "SELECT pg_reload_conf()")
    assert wait(lambda: cluster.sql(PORT, "SELECT sync_state FROM pg_stat_replication") == "sync")
    cluster.sql(PORT, "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g")
    rc, res = run_module(capsys, **login(cluster, PORT))
    assert rc == 0
    assert res["standbys"][0]["sync_state"] == "sync"
    assert res["synchronous_standby_names"] == "FIRST 1 (standby1)"


def test_standby_reports_receiver_and_lag(cluster, capsys):
    rc, res = run_module(capsys, **login(cluster, PORT + 1))
    assert rc == 0, res
    assert res["role"] == "standby" and res["in_recovery"] is True
    assert res["timeline"] == 1
    assert res["wal_receiver"]["status"] == "streaming"
    assert res["wal_receiver"]["slot_name"] == "standby1"
    assert res["receive_lag_bytes"] >= 0 and res["replay_lag_seconds"] >= 0
    assert res["standbys"] == []


def test_slot_over_retention_limit_is_unhealthy(cluster, capsys):
    cluster.sql(PORT, "SELECT pg_create_physical_replication_slot('stale', true)")
    cluster.sql(PORT, "CREATE TABLE big AS SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
    rc, res = run_module(capsys, slot_retained_bytes_max=1024, **login(cluster, PORT))
    assert rc == 0
    slots = {s["slot_name"]: s for s in res["slots"]}
    assert slots["stale"]["active"] is False
    assert slots["stale"]["retained_bytes"] > 1024 and slots["stale"]["healthy"] is False
    cluster.sql(PORT, "SELECT pg_drop_replication_slot('stale')")


def test_wrong_password_fails_with_clear_message(cluster, capsys):
    args = login(cluster, PORT)
    args["login_password"] = "wrong"
    rc, res = run_module(capsys, **args)
    assert rc == 1 and res["failed"] is True
    assert "cannot connect to PostgreSQL at 127.0.0.1:%d as postgres" % PORT in res["msg"]
    assert "wrong" not in json.dumps(res.get("invocation", {}))


def test_promoted_standby_is_primary_on_timeline_2(cluster, capsys):
    cluster.sql(PORT, "ALTER SYSTEM RESET synchronous_standby_names")
    cluster.sql(PORT, "SELECT pg_reload_conf()")
    assert cluster.sql(PORT + 1, "SELECT pg_promote(true, 60)") == "t"
    rc, res = run_module(capsys, **login(cluster, PORT + 1))
    assert rc == 0
    assert res["role"] == "primary" and res["timeline"] == 2 and res["wal_receiver"] is None


def test_lsn_helpers():
    assert _postgresql.lsn_to_int("0/0") == 0
    assert _postgresql.lsn_to_int("16/B374D848") == (0x16 << 32) + 0xB374D848
    assert _postgresql.lsn_to_int(None) is None
    assert _postgresql.timeline_of_walfile("000000020000000000000003") == 2
