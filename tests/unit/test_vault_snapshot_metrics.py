"""roles/vault_snapshot: the textfile-collector metrics of the snapshot timer, run here for real.

The role's templates are rendered through Ansible (the role's defaults, extra vars winning) and the
metrics script (vault-snapshot.service's ExecStopPost) runs with bash against a directory of fake
encrypted snapshots: what node_exporter would read, that the file is replaced atomically (a new inode
from a rename, no temporary file left), and that promtool accepts the exposition format. The alert
rules on these metrics are tested by tests/promtool/common/vault_snapshot.test.yml. No Vault server
is involved (none exists here), so the snapshot script itself is only rendered."""
import json
import os
import shutil
import subprocess

import pytest
from ansible_run import run_playbook_json

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(REPO, "roles", "vault_snapshot")
TEMPLATES = {"metrics": "vault-snapshot-metrics.sh.j2", "script": "vault-snapshot.sh.j2",
             "service": "vault-snapshot.service.j2"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    base = tmp_path_factory.mktemp("vault_snapshot")
    snaps, textfile = base / "snaps", base / "textfile"
    snaps.mkdir()
    lines = ["- hosts: localhost", "  connection: local", "  gather_facts: false",
             "  vars_files: [%s/defaults/main.yml]" % ROLE, "  tasks:", "    - ansible.builtin.debug:", "        msg:"]
    lines += ["          %s: \"{{ lookup('ansible.builtin.template', '%s/templates/%s') }}\"" % (k, ROLE, v)
              for k, v in sorted(TEMPLATES.items())]
    playbook = base / "render.yml"
    playbook.write_text("\n".join(lines) + "\n")
    extra = {"vault_snapshot_dir": str(snaps), "vault_snapshot_metrics_dir": str(textfile),
             "vault_snapshot_site": "dc1", "platform_domain": "lab.internal"}
    texts = run_playbook_json(str(playbook), "-e", json.dumps(extra))["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
    script = base / "sovereign-vault-snapshot-metrics"
    script.write_text(texts["metrics"])
    return {"texts": texts, "script": script, "snaps": snaps, "textfile": textfile}


def run_metrics(rendered, result):
    res = subprocess.run(["bash", str(rendered["script"]), result], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    prom = rendered["textfile"] / "sovereign_vault_snapshot.prom"
    samples = {}
    for line in prom.read_text().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return prom, samples


def test_runs_without_a_snapshot_then_successful_then_failed(rendered):
    """One sequence (the steps depend on each other, so they are one test: pytest-xdist may split a module's
    tests across workers, each with its own module fixture)."""
    # a failed run without any snapshot: no success time (the failed run alerts; an invented time would hide the age)
    prom, samples = run_metrics(rendered, "exit-code")
    assert samples['sovereign_vault_snapshot_last_run_success{site="dc1"}'] == 0
    assert 'sovereign_vault_snapshot_last_run_timestamp_seconds{site="dc1"}' in samples
    assert not any(k.startswith("sovereign_vault_snapshot_last_success") for k in samples)
    assert oct(prom.stat().st_mode & 0o777) == "0o644"

    # a successful run exports the newest snapshot, atomically
    older, newer = rendered["snaps"] / "vault-20260101T023000Z.snap.gpg", rendered["snaps"] / "vault-20260102T023000Z.snap.gpg"
    older.write_bytes(b"x" * 10)
    newer.write_bytes(b"y" * 1234)
    os.utime(older, (1767234600, 1767234600))
    os.utime(newer, (1767321000, 1767321000))
    before = prom.stat().st_ino
    prom, samples = run_metrics(rendered, "success")
    assert samples['sovereign_vault_snapshot_last_run_success{site="dc1"}'] == 1
    assert samples['sovereign_vault_snapshot_last_success_timestamp_seconds{site="dc1"}'] == 1767321000
    assert samples['sovereign_vault_snapshot_last_size_bytes{site="dc1"}'] == 1234
    # replaced by a rename (a new inode), never rewritten in place; no temporary file left behind
    assert prom.stat().st_ino != before
    assert sorted(p.name for p in rendered["textfile"].iterdir()) == ["sovereign_vault_snapshot.prom"]

    # a failed run keeps the last success time
    prom, samples = run_metrics(rendered, "exit-code")
    assert samples['sovereign_vault_snapshot_last_run_success{site="dc1"}'] == 0
    assert samples['sovereign_vault_snapshot_last_success_timestamp_seconds{site="dc1"}'] == 1767321000

    # promtool accepts the exposition
    if shutil.which("promtool") is None:
        pytest.skip("promtool missing (Debian package prometheus)")
    res = subprocess.run(["promtool", "check", "metrics"], input=prom.read_text(), capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_unit_runs_the_exporter_as_root_after_every_run(rendered):
    service, script = rendered["texts"]["service"], rendered["texts"]["script"]
    assert "ExecStopPost=+/bin/bash /usr/local/lib/sovereign-vault-snapshot-metrics ${SERVICE_RESULT}" in service
    assert "User=vault-snapshot" in service
    # the unprivileged job writes no metric of its own any more (its old file was outside the collector's directory)
    assert ".prom" not in script
