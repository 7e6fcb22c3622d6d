"""Behaviour of the monitoring stack (Molecule scenario `monitoring`).

TargetDown delivered to a webhook is proven on the lab (tests/lab/test_monitoring.py, same
assertions plus the job label), not again here (docs/testing.md)."""
import json
import os
import time

import pytest

from support.molecule import run_playbook
from support.waiting import wait_until

MON = "obs-mon1"
NODE = "obs-node1"
PROM = "https://10.243.0.11:9090"
CACERT = "/etc/ssl/sovereign/ca.crt"
SCENARIO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(SCENARIO))


def _query(mon, path):
    out = mon.check_output(f"curl -sS --fail --cacert {CACERT} '{PROM}{path}'")
    data = json.loads(out)
    assert data["status"] == "success", data
    return data["data"]


@pytest.fixture(scope="module")
def mon(hosts):
    return hosts[MON]


def test_node_exporter_targets_are_up_over_tls(mon):
    def targets():
        active = _query(mon, "/api/v1/targets?state=active")["activeTargets"]
        nodes = [t for t in active if t["labels"]["job"] == "node"]
        return nodes if nodes and all(t["health"] == "up" for t in nodes) else None
    nodes = wait_until(targets, 60, step=2)
    assert nodes, _query(mon, "/api/v1/targets?state=active")
    assert sorted(t["labels"]["instance"] for t in nodes) == ["obs-mon1", "obs-node1"]
    assert all(t["scrapeUrl"].startswith("https://") for t in nodes)
    assert {t["labels"]["site"] for t in nodes} == {"dc1"}
    up = _query(mon, "/api/v1/query?query=up%7Bjob%3D%22node%22%7D")["result"]
    assert sorted((r["metric"]["instance"], r["value"][1]) for r in up) == [("obs-mon1", "1"), ("obs-node1", "1")]


def test_postgres_exporter_exports_replication_lag(mon):
    def pg_up():
        result = _query(mon, "/api/v1/query?query=pg_up%7Bjob%3D%22postgres%22%7D")["result"]
        return result if result and result[0]["value"][1] == "1" else None
    assert wait_until(pg_up, 60, step=2), _query(mon, "/api/v1/targets?state=active")
    lag = _query(mon, "/api/v1/query?query=pg_replication_lag")["result"]
    assert [(r["metric"]["instance"], r["metric"]["job"]) for r in lag] == [(NODE, "postgres")]
    assert float(lag[0]["value"][1]) == 0.0   # a primary: no lag


def test_exporter_refuses_unauthenticated_and_plain_http(mon):
    code = mon.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' --cacert {CACERT} https://10.243.0.21:9100/metrics")
    assert code == "401"
    code = mon.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' --cacert {CACERT} -u prometheus:wrong https://10.243.0.21:9100/metrics")
    assert code == "401"
    code = mon.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' --cacert {CACERT} https://10.243.0.21:9187/metrics")
    assert code == "401"
    assert mon.run("curl -s --max-time 5 http://10.243.0.21:9100/metrics").rc != 0 or \
        "Client sent an HTTP request to an HTTPS server" in mon.run("curl -s --max-time 5 http://10.243.0.21:9100/metrics").stdout


def test_alert_rules_loaded_with_environment_label(mon):
    groups = {g["name"] for g in _query(mon, "/api/v1/rules")["groups"]}
    assert {"sovereign-node", "sovereign-vault", "sovereign-postgresql", "sovereign-api"} <= groups
    config = _query(mon, "/api/v1/status/config")["yaml"]
    assert "environment: molecule" in config
    flags = _query(mon, "/api/v1/status/flags")
    assert flags["storage.tsdb.retention.time"] == "30d"


def _run_broken(kind):
    return run_playbook(os.path.join(SCENARIO, "broken.yml"), "-e", f"broken_kind={kind}")


@pytest.mark.parametrize("kind,task", [("rule", "extra alert rules (promtool check rules)"),
                                       ("config", "prometheus.yml (promtool check config)")])
def test_config_promtool_rejects_never_replaces_the_running_one(mon, kind, task):
    before_config = mon.file("/etc/prometheus/prometheus.yml").content_string
    before_rules = sorted(mon.file("/etc/prometheus/rules.d").listdir())
    loaded_before = _query(mon, "/api/v1/status/config")["yaml"]
    proc = _run_broken(kind)
    assert proc.returncode != 0, proc.stdout[-3000:]
    # The failure is promtool's verdict on the candidate file, in the task that carries it.
    output = proc.stdout + proc.stderr
    assert task in output and "failed to validate" in output, output[-3000:]
    assert "fatal: [obs-mon1]" in output, output[-3000:]
    assert mon.file("/etc/prometheus/prometheus.yml").content_string == before_config
    assert sorted(mon.file("/etc/prometheus/rules.d").listdir()) == before_rules
    # Still serving the old configuration and all rule groups; the last reload succeeded.
    assert _query(mon, "/api/v1/status/config")["yaml"] == loaded_before
    ok = _query(mon, "/api/v1/query?query=prometheus_config_last_reload_successful")["result"]
    assert ok and ok[0]["value"][1] == "1"
    assert "broken" not in {g["name"] for g in _query(mon, "/api/v1/rules")["groups"]}


def test_blackbox_tls_probes_verify_against_the_ca(mon):
    def probes():
        result = _query(mon, "/api/v1/query?query=probe_success%7Bjob%3D%22blackbox_tls%22%7D")["result"]
        return result if len(result) == 2 and all(r["value"][1] == "1" for r in result) else None
    result = wait_until(probes, 60, step=2)
    assert result, _query(mon, "/api/v1/targets?state=active")
    assert sorted(r["metric"]["instance"] for r in result) == ["obs-mon1", "obs-node1"]
    assert {r["metric"]["target"] for r in result} == {"10.243.0.11:9100", "10.243.0.21:9100"}
    expiry = _query(mon, "/api/v1/query?query=probe_ssl_earliest_cert_expiry")["result"]
    assert len(expiry) == 2 and all(float(r["value"][1]) > time.time() + 86400 for r in expiry)
    # The exporter itself refuses unauthenticated requests.
    code = mon.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' --cacert {CACERT} "
                            "'https://10.243.0.11:9115/probe?module=tls&target=10.243.0.21:9100'")
    assert code == "401"


def test_blackbox_config_its_checker_rejects_never_replaces_the_running_one(mon):
    before = mon.file("/etc/prometheus/blackbox.yml").content_string
    proc = _run_broken("blackbox")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert "probe modules (blackbox_exporter --config.check)" in output and "failed to validate" in output, output[-3000:]
    assert mon.file("/etc/prometheus/blackbox.yml").content_string == before
    assert "no_such_option" not in before
    assert mon.service("prometheus-blackbox-exporter").is_running
