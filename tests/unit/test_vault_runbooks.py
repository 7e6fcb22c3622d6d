"""Secret zero, end to end against the Vault stub: vault_init.yml (twice: initialise, then unseal,
configure and revoke the root token) and vault_configure.yml, all with -vvv, then a search of every
log and every file written for each unseal key share, the root token, the admin token and the
PostgreSQL password: none may appear outside the PGP-encrypted outputs.

The stub (tests/support/vault_stub.py) encrypts the shares and the root token with gpg to the
given public keys, as Vault does with pgp_keys. Real key pairs are made for 5 holders and the root
token holder in a temporary GNUPGHOME; the test decrypts 3 shares and the root token as the
holders would. No Vault server runs here (none can be installed): the HTTP contract is the stub's.
"""
import base64
import json
import os
import re
import shutil
import subprocess

import pytest

from ansible_run import REPO, ansible_bin

from support.vault_stub import VaultStub

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None, reason="needs gpg (Debian package gnupg)")
HOLDERS = ["alice", "bob", "carol", "dave", "erin"]


def _gpg(home, *args, data=None):
    return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--quiet", "--pinentry-mode", "loopback",
                           "--passphrase", ""] + list(args), input=data, capture_output=True, check=True).stdout


def _keys(tmp_path):
    home = tmp_path / "holders-gnupg"
    home.mkdir(mode=0o700)
    keys = {}
    for name in HOLDERS + ["root-holder"]:
        _gpg(home, "--quick-gen-key", "%s <%s@example.invalid>" % (name, name), "future-default", "default", "never")
        path = tmp_path / "pubkeys" / (name + ".gpg")
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(_gpg(home, "--export", name + "@example.invalid"))
        keys[name] = str(path)
    return home, keys


def _play(playbook, log, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_STRATEGY="linear",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".ansible", "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    env.pop("ANSIBLE_STRATEGY_PLUGINS", None)
    proc = subprocess.run([ansible_bin("ansible-playbook"), "-vvv", "-i", "localhost,", playbook] + list(extra),
                          capture_output=True, text=True, env=env, cwd=REPO, stdin=subprocess.DEVNULL, check=False)
    log.write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    return proc.stdout


def test_secret_zero_never_leaks(tmp_path):
    home, keys = _keys(tmp_path)
    work = tmp_path / "work"  # everything the runbooks write, searched at the end
    work.mkdir()
    inputs = tmp_path / "inputs"  # what the operators type in (not searched: it is the secret input)
    inputs.mkdir(mode=0o700)
    store = tmp_path / "store"
    with VaultStub(initialized=False) as vault:
        settings = {
            "platform_environment": "production", "platform_domain": "production.internal",
            "platform_ports": {"vault_api": 8200, "postgresql": 5432}, "platform_secrets_dir": str(store),
            "vault_runbook_url": vault.url, "vault_runbook_urls": [vault.url],
            "vault_key_holders": [{"name": name, "pgp_public_key": keys[name]} for name in HOLDERS],
            "vault_root_token_holder": {"name": "root-holder", "pgp_public_key": keys["root-holder"]},
            "vault_init_output_dir": str(work / "vault-init"),
            "vault_postgresql_primaries": ["pg1"], "vault_postgresql_verify_connection": False,
        }
        (work / "settings.json").write_text(json.dumps(settings))
        init = os.path.join(REPO, "playbooks", "runbooks", "vault_init.yml")

        # 1. Initialise: Vault encrypts the shares and the root token; the playbook stores them.
        out = _play(init, work / "init-1.log", "-e", "@%s" % (work / "settings.json"))
        assert vault.state.initialized and vault.state.sealed and "Vault initialised" in out
        outputs = sorted(os.listdir(work / "vault-init"))
        assert outputs == sorted(["%s.unseal-share.gpg.b64" % n for n in HOLDERS] + ["root-token.gpg.b64"])
        for name in outputs:
            assert os.stat(work / "vault-init" / name).st_mode & 0o077 == 0

        # 2. The holders decrypt; Vault's own secrets are what they decrypt to.
        def decrypt(name):
            blob = base64.b64decode((work / "vault-init" / name).read_text().strip())
            return _gpg(home, "--decrypt", data=blob).decode()
        shares = [decrypt("%s.unseal-share.gpg.b64" % n) for n in HOLDERS]
        root = decrypt("root-token.gpg.b64")
        assert shares == vault.state.init_result["keys"] and root == vault.root_token
        (inputs / "ceremony.json").write_text(json.dumps({"vault_unseal_keys": shares[1:4], "vault_root_token": root}))
        out = _play(init, work / "init-2.log", "-e", "@%s" % (work / "settings.json"),
                    "-e", "@%s" % (inputs / "ceremony.json"))
        assert not vault.state.sealed and root not in vault.state.tokens  # unsealed, root token revoked
        s = vault.state
        assert {"secret/", "database/", "pki/", "pki_int/", "transit/"} <= set(s.mounts)
        assert s.mounts["secret/"]["options"] == {"version": "2"} and "file/" in s.audit
        assert 'path "secret/data/fastapi/app"' in s.policies["svc-fastapi"]
        assert 'path "transit/encrypt/platform"' in s.policies["svc-fastapi"]
        assert "transit" not in s.policies["svc-odoo"]
        approle = s.auth["approle/"]["store"]["fastapi"]
        assert approle["secret_id_ttl"] == 86400 and approle["token_max_ttl"] == 14400
        assert s.mounts["transit/"]["store"]["platform"]["auto_rotate_period"] == 90 * 86400
        assert s.mounts["pki_int/"]["store"]["roles"]["internal"]["max_ttl"] == 720 * 3600
        db = s.mounts["database/"]["store"]
        assert db["config"]["pg-pg1"]["connection_details"]["connection_url"] == \
            "postgresql://{{username}}:{{password}}@pg1.production.internal:5432/postgres?sslmode=verify-full" \
            "&sslrootcert=/etc/ssl/sovereign/ca.crt"
        assert db["roles"]["fastapi"]["creation_statements"][0].startswith('CREATE ROLE "{{name}}" WITH LOGIN')
        assert db["roles"]["fastapi"]["creation_statements"][0].endswith("IN ROLE fastapi_rw;")
        assert db["roles"]["odoo"]["default_ttl"] == 3600 and db["roles"]["odoo"]["max_ttl"] == 86400

        # 3. Day 2: the configuration as code with an operator token changes nothing.
        admin = s.new_token(["root"])
        (inputs / "operator.json").write_text(json.dumps({"vault_configure_token": admin}))
        out = _play(os.path.join(REPO, "playbooks", "vault_configure.yml"), work / "configure.log",
                    "-e", "@%s" % (work / "settings.json"), "-e", "@%s" % (inputs / "operator.json"))
        assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s", out), out[-3000:]

    # 4. Nothing secret anywhere but in the PGP-encrypted outputs.
    password = (store / "secrets" / "postgresql" / "vault").read_text().strip()
    secrets_ = {"share %d" % i: share for i, share in enumerate(shares)}
    secrets_.update({"root token": root, "admin token": admin, "postgresql password": password})
    searched = [p for p in work.rglob("*") if p.is_file()]
    facts = os.path.join(os.environ.get("ANSIBLE_CACHE_PLUGIN_CONNECTION") or os.path.join(REPO, ".cache", "facts"),
                         "localhost")
    if os.path.exists(facts):
        searched.append(type(work)(facts))
    leaks = [(label, str(path)) for path in searched for label, value in secrets_.items()
             if value in path.read_text(errors="replace")]
    assert leaks == []
    assert len(searched) >= 10  # the three logs, the settings, six encrypted outputs


def test_secrets_migrate_copies_the_local_store_without_overwriting(tmp_path):
    store = tmp_path / "store"
    for name, value in (("postgresql/replication", "local-replication-value"), ("fastapi/app", "local-app-value"),
                        ("odoo/admin", "local-odoo-value")):
        path = store / "secrets" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")
    with VaultStub() as vault:
        import hvac  # pylint: disable=import-outside-toplevel
        client = hvac.Client(url=vault.url, token=vault.root_token)
        client.secrets.kv.v2.create_or_update_secret(path="odoo/admin", secret={"value": "vault-odoo-value"},
                                                     mount_point="secret")
        settings = {"platform_secrets_dir": str(store), "platform_domain": "production.internal",
                    "vault_runbook_url": vault.url, "vault_configure_token": vault.root_token}
        (tmp_path / "settings.json").write_text(json.dumps(settings))
        playbook = os.path.join(REPO, "playbooks", "runbooks", "secrets_migrate.yml")
        with pytest.raises(AssertionError) as failed:
            _play(playbook, tmp_path / "migrate.log", "-e", "@%s" % (tmp_path / "settings.json"))
        assert "odoo/admin: cas_conflict" in str(failed.value)
        read = client.secrets.kv.v2.read_secret_version
        assert read(path="fastapi/app", mount_point="secret", raise_on_deleted_version=True)["data"]["data"] == \
            {"value": "local-app-value"}
        assert read(path="odoo/admin", mount_point="secret", raise_on_deleted_version=True)["data"]["data"] == \
            {"value": "vault-odoo-value"}  # never overwritten
        log = (tmp_path / "migrate.log").read_text()
        for value in ("local-replication-value", "local-app-value", "local-odoo-value", "vault-odoo-value",
                      vault.root_token):
            assert value not in log
