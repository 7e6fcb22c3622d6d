"""playbooks/tier_ai.yml: the AI roles in the right order on the right groups, syntax-checked
against every inventory (the lab has no AI hosts: every play matches no host there)."""
import os
import subprocess

import pytest
import yaml

from ansible_run import ansible_bin, ansible_env

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(REPO, "playbooks", "tier_ai.yml")


def test_plays_and_roles_in_order():
    with open(PLAYBOOK, encoding="utf-8") as handle:
        plays = yaml.safe_load(handle)
    # play 0 is the input contract (issue 16, tests/unit/test_input_contracts.py)
    assert plays[0]["vars"]["input_contract"].endswith("/tier_ai.spec.yml")
    plays = plays[1:]
    got = [(p["hosts"], [r["role"] for r in p["roles"]]) for p in plays]
    assert got == [
        ("gpu_nodes", ["sovereign.datacenter.nvidia_driver"]),
        ("k8s_control_plane:gpu_nodes", ["sovereign.datacenter.containerd", "sovereign.datacenter.kubernetes"]),
        ("k8s_control_plane[0]", ["sovereign.datacenter.gpu_cluster_addons"]),
    ]
    assert all(p["become"] is True for p in plays)


@pytest.mark.parametrize("inventory", ["production", "lab"])
def test_hosts_per_inventory(inventory):
    proc = subprocess.run([ansible_bin("ansible-playbook"), "-i", os.path.join(REPO, "inventories", inventory),
                           PLAYBOOK, "--list-hosts"], capture_output=True, text=True, env=ansible_env(), cwd=REPO,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = [int(line.split("(")[1].split(")")[0]) for line in proc.stdout.splitlines() if "hosts (" in line]
    counts = counts[1:]  # the input contract play (localhost and every host, evaluated on the controller)
    assert counts == ({"production": [4, 5, 1], "lab": [0, 0, 0]}[inventory])
