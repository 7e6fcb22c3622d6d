"""The nvidia_driver role's package logic, evaluated by Ansible with the role's own vars for Debian
and Ubuntu, proprietary and open kernel modules: every driver package pinned to the version,
the kernel's headers, DKMS and mokutil alongside. (Installing them needs a GPU host and a mirror
with Debian non-free or Ubuntu restricted: not run here.)"""
import json
import subprocess
import sys
from pathlib import Path

from ansible_run import ansible_bin, ansible_env

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "nvidia_driver"
CASES = [("Debian", "proprietary"), ("Debian", "open"), ("Ubuntu", "proprietary"), ("Ubuntu", "open")]


def test_packages_per_distribution_and_kernel_modules(tmp_path):
    tasks = []
    for distribution, modules in CASES:
        tasks += [
            {"ansible.builtin.set_fact": {"ansible_distribution": distribution, "ansible_kernel": "6.1.0-28-amd64",
                                          "cacheable": True}},
            {"ansible.builtin.debug": {"msg": "{{ __nvidia_driver_packages }}"},
             "vars": {"nvidia_driver_kernel_modules": modules}},
        ]
    play = [{"hosts": "localhost", "gather_facts": False,
             "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml")], "tasks": tasks}]
    playbook = tmp_path / "packages.yml"
    playbook.write_text(json.dumps(play))
    env = dict(ansible_env(), ANSIBLE_FACT_CACHING="memory")
    proc = subprocess.run([ansible_bin("ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
                           "-e", json.dumps({"ansible_python_interpreter": sys.executable})],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = [t["hosts"]["localhost"]["msg"] for t in json.loads(proc.stdout)["plays"][0]["tasks"]
               if "msg" in t["hosts"].get("localhost", {})]
    common = ["dkms", "linux-headers-6.1.0-28-amd64", "mokutil", "pciutils"]
    pin = "=535.216.01-*"
    assert results == [
        ["nvidia-driver" + pin, "nvidia-kernel-dkms" + pin, "nvidia-smi" + pin, "nvidia-persistenced"] + common,
        ["nvidia-driver" + pin, "nvidia-open-kernel-dkms" + pin, "nvidia-smi" + pin, "nvidia-persistenced"] + common,
        ["nvidia-headless-535-server" + pin, "nvidia-utils-535-server" + pin] + common,
        ["nvidia-headless-535-server-open" + pin, "nvidia-utils-535-server" + pin] + common,
    ]
