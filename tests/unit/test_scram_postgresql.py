"""The secret rotation runbook sends passwords to PostgreSQL pre-hashed (filter
scram_sha256_verifier) and checks the stored verifier (scram_sha256_verifies). Proven here against
Debian's real PostgreSQL: a throw-away cluster on a Unix socket only (no TCP), ALTER ROLE with the
verifier, then a scram-sha-256 login with the new password succeeds and with the old one fails, and
the verifier PostgreSQL stores is accepted by the filter for the new value only. Skipped when the
PostgreSQL server binaries or the postgres user are absent."""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from ansible_collections.sovereign.datacenter.plugins.filter.scram import scram_sha256_verifier, scram_sha256_verifies

BINDIRS = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _postgres_user():
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


pytestmark = pytest.mark.skipif(not BINDIRS or _postgres_user() is None or os.geteuid() != 0,
                                reason="needs Debian's PostgreSQL server binaries, the postgres user and root")


def _as_postgres(*argv, **kwargs):
    return subprocess.run(["runuser", "-u", "postgres", "--"] + list(argv), capture_output=True, text=True,
                          timeout=120, check=False, **kwargs)


def test_prehashed_password_logs_in_and_the_old_one_is_refused():
    psycopg = pytest.importorskip("psycopg")
    bindir = BINDIRS[-1]
    user = _postgres_user()
    base = tempfile.mkdtemp(prefix="sovereign-scram-")
    try:
        os.chown(base, user.pw_uid, user.pw_gid)
        data, sock = os.path.join(base, "data"), os.path.join(base, "sock")
        os.mkdir(sock)
        os.chown(sock, user.pw_uid, user.pw_gid)
        res = _as_postgres(os.path.join(bindir, "initdb"), "-D", data, "-A", "peer", "--auth-local=peer", "-U", "postgres")
        assert res.returncode == 0, res.stdout + res.stderr
        with open(os.path.join(data, "pg_hba.conf"), "w", encoding="utf-8") as handle:
            handle.write("local all postgres peer\nlocal all all scram-sha-256\n")
        res = _as_postgres(os.path.join(bindir, "pg_ctl"), "-D", data, "-w", "-l", os.path.join(base, "log"), "-o",
                           "-c listen_addresses='' -k %s" % sock, "start")
        assert res.returncode == 0, res.stdout + res.stderr
        try:
            old, new = "old-Value-123456", "new-Value-654321"

            def psql(sql):
                out = _as_postgres(os.path.join(bindir, "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", sock, "-d",
                                   "postgres", input=sql)
                assert out.returncode == 0, out.stdout + out.stderr
                return out.stdout.strip()

            psql("CREATE ROLE app LOGIN PASSWORD '%s';" % scram_sha256_verifier(old))
            psql("ALTER ROLE app PASSWORD '%s';" % scram_sha256_verifier(new))
            stored = psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'app';")
            assert stored.startswith("SCRAM-SHA-256$")
            assert scram_sha256_verifies(stored, new) and not scram_sha256_verifies(stored, old)
            with psycopg.connect(host=sock, dbname="postgres", user="app", password=new) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
                psycopg.connect(host=sock, dbname="postgres", user="app", password=old)
        finally:
            _as_postgres(os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "immediate", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)
