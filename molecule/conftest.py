"""Shared testinfra fixtures of the Molecule scenarios.

Hosts are reached through podman exec (testinfra's podman:// backend): ~10x faster than the
ansible backend here, and independent of the SSH settings of the role under test.
"""
import os

import pytest
import testinfra
import yaml


def _inventory_hosts():
    path = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not path or not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        inv = yaml.safe_load(handle) or {}
    return sorted((inv.get("all") or {}).get("hosts") or {})


@pytest.fixture(scope="session")
def hosts():
    """Map of instance name -> testinfra host for every instance of the scenario."""
    names = _inventory_hosts()
    if not names:
        pytest.fail("MOLECULE_INVENTORY_FILE names no hosts: run these tests through `molecule verify`")
    return {name: testinfra.get_host("podman://%s" % name) for name in names}


@pytest.fixture(scope="session")
def ephemeral_dir():
    return os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
