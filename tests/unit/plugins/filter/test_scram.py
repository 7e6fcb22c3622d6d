"""SCRAM-SHA-256 verifiers of the secret rotation runbook, against PostgreSQL's algorithm
(RFC 5802 / RFC 7677) recomputed here step by step, and the refusal of other passwords."""
import base64
import hashlib
import hmac

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.datacenter.plugins.filter.scram import scram_sha256_verifier, scram_sha256_verifies


def test_verifier_is_postgresql_format_and_algorithm():
    salt = base64.b64encode(b"0123456789abcdef").decode()
    verifier = scram_sha256_verifier("pencil", salt)
    method, params, keys = verifier.split("$")
    assert method == "SCRAM-SHA-256" and params == "4096:" + salt
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", b"0123456789abcdef", 4096)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    assert keys == base64.b64encode(stored).decode() + ":" + base64.b64encode(server).decode()


def test_new_accepted_old_refused_random_salt():
    first, second = scram_sha256_verifier("new-value"), scram_sha256_verifier("new-value")
    assert first != second  # a fresh salt each time
    assert scram_sha256_verifies(first, "new-value") and not scram_sha256_verifies(first, "old-value")


def test_not_a_verifier():
    with pytest.raises(AnsibleFilterError):
        scram_sha256_verifies("md5abcdef", "x")
