"""roles/pki with pki_backend: vault, against the Vault stub (tests/support/vault_stub.py).

The stub signs CSRs like <mount>/sign/<role> (real X.509 certificates from its own EC CA, names
checked against the role's allowed_domains). The role runs on one host with a local connection;
every path (controller store, host directory) is a temporary directory. Checks: the host
certificate is signed by Vault's CA with the FQDN and address but no bare host name (the role
refuses those), hosts trust both the internal CA and Vault's chain, and a second run signs nothing
and changes nothing. No Vault server runs here: the contract is the stub's.
"""
import json
import os
import re
import subprocess
import sys

import hvac
import pytest
from cryptography import x509

from ansible_run import REPO, ansible_bin

from support.vault_stub import VaultStub

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="installs files owned by root (as on a host)")

PLAY = """- hosts: all
  gather_facts: false
  roles:
    - role: sovereign.datacenter.pki
"""


def _run(tmp_path, settings):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_STRATEGY="linear",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".ansible", "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    env.pop("ANSIBLE_STRATEGY_PLUGINS", None)
    proc = subprocess.run([ansible_bin("ansible-playbook"), "-i", str(tmp_path / "hosts.json"), str(tmp_path / "play.yml"),
                           "-e", "@" + os.path.join(REPO, "group_vars", "all", "platform.yml"),
                           "-e", "@" + str(tmp_path / "settings.json")],
                          capture_output=True, text=True, env=env, cwd=REPO, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    assert settings["pki_vault_token"] not in proc.stdout + proc.stderr
    return proc.stdout


def test_vault_signs_host_certificates(tmp_path):
    with VaultStub() as vault:
        client = hvac.Client(url=vault.url, token=vault.root_token)
        client.sys.enable_secrets_engine("pki", path="pki_int")
        client.write("pki_int/roles/internal", allowed_domains=["internal"], allow_subdomains=True, max_ttl="720h",
                     ttl="720h")
        (tmp_path / "hosts.json").write_text(json.dumps({"all": {"hosts": {"app1": {
            "platform_address": "10.0.10.11", "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable}}}}))
        (tmp_path / "play.yml").write_text(PLAY)
        settings = {"platform_environment": "production", "platform_secrets_dir": str(tmp_path / "store"),
                    "pki_dir": str(tmp_path / "host-ssl"), "pki_backend": "vault", "pki_vault_url": vault.url,
                    "pki_vault_token": vault.root_token}
        (tmp_path / "settings.json").write_text(json.dumps(settings))
        _run(tmp_path, settings)
        signs = [r for r in vault.state.requests if r == ("POST", "pki_int/sign/internal")]
        assert len(signs) == 1
        cert = x509.load_pem_x509_certificate((tmp_path / "host-ssl" / "host.crt").read_bytes())
        assert cert.issuer.rfc4514_string() == "CN=stub intermediate CA"
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == ["app1.production.internal"]
        assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["10.0.10.11"]
        trusted = (tmp_path / "host-ssl" / "ca.crt").read_text()
        assert len(re.findall("BEGIN CERTIFICATE", trusted)) == 2  # the internal CA and Vault's chain
        assert os.stat(tmp_path / "host-ssl" / "private" / "host.key").st_mode & 0o077 == 0o040

        out = _run(tmp_path, settings)
        assert re.search(r"app1\s+: ok=\d+\s+changed=0\s", out), out[-3000:]
        assert len([r for r in vault.state.requests if r == ("POST", "pki_int/sign/internal")]) == 1


def test_local_ca_backend_unchanged(tmp_path):
    """The default backend still issues from the internal CA (its idempotence is Molecule base's)."""
    (tmp_path / "hosts.json").write_text(json.dumps({"all": {"hosts": {"app1": {
        "platform_address": "10.0.10.11", "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    (tmp_path / "play.yml").write_text(PLAY)
    settings = {"platform_environment": "production", "platform_secrets_dir": str(tmp_path / "store"),
                "pki_dir": str(tmp_path / "host-ssl"), "pki_vault_token": "unused-token-value"}
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    _run(tmp_path, settings)
    cert = x509.load_pem_x509_certificate((tmp_path / "host-ssl" / "host.crt").read_bytes())
    assert cert.issuer.rfc4514_string() == "CN=sovereign production internal CA"
    assert (tmp_path / "host-ssl" / "ca.crt").read_text().count("BEGIN CERTIFICATE") == 1
