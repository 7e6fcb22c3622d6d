"""Shared testinfra fixtures of the Molecule scenarios.

Hosts are reached through podman exec (testinfra's podman:// backend): ~10x faster than the
ansible backend here, and independent of the SSH settings of the role under test.
"""
import os
import sys

import pytest
import testinfra
import yaml

# The helpers shared with the unit and lab tests (tests/support): `from support.waiting import ...`.
_TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


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
