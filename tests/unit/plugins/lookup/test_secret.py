"""The secret lookup's local backend: generated once, kept private, read back unchanged."""
import os
import stat

import pytest
from ansible.errors import AnsibleLookupError

from ansible_collections.sovereign.datacenter.plugins.lookup.secret import read_or_create


def test_generated_once_then_stable(tmp_path):
    first = read_or_create(str(tmp_path), "postgresql/replication")
    second = read_or_create(str(tmp_path), "postgresql/replication")
    assert first == second and len(first) == 32 and first.isalnum()
    assert read_or_create(str(tmp_path), "postgresql/other") != first


def test_store_is_private(tmp_path):
    store = tmp_path / "lab"
    read_or_create(str(store), "a/b/c")
    path = store / "secrets" / "a" / "b" / "c"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for directory in (store, store / "secrets", store / "secrets" / "a", store / "secrets" / "a" / "b"):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700, directory


def test_hex_alphabet_and_length(tmp_path):
    value = read_or_create(str(tmp_path), "backup/cipher", length=64, chars="hex")
    assert len(value) == 64 and set(value) <= set("0123456789abcdef")


@pytest.mark.parametrize("name", ["../escape", "a/../../b", "/abs", "with space", "a//b", ""])
def test_invalid_names_are_refused(tmp_path, name):
    with pytest.raises(AnsibleLookupError):
        read_or_create(str(tmp_path), name)


def test_missing_secret_without_create(tmp_path):
    with pytest.raises(AnsibleLookupError, match="does not exist"):
        read_or_create(str(tmp_path), "vault/unseal", create=False)


def test_short_secrets_are_refused(tmp_path):
    with pytest.raises(AnsibleLookupError, match="at least 16"):
        read_or_create(str(tmp_path), "weak", length=8)


def test_a_directory_another_fork_creates_first_is_used(tmp_path, monkeypatch):
    """Forks of one run create the store at once (seen on a fresh machine: pg2's first converge failed
    with EEXIST): when another process makes a directory between the check and the mkdir, the lookup
    uses it, and both get the one secret."""
    store = str(tmp_path / "lab")
    real_mkdir = os.mkdir

    def racing_mkdir(path, mode=0o777):
        real_mkdir(path, mode)  # the other fork wins the race
        real_mkdir(path, mode)

    monkeypatch.setattr(os, "mkdir", racing_mkdir)
    first = read_or_create(store, "postgresql/replication")
    monkeypatch.setattr(os, "mkdir", real_mkdir)
    assert read_or_create(store, "postgresql/replication") == first
    assert stat.S_IMODE(os.stat(os.path.join(store, "secrets", "postgresql")).st_mode) == 0o700
