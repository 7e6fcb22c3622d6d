"""Issue 6 on the lab: metrics and alerting of the built data centre (playbooks/monitoring.yml,
imported by tier_management.yml). Prometheus, Alertmanager and blackbox_exporter run on mon1;
every host's exporters must be `up`, probes succeed, and a stopped node_exporter raises TargetDown
that Alertmanager delivers to a webhook receiver inside the lab (kill-to-delivery time measured).
That a configuration promtool rejects never replaces the running one is proven by the Molecule
scenario `monitoring` (tests/test_monitoring.py there)."""
import json
import os
import time
from urllib.parse import quote

import pytest

from ansible_collections.sovereign.datacenter.plugins.module_utils._platform import group_members
from conftest import PG_MEMBERS, REPO, Lab, inventory, pg_primary
from support.measurements import append_measurement
from support.waiting import wait_until

MON = "mon1"
CACERT = "/etc/ssl/sovereign/ca.crt"
HOOK_FILE = "/var/lib/sovereign-lab-hook/alerts.jsonl"
HOOK_UNIT = "sovereign-lab-hook"
VICTIM = "app1"
TIMINGS = os.path.join(REPO, "tests", "output", "lab-monitoring-timings.txt")

# A tiny webhook receiver: appends every POST Alertmanager makes, with its arrival time.
HOOK = r"""
import json, os, time
from http.server import BaseHTTPRequestHandler, HTTPServer
os.makedirs(os.path.dirname(FILE), exist_ok=True)
class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(FILE, "a") as out:
            out.write(json.dumps({"received": time.time(), "path": self.path,
                                  "body": json.loads(body or b"{}")}) + "\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", 9095), Hook).serve_forever()
""".replace("FILE", repr(HOOK_FILE))

# Query Prometheus' HTTP API from mon1 itself, verifying its certificate against the lab CA.
QUERY = ("import json, ssl, sys, urllib.request; "
         "ctx = ssl.create_default_context(cafile=%r); "
         "print(urllib.request.urlopen(sys.argv[1], context=ctx, timeout=10).read().decode())" % CACERT)


@pytest.fixture(scope="module")
def lab(lab_up):
    listing = inventory()
    hostvars = listing["_meta"]["hostvars"]
    return {"hosts": set(hostvars), "address": {h: hv["platform_address"] for h, hv in hostvars.items()},
            "postgresql": group_members(listing, "postgresql"),
            "async_standbys": sorted(h for h in group_members(listing, "postgresql")
                                     if hostvars[h].get("postgresql_role") == "standby"
                                     and not hostvars[h].get("postgresql_synchronous"))}


def _api(lab, path):
    url = "https://%s:9090%s" % (lab["address"][MON], path)
    data = json.loads(Lab.exec(MON, "python3", "-c", QUERY, url).stdout)
    assert data["status"] == "success", data
    return data["data"]


def _query(lab, promql):
    return _api(lab, "/api/v1/query?query=" + quote(promql))["result"]


def _targets(lab, job):
    active = _api(lab, "/api/v1/targets?state=active")["activeTargets"]
    return [t for t in active if t["labels"]["job"] == job]


def test_every_host_node_exporter_is_up_over_tls(lab):
    def all_up():
        nodes = _targets(lab, "node")
        return nodes if nodes and all(t["health"] == "up" for t in nodes) else None
    nodes = wait_until(all_up, 90, step=2.0)
    assert nodes, [(t["labels"]["instance"], t["health"], t["lastError"]) for t in _targets(lab, "node")]
    assert {t["labels"]["instance"] for t in nodes} == lab["hosts"]
    assert all(t["scrapeUrl"].startswith("https://") for t in nodes)
    for t in nodes:
        host = t["labels"]["instance"]
        assert t["scrapeUrl"] == "https://%s:9100/metrics" % lab["address"][host]
    up = {r["metric"]["instance"]: r["value"][1] for r in _query(lab, 'up{job="node"}')}
    assert up == {h: "1" for h in lab["hosts"]}


def test_postgres_exporter_where_postgresql_runs(lab):
    """postgres_exporter is deployed (and scraped) exactly where a PostgreSQL cluster exists."""
    running = {h for h in lab["postgresql"] if Lab.exec(h, "test", "-d", "/etc/postgresql", check=False).returncode == 0}

    def settled():
        targets = _targets(lab, "postgres")
        return targets if all(t["health"] == "up" for t in targets) else None
    targets = wait_until(settled, 60, step=2.0) if running else _targets(lab, "postgres")
    assert targets is not None, [(t["labels"]["instance"], t["lastError"]) for t in _targets(lab, "postgres")]
    assert {t["labels"]["instance"] for t in targets} == running
    if running:
        lag = {r["metric"]["instance"] for r in _query(lab, 'pg_replication_lag{job="postgres"}')}
        assert lag == running


def test_blackbox_probes_succeed_and_export_certificate_expiry(lab):
    def probes():
        result = {(r["metric"]["job"], r["metric"]["instance"]): r["value"][1]
                  for r in _query(lab, 'probe_success')}
        return result if result and set(result.values()) == {"1"} else None
    ok = wait_until(probes, 60, step=2.0)
    assert ok, _query(lab, "probe_success == 0")
    # TLS of every host's endpoint verified against the lab CA, health endpoints, TCP connect.
    assert {h for (job, h) in ok if job == "blackbox_tls"} == lab["hosts"]
    assert ("blackbox_prometheus_health", MON) in ok and ("blackbox_alertmanager_health", MON) in ok
    assert ("blackbox_bastion_ssh", "bastion1") in ok
    expiry = {r["metric"]["instance"]: float(r["value"][1])
              for r in _query(lab, 'probe_ssl_earliest_cert_expiry{job="blackbox_tls"}')}
    assert set(expiry) == lab["hosts"]
    assert all(v > time.time() + 7 * 86400 for v in expiry.values()), expiry
    # The certificate alert reads the same series (recording rule of certificates.rules.yml).
    recorded = {r["metric"]["instance"] for r in _query(lab, 'sovereign:certificate_expiry:seconds{job="blackbox_tls"}')}
    assert recorded == lab["hosts"]
    # The blackbox SSH probe connects to the bastion and closes before authenticating, every scrape: fail2ban
    # must not count it as a failed login (it raised FailedLoginBurst on the bastion all day, and once got mon1
    # banned there, while fail2ban counted such connections).
    assert wait_until(lambda: _query(lab, 'sovereign_failed_login_bursts_total{instance="bastion1"}'), 60, step=2.0), \
        "the bastion exports no failed-login counter"
    assert not _query(lab, 'sovereign_failed_login_bursts_total{instance="bastion1"} > 0'), \
        _query(lab, 'sovereign_failed_login_bursts_total > 0')


def test_exporters_refuse_unauthenticated_scrapes(lab):
    probe = ("import ssl, sys, urllib.request, urllib.error\n"
             "ctx = ssl.create_default_context(cafile=%r)\n"
             "try:\n    urllib.request.urlopen(sys.argv[1], context=ctx, timeout=5)\n    print(200)\n"
             "except urllib.error.HTTPError as e:\n    print(e.code)\n" % CACERT)
    for url in ("https://%s:9100/metrics" % lab["address"]["pg1"],
                "https://%s:9115/metrics" % lab["address"][MON]):
        assert Lab.exec(MON, "python3", "-c", probe, url).stdout.strip() == "401", url


def _hook_events():
    out = Lab.exec(MON, "sh", "-c", "cat %s 2>/dev/null || true" % HOOK_FILE).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture()
def receiver(lab):
    """The webhook receiver Alertmanager's lab configuration points at (127.0.0.1:9095 on mon1)."""
    Lab.exec(MON, "systemctl", "stop", HOOK_UNIT, check=False)
    Lab.exec(MON, "systemctl", "reset-failed", HOOK_UNIT, check=False)
    Lab.exec(MON, "systemd-run", "--unit", HOOK_UNIT, "--quiet", "python3", "-c", HOOK)
    assert wait_until(lambda: Lab.exec(MON, "python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 9095), 2)",
                                       check=False).returncode == 0, 20, step=0.5)
    yield
    Lab.exec(MON, "systemctl", "stop", HOOK_UNIT, check=False)


def test_stopped_node_exporter_fires_target_down_delivered_to_the_lab_webhook(lab, receiver):
    seen = len(_hook_events())
    t0 = time.time()
    Lab.exec(VICTIM, "systemctl", "stop", "prometheus-node-exporter")

    def delivered():
        for event in _hook_events()[seen:]:
            for alert in event["body"].get("alerts", []):
                labels = alert["labels"]
                if (labels.get("alertname") == "TargetDown" and labels.get("instance") == VICTIM
                        and labels.get("job") == "node" and alert["status"] == "firing"):
                    return event, alert
        return None
    try:
        found = wait_until(delivered, 240, step=1)
    finally:
        Lab.exec(VICTIM, "systemctl", "start", "prometheus-node-exporter")
    assert found, _hook_events()[seen:]
    event, alert = found
    elapsed = event["received"] - t0
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["environment"] == "lab"
    assert event["path"] == "/alerts"
    message = "kill -> delivery of TargetDown (node_exporter stopped on %s): %.1f s" % (VICTIM, elapsed)
    print(message)
    append_measurement(TIMINGS, message)
    # Leave the lab as converged: the exporter is back and scraped again.
    assert wait_until(lambda: _query(lab, 'up{job="node",instance="%s"} == 1' % VICTIM), 60, step=2.0), "node_exporter not back"


def _psql(host, sql):
    return Lab.exec(host, "runuser", "-u", "postgres", "--", "psql", "-XAtq", "-c", sql).stdout.strip()


def test_forced_replication_lag_fires_the_rpo_alert(lab):
    """Replay paused on the DC2 standby while the primary writes: the lag series grows past the
    lab's RPO threshold and PostgresqlReplicationLagAboveRpo fires for that standby only."""
    standbys = [h for h in lab["async_standbys"]
                if Lab.exec(h, "test", "-d", "/etc/postgresql", check=False).returncode == 0]
    if not standbys:
        pytest.skip("no PostgreSQL standby is managed in the lab")
    standby = standbys[0]
    primary = next(h for h in sorted(lab["postgresql"])
                   if Lab.exec(h, "test", "-d", "/etc/postgresql", check=False).returncode == 0
                   and _psql(h, "select pg_is_in_recovery()") == "f")
    assert wait_until(lambda: _query(lab, 'pg_replication_lag{instance="%s"} == 0' % standby), 60, step=2.0), \
        "the standby is not caught up before the test"
    query = 'ALERTS{alertname="PostgresqlReplicationLagAboveRpo",alertstate="firing"}'
    t0 = time.time()
    _psql(standby, "select pg_wal_replay_pause()")
    try:
        _psql(primary, "create table if not exists lab_lag_probe (at timestamptz); insert into lab_lag_probe values (now())")
        firing = wait_until(lambda: _query(lab, query), 180, step=2)
        elapsed = time.time() - t0
    finally:
        _psql(standby, "select pg_wal_replay_resume()")
    assert firing, _query(lab, 'pg_replication_lag')
    assert {a["metric"]["instance"] for a in firing} == {standby}
    assert firing[0]["metric"]["severity"] == "critical"
    message = "replication replay paused on %s -> PostgresqlReplicationLagAboveRpo firing: %.1f s" % (standby, elapsed)
    print(message)
    append_measurement(TIMINGS, message)
    # Replay resumed: the standby catches up and the lag series returns to 0.
    assert wait_until(lambda: _query(lab, 'pg_replication_lag{instance="%s"} == 0' % standby), 120, step=2.0), "lag did not recover"


BACKUP_PROM = "/var/lib/prometheus/node-exporter/sovereign_pgbackrest.prom"
BACKUP_METRIC = 'sovereign_backup_last_success_timestamp_seconds{kind="pgbackrest"}'


def test_backup_age_is_exported_and_an_old_backup_fires_backup_too_old(lab):
    """The backup host exports its newest backup's end time from `pgbackrest info` (the converge
    took the first full backup); with that time forced 60 h back, BackupTooOld fires for the
    backup host; the exporter run again restores the real time and the alert ends."""
    listing = inventory()
    backup_hosts = sorted(group_members(listing, "backup_servers"))
    if not backup_hosts:
        pytest.skip("no backup host in the lab")
    host = backup_hosts[0]
    series = wait_until(lambda: _query(lab, 'time() - ' + BACKUP_METRIC + ' < 86400'), 60, step=2.0)
    assert series, "no recent %s: %s" % (BACKUP_METRIC, _query(lab, BACKUP_METRIC))
    assert len(series) == 1 and series[0]["metric"]["instance"].split(":")[0] in (host, lab["address"][host]), series
    for name in ("sovereign_backup_last_duration_seconds", "sovereign_backup_last_size_bytes"):
        assert _query(lab, name + '{kind="pgbackrest"}'), name
    old = int(time.time()) - 60 * 3600
    Lab.exec(host, "sed", "-i", r"s/^\(sovereign_backup_last_success_timestamp_seconds{[^}]*}\) .*/\1 %d/" % old,
             BACKUP_PROM)
    query = 'ALERTS{alertname="BackupTooOld",alertstate="firing"}'
    t0 = time.time()
    try:
        firing = wait_until(lambda: _query(lab, query), 90, step=2.0)
        elapsed = time.time() - t0
    finally:
        Lab.exec(host, "/usr/bin/python3", "/usr/local/lib/sovereign-pgbackrest-backup-metrics", "--stanza=main", "--user=postgres",
                 "--dir=/var/lib/prometheus/node-exporter")
    assert firing, _query(lab, BACKUP_METRIC)
    assert {a["metric"]["severity"] for a in firing} == {"warning", "critical"}
    message = "backup time forced 60 h back on %s -> BackupTooOld firing: %.1f s" % (host, elapsed)
    print(message)
    append_measurement(TIMINGS, message)
    assert wait_until(lambda: not _query(lab, query), 60, step=2.0), "BackupTooOld still firing after the real time came back"


RESTORE_UNIT = "sovereign-pg-restore-test.service"
RESTORE_SUCCESS = "sovereign_restore_test_last_run_success"


def test_scheduled_restore_test_exports_success_and_a_failed_one_fires_restore_test_failed(lab):
    """The restore-test timer's unit, started on every member as the timer starts it: the primary
    restores the latest backup into a scratch instance, reads every table and exports success;
    the standbys take no part and export nothing. Then the scratch directory is made impossible
    (a root-owned file in its place): the run fails, RestoreTestFailed fires, and the next good
    run ends it."""
    primary = pg_primary()
    backup_host = sorted(group_members(inventory(), "backup_servers"))[0]
    # A table with known rows, then a backup through the backup host's own scheduled unit.
    _psql(primary, "drop table if exists lab_restore_probe; "
                   "create table lab_restore_probe as select g as id, md5(g::text) as v from generate_series(1, 500) g")
    Lab.exec(backup_host, "systemctl", "start", "sovereign-pgbackrest-daily-diff.service")
    for member in sorted(PG_MEMBERS):
        Lab.exec(member, "systemctl", "start", RESTORE_UNIT, check=False)
    report = json.loads(Lab.exec(primary, "cat", "/var/lib/sovereign-restore-test/last-run.json").stdout)
    assert report["ok"] and "recovered_seconds" in report, report
    assert report["tables"] >= 1 and report["rows"] >= 500, report
    assert "postgres/public.lab_restore_probe" not in report["differences"], report  # same rows as the source
    for member in sorted(set(PG_MEMBERS) - {primary}):
        skipped = json.loads(Lab.exec(member, "cat", "/var/lib/sovereign-restore-test/last-run.json").stdout)
        assert skipped.get("skipped"), skipped
    series = wait_until(lambda: _query(lab, RESTORE_SUCCESS + " == 1"), 90, step=2.0)
    assert [s["metric"]["instance"].split(":")[0] for s in series] in ([primary], [lab["address"][primary]]), series
    assert not _query(lab, RESTORE_SUCCESS + " == 0")
    message = "scheduled restore test on %s: %s s (restore %s s, %d tables, %d rows, %d differing from the live source)" % (
        primary, report["seconds"], report["restore_seconds"], report["tables"], report["rows"], len(report["differences"]))
    print(message)
    append_measurement(TIMINGS, message)

    query = 'ALERTS{alertname="RestoreTestFailed",alertstate="firing"}'
    Lab.exec(primary, "rm", "-rf", "/var/tmp/sovereign-restore-test")
    Lab.exec(primary, "touch", "/var/tmp/sovereign-restore-test")
    try:
        failed = Lab.exec(primary, "systemctl", "start", RESTORE_UNIT, check=False)
        assert failed.returncode != 0
        firing = wait_until(lambda: _query(lab, query), 90, step=2.0)
    finally:
        Lab.exec(primary, "rm", "-f", "/var/tmp/sovereign-restore-test")
    assert firing, _query(lab, RESTORE_SUCCESS)
    assert firing[0]["metric"]["severity"] == "critical"
    error = json.loads(Lab.exec(primary, "cat", "/var/lib/sovereign-restore-test/last-run.json").stdout)["error"]
    assert "FileExistsError" in error, error
    Lab.exec(primary, "systemctl", "start", RESTORE_UNIT)
    assert wait_until(lambda: not _query(lab, query), 90, step=2.0), "RestoreTestFailed still firing after a good run"


def test_blocked_wal_archiving_fires_failing_and_lagging_and_recovers(lab):
    """Repository 1's WAL archive made unwritable on the backup host: the primary's archive_command
    fails on the next WAL segment, WalArchivingFailing fires, and once the segment waits longer than
    the lab's 20 s "RPO", WalArchivingLagging too (postgres_exporter's pg_archive query). Write access
    back, the backlog drains and WalArchivingLagging ends. (Stopping the backup host's pgBackRest
    server instead makes each archive-push wait about a minute before it fails: then only the lag
    alert is on time, which is why it exists.)"""
    primary = pg_primary()
    backup_host = sorted(group_members(inventory(), "backup_servers"))[0]
    archive = "/var/lib/pgbackrest/repo1/archive/main"
    lagging = 'ALERTS{alertname="WalArchivingLagging",alertstate="firing"}'
    failing = 'ALERTS{alertname="WalArchivingFailing",alertstate="firing"}'
    assert wait_until(lambda: _query(lab, 'pg_archive_ready_segments{instance=~"%s.*"}' % primary), 60, step=2.0), \
        _query(lab, "pg_archive_ready_segments")
    mode = Lab.exec(backup_host, "stat", "-c", "%a", archive).stdout.strip()
    t0 = time.time()
    Lab.exec(backup_host, "chmod", "000", archive)
    try:
        _psql(primary, "create table if not exists lab_archive_probe (at timestamptz); "
                       "insert into lab_archive_probe values (now())")
        _psql(primary, "select pg_switch_wal()")
        fired = wait_until(lambda: _query(lab, lagging) and _query(lab, failing), 120, step=2.0)
        elapsed = time.time() - t0
        seen = (_query(lab, "pg_archive_oldest_ready_seconds > 0"), _query(lab, "pg_stat_archiver_failed_count"))
    finally:
        Lab.exec(backup_host, "chmod", mode, archive)
    assert fired, seen
    assert {a["metric"]["instance"].split(":")[0] for a in _query(lab, lagging)} <= {primary, lab["address"][primary]}
    message = "repository 1 archive unwritable on %s -> WalArchivingFailing and WalArchivingLagging firing: %.1f s" % (
        backup_host, elapsed)
    print(message)
    append_measurement(TIMINGS, message)
    # A new segment wakes the archiver, which retries the backlog at once.
    _psql(primary, "insert into lab_archive_probe values (now())")
    _psql(primary, "select pg_switch_wal()")
    assert wait_until(lambda: not _query(lab, lagging), 120, step=2.0), _query(lab, "pg_archive_oldest_ready_seconds")
    assert Lab.exec(primary, "sh", "-c", "ls /var/lib/postgresql/15/main/pg_wal/archive_status | grep -c ready || true"
                    ).stdout.strip() == "0"
