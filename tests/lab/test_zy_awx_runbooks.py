"""Issue 16 on the lab: the read-only incident diagnostics template run as AWX runs it, through
ansible-runner, with its survey's defaults as extra vars (generated from the runbook's contract
by the same filter awx_configure.yml uses), against the converged lab. The bundle must hold a
section per lab host, the database checks on every PostgreSQL member, the alerts of the monitoring
host, and none of the lab's known secret values (every file of its secret store): 0 hits.
The other read-only templates run the same way in their own lab tests (compliance audit:
test_compliance.py, firewall audit: test_firewall.py), the DR drill in test_zy_awx_switchover.py
(tests/support/awx_template.py). It skips, saying why, when ansible_runner is not importable
(tests/requirements.txt pins it)."""
import glob
import json
import os
import subprocess
import tarfile

import pytest

from conftest import REPO, lab_hosts, secrets_dir
from support import awx_template

pytestmark = pytest.mark.skipif(not awx_template.available(),
                                reason="ansible_runner is not importable: pip install -r tests/requirements.txt")
OUT = os.path.join(REPO, "tests", "output", "awx-runbooks")
RUNBOOK = "playbooks/runbooks/incident_diagnostics.yml"


@pytest.fixture(scope="module")
def bundle(lab_up):
    defaults = awx_template.survey_defaults(RUNBOOK)
    assert defaults["incident_severity"] == "P0" and defaults["incident_diagnostics_log_lines"] == 500
    os.makedirs(OUT, exist_ok=True)
    run = awx_template.run(RUNBOOK, {"incident_id": "INC-LAB", "incident_diagnostics_output_dir": OUT},
                           log="awx-runbooks/incident_diagnostics.log")
    log = run["stdout"]
    assert run["status"] == "successful" and run["rc"] == 0, log[-4000:]
    with tarfile.open(os.path.join(OUT, "INC-LAB.tar.gz")) as tar:
        members = {m.name: tar.extractfile(m).read().decode("utf-8", "replace") for m in tar.getmembers() if m.isfile()}
    with open(os.path.join(OUT, "INC-LAB.summary.md"), encoding="utf-8") as handle:
        summary_md = handle.read()
    return {"log": log, "members": members, "secrets_dir": secrets_dir(), "summary_md": summary_md, "run": run}


def test_runs_read_only_on_every_host(bundle):
    # the hosts are only read; localhost writes the bundle
    assert awx_template.changed_hosts(bundle["run"]) == {}, bundle["run"]["stats"]


def test_every_lab_host_has_its_section(bundle):
    summary = json.loads(bundle["members"]["INC-LAB/summary.json"])
    assert set(summary["hosts_collected"]) == lab_hosts(), summary["hosts_missing"]
    for host in lab_hosts():
        for section in ("services", "system", "processes", "firewall"):
            assert "INC-LAB/%s/%s.txt" % (host, section) in bundle["members"], (host, section)
    assert summary["incident"]["severity"] == "P0"
    assert summary["incident"]["response_minutes"] == 15 and summary["incident"]["resolution_minutes"] == 60


def test_database_and_alerts(bundle):
    summary = json.loads(bundle["members"]["INC-LAB/summary.json"])
    inventory = subprocess.run(["ansible-inventory", "-i", "inventories/lab", "--list"], capture_output=True, text=True,
                               cwd=REPO, check=True, env=awx_template.lab_env()).stdout
    groups = json.loads(inventory)
    members = set(groups.get("postgresql", {}).get("hosts", []))
    assert set(summary["postgresql"]) == members
    assert all(p["select1"] for p in summary["postgresql"].values()), summary["postgresql"]
    assert sorted(p["role"] for p in summary["postgresql"].values()).count("primary") == 1
    for host in members:
        text = bundle["members"]["INC-LAB/%s/postgresql.txt" % host]
        assert "pg_stat_replication" in text and "pg_stat_wal_receiver" in text
        assert any(name.startswith("INC-LAB/%s/logs__postgresql" % host) for name in bundle["members"]), host
    for host in groups.get("monitoring", {}).get("hosts", []):
        assert "INC-LAB/%s/alerts.txt" % host in bundle["members"]
        assert "alerts_error" not in summary["hosts"][host], summary["hosts"][host]


def test_no_known_secret_in_the_bundle(bundle):
    values = set()
    for path in glob.glob(os.path.join(bundle["secrets_dir"], "secrets", "**"), recursive=True):
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                value = handle.read().strip()
            if len(value) >= 6:
                values.add(value)
    assert values, "no secret found in %s/secrets: the lab's store was expected there" % bundle["secrets_dir"]
    texts = dict(bundle["members"], summary_md=bundle["summary_md"], runner_log=bundle["log"])
    hits = sorted((name, "%d chars" % len(v)) for name, text in texts.items() for v in values if v in text)
    assert hits == [], hits  # names only: never print a secret
