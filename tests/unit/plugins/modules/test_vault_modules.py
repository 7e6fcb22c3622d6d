"""The Vault configuration modules against Vault's documented HTTP API.

Runs against the local stub (tests/support/vault_stub.py) by default; set SOVEREIGN_VAULT_ADDR and
SOVEREIGN_VAULT_TOKEN (a root token of a throw-away dev server, e.g. `vault server -dev`) to run the
same tests against a real Vault or OpenBao. Each test mounts its own engine under a unique path and
removes it. Parts that need the stub's internals skip with the reason on a real server.
"""
import json

import hvac.exceptions
import pytest

from ansible_collections.sovereign.datacenter.plugins.modules import (
    vault_approle_role, vault_approle_secret_id, vault_audit_device, vault_auth_method, vault_database_connection, vault_database_role,
    vault_kv2_secret, vault_pki, vault_policy, vault_raft_info, vault_secrets_engine, vault_transit_key)

from support.modules import run_module


@pytest.fixture()
def mount(vault, unique):
    """Mounts an engine of the requested type under a unique path; removes it afterwards."""
    made = []

    def _mount(engine_type, **options):
        result = run_module(vault_secrets_engine, vault.args(path="%s-%s" % (unique, engine_type),
                                                             engine_type=engine_type, **options))
        assert result["changed"], result
        made.append(result["path"])
        return result["path"]
    yield _mount
    for path in made:
        run_module(vault_secrets_engine, vault.args(path=path, state="absent"))


def _converges(module, args):
    """Check mode reports the change without making it; the run makes it; a second run is not changed."""
    checked = run_module(module, args, check=True)
    assert checked["changed"] and not checked.get("failed"), checked
    first = run_module(module, args)
    assert first["changed"] and not first.get("failed"), first
    second = run_module(module, args)
    assert not second["changed"] and not second.get("failed"), second
    return first, second


# ---- policies
def test_policy_from_rules(vault, unique):
    rules = [{"path": "secret/data/billing/*", "capabilities": ["read", "list"]},
             {"path": "database/creds/billing", "capabilities": ["read"]}]
    first, unused = _converges(vault_policy, vault.args(name=unique, rules=rules))
    assert first["diff"]["before"] == {}
    assert 'path "secret/data/billing/*" {\n  capabilities = ["read", "list"]\n}' in first["policy"]
    stored = vault.client().sys.read_acl_policy(unique)["data"]["policy"]
    assert stored == first["policy"]
    changed = run_module(vault_policy, vault.args(name=unique, rules=rules[:1]))
    assert changed["changed"] and "database/creds" in changed["diff"]["before"]["policy"]
    assert run_module(vault_policy, vault.args(name=unique, state="absent"))["changed"]


def test_policy_grants_what_it_says(vault, unique, mount):
    kv = mount("kv", options={"version": 2})
    run_module(vault_policy, vault.args(name=unique, rules=[{"path": kv + "/data/app/*", "capabilities": ["read"]}]))
    run_module(vault_kv2_secret, vault.args(mount_point=kv, path="app/db", data={"password": "s3cr3t-value"}))
    run_module(vault_kv2_secret, vault.args(mount_point=kv, path="other/db", data={"password": "other-value"}))
    reader = vault.client(token=vault.token_with_policies([unique]))
    own = reader.secrets.kv.v2.read_secret_version(path="app/db", mount_point=kv, raise_on_deleted_version=True)
    assert own["data"]["data"] == {"password": "s3cr3t-value"}
    with pytest.raises(hvac.exceptions.Forbidden):
        reader.secrets.kv.v2.read_secret_version(path="other/db", mount_point=kv, raise_on_deleted_version=True)
    # The module with that token: one clear failure, no value in it.
    denied = run_module(vault_kv2_secret, vault.args(token=reader.token, mount_point=kv, path="other/db",
                                                     data={"password": "attempt"}))
    assert denied["failed"] and denied["error_class"] == "permission_denied"
    assert "other-value" not in json.dumps(denied) and "attempt" not in json.dumps(denied)
    run_module(vault_policy, vault.args(name=unique, state="absent"))


def test_bad_policy_rules_fail_before_any_request(vault, unique):
    result = run_module(vault_policy, vault.args(name=unique, rules=[{"path": 'a" { }', "capabilities": ["read"]}]))
    assert result["failed"] and "characters" in result["msg"]


# ---- AppRole
@pytest.fixture()
def approle(vault, unique):
    path = unique + "-approle"
    run_module(vault_auth_method, vault.args(path=path, method_type="approle"))
    yield path
    run_module(vault_auth_method, vault.args(path=path, state="absent"))


def test_approle_role_converges_and_is_bounded(vault, approle):
    args = vault.args(name="billing", mount_point=approle, token_policies=["svc-billing"], secret_id_ttl="24h",
                      secret_id_num_uses=1)
    first, second = _converges(vault_approle_role, args)
    assert second["settings"]["token_ttl"] == 3600 and second["settings"]["token_max_ttl"] == 14400
    assert second["settings"]["secret_id_ttl"] == 86400 and second["role_id"]
    for bad in ("0", "0s", "1000h"):
        refused = run_module(vault_approle_role, dict(args, secret_id_ttl=bad))
        assert refused["failed"] and "never expire" in refused["msg"], bad
    unset = run_module(vault_approle_role, {k: v for k, v in args.items() if k != "secret_id_ttl"})
    assert unset["failed"] and "secret_id_ttl" in unset["msg"]
    longer = run_module(vault_approle_role, dict(args, token_ttl="5h"))
    assert longer["failed"] and "token_max_ttl" in longer["msg"]


def test_secret_id_is_response_wrapped_and_logs_in(vault, approle):
    role = run_module(vault_approle_role, vault.args(name="billing", mount_point=approle, token_policies=["default"],
                                                     secret_id_ttl="1h"))
    checked = run_module(vault_approle_secret_id, vault.args(role_name="billing", mount_point=approle), check=True)
    assert checked["changed"] and checked["wrapping_token"] == ""
    issued = run_module(vault_approle_secret_id, vault.args(role_name="billing", mount_point=approle, wrap_ttl="2m"))
    assert issued["changed"] and issued["wrap_ttl"] == 120
    unwrapped = vault.client(token=issued["wrapping_token"]).sys.unwrap()["data"]
    assert unwrapped["secret_id"] not in json.dumps(issued)
    login = vault.client().auth.approle.login(role_id=role["role_id"], secret_id=unwrapped["secret_id"],
                                              mount_point=approle, use_token=False)
    assert login["auth"]["client_token"]
    again = vault.client(token=issued["wrapping_token"])
    with pytest.raises(Exception):
        again.sys.unwrap()  # single use


def test_approle_login_as_module_auth(vault, approle, unique):
    role = run_module(vault_approle_role, vault.args(name="configurer", mount_point=approle, token_policies=["root"],
                                                     secret_id_ttl="1h"))
    wrapped = run_module(vault_approle_secret_id, vault.args(role_name="configurer", mount_point=approle))
    secret_id = vault.client(token=wrapped["wrapping_token"]).sys.unwrap()["data"]["secret_id"]
    args = {"url": vault.url, "auth_method": "approle", "role_id": role["role_id"], "secret_id": secret_id,
            "approle_mount_point": approle, "name": unique, "policy": 'path "x" { capabilities = ["read"] }'}
    if vault.ca_cert:
        args["ca_cert"] = vault.ca_cert
    if vault.stub is None:
        pytest.skip("a real server has no 'root' policy to attach to an AppRole; covered on the stub")
    result = run_module(vault_policy, args)
    assert result["changed"] and secret_id not in json.dumps(result)


# ---- KV v2
def test_kv2_versions_cas_and_diff_without_values(vault, mount):
    kv = mount("kv", options={"version": 2})
    args = vault.args(mount_point=kv, path="billing/api", data={"api_key": "first-secret-value"})
    first, second = _converges(vault_kv2_secret, args)
    assert first["version"] == 1 and first["previous_version"] == 0 and second["version"] == 1
    assert first["diff"]["after"] == {"version": 1, "data": {"api_key": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}}
    update = run_module(vault_kv2_secret, dict(args, data={"api_key": "second-secret-value", "user": "billing"}))
    assert update["changed"] and update["version"] == 2 and update["changed_keys"] == ["api_key", "user"]
    for result in (first, second, update):
        assert "secret-value" not in json.dumps(result)
    read = vault.client().secrets.kv.v2.read_secret_version(path="billing/api", mount_point=kv,
                                                            raise_on_deleted_version=True)
    assert read["data"]["data"] == {"api_key": "second-secret-value", "user": "billing"}
    assert read["data"]["metadata"]["version"] == 2
    old = vault.client().secrets.kv.v2.read_secret_version(path="billing/api", mount_point=kv, version=1,
                                                           raise_on_deleted_version=True)
    assert old["data"]["data"] == {"api_key": "first-secret-value"}
    # An explicit expected version that is not the current one: refused, nothing written.
    stale = run_module(vault_kv2_secret, dict(args, data={"api_key": "third"}, cas=1))
    assert stale["failed"] and stale["error_class"] == "cas_conflict" and stale["version"] == 2
    # The secret exists but the caller expects it not to (cas=0): refused before writing.
    vault.client().secrets.kv.v2.create_or_update_secret(path="billing/race", secret={"k": "v"}, mount_point=kv)
    exists = run_module(vault_kv2_secret, vault.args(mount_point=kv, path="billing/race", data={"k": "w"}, cas=0))
    assert exists["failed"] and exists["error_class"] == "cas_conflict"


def test_kv2_concurrent_writer_is_never_overwritten(vault, mount):
    """Another writer lands between the module's read and its write: Vault's CAS check refuses the write."""
    vault.require_stub("needs a write injected between two requests of the module")
    kv = mount("kv", options={"version": 2})
    vault.client().secrets.kv.v2.create_or_update_secret(path="race", secret={"k": "v1"}, mount_point=kv)
    state = vault.stub.state

    def other_writer(method, path):
        if method == "POST" and path == kv + "/data/race":
            state.before_request = None
            entry = state.mounts[kv + "/"]["store"]["race"]
            entry["current_version"] += 1
            version = str(entry["current_version"])
            entry["versions"][version] = {"created_time": "", "deletion_time": "", "destroyed": False}
            entry["data"][str(entry["current_version"])] = {"k": "theirs"}
    state.before_request = other_writer
    raced = run_module(vault_kv2_secret, vault.args(mount_point=kv, path="race", data={"k": "mine"}))
    assert raced["failed"] and raced["error_class"] == "cas_conflict" and "check-and-set" in raced["msg"]
    current = vault.client().secrets.kv.v2.read_secret_version(path="race", mount_point=kv,
                                                               raise_on_deleted_version=True)
    assert current["data"]["data"] == {"k": "theirs"} and current["data"]["metadata"]["version"] == 2


def test_kv2_metadata_and_delete(vault, mount):
    kv = mount("kv", options={"version": 2})
    args = vault.args(mount_point=kv, path="app/cfg", data={"a": "value-one"}, max_versions=5, cas_required=True)
    _converges(vault_kv2_secret, args)
    meta = vault.client().secrets.kv.v2.read_secret_metadata(path="app/cfg", mount_point=kv)["data"]
    assert meta["max_versions"] == 5 and meta["cas_required"] is True
    assert run_module(vault_kv2_secret, dict(args, data={"a": "value-two"}))["version"] == 2  # CAS required: module sends it
    gone = run_module(vault_kv2_secret, vault.args(mount_point=kv, path="app/cfg", state="absent"))
    assert gone["changed"] and gone["previous_version"] == 2
    assert not run_module(vault_kv2_secret, vault.args(mount_point=kv, path="app/cfg", state="absent"))["changed"]


# ---- PKI
def test_pki_root_intermediate_urls_and_roles(vault, mount):
    root = mount("pki", max_lease_ttl="87600h")
    inter = run_module(vault_secrets_engine, vault.args(path=root + "-int", engine_type="pki",
                                                        max_lease_ttl="43800h"))["path"]
    base = vault.url + "/v1/"
    root_args = vault.args(mount_point=root, common_name="sovereign test root CA", ttl="87600h",
                           issuing_certificates=[base + root + "/ca"], crl_distribution_points=[base + root + "/crl"])
    first, second = _converges(vault_pki, root_args)
    assert first["created_ca"] and "BEGIN CERTIFICATE" in first["ca_certificate"] and not second["created_ca"]
    assert second["ca_certificate"] == first["ca_certificate"]
    role = {"name": "internal", "allowed_domains": ["internal"], "allow_subdomains": True, "max_ttl": "720h",
            "ttl": "720h", "key_type": "ec", "key_bits": 256}
    int_args = vault.args(mount_point=inter, ca_type="intermediate", root_mount_point=root, ttl="43800h",
                          common_name="sovereign test intermediate CA", issuing_certificates=[base + inter + "/ca"],
                          crl_distribution_points=[base + inter + "/crl"], roles=[role])
    first, second = _converges(vault_pki, int_args)
    assert first["created_ca"] and first["changed_roles"] == ["internal"] and second["changed_roles"] == []
    urls = vault.client().read(inter + "/config/urls")["data"]
    assert urls["crl_distribution_points"] == [base + inter + "/crl"]
    stored = vault.client().read(inter + "/roles/internal")["data"]
    assert stored["max_ttl"] == 2592000 and stored["allow_subdomains"] is True
    tighter = run_module(vault_pki, dict(int_args, roles=[dict(role, max_ttl="360h")]))
    assert tighter["changed"] and tighter["diff"]["before"]["roles"]["internal"]["max_ttl"] == 2592000
    run_module(vault_secrets_engine, vault.args(path=inter, state="absent"))


# ---- transit
def test_transit_key_rotation_period(vault, mount):
    transit = mount("transit")
    args = vault.args(mount_point=transit, name="app-data", auto_rotate_period="90d")
    first, second = _converges(vault_transit_key, args)
    key = vault.client().read(transit + "/keys/app-data")["data"]
    assert key["type"] == "aes256-gcm96" and key["auto_rotate_period"] == 90 * 86400
    faster = run_module(vault_transit_key, dict(args, auto_rotate_period="720h"))
    assert faster["changed"] and faster["diff"]["after"]["auto_rotate_period"] == 2592000
    retype = run_module(vault_transit_key, dict(args, key_type="chacha20-poly1305"))
    assert retype["failed"] and "cannot change" in retype["msg"]
    assert run_module(vault_transit_key, dict(args, auto_rotate_period="10m"))["failed"]


# ---- database
def test_database_connection_and_role(vault, mount):
    database = mount("database")
    conn = vault.args(mount_point=database, name="pg-dc1", username="vault", password="pg-admin-secret",
                      connection_url="postgresql://{{username}}:{{password}}@127.0.0.1:5/postgres?sslmode=verify-full",
                      allowed_roles=["billing-rw"], verify_connection=False)
    first, second = _converges(vault_database_connection, conn)
    assert "pg-admin-secret" not in json.dumps(first) + json.dumps(second)
    assert first["diff"]["after"]["password"].startswith("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")
    always = run_module(vault_database_connection, dict(conn, update_password="always"))
    assert always["changed"] and "pg-admin-secret" not in json.dumps(always)
    role = vault.args(
        mount_point=database, name="billing-rw", db_name="pg-dc1",
        creation_statements=["CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                             "GRANT billing_rw TO \"{{name}}\";"],
        revocation_statements=["SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';",
                               "DROP ROLE IF EXISTS \"{{name}}\";"])
    first, second = _converges(vault_database_role, role)
    assert second["settings"]["default_ttl"] == 3600 and second["settings"]["max_ttl"] == 86400
    reordered = run_module(vault_database_role, dict(role, revocation_statements=role["revocation_statements"][::-1]))
    assert reordered["changed"]
    bad = run_module(vault_database_role, dict(role, default_ttl="48h"))
    assert bad["failed"] and "max_ttl" in bad["msg"]


# ---- raft
def test_raft_info(vault):
    vault.require_stub("a dev server has no raft storage; on a raft cluster the same call applies")
    result = run_module(vault_raft_info, vault.args())
    assert not result["changed"] and result["leader"] == "vault1" and result["healthy"]
    assert result["voters"] == ["vault1", "vault2", "vault3"] and result["failure_tolerance"] == 1
    assert {peer["node_id"] for peer in result["peers"]} == {"vault1", "vault2", "vault3"}


def test_stub_paths_are_the_documented_ones(vault, mount):
    """The modules called exactly the documented endpoints (the stub records them)."""
    vault.require_stub("reads the stub's request log")
    kv = mount("kv", options={"version": 2})
    vault.stub.state.requests.clear()
    run_module(vault_kv2_secret, vault.args(mount_point=kv, path="a/b", data={"k": "v"}))
    assert vault.stub.state.requests == [("GET", kv + "/metadata/a/b"), ("POST", kv + "/data/a/b")]
    vault.stub.state.requests.clear()
    run_module(vault_kv2_secret, vault.args(mount_point=kv, path="a/b", data={"k": "v"}))
    assert vault.stub.state.requests == [("GET", kv + "/metadata/a/b"), ("GET", kv + "/data/a/b")]


# ---- audit
def test_audit_device(vault, unique):
    args = vault.args(path=unique, options={"file_path": "discard"}, description="test device")
    _converges(vault_audit_device, args)
    other = run_module(vault_audit_device, dict(args, options={"file_path": "stdout"}))
    assert other["failed"] and "cannot change a device in place" in other["msg"]
    assert run_module(vault_audit_device, vault.args(path=unique, state="absent"))["changed"]


def test_database_connection_update_keeps_the_stored_password(vault, mount):
    """Vault merges connection details on update: a change without update_password=always must not send it."""
    vault.require_stub("reads the stored password, which Vault never returns")
    database = mount("database")
    conn = vault.args(mount_point=database, name="pg", username="vault", password="first-password",
                      connection_url="postgresql://{{username}}:{{password}}@127.0.0.1:5/postgres",
                      verify_connection=False)
    run_module(vault_database_connection, conn)
    vault.stub.state.mounts[database + "/"]["store"]["config"]["pg"]["connection_details"]["password"] = "rotated"
    changed = run_module(vault_database_connection, dict(conn, max_open_connections=5))
    assert changed["changed"] and "password" not in changed["diff"]["after"]
    stored = vault.stub.state.mounts[database + "/"]["store"]["config"]["pg"]["connection_details"]
    assert stored["password"] == "rotated" and stored["max_open_connections"] == 5
