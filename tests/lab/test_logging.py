"""Issue 6 on the lab: central logs and the IDS of the built data centre (playbooks/logging.yml,
imported by site.yml after the firewalls, and playbooks/suricata.yml, imported by tier_dmz.yml).

Every lab host ships its journal as JSON over TLS to the collector (group log_collectors, mon1),
and a crafted request to the DMZ sensor (group ids_sensors, lb1) raises a Suricata alert that is
found in the collector's security store. Times are measured and written to
tests/output/lab-logging-timings.txt. The disk-assisted queue across a collector outage, refused
clients without a platform certificate and the retention timer are proven by the Molecule scenario
`logging` (molecule/logging/tests/test_logging.py)."""
import json
import os
import time
import uuid

import pytest

from ansible_collections.sovereign.datacenter.plugins.module_utils._platform import group_members
from conftest import REPO, Lab, inventory
from support.measurements import append_measurement
from support.waiting import wait_until

STORE = "/var/log/sovereign"
EVE = "/var/log/suricata/eve.json"
CANARY_SID = 9000001  # roles/suricata/files/sovereign.rules: "/sovereign-ids-canary" in an HTTP URI
TIMINGS = os.path.join(REPO, "tests", "output", "lab-logging-timings.txt")


def _note(name, seconds):
    append_measurement(TIMINGS, "%s: %.2f s" % (name, seconds))


@pytest.fixture(scope="module")
def lab(lab_up):
    listing = inventory()
    hostvars = listing["_meta"]["hostvars"]
    collectors = sorted(group_members(listing, "log_collectors"))
    sensors = sorted(group_members(listing, "ids_sensors"))
    assert collectors and sensors, "the lab inventory needs log_collectors and ids_sensors"
    return {"hosts": sorted(hostvars), "hostvars": hostvars, "collector": collectors[0], "sensor": sensors[0],
            "environment": hostvars[collectors[0]]["platform_environment"],
            "members": lambda group: group_members(listing, group)}


def _store_records(lab, pattern, token):
    """Records of the collector's store (<stream>/<environment>/<host>/<day>.json) holding token."""
    res = Lab.exec(lab["collector"], "sh", "-c", "grep -h -- %s %s/%s 2>/dev/null" % (token, STORE, pattern),
                   check=False)
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def test_every_host_ships_its_journal_to_the_collector(lab):
    token = "labtok-" + uuid.uuid4().hex
    start = time.monotonic()
    for host in lab["hosts"]:
        Lab.exec(host, "logger", "-t", "sovereign-labtest", "-p", "user.notice", "%s from %s" % (token, host))
    env = lab["environment"]

    def arrived():
        records = _store_records(lab, "active/%s/*/*.json" % env, token)
        return records if {r["host"] for r in records} >= set(lab["hosts"]) else None
    records = wait_until(arrived, 60, 0.5)
    _note("logger on %d hosts -> all in the collector's store" % len(lab["hosts"]), time.monotonic() - start)
    seen = {r["host"] for r in _store_records(lab, "active/%s/*/*.json" % env, token)}
    assert records, "no record from %s" % sorted(set(lab["hosts"]) - seen)
    for record in records:
        host = record["host"]
        assert record["message"].endswith(" from " + host), record
        assert record["environment"] == env and record["program"] == "sovereign-labtest"
        assert host in lab["members"](record["site"]) and host in lab["members"](record["tier"]), record
        assert record["stream"] == "active"
    # Remote hosts arrive over TLS sessions to the collector's syslog port, from their platform address.
    remote = [r for r in records if r["host"] != lab["collector"]]
    assert {r["peer"] for r in remote} == {lab["hostvars"][r["host"]]["platform_address"] for r in remote}


def test_auth_events_land_in_the_security_stream(lab):
    token = "labsec-" + uuid.uuid4().hex
    source = next(h for h in lab["hosts"] if h not in (lab["collector"], lab["sensor"]))
    Lab.exec(source, "logger", "-t", "sshd", "-p", "authpriv.notice", "Failed password for nobody %s" % token)
    pattern = "security/%s/%s/*.json" % (lab["environment"], source)
    records = wait_until(lambda: _store_records(lab, pattern, token), 30, 0.5)
    assert records and records[0]["facility"] == "authpriv", records
    assert not _store_records(lab, "active/%s/%s/*.json" % (lab["environment"], source), token)


def test_crafted_request_raises_an_ids_alert_found_in_the_central_store(lab):
    sensor, collector = lab["sensor"], lab["collector"]
    addresses = {h: lab["hostvars"][h]["platform_address"] for h in lab["hosts"]}
    # Suricata listens on the interface that carries the sensor's platform address, HOME_NET is every
    # platform segment, and the configuration passed `suricata -T` before it was loaded.
    conf = Lab.exec(sensor, "suricata", "--dump-config", "-c", "/etc/suricata/suricata.yaml").stdout
    assert "af-packet.0.interface = eth0" in conf
    assert Lab.exec(sensor, "systemctl", "is-active", "suricata").stdout.strip() == "active"
    # The attacker: the monitoring host, whose scrape flow reaches the sensor's node_exporter port
    # through the firewall. It speaks plain HTTP to that TLS port: the TCP session is established, the
    # request crosses the sensor's interface in clear (Suricata detects HTTP by content, on any port)
    # and node_exporter answers 400. A port the firewall drops would show only a SYN, no request.
    port = lab["hostvars"][sensor]["platform_ports"]["node_exporter"]
    token = "labids" + uuid.uuid4().hex
    start = time.monotonic()
    Lab.exec(collector, "python3", "-c",
             "import socket; s = socket.create_connection((%r, %d), 5); "
             "s.sendall(b'GET /sovereign-ids-canary/%s HTTP/1.1\\r\\nHost: %s\\r\\nUser-Agent: lab-attacker\\r\\n\\r\\n'); "
             "print(s.recv(200)); s.close()" % (addresses[sensor], port, token, sensor))

    def alerts():
        out = Lab.exec(sensor, "grep", "-h", token, EVE, check=False).stdout
        return [e for e in (json.loads(line) for line in out.splitlines() if line.strip())
                if e.get("event_type") == "alert"]
    found = wait_until(alerts, 60, 0.5)
    _note("crafted request -> Suricata alert in eve.json on %s" % sensor, time.monotonic() - start)
    assert found, Lab.exec(sensor, "tail", "-5", "/var/log/suricata/suricata.log", check=False).stdout
    assert found[0]["alert"]["signature_id"] == CANARY_SID
    assert found[0]["src_ip"] == addresses[collector] and found[0]["dest_ip"] == addresses[sensor]

    pattern = "security/%s/%s/*.json" % (lab["environment"], sensor)
    records = wait_until(lambda: _store_records(lab, pattern, token), 60, 0.5)
    _note("crafted request -> alert in the collector's security store", time.monotonic() - start)
    assert records, "the alert did not reach %s:%s/%s" % (collector, STORE, pattern)
    record = records[0]
    assert record["program"] == "suricata" and record["stream"] == "security" and record["tier"] == "dmz"
    event = json.loads(record["message"])
    assert event["event_type"] == "alert" and event["alert"]["signature_id"] == CANARY_SID
