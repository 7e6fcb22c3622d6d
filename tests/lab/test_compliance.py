"""Issue 3 on the lab: after site.yml every host passes the compliance audit (or reports a
control not applicable in a container, with its reason); the audit changes nothing.
The audit runs as its AWX job template does (issue 16): through ansible-runner, with the survey's
defaults (tests/support/awx_template.py); without ansible_runner, through ansible-playbook."""
import json
import os
import subprocess

import pytest

from conftest import REPO, lab_hosts, recap
from support import awx_template

REPORTS = os.path.join(REPO, "tests", "output", "compliance-lab")


@pytest.fixture(scope="module")
def audit(lab_up):
    """(per-host counts of the run, the JSON report)."""
    if awx_template.available():
        run = awx_template.run("playbooks/compliance_audit.yml", {"compliance_report_dir": REPORTS},
                               log="compliance-lab.log", timeout=900)
        stats = run["stats"]
        counts = {h: {"changed": (stats.get("changed") or {}).get(h, 0),
                      "failed": (stats.get("failures") or {}).get(h, 0) + (stats.get("dark") or {}).get(h, 0)}
                  for h in stats.get("processed") or {}}
    else:
        res = subprocess.run(["bash", "-c", "source scripts/env.sh && ansible-playbook -i inventories/lab "
                              "playbooks/compliance_audit.yml -e compliance_report_dir=%s" % REPORTS],
                             capture_output=True, text=True, cwd=REPO, timeout=900, check=False)
        with open(os.path.join(REPO, "tests", "output", "compliance-lab.log"), "w", encoding="utf-8") as handle:
            handle.write(res.stdout + res.stderr)
        counts = recap(res.stdout)
    with open(os.path.join(REPORTS, "compliance.json"), encoding="utf-8") as handle:
        return counts, json.load(handle)


def test_audit_changes_nothing(audit):
    counts, _report = audit
    hosts = {h: c for h, c in counts.items() if h != "localhost"}  # localhost writes the reports
    assert set(hosts) == lab_hosts() and all(c["changed"] == 0 and c["failed"] == 0 for c in hosts.values()), counts


def test_every_lab_host_passes_every_applicable_control(audit):
    _res, report = audit
    assert report["totals"]["hosts"] == len(lab_hosts()) and report["totals"]["errors"] == 0
    assert report["failures"] == [], json.dumps(report["failures"], indent=1)[:4000]
    for host, entry in report["hosts"].items():
        assert entry["counts"]["pass"] > 40, (host, entry["counts"])
        # controls a container cannot have are reported, never silently passed
        assert entry["counts"]["not_applicable"] > 0, (host, entry["counts"])
    for name in ("compliance.html", "compliance-junit.xml"):
        assert os.path.getsize(os.path.join(REPORTS, name)) > 0
