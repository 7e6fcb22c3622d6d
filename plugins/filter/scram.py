# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SCRAM-SHA-256 verifiers as PostgreSQL stores them (RFC 5802 / RFC 7677, PostgreSQL's
``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``), for the secret rotation runbook:
the new password is sent to PostgreSQL pre-hashed (so no statement log can hold it), and the
stored verifier is checked against the new and the old value without opening a connection."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from ansible.errors import AnsibleFilterError

ITERATIONS = 4096


def _keys(password, salt, iterations):
    salted = hashlib.pbkdf2_hmac("sha256", str(password).encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def scram_sha256_verifier(password, salt=None, iterations=ITERATIONS):
    """The verifier of ``password`` (a random 16-byte salt unless a base64 ``salt`` is given)."""
    raw_salt = base64.b64decode(salt) if salt else os.urandom(16)
    stored_key, server_key = _keys(password, raw_salt, int(iterations))
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (int(iterations), _b64(raw_salt), _b64(stored_key), _b64(server_key))


def scram_sha256_verifies(verifier, password):
    """True when the stored ``verifier`` accepts ``password``."""
    try:
        method, rest = str(verifier).split("$", 1)
        params, keys = rest.split("$", 1)
        iterations, salt = params.split(":", 1)
        stored_b64, server_b64 = keys.split(":", 1)
    except ValueError as exc:
        raise AnsibleFilterError("scram_sha256_verifies: not a SCRAM-SHA-256 verifier") from exc
    if method != "SCRAM-SHA-256":
        raise AnsibleFilterError("scram_sha256_verifies: not a SCRAM-SHA-256 verifier (%s)" % method)
    stored_key, server_key = _keys(password, base64.b64decode(salt), int(iterations))
    return hmac.compare_digest(stored_key, base64.b64decode(stored_b64)) and \
        hmac.compare_digest(server_key, base64.b64decode(server_b64))


class FilterModule(object):
    """sovereign.datacenter SCRAM filters."""

    def filters(self):
        return {"scram_sha256_verifier": scram_sha256_verifier, "scram_sha256_verifies": scram_sha256_verifies}
