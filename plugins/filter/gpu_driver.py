# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions of the NVIDIA driver role and its upgrade runbook, kept apart from YAML so they are tested.

One node at a time (the runbook's ``serial: 1``): a node already on the pinned version is left
alone (no drain); any other is cordoned and drained before its packages change, rebooted only
when the driver actually changed (or the loaded kernel module is not the installed one),
verified, and only then uncordoned.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

UPGRADE_STEPS = ("cordon", "drain", "upgrade", "reboot", "verify", "uncordon")


def _upstream(version):
    """Debian/Ubuntu package version -> the upstream driver version (``535.216.01-1~deb12u1`` -> ``535.216.01``)."""
    version = (version or "").strip()
    if ":" in version:
        version = version.split(":", 1)[1]
    return version.split("-", 1)[0]


def gpu_driver_upgrade_steps(installed_version, target_version):
    """Steps of one node's upgrade, in order; empty when it already runs the target version."""
    if not target_version:
        raise AnsibleFilterError("gpu_driver_upgrade_steps: the target driver version is empty")
    if _upstream(installed_version) == _upstream(target_version):
        return []
    return list(UPGRADE_STEPS)


def gpu_driver_needs_reboot(version_before, version_after, loaded_version=""):
    """Reboot only when the installed driver changed, or the loaded module is not the installed one."""
    after = _upstream(version_after)
    if not after:
        return False
    if _upstream(version_before) != after:
        return True
    return bool(loaded_version) and _upstream(loaded_version) != after


def gpu_node_labels(labels, summary=None):
    """The node labels of a GPU node: ``labels`` plus, from the driver role's GPU summary of the node,
    ``nvidia.com/gpu.product`` and ``nvidia.com/gpu.count`` (values made valid Kubernetes label values)."""
    out = dict(labels or {})
    summary = summary or {}
    if summary.get("present") and summary.get("product"):
        product = re.sub(r"[^A-Za-z0-9._-]+", "-", str(summary["product"])).strip("-._")[:63].rstrip("-._")
        out["nvidia.com/gpu.product"] = product
        out["nvidia.com/gpu.count"] = str(int(summary.get("count") or 0))
    return out


class FilterModule(object):
    """sovereign.datacenter GPU driver filters."""

    def filters(self):
        return {
            "gpu_driver_upgrade_steps": gpu_driver_upgrade_steps,
            "gpu_driver_needs_reboot": gpu_driver_needs_reboot,
            "gpu_node_labels": gpu_node_labels,
        }
