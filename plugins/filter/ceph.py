# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ceph's cephx secret in its keyring form, made from a secret of the platform's secret interface.

A cephx key as ``ceph-authtool --gen-print-key`` prints it is the base64 of a 28-byte record: the key
type (2 bytes, little-endian, 1 = AES), the creation time (4 bytes seconds, 4 bytes nanoseconds), the
key length (2 bytes, 16) and the 16-byte key. The role derives every daemon and admin key from a
32-character hex secret, with creation time 0, so the same secret always gives the same key: the keys
live in the secret interface, not only in the monitors' database, and a converge can compare them."""

from __future__ import annotations

import base64
import binascii
import struct

from ansible.errors import AnsibleFilterError

_AES = 1
_KEY_BYTES = 16


def ceph_key(secret):
    """The cephx key (base64) of a 32-character hex ``secret``."""
    text = str(secret).strip()
    try:
        raw = binascii.unhexlify(text)
    except (binascii.Error, ValueError) as exc:
        raise AnsibleFilterError("ceph_key: the secret must be %d hex characters" % (2 * _KEY_BYTES)) from exc
    if len(raw) != _KEY_BYTES:
        raise AnsibleFilterError("ceph_key: the secret must be %d hex characters, got %d"
                                 % (2 * _KEY_BYTES, len(text)))
    return base64.b64encode(struct.pack("<HIIH", _AES, 0, 0, _KEY_BYTES) + raw).decode("ascii")


class FilterModule(object):
    """sovereign.datacenter Ceph filters."""

    def filters(self):
        return {"ceph_key": ceph_key}
