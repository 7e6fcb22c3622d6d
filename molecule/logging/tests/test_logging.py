"""Behaviour of central logging and the IDS (Molecule scenario `logging`)."""
import json
import os
import time
import uuid

import pytest

from support.molecule import run_playbook
from support.waiting import wait_until

COLLECTOR = "lg-collector"
SENSOR = "lg-sensor"
CLIENT = "lg-client"
COLLECTOR_ADDR = "10.236.0.11"
SENSOR_ADDR = "10.236.0.21"
STORE = "/var/log/sovereign"
SCENARIO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(SCENARIO))
RESULTS = []


def _records(host, path_glob, token):
    """JSON records of the collector's store under path_glob whose text holds token."""
    out = host.run(f"grep -h -- {token} {path_glob} 2>/dev/null").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _note(name, seconds):
    """Record a measured time (also in tests/output/molecule-logging-measurements.txt)."""
    RESULTS.append((name, seconds))
    print(f"MEASURED {name}: {seconds:.2f} s")
    out = os.path.join(REPO, "tests", "output")
    if os.path.isdir(out):
        with open(os.path.join(out, "molecule-logging-measurements.txt"), "a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {name}: {seconds:.2f} s\n")


@pytest.fixture(scope="module")
def collector(hosts):
    return hosts[COLLECTOR]


def test_log_line_reaches_the_collector_as_json_over_tls(hosts, collector):
    token = "lgtok-" + uuid.uuid4().hex
    t0 = time.monotonic()
    hosts[CLIENT].check_output(f"logger -t lgtest -p user.notice 'hello {token}'")
    recs = wait_until(lambda: _records(collector, f"{STORE}/active/molecule/{CLIENT}/*.json", token), 30, 0.2)
    _note("client logger -> collector store", time.monotonic() - t0)
    assert recs, collector.run(f"find {STORE} -type f").stdout
    rec = recs[0]
    assert rec["host"] == CLIENT
    assert rec["tier"] == "app"
    assert rec["site"] == "dc1"
    assert rec["environment"] == "molecule"
    assert rec["program"] == "lgtest"
    assert rec["severity"] == "notice"
    assert rec["stream"] == "active"
    assert token in rec["message"]
    assert rec["peer"] == "10.236.0.41"
    # It came over the client's session to tcp/6514, where the collector speaks TLS only
    # (plain TCP there is refused: test_client_without_a_platform_certificate_is_refused).
    sessions = collector.check_output("ss -Htn state established '( sport = :6514 )'")
    assert "10.236.0.41:" in sessions
    day_file = collector.check_output(f"ls {STORE}/active/molecule/{CLIENT}/")
    assert day_file.strip() == time.strftime("%Y-%m-%d", time.gmtime()) + ".json"


def test_auth_events_go_to_the_security_stream(hosts, collector):
    token = "lgsec-" + uuid.uuid4().hex
    hosts[CLIENT].check_output(f"logger -t sshd -p authpriv.notice 'Failed password {token}'")
    recs = wait_until(lambda: _records(collector, f"{STORE}/security/molecule/{CLIENT}/*.json", token), 30, 0.2)
    assert recs and recs[0]["stream"] == "security" and recs[0]["facility"] == "authpriv"
    assert not _records(collector, f"{STORE}/active/molecule/{CLIENT}/*.json", token)


SEND = """
import socket, ssl, sys
ctx = ssl.create_default_context(cafile="/etc/ssl/sovereign/ca.crt")
ctx.check_hostname = False
if sys.argv[1] != "none":
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
line = ('<13>1 2026-01-01T00:00:00Z lg-client rogue - - - ' + sys.argv[3] + chr(10)).encode()
try:
    with socket.create_connection(("%s", 6514), timeout=5) as raw:
        with ctx.wrap_socket(raw) as tls:
            tls.sendall(line)
            try:
                print("recv", tls.recv(100))
            except (ssl.SSLError, OSError) as exc:
                print("refused", exc)
except (ssl.SSLError, OSError) as exc:
    print("refused", exc)
""" % COLLECTOR_ADDR


def test_client_without_a_platform_certificate_is_refused(hosts, collector):
    client = hosts[CLIENT]
    client.check_output("mkdir -p /root/rogue && cd /root/rogue && test -f rogue.crt || "
                        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
                        "-subj /CN=lg-client.molecule.internal -addext subjectAltName=DNS:lg-client.molecule.internal "
                        "-keyout rogue.key -out rogue.crt 2>/dev/null")
    client.check_output("cat > /root/rogue/send.py <<'EOF'\n%s\nEOF" % SEND)
    rogue, bare, good = ("lgrogue-" + uuid.uuid4().hex, "lgbare-" + uuid.uuid4().hex, "lggood-" + uuid.uuid4().hex)
    client.run(f"python3 /root/rogue/send.py /root/rogue/rogue.crt /root/rogue/rogue.key {rogue}")
    client.run(f"python3 /root/rogue/send.py none none {bare}")
    # Control: the same client code with the host certificate from the platform CA gets through.
    client.check_output(f"python3 /root/rogue/send.py /etc/ssl/sovereign/host.crt /etc/ssl/sovereign/private/host.key {good}")
    assert wait_until(lambda: _records(collector, f"{STORE}/*/*/*/*.json", good), 20, 0.2)
    time.sleep(2)
    assert not _records(collector, f"{STORE}/*/*/*/*.json", rogue)
    assert not _records(collector, f"{STORE}/*/*/*/*.json", bare)
    # Plain TCP on the TLS port is not syslog either.
    client.run(f"python3 -c \"import socket; s=socket.create_connection(('{COLLECTOR_ADDR}', 6514), 5); "
               f"s.sendall(b'<13>1 - lg-client plain - - - lgplain-{rogue}\\n'); s.close()\"")
    time.sleep(1)
    assert not _records(collector, f"{STORE}/*/*/*/*.json", "lgplain-" + rogue)


def test_crafted_request_raises_an_ids_alert_found_in_the_security_store(hosts, collector):
    sensor = hosts[SENSOR]
    conf = sensor.check_output("suricata --dump-config -c /etc/suricata/suricata.yaml 2>/dev/null")
    assert "af-packet.0.interface = eth0" in conf      # detected from platform_address, not hard-coded
    assert "10.236.0.16/28" in conf and "10.236.0.32/28" in conf
    token = "lgids" + uuid.uuid4().hex
    t0 = time.monotonic()
    hosts[CLIENT].check_output(
        f"python3 -c \"import urllib.request as u; r=u.Request('http://{SENSOR_ADDR}/sovereign-ids-canary/{token}', "
        f"headers={{'User-Agent': 'lg-attacker'}}); print(u.urlopen(r, timeout=5).status)\" || true")

    def alert():
        out = sensor.run(f"grep -h {token} /var/log/suricata/eve.json").stdout
        events = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [e for e in events if e.get("event_type") == "alert"]
    alerts = wait_until(alert, 60, 0.2)
    _note("crafted request -> Suricata alert in eve.json", time.monotonic() - t0)
    assert alerts, sensor.run("tail -5 /var/log/suricata/eve.json; tail -20 /var/log/suricata/suricata.log").stdout
    assert alerts[0]["alert"]["signature_id"] == 9000001
    assert alerts[0]["src_ip"] == "10.236.0.41"
    recs = wait_until(lambda: _records(collector, f"{STORE}/security/molecule/{SENSOR}/*.json", token), 60, 0.2)
    _note("crafted request -> alert in the collector's security store", time.monotonic() - t0)
    assert recs, collector.run(f"find {STORE} -type f").stdout
    rec = recs[0]
    assert rec["program"] == "suricata" and rec["stream"] == "security" and rec["tier"] == "dmz"
    event = json.loads(rec["message"])
    assert event["event_type"] == "alert" and event["alert"]["signature_id"] == 9000001
    # The counter the IdsAlertRateHigh rule reads, through node_exporter's textfile collector
    # (Suricata publishes its counters every stats interval, 8 s by default).

    def counted():
        sensor.check_output("systemctl start sovereign-suricata-metrics.service")
        prom = sensor.file("/var/lib/prometheus/node-exporter/suricata.prom").content_string
        value = [line.split()[1] for line in prom.splitlines() if line.startswith("suricata_alerts_total ")]
        return prom if value and int(value[0]) >= 1 else None
    prom = wait_until(counted, 30, 2)
    assert prom and "# TYPE suricata_alerts_total counter" in prom, \
        sensor.file("/var/lib/prometheus/node-exporter/suricata.prom").content_string


def _run_broken(kind):
    return run_playbook(os.path.join(SCENARIO, "broken.yml"), "-e", f"broken_kind={kind}")


def test_rsyslog_candidate_rejected_by_rsyslogd_never_replaces_the_running_one(hosts, collector):
    before = collector.file("/etc/rsyslog.conf").content_string
    pid = collector.check_output("systemctl show -p MainPID --value rsyslog")
    proc = _run_broken("rsyslog")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert "configuration (rsyslogd -N1)" in output and "failed to validate" in output, output[-3000:]
    assert collector.file("/etc/rsyslog.conf").content_string == before
    assert collector.check_output("systemctl show -p MainPID --value rsyslog") == pid
    token = "lgafter-" + uuid.uuid4().hex
    hosts[CLIENT].check_output(f"logger -t lgtest '{token}'")
    assert wait_until(lambda: _records(collector, f"{STORE}/active/molecule/{CLIENT}/*.json", token), 30, 0.2)


@pytest.mark.parametrize("kind,task,path", [
    ("suricata_rules", "rules from the bundle (suricata -T)", "/var/lib/suricata/rules/suricata.rules"),
    ("suricata_config", "suricata.yaml (suricata -T)", "/etc/suricata/suricata.yaml")])
def test_suricata_candidate_rejected_by_suricata_never_replaces_the_running_one(hosts, kind, task, path):
    sensor = hosts[SENSOR]
    before = sensor.file(path).content_string
    pid = sensor.check_output("systemctl show -p MainPID --value suricata")
    proc = _run_broken(kind)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert task in output and "failed to validate" in output, output[-3000:]
    assert sensor.file(path).content_string == before
    assert sensor.check_output("systemctl show -p MainPID --value suricata") == pid
    assert '"OK"' in sensor.check_output("suricatasc -c uptime")


def test_logs_survive_a_collector_outage_and_a_client_restart(hosts, collector):
    client = hosts[CLIENT]
    token = "lgqueue-" + uuid.uuid4().hex
    # syslog.socket would start rsyslog again on the next journal message: stop both.
    collector.check_output("systemctl stop syslog.socket rsyslog.service")
    try:
        # TCP/TLS syslog has no application acknowledgement: the record written into the socket as
        # the collector goes away is lost (RFC 5425). The send after it fails, the action suspends,
        # and from then on records wait in the disk-assisted queue.
        def suspended():
            client.check_output("logger -t lgtest 'collector outage probe'")
            return "suspended" in client.run("journalctl -u rsyslog --since '-30s' --no-pager").stdout
        assert wait_until(suspended, 30, 1)
        client.check_output(f"logger -t lgtest 'while the collector is down {token}'")
        time.sleep(2)
        # The client restarts while its collector is down: the queue is saved to disk.
        client.check_output("systemctl restart rsyslog")
        time.sleep(1)
        assert client.run("ls /var/spool/rsyslog/ | grep -c sovereign_forward").stdout.strip() not in ("", "0")
    finally:
        collector.check_output("systemctl start syslog.socket rsyslog.service")
    t0 = time.monotonic()
    recs = wait_until(lambda: _records(collector, f"{STORE}/active/molecule/{CLIENT}/*.json", token), 90, 0.5)
    _note("collector back -> queued record stored", time.monotonic() - t0)
    assert recs and recs[0]["host"] == CLIENT


def test_retention_keeps_90_days_active_and_a_year_of_security_events(collector):
    base = f"{STORE}/%s/molecule/lg-old"
    collector.check_output(
        f"mkdir -p {base % 'active'} {base % 'security'} && "
        f"echo '{{}}' > {base % 'active'}/old.json && touch -d '95 days ago' {base % 'active'}/old.json && "
        f"echo '{{}}' > {base % 'active'}/recent.json && touch -d '10 days ago' {base % 'active'}/recent.json && "
        f"echo '{{}}' > {base % 'security'}/kept.json && touch -d '200 days ago' {base % 'security'}/kept.json && "
        f"echo '{{}}' > {base % 'security'}/expired.json && touch -d '370 days ago' {base % 'security'}/expired.json")
    # gzip keeps the modification time, so a file's age survives compression.
    collector.check_output("systemctl start sovereign-log-retention.service")
    assert collector.check_output("systemctl is-enabled sovereign-log-retention.timer") == "enabled"
    assert not collector.file(f"{base % 'active'}/old.json").exists
    assert not collector.file(f"{base % 'active'}/old.json.gz").exists
    assert collector.file(f"{base % 'active'}/recent.json.gz").exists
    assert collector.file(f"{base % 'security'}/kept.json.gz").exists
    assert not collector.file(f"{base % 'security'}/expired.json.gz").exists
    # Today's files stay plain (rsyslog may still write them).
    assert collector.file(f"{STORE}/active/molecule/{CLIENT}/" + time.strftime("%Y-%m-%d", time.gmtime()) + ".json").exists
    collector.check_output(f"rm -rf {base % 'active'} {base % 'security'}")
