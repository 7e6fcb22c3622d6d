"""The cephx key filter: the record ceph-authtool prints, from a hex secret."""

import base64
import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.datacenter.plugins.filter.ceph import ceph_key


def test_key_layout():
    key = ceph_key("00112233445566778899aabbccddeeff")
    raw = base64.b64decode(key)
    assert len(key) == 40 and key.startswith("AQ")
    assert raw[:12] == b"\x01\x00" + b"\x00" * 8 + b"\x10\x00"
    assert raw[12:] == bytes.fromhex("00112233445566778899aabbccddeeff")


def test_same_secret_same_key():
    assert ceph_key("ab" * 16) == ceph_key("AB" * 16 + "\n")


@pytest.mark.parametrize("bad", ["", "zz" * 16, "ab" * 15, "ab" * 17])
def test_refuses_other_secrets(bad):
    with pytest.raises(AnsibleFilterError, match="hex characters"):
        ceph_key(bad)


@pytest.mark.skipif(not shutil.which("ceph-authtool"), reason="ceph-authtool is not installed here (Debian ceph-common)")
def test_ceph_authtool_accepts_it(tmp_path):
    keyring = tmp_path / "k"
    key = ceph_key("0f" * 16)
    subprocess.run(["ceph-authtool", "--create-keyring", str(keyring), "--name", "client.t", "--add-key", key],
                   check=True, capture_output=True)
    assert key in keyring.read_text()
