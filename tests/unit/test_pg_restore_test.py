"""The scheduled restore test's export (roles/postgresql/files/pg-restore-test export): what
Prometheus reads after a passed, a failed and a skipped run. The run itself needs PostgreSQL and
a pgBackRest repository: the lab runs it (tests/lab/test_monitoring.py) and Molecule's
postgresql scenario through the pg_restore_test runbook."""
import json
import os
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "postgresql", "files", "pg-restore-test")


def _export(tmp_path, report, result="success"):
    state, metrics = tmp_path / "state", tmp_path / "metrics"
    state.mkdir(exist_ok=True)
    if report is not None:
        (state / "last-run.json").write_text(json.dumps(report))
    subprocess.run([sys.executable, SCRIPT, "export", "--state-dir", str(state), "--dir", str(metrics),
                    "--stanza", "main", "--result", result], check=True)
    prom = metrics / "sovereign_restore_test.prom"
    if not prom.exists():
        return None
    return {line.split("{")[0]: float(line.rsplit(" ", 1)[1]) for line in prom.read_text().splitlines()
            if line and not line.startswith("#")}


def test_a_passed_run_exports_success_and_its_time(tmp_path):
    got = _export(tmp_path, {"ok": True, "stanza": "main", "started": 1000, "seconds": 12.5, "restore_seconds": 4,
                             "tables": 3, "rows": 42, "differences": ["app/public.events"]})
    assert got["sovereign_restore_test_last_run_success"] == 1
    assert got["sovereign_restore_test_last_success_timestamp_seconds"] == 1000
    assert got["sovereign_restore_test_rows"] == 42 and got["sovereign_restore_test_tables_differing"] == 1


def test_a_failed_run_exports_failure_and_keeps_the_last_success(tmp_path):
    _export(tmp_path, {"ok": True, "stanza": "main", "started": 1000, "seconds": 1})
    got = _export(tmp_path, {"ok": False, "stanza": "main", "started": 2000, "seconds": 1, "error": "boom"})
    assert got["sovereign_restore_test_last_run_success"] == 0
    assert got["sovereign_restore_test_last_run_timestamp_seconds"] == 2000
    assert got["sovereign_restore_test_last_success_timestamp_seconds"] == 1000


def test_a_unit_that_failed_counts_as_failed_even_with_a_good_report(tmp_path):
    """systemd's $SERVICE_RESULT wins: a report left by an earlier run must not pass a killed one."""
    got = _export(tmp_path, {"ok": True, "stanza": "main", "started": 1000, "seconds": 1}, result="timeout")
    assert got["sovereign_restore_test_last_run_success"] == 0
    assert "sovereign_restore_test_last_success_timestamp_seconds" not in got


def test_no_report_at_all_is_a_failure(tmp_path):
    assert _export(tmp_path, None, result="exit-code")["sovereign_restore_test_last_run_success"] == 0


def test_a_standby_removes_its_old_result(tmp_path):
    """The test runs where the primary is: a former primary must not keep reporting its result."""
    _export(tmp_path, {"ok": False, "stanza": "main", "started": 1000, "seconds": 1})
    assert _export(tmp_path, {"ok": True, "skipped": "standby", "started": 2000}) is None
