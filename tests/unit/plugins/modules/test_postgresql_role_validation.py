"""Wrong cluster definitions fail before any host is touched (role sovereign.datacenter.postgresql).

Runs playbooks/postgresql.yml against inventories whose hosts are podman containers that do not
exist: any task that reached a host would report it unreachable, so a failure naming the host and
variable, with no unreachable host, proves the validation ran on the controller first.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[4]


def _inventory(hosts, backup_hosts=None):
    inv = {
        "all": {
            "vars": {"ansible_connection": "containers.podman.podman", "ansible_python_interpreter": "/usr/bin/python3",
                     "platform_sites": ["dc1", "dc2"], "platform_environment": "unit"},
            "children": {
                "postgresql": {"hosts": {name: dict(spec, ansible_host="pgt-none-" + name) for name, spec in hosts.items()}},
                "dc1": {"hosts": {n: None for n in hosts if n.startswith("a")}},
                "dc2": {"hosts": {n: None for n in hosts if n.startswith("b")}},
            },
        }
    }
    if backup_hosts is not None:
        inv["all"]["children"]["backup_servers"] = {
            "hosts": {name: dict(spec, ansible_host="pgt-none-" + name) for name, spec in backup_hosts.items()}}
    return inv


PW = {"postgresql_replication_password": "unit-test-only"}
CASES = {
    "standby_without_primary": (
        {"a1": dict(PW, postgresql_role="standby"), "b1": dict(PW, postgresql_role="standby")},
        ["a1: postgresql_role=standby but no host of group postgresql sets postgresql_role: primary"]),
    "two_primaries": (
        {"a1": dict(PW, postgresql_role="primary"), "a2": dict(PW, postgresql_role="primary"),
         "b1": dict(PW, postgresql_role="standby")},
        ["a1: postgresql_role=primary, but there are 2 primaries (a1, a2)", "a2: postgresql_role=primary"]),
    "dc2_synchronous": (
        {"a1": dict(PW, postgresql_role="primary"), "b1": dict(PW, postgresql_role="standby", postgresql_synchronous=True)},
        ["b1: postgresql_synchronous=true but the host is not in site dc1"]),
    "missing_replication_password": (
        {"a1": {"postgresql_role": "primary"}, "a2": {"postgresql_role": "standby", "postgresql_replication_password": ""}},
        ["a1: postgresql_replication_password is undefined or empty",
         "a2: postgresql_replication_password is undefined or empty"]),
}


def _run(tmp_path, hosts, backup_hosts=None):
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(_inventory(hosts, backup_hosts)))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / ".ansible" / "collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               ANSIBLE_FACT_CACHING="memory", ANSIBLE_STRATEGY="linear")
    env.pop("ANSIBLE_STRATEGY_PLUGINS", None)
    bindir = Path(sys.executable).parent
    return subprocess.run([str(bindir / "ansible-playbook"), "-i", str(inv), str(REPO / "playbooks" / "postgresql.yml")],
                          capture_output=True, text=True, env=env, timeout=180, check=False, cwd=str(tmp_path))


@pytest.mark.parametrize("case", sorted(CASES))
def test_wrong_input_fails_before_any_host_is_touched(tmp_path, case):
    hosts, messages = CASES[case]
    res = _run(tmp_path, hosts)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    for message in messages:
        assert message in " ".join(out.split()), out[-3000:]
    assert "UNREACHABLE" not in out, "a host was contacted before the validation failed"
    assert "Gather the facts" not in out


def test_valid_input_passes_validation(tmp_path):
    hosts = {"a1": dict(PW, postgresql_role="primary"), "a2": dict(PW, postgresql_role="standby", postgresql_synchronous=True),
             "b1": dict(PW, postgresql_role="standby")}
    res = _run(tmp_path, hosts)
    out = res.stdout + res.stderr
    assert "Check the topology and the replication password" in out
    assert "postgresql_role=" not in out and "is undefined or empty" not in out
    # The next step contacts the hosts, which do not exist here.
    assert "UNREACHABLE" in out or "unreachable" in out


BACKUP = dict(PW, postgresql_backup_enabled=True)
BACKUP_CASES = {
    "backups_without_a_backup_host": (
        {"a1": dict(BACKUP, postgresql_role="primary"), "a2": dict(BACKUP, postgresql_role="standby")}, None,
        ["a1: postgresql_backup_enabled=true but there is no backup host (group backup_servers is empty",
         "a2: postgresql_backup_enabled=true but there is no backup host"]),
    "backup_host_without_cipher_pass": (
        {"a1": dict(BACKUP, postgresql_role="primary")}, {"k1": {}},
        ["k1: pgbackrest_cipher_pass is undefined or empty (backup host of a1"]),
    "backup_host_with_empty_cipher_pass": (
        {"a1": dict(BACKUP, postgresql_role="primary")}, {"k1": {"pgbackrest_cipher_pass": ""}},
        ["k1: pgbackrest_cipher_pass is undefined or empty"]),
}


@pytest.mark.parametrize("case", sorted(BACKUP_CASES))
def test_wrong_backup_input_fails_before_any_host_is_touched(tmp_path, case):
    hosts, backup_hosts, messages = BACKUP_CASES[case]
    res = _run(tmp_path, hosts, backup_hosts)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    for message in messages:
        assert message in " ".join(out.split()), out[-3000:]
    assert "UNREACHABLE" not in out, "a host was contacted before the validation failed"
