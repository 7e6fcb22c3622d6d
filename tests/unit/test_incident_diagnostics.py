"""Issue 16: playbooks/runbooks/incident_diagnostics.yml on this machine as its only host (local
connection, read-only commands only), in the postgresql group so the database section runs (no
server here: SELECT 1 must be reported as failed, not crash the run). A planted secret in the
environment's secret store, also given in the incident's one-line summary, must not appear
anywhere in the tarball or the summary beside it. The lab run (every tier, every secret of the
lab) is tests/lab/test_zy_awx_runbooks.py."""
import json
import os
import subprocess
import tarfile

import pytest

from ansible_run import REPO, ansible_bin, ansible_env

from ansible_collections.sovereign.datacenter.plugins.filter.incident import incident_deadlines

MATRIX = {"P0": {"response_minutes": 15, "resolution_minutes": 60, "status_update_minutes": 15},
          "P1": {"response_minutes": 30, "resolution_minutes": 240, "status_update_minutes": 30},
          "P2": {"response_minutes": 120, "resolution_minutes": 1440, "status_update_minutes": 120}}
SECRET = "S3cr3t-planted-4711"


@pytest.mark.parametrize("severity,response,resolution",
                         [("P0", "10:15", "11:00"), ("P1", "10:30", "14:00"), ("P2", "12:00", "10:00")])
def test_deadlines_from_the_severity_matrix(severity, response, resolution):
    got = incident_deadlines(severity, MATRIX, "2026-12-01T10:00:00Z")
    assert got["response_due"] == "2026-12-01T%s:00Z" % response
    day = "02" if severity == "P2" else "01"
    assert got["resolution_due"] == "2026-12-%sT%s:00Z" % (day, resolution)
    # an offset is converted to UTC
    assert incident_deadlines("P0", MATRIX, "2026-12-01T11:00:00+01:00")["response_due"] == "2026-12-01T10:15:00Z"


def test_bundle_of_one_host_has_every_section_and_no_secret(tmp_path):
    store = tmp_path / "store" / "secrets" / "postgresql"
    store.mkdir(parents=True)
    (store / "app").write_text(SECRET + "\n")
    inventory = tmp_path / "hosts"
    inventory.write_text("diag1 ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n[postgresql]\ndiag1\n")
    out = tmp_path / "out"
    extra = {"platform_secrets_dir": str(tmp_path / "store"), "incident_diagnostics_output_dir": str(out),
             "incident_id": "INC-UNIT", "incident_severity": "P1", "incident_opened_at": "2026-12-01T10:00:00Z",
             "incident_summary": "login fails, user pasted %s in the ticket" % SECRET, "platform_domain": "example.invalid"}
    env = ansible_env()
    env.update({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    proc = subprocess.run([ansible_bin("ansible-playbook"), "-v", "-i", str(inventory),
                           "playbooks/runbooks/incident_diagnostics.yml", "-e", json.dumps(extra)],
                          capture_output=True, text=True, env=env, cwd=REPO, stdin=subprocess.DEVNULL, timeout=300,
                          check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert sorted(os.listdir(out)) == ["INC-UNIT.summary.md", "INC-UNIT.tar.gz"]  # one tarball, nothing unpacked left
    assert oct(os.stat(out / "INC-UNIT.tar.gz").st_mode & 0o777) == "0o600"
    with tarfile.open(out / "INC-UNIT.tar.gz") as tar:
        members = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}
    for section in ("services", "system", "processes", "firewall", "postgresql"):
        assert "INC-UNIT/diag1/%s.txt" % section in members, sorted(members)
    summary = json.loads(members["INC-UNIT/summary.json"])
    assert summary["incident"]["severity"] == "P1"
    assert summary["incident"]["response_due"] == "2026-12-01T10:30:00Z"
    assert summary["incident"]["resolution_due"] == "2026-12-01T14:00:00Z"
    assert summary["hosts_collected"] == ["diag1"] and summary["hosts_missing"] == {}
    assert summary["postgresql"]["diag1"]["select1"] is False
    assert "[REDACTED]" in summary["incident"]["summary"]
    texts = list(members.values()) + [(out / "INC-UNIT.summary.md").read_text(), log]
    assert not [t for t in texts if SECRET in t]
    assert "respond by: 2026-12-01T10:30:00Z" in (out / "INC-UNIT.summary.md").read_text()
