"""Shared fixtures of the plugin tests: a Vault to talk to, and a way to run a module in-process.

``vault`` is the local stub (tests/support/vault_stub.py, on 127.0.0.1) unless
SOVEREIGN_VAULT_ADDR and SOVEREIGN_VAULT_TOKEN name a real Vault or OpenBao server: then the same
tests run against it (use a throw-away dev server; they create and remove mounts under
``sovereign-test-*`` paths). Tests that need to seal the server or read its internals run on the
stub only and say so when skipped.
"""
import os
import secrets

import pytest

from support.vault_stub import VaultStub

REAL_ADDR = os.environ.get("SOVEREIGN_VAULT_ADDR")
REAL_TOKEN = os.environ.get("SOVEREIGN_VAULT_TOKEN")


class Vault:
    def __init__(self, url, token, stub=None):
        self.url, self.token, self.stub = url, token, stub
        self.ca_cert = os.environ.get("SOVEREIGN_VAULT_CACERT")

    def args(self, **extra):
        base = {"url": self.url, "token": self.token}
        if self.ca_cert:
            base["ca_cert"] = self.ca_cert
        base.update(extra)
        return base

    def client(self, token=None):
        import hvac  # pylint: disable=import-outside-toplevel
        return hvac.Client(url=self.url, token=token or self.token, verify=self.ca_cert or True)

    def token_with_policies(self, policies):
        """A child token with only ``policies`` (and ``default``), valid 10 minutes."""
        return self.client().auth.token.create(policies=policies, ttl="10m")["auth"]["client_token"]

    def require_stub(self, why):
        if self.stub is None:
            pytest.skip("stub only (%s); SOVEREIGN_VAULT_ADDR points at a real server" % why)


@pytest.fixture()
def vault():
    if REAL_ADDR and REAL_TOKEN:
        yield Vault(REAL_ADDR, REAL_TOKEN)
        return
    with VaultStub() as stub:
        yield Vault(stub.url, stub.root_token, stub)


@pytest.fixture()
def unique():
    """A unique name, so that runs against a real server do not collide."""
    return "sovereign-test-" + secrets.token_hex(4)
