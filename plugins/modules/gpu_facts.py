#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: gpu_facts
short_description: Report the NVIDIA GPUs of a host, their driver, memory, MIG mode and errors
version_added: 0.1.0
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Runs C(nvidia-smi -q -x) and reports every GPU (name, UUID, PCI bus id, memory, utilisation,
    temperature), the driver and CUDA versions, the MIG mode and MIG devices, ECC error counters,
    retired pages, remapped rows, and the XID errors of the kernel log, with a list of problems
    that make a GPU unfit for work.
  - Returns RV(gpu_present=false) with a reason, and does not fail, when C(nvidia-smi) is missing
    or finds no device or no driver (a host without a GPU, a container, a node before the driver
    role ran).
  - Read-only; never changes the host.
requirements:
  - C(nvidia-smi) from the NVIDIA driver on the managed host (absent is reported, not an error).
options:
  nvidia_smi_path:
    description: Command name or path of C(nvidia-smi).
    type: str
    default: nvidia-smi
  kernel_log:
    description:
      - Read the kernel ring buffer with C(dmesg) for C(NVRM Xid) lines and attach them to their
        GPU. Fatal XIDs (for example 79, the GPU fell off the bus) become problems.
      - Needs root (C(kernel.dmesg_restrict)); when C(dmesg) cannot be read the XID list is empty
        and RV(xid_source) says why.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for C(nvidia-smi); a hung driver must not hang the play.
    type: int
    default: 60
extends_documentation_fragment:
  - sovereign.datacenter.read_only
notes:
  - NVML through C(nvidia-ml-py) is not used; C(nvidia-smi) ships with every driver branch and its
    XML holds everything the collection's roles need.
  - XIDs come from the kernel log, not from C(nvidia-smi), which does not report them.
"""

EXAMPLES = r"""
- name: GPUs of the node
  sovereign.datacenter.gpu_facts:
  become: true
  register: gpu

- name: Every GPU is healthy
  ansible.builtin.assert:
    that: gpu.healthy
    fail_msg: "{{ gpu.problems }}"
  when: gpu.gpu_present
"""

RETURN = r"""
gpu_present:
  description: Whether C(nvidia-smi) reported at least one GPU.
  returned: always
  type: bool
reason:
  description: Why no GPU is reported (C(nvidia-smi) missing, no device, no driver).
  returned: when gpu_present is false
  type: str
  sample: "nvidia-smi: No devices were found"
driver_version:
  description: NVIDIA driver version; null without a GPU.
  returned: always
  type: str
  sample: 535.183.01
cuda_version:
  description: Highest CUDA version the driver supports; null without a GPU.
  returned: always
  type: str
  sample: "12.2"
gpu_count:
  description: Number of GPUs.
  returned: always
  type: int
mig_enabled:
  description: Whether MIG mode is currently enabled on any GPU.
  returned: always
  type: bool
gpus:
  description: One entry per GPU.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Product name., type: str, sample: NVIDIA H100 80GB HBM3}
    uuid: {description: GPU UUID., type: str}
    pci_bus_id: {description: PCI bus id., type: str, sample: "00000000:18:00.0"}
    memory_mib: {description: "Frame buffer C(total), C(used), C(free) in MiB.", type: dict}
    utilization_percent: {description: GPU utilisation., type: int}
    temperature_celsius: {description: GPU temperature., type: int}
    mig_mode: {description: "C(current) and C(pending) MIG mode (C(Enabled), C(Disabled) or null).", type: dict}
    mig_devices: {description: MIG devices with instance ids and memory., type: list}
    ecc_mode: {description: Current ECC mode., type: str}
    ecc_errors: {description: "C(volatile) and C(aggregate) ECC counters by name.", type: dict}
    ecc_uncorrectable_volatile: {description: Uncorrectable ECC errors since the driver loaded., type: int}
    retired_pages: {description: "Retired page counts and whether a retirement is C(pending).", type: dict}
    remapped_rows: {description: "Remapped row counts, C(pending) and C(failure).", type: dict}
    xid_errors: {description: XID events of this GPU from the kernel log., type: list}
    problems: {description: Reasons this GPU should not take work., type: list}
xid_errors:
  description: Every C(NVRM Xid) line of the kernel log (C(pci_bus_id), C(xid), C(fatal), C(message)).
  returned: always
  type: list
  elements: dict
xid_source:
  description: Where XIDs were read from, or why not.
  returned: always
  type: str
  sample: dmesg
problems:
  description: Problems of every GPU; empty on a healthy node.
  returned: always
  type: list
  elements: str
healthy:
  description: GPUs present and no problem found.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sovereign.datacenter.plugins.module_utils._gpu import (
    absent, attach_xid_errors, no_device_reason, parse_nvidia_smi_xml, parse_xid_lines)


def read_kernel_xids(module):
    dmesg = module.get_bin_path("dmesg")
    if not dmesg:
        return [], "not read: dmesg not found"
    rc, out, err = module.run_command([dmesg, "--kernel", "--notime"])
    if rc != 0:
        return [], "not read: dmesg failed (%s)" % (err.strip() or rc)
    return parse_xid_lines(out), "dmesg"


def main():
    module = AnsibleModule(argument_spec=dict(
        nvidia_smi_path=dict(type="str", default="nvidia-smi"),
        kernel_log=dict(type="bool", default=True),
        timeout=dict(type="int", default=60),
    ), supports_check_mode=True)
    smi = module.get_bin_path(module.params["nvidia_smi_path"])
    if not smi:
        module.exit_json(changed=False, xid_source="not read: no GPU",
                         **absent("%s not found (no NVIDIA driver on this host)" % module.params["nvidia_smi_path"]))
    rc, out, err = module.run_command(["timeout", str(module.params["timeout"]), smi, "-q", "-x"])
    if rc != 0:
        reason = no_device_reason(out + err)
        if reason:
            module.exit_json(changed=False, xid_source="not read: no GPU", **absent(reason))
        module.fail_json(msg="%s -q -x failed (rc=%d): %s" % (smi, rc, (err or out).strip()[-2000:]), rc=rc)
    try:
        facts = parse_nvidia_smi_xml(out)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if not facts["gpu_present"]:
        module.exit_json(changed=False, xid_source="not read: no GPU", **absent("nvidia-smi: no GPU listed"))
    events, source = read_kernel_xids(module) if module.params["kernel_log"] else ([], "not read: kernel_log=false")
    module.exit_json(changed=False, xid_source=source, **attach_xid_errors(facts, events))


if __name__ == "__main__":
    main()
