"""Issue 5 on the lab: the PostgreSQL tier built by site.yml (tier_data.yml) on pg1 (primary),
pg2 (synchronous standby, dc1), pg3 (asynchronous standby, dc2, across the routed inter-site link
and the default-deny firewalls) and the pgBackRest repository on backup1."""
import json

import pytest

from conftest import Lab, psql
from support.waiting import wait_for

PRIMARY, SYNC, ASYNC, BACKUP = "pg1", "pg2", "pg3", "backup1"
ADDR = {PRIMARY: "10.210.20.11", SYNC: "10.210.20.12", ASYNC: "10.220.20.11", BACKUP: "10.210.20.21"}


def test_10000_rows_written_on_the_primary_are_on_both_standbys(lab_up):
    psql(PRIMARY, "DROP TABLE IF EXISTS lab_rows10k; CREATE TABLE lab_rows10k (id int PRIMARY KEY, v text); "
         "INSERT INTO lab_rows10k SELECT g, md5(g::text) FROM generate_series(1, 10000) g", db="app")
    digest = "SELECT count(*) || ':' || md5(string_agg(v, ',' ORDER BY id)) FROM lab_rows10k"
    expected = psql(PRIMARY, digest, db="app")
    assert expected.startswith("10000:")
    for name in (SYNC, ASYNC):
        assert wait_for(lambda n=name: psql(n, digest, db="app") == expected, timeout=30, tolerate=AssertionError), name


def test_pg2_is_sync_and_pg3_async_over_tls(lab_up):
    rows = psql(PRIMARY, "SELECT r.application_name || ':' || r.sync_state || ':' || s.ssl || ':' || host(r.client_addr) "
                "FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) ORDER BY 1").split()
    # pg3's replication connection arrives with its own DC2 address: routed between the sites, no NAT.
    assert rows == ["%s:sync:true:%s" % (SYNC, ADDR[SYNC]), "%s:async:true:%s" % (ASYNC, ADDR[ASYNC])]
    assert psql(ASYNC, "SELECT status || ':' || sender_host FROM pg_stat_wal_receiver") == "streaming:" + ADDR[PRIMARY]


@pytest.fixture(scope="module")
def repo_info(lab_up):
    out = Lab.exec(BACKUP, "runuser", "-u", "postgres", "--", "pgbackrest", "--stanza=main", "--log-level-console=off",
                   "info", "--output=json").stdout
    return json.loads(out)[0]


def test_a_backup_exists_on_the_backup_host_and_is_encrypted(repo_info):
    # Repository 1 holds the first full backup (taken when the stanza was created); repository 2
    # gets its first monthly full from its timer.
    repos = {r["key"]: r for r in repo_info["repo"]}
    assert repos[1]["status"]["code"] == 0, repo_info["repo"]
    # three repositories (the third: the off-site S3 bucket in DC2, tests/lab/test_object_storage.py), all encrypted
    assert [repos[k]["cipher"] for k in sorted(repos)] == ["aes-256-cbc"] * 3
    full = [b for b in repo_info["backup"] if b["type"] == "full" and b["database"]["repo-key"] == 1]
    assert full, repo_info["backup"]
    # The repository files are ciphertext (OpenSSL "Salted__" header), not PostgreSQL pages.
    label = full[-1]["label"]
    files = Lab.exec(BACKUP, "find", "/var/lib/pgbackrest/repo1/backup/main/" + label, "-type", "f",
                     "-name", "*.lz4").stdout.split()
    assert files
    for path in files[:5] + ["/var/lib/pgbackrest/repo1/backup/main/backup.info"]:
        assert Lab.exec(BACKUP, "head", "-c", "8", path).stdout == "Salted__", path
    # The key and the repository are on the backup host only.
    assert "cipher-pass" not in Lab.exec(PRIMARY, "cat", "/etc/pgbackrest.conf").stdout
    assert Lab.exec(PRIMARY, "test", "-e", "/var/lib/pgbackrest/repo1", check=False).returncode != 0


def test_the_primary_archives_wal_to_the_backup_host(repo_info):
    def newest(info):
        return max([a["max"] for a in info["archive"] if a["database"]["repo-key"] == 1] or [""])
    before = newest(repo_info)
    psql(PRIMARY, "SELECT pg_switch_wal() FROM (SELECT txid_current()) t")

    def archived():
        info = json.loads(Lab.exec(BACKUP, "runuser", "-u", "postgres", "--", "pgbackrest", "--stanza=main", "--repo=1",
                                   "--log-level-console=off", "info", "--output=json").stdout)[0]
        return newest(info) > before
    assert wait_for(archived, timeout=60, tolerate=AssertionError)
