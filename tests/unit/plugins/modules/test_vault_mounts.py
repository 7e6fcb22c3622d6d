"""vault_secrets_engine and vault_auth_method against Vault's HTTP API (the stub, or a real server)."""
from ansible_collections.sovereign.datacenter.plugins.modules import vault_auth_method, vault_secrets_engine

from support.modules import run_module


def test_kv2_mount_idempotent_check_and_diff(vault, unique):
    args = vault.args(path=unique, engine_type="kv", options={"version": 2}, max_lease_ttl="24h")
    checked = run_module(vault_secrets_engine, args, check=True)
    assert checked["changed"] and checked["diff"]["before"] == {}
    first = run_module(vault_secrets_engine, args)
    assert first["changed"] and first["created"]
    assert not checked.get("failed") and first["diff"]["after"]["options"] == {"version": "2"}
    second = run_module(vault_secrets_engine, args)
    assert not second["changed"], second
    tuned = run_module(vault_secrets_engine, dict(args, max_lease_ttl="48h", description="static secrets"))
    assert tuned["changed"] and tuned["tuned"] == ["description", "max_lease_ttl"]
    assert tuned["diff"]["before"]["config"]["max_lease_ttl"] == 86400
    assert tuned["diff"]["after"]["config"]["max_lease_ttl"] == 172800
    assert not run_module(vault_secrets_engine, dict(args, max_lease_ttl="48h", description="static secrets"))["changed"]
    gone = run_module(vault_secrets_engine, vault.args(path=unique, state="absent"))
    assert gone["changed"]
    assert not run_module(vault_secrets_engine, vault.args(path=unique, state="absent"))["changed"]


def test_type_change_is_refused(vault, unique):
    run_module(vault_secrets_engine, vault.args(path=unique, engine_type="transit"))
    result = run_module(vault_secrets_engine, vault.args(path=unique, engine_type="pki"))
    assert result["failed"] and "cannot change the type" in result["msg"]
    run_module(vault_secrets_engine, vault.args(path=unique, state="absent"))


def test_bad_duration_fails_before_any_request(vault, unique):
    result = run_module(vault_secrets_engine, vault.args(path=unique, engine_type="kv", max_lease_ttl="ten days"))
    assert result["failed"] and "max_lease_ttl" in result["msg"] and "ten days" in result["msg"]


def test_approle_auth_method(vault, unique):
    args = vault.args(path=unique, method_type="approle", default_lease_ttl="1h", max_lease_ttl="4h")
    assert run_module(vault_auth_method, args)["changed"]
    assert not run_module(vault_auth_method, args)["changed"]
    assert run_module(vault_auth_method, vault.args(path=unique, state="absent"))["changed"]


def test_permission_denied_is_one_clear_failure(vault, unique):
    token = vault.token_with_policies(["default"])
    result = run_module(vault_secrets_engine, vault.args(token=token, path=unique, engine_type="kv"))
    assert result["failed"] and result["error_class"] == "permission_denied"
    assert "permission denied" in result["msg"] and token not in result["msg"]


def test_sealed_vault_is_one_clear_failure(vault, unique):
    vault.require_stub("sealing a real server would need its unseal keys")
    vault.stub.state.sealed = True
    result = run_module(vault_secrets_engine, vault.args(path=unique, engine_type="kv"))
    assert result["failed"] and result["error_class"] == "sealed" and "sealed" in result["msg"]


def test_unreachable_vault(unique):
    result = run_module(vault_secrets_engine, {"url": "http://127.0.0.1:9", "token": "x", "path": unique,
                                               "engine_type": "kv", "timeout": 2})
    assert result["failed"] and result["error_class"] == "connection"
