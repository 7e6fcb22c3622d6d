# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers of the collection's NVIDIA GPU modules: parse ``nvidia-smi -q -x`` output.

The XML follows NVIDIA's ``nvsmi_device_v*.dtd`` (root ``nvidia_smi_log``, one ``gpu`` element per
device). Values such as ``81559 MiB``, ``34 C`` or ``N/A`` become ints or None. Kernel XID lines
(``NVRM: Xid (PCI:0000:18:00): 79, ...``) are parsed from the kernel log text given by the caller.
Pure functions without side effects: the module runs the commands, tests feed recorded output.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

# nvidia-smi's own messages when there is nothing to report (not a failure of the module).
NO_DEVICE_MARKERS = (
    "No devices were found",
    "couldn't communicate with the NVIDIA driver",
    "NVIDIA driver is not loaded",
    "Driver/library version mismatch",
)
# XIDs that mean the GPU is unusable until a reset or reboot (NVIDIA's XID catalogue).
FATAL_XIDS = frozenset([48, 61, 62, 63, 64, 74, 79, 92, 94, 95, 119, 120, 140])
_XID_RE = re.compile(r"NVRM: Xid \(PCI:(?P<pci>[0-9a-fA-F:.]+)\): (?P<xid>\d+),\s*(?P<text>.*)$")
_NUMBER_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)")


def number(text):
    """``'81559 MiB'`` -> 81559, ``'71.36 W'`` -> 71.36, ``'N/A'``/None/empty -> None."""
    if text is None:
        return None
    match = _NUMBER_RE.match(text)
    if not match:
        return None
    value = match.group(1)
    return float(value) if "." in value else int(value)


def _text(element, path):
    found = element.find(path)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return None if value in ("", "N/A", "None", "[N/A]") else value


def _counters(element):
    """Every numeric leaf under ``element`` as {path: int}, the path joined with ``_``: Hopper's
    ``sram_uncorrectable`` stays as is, older DTDs give ``double_bit_total`` and the like."""
    values = {}
    if element is None:
        return values

    def walk(node, prefix):
        for child in node:
            key = prefix + child.tag
            if len(child):
                walk(child, key + "_")
            elif number(child.text) is not None:
                values[key] = number(child.text)
    walk(element, "")
    return values


def _uncorrectable(counters):
    return sum(v for k, v in counters.items() if "uncorrectable" in k or k == "double_bit_total")


def _memory(element):
    return {key: number(_text(element, key)) for key in ("total", "used", "free")} if element is not None else {}


def _retired_pages(gpu):
    pages = gpu.find("retired_pages")
    if pages is None:
        return {"single_bit": None, "double_bit": None, "pending": None}
    return {
        "single_bit": number(_text(pages, "multiple_single_bit_retirement/retired_count")),
        "double_bit": number(_text(pages, "double_bit_retirement/retired_count")),
        "pending": _text(pages, "pending_retirement") == "Yes" or _text(pages, "pending_blacklist") == "Yes",
    }


def _remapped_rows(gpu):
    rows = gpu.find("remapped_rows")
    if rows is None:
        return {"correctable": None, "uncorrectable": None, "pending": None, "failure": None}
    return {
        "correctable": number(_text(rows, "remapped_row_corr")),
        "uncorrectable": number(_text(rows, "remapped_row_unc")),
        "pending": _text(rows, "remapped_row_pending") == "Yes",
        "failure": _text(rows, "remapped_row_failure") == "Yes",
    }


def _mig_devices(gpu):
    devices = []
    for dev in gpu.findall("mig_devices/mig_device"):
        devices.append({
            "index": number(_text(dev, "index")),
            "gpu_instance_id": number(_text(dev, "gpu_instance_id")),
            "compute_instance_id": number(_text(dev, "compute_instance_id")),
            "multiprocessor_count": number(_text(dev, "device_attributes/shared/multiprocessor_count")),
            "memory_mib": _memory(dev.find("fb_memory_usage")),
        })
    return devices


def parse_gpu(gpu):
    """One ``<gpu>`` element as a dict of plain values, with its own list of problems."""
    ecc_volatile = _counters(gpu.find("ecc_errors/volatile"))
    ecc_aggregate = _counters(gpu.find("ecc_errors/aggregate"))
    info = {
        "name": _text(gpu, "product_name"),
        "uuid": _text(gpu, "uuid"),
        "serial": _text(gpu, "serial"),
        "pci_bus_id": _text(gpu, "pci/pci_bus_id") or gpu.get("id"),
        "minor_number": number(_text(gpu, "minor_number")),
        "architecture": _text(gpu, "product_architecture"),
        "vbios_version": _text(gpu, "vbios_version"),
        "persistence_mode": _text(gpu, "persistence_mode") == "Enabled",
        "mig_mode": {"current": _text(gpu, "mig_mode/current_mig"), "pending": _text(gpu, "mig_mode/pending_mig")},
        "mig_devices": _mig_devices(gpu),
        "memory_mib": _memory(gpu.find("fb_memory_usage")),
        "utilization_percent": number(_text(gpu, "utilization/gpu_util")),
        "temperature_celsius": number(_text(gpu, "temperature/gpu_temp")),
        "power_draw_watts": number(_text(gpu, "gpu_power_readings/power_draw") or _text(gpu, "power_readings/power_draw")),
        "ecc_mode": _text(gpu, "ecc_mode/current_ecc"),
        "ecc_errors": {"volatile": ecc_volatile, "aggregate": ecc_aggregate},
        "ecc_uncorrectable_volatile": _uncorrectable(ecc_volatile),
        "retired_pages": _retired_pages(gpu),
        "remapped_rows": _remapped_rows(gpu),
        "reset_required": _text(gpu, "gpu_reset_status/reset_required") == "Yes",
    }
    info["problems"] = gpu_problems(info)
    return info


def gpu_problems(info):
    """Reasons a GPU should not take work, as sentences naming the GPU."""
    who = "GPU %s (%s)" % (info["pci_bus_id"], info["uuid"])
    problems = []
    if info["ecc_uncorrectable_volatile"]:
        problems.append("%s: %d uncorrectable ECC errors since the last driver load" % (who, info["ecc_uncorrectable_volatile"]))
    if info["retired_pages"]["pending"]:
        problems.append("%s: page retirement pending (reboot needed)" % who)
    if info["remapped_rows"]["pending"]:
        problems.append("%s: row remapping pending (GPU reset needed)" % who)
    if info["remapped_rows"]["failure"]:
        problems.append("%s: row remapping failed (replace the GPU)" % who)
    if info["reset_required"]:
        problems.append("%s: GPU reset required" % who)
    if info["mig_mode"]["current"] != info["mig_mode"]["pending"] and info["mig_mode"]["pending"]:
        problems.append("%s: MIG mode change to %s pending (GPU reset needed)" % (who, info["mig_mode"]["pending"]))
    return problems


def parse_nvidia_smi_xml(text):
    """``nvidia-smi -q -x`` output -> facts dict. Raises ValueError on output that is not its XML."""
    # The DOCTYPE names an external DTD that is never fetched; ElementTree ignores it.
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError("nvidia-smi -q -x output is not XML: %s" % exc)
    if root.tag != "nvidia_smi_log":
        raise ValueError("nvidia-smi -q -x output has root <%s>, expected <nvidia_smi_log>" % root.tag)
    gpus = [parse_gpu(gpu) for gpu in root.findall("gpu")]
    return {
        "gpu_present": bool(gpus),
        "driver_version": _text(root, "driver_version"),
        "cuda_version": _text(root, "cuda_version"),
        "gpu_count": len(gpus),
        "gpus": gpus,
        "mig_enabled": any(g["mig_mode"]["current"] == "Enabled" for g in gpus),
    }


def _pci_key(bus_id):
    """``00000000:18:00.0`` and ``0000:18:00`` (the kernel's XID form) -> ``18:00`` for matching."""
    parts = bus_id.lower().split(":")
    return ":".join([parts[-2], parts[-1].split(".")[0]]) if len(parts) >= 2 else bus_id.lower()


def parse_xid_lines(text):
    """Kernel log text -> [{pci_bus_id, xid, fatal, message}] for every ``NVRM: Xid`` line."""
    events = []
    for line in (text or "").splitlines():
        match = _XID_RE.search(line)
        if match:
            xid = int(match.group("xid"))
            events.append({"pci_bus_id": match.group("pci"), "xid": xid, "fatal": xid in FATAL_XIDS,
                           "message": match.group("text").strip()})
    return events


def attach_xid_errors(facts, events):
    """Attach XID events to their GPU (by PCI address); fatal ones become problems."""
    facts["xid_errors"] = events
    for gpu in facts["gpus"]:
        mine = [e for e in events if _pci_key(e["pci_bus_id"]) == _pci_key(gpu["pci_bus_id"] or "")]
        gpu["xid_errors"] = mine
        for xid in sorted({e["xid"] for e in mine if e["fatal"]}):
            gpu["problems"].append("GPU %s (%s): fatal XID %d in the kernel log" % (gpu["pci_bus_id"], gpu["uuid"], xid))
    facts["problems"] = [p for gpu in facts["gpus"] for p in gpu["problems"]]
    facts["healthy"] = facts["gpu_present"] and not facts["problems"]
    return facts


def absent(reason):
    """Facts of a host where nvidia-smi finds nothing (no GPU, no driver, a container)."""
    return {"gpu_present": False, "reason": reason, "driver_version": None, "cuda_version": None,
            "gpu_count": 0, "gpus": [], "mig_enabled": False, "xid_errors": [], "problems": [], "healthy": False}


def no_device_reason(output):
    """The reason text when nvidia-smi's failure means "nothing to report", else None."""
    for marker in NO_DEVICE_MARKERS:
        if marker in (output or ""):
            return "nvidia-smi: %s" % marker
    return None
