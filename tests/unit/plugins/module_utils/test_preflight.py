"""The preflight's checks over plain data: role arguments, SSH keys, PostgreSQL topology, settings."""
import base64
import struct

from ansible_collections.sovereign.datacenter.plugins.module_utils._preflight import (
    argument_errors,
    consistency_errors,
    postgresql_errors,
    role_of,
    ssh_key_errors,
    ssh_key_problem,
)

SPECS = {
    "base": {"main": {
        "base_apt_backports": {"type": "bool", "default": False},
        "base_journald_storage": {"type": "str", "choices": ["persistent", "volatile", "auto"]},
        "base_admin_users": {"type": "list", "elements": "dict", "default": [], "options": {
            "name": {"type": "str", "required": True},
            "ssh_public_keys": {"type": "list", "elements": "str", "default": []},
            "password": {"type": "int", "no_log": True}}},
        "base_hostname": {"type": "str", "required": True},
        "base_token": {"type": "int", "no_log": True}},
        "known": {"base_apt_backports", "base_journald_storage", "base_admin_users", "base_hostname",
                  "base_token", "base_packages_default"}},
    "vault": {"main": {"vault_port": {"type": "int"}}, "known": {"vault_port"}},
    "vault_snapshot": {"main": {"vault_snapshot_keep": {"type": "int"}}, "known": {"vault_snapshot_keep"}},
    "_common": {"main": {}, "known": set()},
}


def _key(kind="ssh-ed25519"):
    blob = struct.pack(">I", len(kind)) + kind.encode() + b"\x00" * 36
    return "%s %s user@host" % (kind, base64.b64encode(blob).decode())


def test_valid_values_pass_and_top_level_required_is_left_to_the_role():
    values = {"h1": {"base_apt_backports": True, "base_admin_users": [{"name": "ops"}]}}
    assert argument_errors(values, SPECS) == []


def test_wrong_type_names_host_variable_value_and_role():
    errors = argument_errors({"h1": {"base_apt_backports": "maybe"}}, SPECS)
    assert len(errors) == 1
    assert errors[0].startswith("host 'h1': base_apt_backports='maybe': ")
    assert "bool" in errors[0] and "sovereign.datacenter.base" in errors[0]


def test_one_group_value_is_reported_once_with_every_host():
    errors = argument_errors({h: {"base_journald_storage": "tape"} for h in ("b", "a")}, SPECS)
    assert len(errors) == 1 and errors[0].startswith("hosts 'a', 'b': base_journald_storage='tape'")
    assert "persistent, volatile, auto" in errors[0]


def test_sub_option_keys_missing_and_unknown():
    errors = argument_errors({"h1": {"base_admin_users": [{"ssh_keys": []}]}}, SPECS)
    text = " ".join(errors)
    assert "missing required keys: name" in text and "unsupported key(s)" in text and "ssh_keys" in text


def test_unknown_role_variable_with_a_suggestion_and_longest_prefix():
    errors = argument_errors({"h1": {"base_apt_backport": True, "vault_snapshot_keep": 3,
                                     "base_packages_default": [], "base_hosts": "x"}}, SPECS)
    assert errors == ["host 'h1': base_apt_backport=True: unknown variable, not an option of role "
                      "sovereign.datacenter.base; did you mean base_apt_backports?"]
    assert role_of("vault_snapshot_keep", ["vault", "vault_snapshot"]) == "vault_snapshot"
    assert role_of("postgresql_x", ["vault"]) is None


def test_secret_values_are_masked():
    errors = argument_errors({"h1": {"base_token": "s3cret-value"}}, SPECS)
    assert errors and "base_token=********" in errors[0] and "s3cret" not in errors[0], errors
    errors = argument_errors({"h1": {"base_admin_users": [{"name": "ops", "password": "pa55-word"}]}}, SPECS)
    assert errors and "pa55" not in " ".join(errors), errors


def test_ssh_keys():
    assert ssh_key_problem(_key()) is None
    assert ssh_key_problem('from="10.0.0.0/8" ' + _key("ecdsa-sha2-nistp256")) is None
    assert "not base64" in ssh_key_problem("ssh-ed25519 not-a-key")
    assert "no key type" in ssh_key_problem("AAAA user@host")
    assert "no key data" in ssh_key_problem("ssh-rsa")
    assert "does not encode a ssh-rsa key" in ssh_key_problem(_key().replace("ssh-ed25519", "ssh-rsa", 1))
    errors = ssh_key_errors({"h1": [{"name": "ops", "ssh_public_keys": [_key(), "ssh-rsa x"]},
                                    {"name": "gone", "state": "absent", "ssh_public_keys": ["junk"]}]})
    assert errors == ["host 'h1': base_admin_users[0] (ops).ssh_public_keys[1]='ssh-rsa x': "
                      "not an OpenSSH public key: key data is not base64"]


GROUPS = {"all": ["a1", "a2", "b1", "bk"], "dc1": ["a1", "a2", "bk"], "dc2": ["b1"], "backup_servers": []}


def _pg(role="standby", **extra):
    return dict({"postgresql_role": role, "postgresql_replication_password_set": True}, **extra)


def test_postgresql_topology():
    ok = {"a1": _pg("primary"), "a2": _pg(postgresql_synchronous=True), "b1": _pg()}
    assert postgresql_errors(["a1", "a2", "b1"], ok, GROUPS) == []
    assert postgresql_errors([], {}, GROUPS) == []
    bad = {"a1": _pg("primary"), "a2": _pg("primary"),
           "b1": _pg("replica", postgresql_synchronous=True, postgresql_replication_password_set=False)}
    errors = postgresql_errors(["a1", "a2", "b1"], bad, GROUPS)
    assert "host 'b1': postgresql_role='replica': must be primary or standby" in errors
    assert any(e.startswith("host 'b1': postgresql_synchronous=True but the host is not in site dc1") for e in errors)
    assert "host 'b1': postgresql_replication_password is undefined or empty" in errors
    assert any(e.startswith("hosts 'a1', 'a2': postgresql_role='primary' on 2 hosts") for e in errors)
    none = postgresql_errors(["a1"], {"a1": _pg()}, GROUPS)
    assert none and "exactly one host" in none[0]
    backup = postgresql_errors(["a1"], {"a1": _pg("primary", postgresql_backup_enabled=True)}, GROUPS)
    assert backup and "no backup host" in backup[0]
    repo = postgresql_errors(["a1"], {"a1": _pg("primary", postgresql_backup_enabled=True,
                                                postgresql_backup_repo_host="nope")}, GROUPS)
    assert repo and "postgresql_backup_repo_host='nope' names a host that is not in the inventory" in repo[0]


def test_platform_wide_settings_have_one_value():
    settings = {"a": {"platform_sites": ["dc1"]}, "b": {"platform_sites": ["dc1"]}, "c": {"platform_sites": ["x"]}}
    errors = consistency_errors(settings, ["platform_sites"])
    assert len(errors) == 1 and errors[0].startswith("host 'c': platform_sites=['x'] differs")
    assert consistency_errors({"a": {"platform_sites": 1}, "b": {}}, ["platform_sites"]) == []
