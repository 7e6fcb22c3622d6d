"""Run a playbook the way an AWX job template runs it: through ansible-runner, with the survey's defaults as
extra vars (the survey generated from the runbook's contract by the same filter awx_configure.yml uses) and the
answers an operator would type on top. Used by the lab tests of the read-only templates (compliance audit,
firewall audit, incident diagnostics) and of the DR drill (switchover and back).

No AWX server runs here: this is AWX's execution path (ansible-runner with a private data dir, the project
checkout, the inventory, extra vars), not AWX itself. ``available()`` says whether ansible_runner is importable
(tests/requirements.txt pins it); the callers skip, saying why, when it is not.
"""
import os
import subprocess
import tempfile
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTPUT = os.path.join(REPO, "tests", "output")

try:
    import ansible_runner
except ImportError:  # pragma: no cover - depends on the tool set
    ansible_runner = None


def available():
    return ansible_runner is not None


def survey_defaults(playbook):
    """Extra vars AWX sends for an unanswered survey: each question's default (blank ones are not sent)."""
    from ansible_collections.sovereign.datacenter.plugins.filter.contract import awx_survey  # pylint: disable=import-outside-toplevel
    with open(os.path.join(REPO, playbook[:-4] + ".spec.yml"), encoding="utf-8") as handle:
        survey = awx_survey(yaml.safe_load(handle))
    return {q["variable"]: q["default"] for q in survey["spec"] if q["default"] not in ("", None)}


def lab_env():
    """The environment scripts/env.sh sets (collection path, mitogen strategy), as a dict."""
    out = subprocess.run(["bash", "-c", "source scripts/env.sh >/dev/null && env -0"], capture_output=True, cwd=REPO,
                         check=True).stdout.decode()
    return dict(line.split("=", 1) for line in out.split("\0") if "=" in line)


def run(playbook, answers=None, log=None, timeout=1800):
    """Run ``playbook`` (relative to the checkout) on the lab through ansible-runner.

    Returns a dict: status, rc, stdout (the whole output, also written to tests/output/<log>), stats (per
    host: ok, changed, failures, dark, ...), extravars (what was sent) and seconds."""
    extravars = dict(survey_defaults(playbook), **(answers or {}))
    env = lab_env()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sovereign-runner-") as private:
        result = ansible_runner.run(private_data_dir=private, project_dir=REPO, playbook=playbook,
                                    inventory=os.path.join(REPO, "inventories", "lab"), extravars=extravars,
                                    envvars={k: v for k, v in env.items() if k.startswith("ANSIBLE_")}, quiet=True,
                                    timeout=timeout)
        stdout = result.stdout.read()
        outcome = {"status": result.status, "rc": result.rc, "stdout": stdout, "stats": result.stats or {},
                   "extravars": extravars, "seconds": time.monotonic() - start}
    if log:
        os.makedirs(OUTPUT, exist_ok=True)
        with open(os.path.join(OUTPUT, log), "w", encoding="utf-8") as handle:
            handle.write(stdout)
    return outcome


def changed_hosts(outcome):
    """Hosts (not the controller) the run changed, with their count."""
    return {h: n for h, n in (outcome["stats"].get("changed") or {}).items() if h != "localhost" and n}
