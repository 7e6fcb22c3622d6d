"""scripts/gpu-check, run for real against this host (-c local): read-only, exits 0 with a clear
"no GPU found" here (no NVIDIA GPU or driver on this machine). With a stand-in nvidia-smi that
prints a recorded H100 sample, the same script reports the GPUs, and fails on one with ECC errors.
"""
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "unit" / "data" / "gpu"


def gpu_check(env=None, *args):
    return subprocess.run([str(REPO / "scripts" / "gpu-check")] + list(args), capture_output=True, text=True,
                          env=env or dict(os.environ), timeout=300, check=False)


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this host has nvidia-smi: the no-GPU case cannot be shown")
def test_no_gpu_found_exits_zero_and_changes_nothing():
    proc = gpu_check()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "no GPU found: nvidia-smi not found" in proc.stdout
    assert "changed=0" in proc.stdout and "failed=0" in proc.stdout


def _fake_smi(tmp_path, sample):
    smi = tmp_path / "nvidia-smi"
    smi.write_text('#!/bin/sh\ncat "%s"\n' % (DATA / sample))
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    return dict(os.environ, PATH="%s:%s" % (tmp_path, os.environ["PATH"]))


def test_report_of_four_healthy_gpus(tmp_path):
    proc = gpu_check(_fake_smi(tmp_path, "nvidia-smi-h100x4.xml"))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "driver 535.183.01 (branch wanted 535), CUDA 12.2, 4 GPU(s), MIG disabled" in proc.stdout
    assert "GPU 00000000:5D:00.0 | NVIDIA H100 80GB HBM3 | 81559 | 35 | 0" in proc.stdout
    assert "GPUs healthy" in proc.stdout and "changed=0" in proc.stdout


def test_gpu_with_ecc_errors_fails_the_check(tmp_path):
    proc = gpu_check(_fake_smi(tmp_path, "nvidia-smi-h100x2-ecc.xml"))
    assert proc.returncode != 0
    assert "problem: GPU 00000000:2A:00.0" in proc.stdout and "uncorrectable ECC errors" in proc.stdout
    assert "GPU check FAILED" in proc.stdout
