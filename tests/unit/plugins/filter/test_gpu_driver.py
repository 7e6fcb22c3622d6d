"""Upgrade ordering of the GPU driver: one node at a time, drain before the packages change,
reboot only when the driver changed, uncordon last; the runbook follows the filters' plan."""
from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.datacenter.plugins.filter.gpu_driver import (
    gpu_driver_needs_reboot, gpu_driver_upgrade_steps)

RUNBOOK = Path(__file__).resolve().parents[4] / "playbooks" / "runbooks" / "gpu_driver_upgrade.yml"


def test_node_on_target_is_left_alone_without_drain():
    assert gpu_driver_upgrade_steps("535.216.01-1~deb12u1", "535.216.01") == []
    assert gpu_driver_upgrade_steps("535.216.01-0ubuntu0.22.04.1", "535.216.01") == []


@pytest.mark.parametrize("installed", ["535.183.01-1~deb12u1", "", "1:550.54.15-1"])
def test_other_nodes_drain_before_upgrade_and_uncordon_last(installed):
    steps = gpu_driver_upgrade_steps(installed, "535.216.01")
    assert steps == ["cordon", "drain", "upgrade", "reboot", "verify", "uncordon"]
    assert steps.index("drain") < steps.index("upgrade") < steps.index("reboot") < steps.index("verify")


def test_empty_target_is_refused():
    with pytest.raises(AnsibleFilterError):
        gpu_driver_upgrade_steps("535.183.01-1", "")


@pytest.mark.parametrize("before, after, loaded, expected", [
    ("535.183.01-1~deb12u1", "535.216.01-1~deb12u1", "535.183.01", True),   # driver changed
    ("535.216.01-1~deb12u1", "535.216.01-1~deb12u1", "535.216.01", False),  # nothing changed
    ("535.216.01-1~deb12u1", "535.216.01-1~deb12u1", "", False),            # no module loaded, same package
    ("535.216.01-1~deb12u1", "535.216.01-1~deb12u1", "535.183.01", True),   # stale module still loaded
    ("", "535.216.01-1~deb12u1", "", True),                                 # first install
    ("", "", "", False),                                                    # nothing installed
])
def test_reboot_only_on_change(before, after, loaded, expected):
    assert gpu_driver_needs_reboot(before, after, loaded) is expected


def test_runbook_is_serial_one_and_follows_the_plan():
    # play 0 is the input contract (issue 16); the runbook proper follows
    play = next(p for p in yaml.safe_load(RUNBOOK.read_text()) if "serial" in p)
    assert play["serial"] == 1 and play["max_fail_percentage"] == 0
    names = [t["name"] for t in play["tasks"]]
    order = [next(i for i, n in enumerate(names) if n.startswith(prefix)) for prefix in ("Plan of", "Cordon", "Drain", "Upgrade", "Uncordon")]
    assert order == sorted(order)
    by_name = {t["name"]: t for t in play["tasks"]}
    for name, step in (("Cordon the node", "cordon"), ("Uncordon the node", "uncordon")):
        assert by_name[name]["when"] == "'%s' in gpu_driver_upgrade_steps" % step
        assert by_name[name]["kubernetes.core.k8s_drain"]["state"] == step
    drain = next(t for t in play["tasks"] if t["name"].startswith("Drain"))
    assert drain["kubernetes.core.k8s_drain"]["state"] == "drain" and drain["when"] == "'drain' in gpu_driver_upgrade_steps"
    upgrade = next(t for t in play["tasks"] if t["name"].startswith("Upgrade"))
    assert upgrade["vars"] == {"nvidia_driver_upgrade": True}


def test_role_reboots_through_the_filter_only():
    role = Path(__file__).resolve().parents[4] / "roles" / "nvidia_driver" / "tasks" / "main.yml"
    reboot = [t for t in yaml.safe_load(role.read_text()) if "ansible.builtin.reboot" in t]
    assert len(reboot) == 1
    assert any("gpu_driver_needs_reboot" in str(cond) for cond in reboot[0]["when"])


def test_node_labels_from_the_gpu_summary():
    from ansible_collections.sovereign.datacenter.plugins.filter.gpu_driver import gpu_node_labels
    base = {"nvidia.com/gpu.present": "true"}
    summary = {"present": True, "product": "NVIDIA H100 80GB HBM3", "count": "4"}
    assert gpu_node_labels(base, summary) == {"nvidia.com/gpu.present": "true",
                                              "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": "4"}
    assert gpu_node_labels(base, {"present": False, "product": None, "count": 0}) == base
    assert gpu_node_labels(base) == base
    long_name = gpu_node_labels(base, {"present": True, "product": "x" * 80 + " (rev 2)", "count": 1})
    assert len(long_name["nvidia.com/gpu.product"]) == 63
