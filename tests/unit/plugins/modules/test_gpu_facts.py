"""gpu_facts against recorded ``nvidia-smi -q -x`` output (tests/unit/data/gpu, element names of
NVIDIA's nvsmi_device_v12.dtd, driver 535, H100 80GB HBM3).

The module runs real commands: a stand-in ``nvidia-smi`` script prints a recorded file (or fails
the way nvidia-smi fails without a device or driver) and a stand-in ``dmesg`` prints kernel lines.
No GPU is needed; with SOVEREIGN_GPU_TEST=1 on a GPU host the last test runs the real nvidia-smi.
"""
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.sovereign.datacenter.plugins.modules import gpu_facts as mod
from ansible_collections.sovereign.datacenter.plugins.module_utils import _gpu

DATA = Path(__file__).resolve().parents[2] / "data" / "gpu"
XID_LOG = """NVRM: loading NVIDIA UNIX x86_64 Kernel Module  535.183.01
NVRM: Xid (PCI:0000:2a:00): 79, pid=0, name=python3, GPU has fallen off the bus.
NVRM: Xid (PCI:0000:18:00): 13, pid=4242, name=python3, Graphics SM Warp Exception on (GPC 0, TPC 0)
"""


def _script(directory, name, body):
    path = Path(directory) / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            mod.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    """A directory first on PATH holding a dmesg that prints XID_LOG."""
    _script(tmp_path, "dmesg", "cat <<'EOF'\n%sEOF\n" % XID_LOG)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ["PATH"]))
    return tmp_path


def smi(directory, sample):
    return _script(directory, "nvidia-smi", 'cat "%s"\n' % (DATA / sample))


def test_four_h100_mig_disabled(capsys, fake_bin):
    rc, result = run_module(capsys, {"nvidia_smi_path": smi(fake_bin, "nvidia-smi-h100x4.xml"), "kernel_log": False})
    assert rc == 0 and result["changed"] is False
    assert result["gpu_present"] and result["gpu_count"] == 4
    assert (result["driver_version"], result["cuda_version"]) == ("535.183.01", "12.2")
    assert result["mig_enabled"] is False and result["healthy"] is True and result["problems"] == []
    first = result["gpus"][0]
    assert first["name"] == "NVIDIA H100 80GB HBM3"
    assert first["uuid"] == "GPU-6f1c2a52-3b1e-8d44-0c27-5e9a1b7d4f01"
    assert first["pci_bus_id"] == "00000000:18:00.0"
    assert first["memory_mib"] == {"total": 81559, "used": 61234, "free": 81559 - 328 - 61234}
    assert (first["utilization_percent"], first["temperature_celsius"], first["power_draw_watts"]) == (97, 61, 612.48)
    assert first["mig_mode"] == {"current": "Disabled", "pending": "Disabled"} and first["mig_devices"] == []
    assert first["ecc_uncorrectable_volatile"] == 0
    assert first["retired_pages"] == {"single_bit": None, "double_bit": None, "pending": False}
    assert result["xid_source"] == "not read: kernel_log=false"


def test_mig_enabled(capsys, fake_bin):
    result = run_module(capsys, {"nvidia_smi_path": smi(fake_bin, "nvidia-smi-h100x2-mig.xml"), "kernel_log": False})[1]
    assert result["mig_enabled"] is True and result["healthy"] is True
    gpu = result["gpus"][1]
    assert gpu["mig_mode"]["current"] == "Enabled"
    assert [d["gpu_instance_id"] for d in gpu["mig_devices"]] == [7, 8]
    assert gpu["mig_devices"][0]["memory_mib"]["total"] == 9984
    assert gpu["utilization_percent"] is None  # N/A in MIG mode


def test_ecc_errors_and_xids_are_problems(capsys, fake_bin):
    result = run_module(capsys, {"nvidia_smi_path": smi(fake_bin, "nvidia-smi-h100x2-ecc.xml")})[1]
    assert result["xid_source"] == "dmesg"
    assert result["healthy"] is False
    good, bad = result["gpus"]
    assert good["ecc_errors"]["volatile"]["sram_correctable"] == 3 and good["ecc_uncorrectable_volatile"] == 0
    assert [e["xid"] for e in good["xid_errors"]] == [13]
    assert good["problems"] == []  # XID 13 is an application fault, not a GPU fault
    assert bad["ecc_uncorrectable_volatile"] == 2
    assert bad["remapped_rows"] == {"correctable": 1, "uncorrectable": 2, "pending": True, "failure": False}
    assert [e["xid"] for e in bad["xid_errors"]] == [79]
    text = "\n".join(bad["problems"])
    for expected in ("2 uncorrectable ECC errors", "row remapping pending", "GPU reset required", "fatal XID 79"):
        assert expected in text
    assert result["problems"] == bad["problems"]


@pytest.mark.parametrize("body, reason", [
    ("echo 'No devices were found'; exit 6\n", "No devices were found"),
    ("echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"; exit 9\n",
     "couldn't communicate with the NVIDIA driver"),
])
def test_no_device_or_no_driver_is_not_a_failure(capsys, fake_bin, body, reason):
    rc, result = run_module(capsys, {"nvidia_smi_path": _script(fake_bin, "nvidia-smi", body)})
    assert rc == 0 and result.get("failed") is not True
    assert result["gpu_present"] is False and reason in result["reason"]
    assert result["gpus"] == [] and result["healthy"] is False


def test_nvidia_smi_missing(capsys, tmp_path):
    rc, result = run_module(capsys, {"nvidia_smi_path": "nvidia-smi-not-installed-here"})
    assert rc == 0 and result["gpu_present"] is False and "not found" in result["reason"]


def test_unexpected_failure_fails_with_the_message(capsys, fake_bin):
    body = "echo 'Unable to determine the device handle for GPU0000:2A:00.0: Unknown Error' >&2; exit 15\n"
    rc, result = run_module(capsys, {"nvidia_smi_path": _script(fake_bin, "nvidia-smi", body)})
    assert rc == 1 and result["failed"] and "Unable to determine the device handle" in result["msg"]


def test_not_xml_is_refused():
    with pytest.raises(ValueError, match="not XML"):
        _gpu.parse_nvidia_smi_xml("GPU 0: NVIDIA H100 (UUID: GPU-1)")
    with pytest.raises(ValueError, match="expected <nvidia_smi_log>"):
        _gpu.parse_nvidia_smi_xml("<log/>")


def test_older_dtd_ecc_counters():
    """Pre-Hopper DTDs nest single_bit/double_bit counters; the double-bit total is uncorrectable."""
    xml = ("<nvidia_smi_log><driver_version>470.256.02</driver_version><gpu id='00000000:3B:00.0'>"
           "<uuid>GPU-1</uuid><ecc_errors><volatile><single_bit><device_memory>4</device_memory><total>4</total>"
           "</single_bit><double_bit><device_memory>1</device_memory><total>1</total></double_bit></volatile>"
           "</ecc_errors></gpu></nvidia_smi_log>")
    gpu = _gpu.parse_nvidia_smi_xml(xml)["gpus"][0]
    assert gpu["ecc_errors"]["volatile"]["double_bit_total"] == 1 and gpu["ecc_uncorrectable_volatile"] == 1


@pytest.mark.skipif(os.environ.get("SOVEREIGN_GPU_TEST") != "1" or not shutil.which("nvidia-smi"),
                    reason="set SOVEREIGN_GPU_TEST=1 on a host with an NVIDIA GPU to run the real nvidia-smi")
def test_real_nvidia_smi(capsys):
    rc, result = run_module(capsys, {})
    assert rc == 0 and result["gpu_present"] and result["gpu_count"] >= 1
