"""scripts/strategy/mitogen_linear_unpinned.py: Mitogen's linear strategy, every process free to use
every CPU. Mitogen's own mitogen_linear pins its workers and what they start to one CPU on a 2- or
3-CPU machine (the lab and Molecule hosts inherited it); the lab and Molecule use this one."""
import json
import os
import subprocess

import pytest

from ansible_run import REPO, ansible_bin, ansible_env

PYTHON = "/usr/bin/python3"
PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: The CPUs a module's child process may use
      ansible.builtin.command: grep Cpus_allowed_list /proc/self/status
      register: mask
      changed_when: false
"""


def allowed_cpus(strategy, tmp_path):
    if not os.path.exists(PYTHON):
        pytest.skip("no %s to run the modules with" % PYTHON)
    mitogen = pytest.importorskip("ansible_mitogen", reason="mitogen is not installed in this venv")
    playbook = tmp_path / "mask.yml"
    playbook.write_text(PLAYBOOK)
    env = ansible_env()
    env["ANSIBLE_STRATEGY"] = strategy
    env["ANSIBLE_STRATEGY_PLUGINS"] = os.pathsep.join([
        os.path.join(REPO, "scripts", "strategy"), os.path.join(os.path.dirname(mitogen.__file__), "plugins", "strategy")])
    # the system interpreter, as on the lab's hosts (Mitogen's local connection fails to start the venv's one)
    proc = subprocess.run([ansible_bin("ansible-playbook"), "-i", "localhost,", "-e", "ansible_python_interpreter=%s" % PYTHON,
                           str(playbook)], capture_output=True,
                          text=True, env=env, cwd=REPO, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return result["stdout"].split(":", 1)[1].strip()


def own_cpus():
    with open("/proc/self/status", encoding="utf-8") as handle:
        return [line.split(":", 1)[1].strip() for line in handle if line.startswith("Cpus_allowed_list")][0]


def test_module_processes_keep_every_cpu(tmp_path):
    assert allowed_cpus("mitogen_linear_unpinned", tmp_path) == own_cpus()


@pytest.mark.skipif(os.cpu_count() not in (2, 3), reason="Mitogen pins to one CPU only on 2- or 3-CPU machines")
def test_mitogen_linear_itself_pins_them_to_one_cpu(tmp_path):
    """The reason the strategy exists, checked on the machines where it matters (CI has 2 cores)."""
    assert allowed_cpus("mitogen_linear", tmp_path) == str(os.cpu_count() - 1)
