"""The nvidia_driver role run for real against this machine (-c local, --check): first with its own
facts, then presented as a KVM guest (facts), so the PCI bus scan runs on this machine's real
/sys/bus/pci, which has no NVIDIA GPU. Each time the role says "not applicable" with the reason,
skips every package, DKMS, Secure Boot, nouveau, persistence daemon and reboot task, and changes
nothing. (This machine is itself a container: its facts say docker/guest.)"""
import json
import subprocess
import sys
from pathlib import Path

from ansible_run import ansible_bin, ansible_env

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.setup:
        gather_subset: [min, virtual, platform]
    - ansible.builtin.include_role:
        name: sovereign.datacenter.nvidia_driver
    - name: Present this host as a KVM guest (not a container)
      ansible.builtin.set_fact:
        ansible_virtualization_type: kvm
        ansible_virtualization_role: guest
        cacheable: true
    - ansible.builtin.include_role:
        name: sovereign.datacenter.nvidia_driver
"""


def test_not_applicable_without_gpu_and_in_a_container(tmp_path):
    playbook = tmp_path / "driver.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(ansible_env(), ANSIBLE_FACT_CACHING="memory")
    proc = subprocess.run([ansible_bin("ansible-playbook"), "-i", "localhost,", "-c", "local", "--check", str(playbook),
                           "-e", json.dumps({"ansible_python_interpreter": sys.executable,
                                             "nvidia_driver_mok_password": "unused-here"})],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    tasks = [(t["task"]["name"].split(" : ")[-1], t["hosts"]["localhost"]) for t in out["plays"][0]["tasks"]
             if "localhost" in t["hosts"]]
    reports = [r["msg"] for name, r in tasks if name == "Detect | report not applicable"]
    assert len(reports) == 2
    # with its own facts: a container (docker/podman here) or, on a VM, no GPU on the bus
    assert reports[0] in ("localhost: NVIDIA driver not applicable here: no NVIDIA GPU on the PCI bus",
                          "localhost: NVIDIA driver not applicable here: container (%s): no kernel modules, no reboot"
                          % out["plays"][0]["tasks"][0]["hosts"]["localhost"]["ansible_facts"]["ansible_virtualization_type"])
    assert reports[1] == "localhost: NVIDIA driver not applicable here: no NVIDIA GPU on the PCI bus"
    acting = ("nouveau", "Secure Boot", "packages", "persistence", "reboot", "Verify |", "driver version")
    for name, result in tasks:
        assert not result.get("changed"), name
        if any(word in name for word in acting) and not name.startswith(("Validating arguments", "NVIDIA driver | refuse")):
            assert result.get("skipped"), name
    assert out["stats"]["localhost"]["changed"] == 0
