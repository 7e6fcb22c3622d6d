"""Last lab scenario (file name sorts last): `down` removes exactly what `up` made."""
import os
import subprocess

import pytest

from conftest import REPO, lab


def test_down_removes_exactly_the_lab(lab_up):
    foreign = "sovereign-test-bystander"
    subprocess.run(["podman", "rm", "-f", "-t", "0", foreign], capture_output=True, check=False)
    image = os.environ.get("SOVEREIGN_IMAGE")
    if not image:
        image = subprocess.run([os.path.join(REPO, "lab", "build-image")], capture_output=True, text=True,
                               check=True).stdout.split()[-1]
    subprocess.run(["podman", "run", "-d", "--name", foreign, "--network", "none", image, "sleep", "300"],
                   capture_output=True, check=True)
    try:
        if os.environ.get("SOVEREIGN_LAB_KEEP") == "1":
            pytest.skip("SOVEREIGN_LAB_KEEP=1: the lab stays up")
        res = lab("down")
        assert res.returncode == 0, res.stderr
        left = subprocess.run(["podman", "ps", "-a", "-q", "--filter", "label=sovereign.lab=1"], capture_output=True,
                              text=True, check=True).stdout.split()
        nets = subprocess.run(["podman", "network", "ls", "-q", "--filter", "label=sovereign.lab=1"],
                              capture_output=True, text=True, check=True).stdout.split()
        assert left == [] and nets == []
        still = subprocess.run(["podman", "container", "exists", foreign], check=False)
        assert still.returncode == 0, "down removed a container it did not make"
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", foreign], capture_output=True, check=False)
