"""The hardening role's textfile exporters: the AIDE check's result (roles/hardening/files/sovereign-aide-metrics,
from Debian's dailyaidecheck log) and the failed-login bursts fail2ban reports (sovereign-fail2ban-metrics).
Molecule's hardening scenario runs both for real (a tampered host, five failed SSH logins)."""
import os
import subprocess
import sys

FILES = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "hardening", "files")

CHANGED_LOG = """aide run on hd-host started at 2026-12-01 23:40:46.
AIDE returned with exit code 5. Added and changed entries detected!

AIDE produced no errors.
AIDE output (76 lines):
Start timestamp: 2026-12-01 23:40:46 +0000 (AIDE 0.18.3)
AIDE found differences between database and filesystem!!

Summary:
  Total number of entries:\t7877
  Added entries:\t\t1
  Removed entries:\t\t0
  Changed entries:\t\t2

---------------------------------------------------
Added entries:
---------------------------------------------------

f+++++++++++++++++: /usr/local/sbin/probe
"""

CLEAN_LOG = """aide run on hd-host started at 2026-12-01 23:31:30.
AIDE returned with a zero exit code. No changes detected!

AIDE output (20 lines):
AIDE found NO differences between database and filesystem. Looks okay!!

Number of entries:\t8250
"""

EARLY_EXIT_LOG = """aide run on hd-host started at 2026-12-01 23:31:30.
database not present.
ARETVAL not initialized. daily aide check was aborted prematurely.
"""


def _metrics(path):
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in path.read_text().splitlines()
            if line and not line.startswith("#")}


def _aide(tmp_path, log, database=True, result="success"):
    (tmp_path / "aide.conf").write_text("database_in=file:%s\n" % (tmp_path / "aide.db"))
    if database:
        (tmp_path / "aide.db").write_text("baseline")
    if log is not None:
        (tmp_path / "aide.log").write_text(log)
    argv = [sys.executable, os.path.join(FILES, "sovereign-aide-metrics"), "--dir", str(tmp_path / "m"),
            "--config", str(tmp_path / "aide.conf"), "--log", str(tmp_path / "aide.log")]
    subprocess.run(argv + (["--result", result] if result else []), check=True)
    return _metrics(tmp_path / "m" / "sovereign_aide.prom")


def test_changes_are_counted_by_kind(tmp_path):
    got = _aide(tmp_path, CHANGED_LOG)
    assert got["sovereign_aide_last_check_success"] == 1 and got["sovereign_aide_last_check_exit_code"] == 5
    assert got['sovereign_aide_last_check_entries{kind="added"}'] == 1
    assert got['sovereign_aide_last_check_entries{kind="removed"}'] == 0
    assert got['sovereign_aide_last_check_entries{kind="changed"}'] == 2
    assert got['sovereign_aide_last_check_entries{kind="total"}'] == 7877
    assert got["sovereign_aide_database_present"] == 1 and got["sovereign_aide_last_check_timestamp_seconds"] > 0


def test_a_clean_check_exports_zero_changes(tmp_path):
    got = _aide(tmp_path, CLEAN_LOG)
    assert got["sovereign_aide_last_check_exit_code"] == 0 and got["sovereign_aide_last_check_success"] == 1
    assert [got['sovereign_aide_last_check_entries{kind="%s"}' % k] for k in ("added", "removed", "changed")] == [0, 0, 0]
    assert got['sovereign_aide_last_check_entries{kind="total"}'] == 8250


def test_an_aborted_or_failed_check_is_not_a_success(tmp_path):
    got = _aide(tmp_path, EARLY_EXIT_LOG, database=False)
    assert got["sovereign_aide_last_check_success"] == 0 and got["sovereign_aide_database_present"] == 0
    assert "sovereign_aide_last_check_exit_code" not in got
    assert _aide(tmp_path, CHANGED_LOG, result="exit-code")["sovereign_aide_last_check_success"] == 0


def test_before_the_first_check_only_the_baseline_is_exported(tmp_path):
    got = _aide(tmp_path, None, result=None)
    assert got == {"sovereign_aide_database_present": 1,
                   "sovereign_aide_database_timestamp_seconds": got["sovereign_aide_database_timestamp_seconds"]}


def _fail2ban(tmp_path, *args):
    subprocess.run([sys.executable, os.path.join(FILES, "sovereign-fail2ban-metrics"), "--dir", str(tmp_path / "m"),
                    "--state", str(tmp_path / "state" / "bursts.json")] + list(args), check=True)
    return _metrics(tmp_path / "m" / "sovereign_failed_logins.prom")


def test_bursts_are_counted_per_jail_and_survive_a_restart(tmp_path):
    got = _fail2ban(tmp_path, "start", "sshd")
    assert got == {'sovereign_failed_login_bursts_total{jail="sshd"}': 0}  # the series exists from the start
    _fail2ban(tmp_path, "ban", "sshd")
    got = _fail2ban(tmp_path, "ban", "sshd")
    assert got['sovereign_failed_login_bursts_total{jail="sshd"}'] == 2
    assert got['sovereign_failed_login_last_burst_timestamp_seconds{jail="sshd"}'] > 0
    got = _fail2ban(tmp_path, "start", "sshd")  # fail2ban restarted: the counter keeps its value
    assert got['sovereign_failed_login_bursts_total{jail="sshd"}'] == 2
