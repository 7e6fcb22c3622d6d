"""Filters vault_policy_document and vault_kv_paths (pure functions; the HCL is parsed back)."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.datacenter.plugins.filter.vault import vault_kv_paths, vault_policy_document

hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 (tests/requirements.txt) parses the policy back")


def _parse(text):
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    return {list(block)[0]: list(block.values())[0]["capabilities"]
            for block in hcl2.loads(text, serialization_options=options)["path"]}


def test_policy_document_merges_sorts_and_parses():
    text = vault_policy_document([
        {"path": "secret/data/b/*", "capabilities": ["read"]},
        {"path": "secret/data/a", "capabilities": ["update", "create"]},
        {"path": "secret/data/b/*", "capabilities": ["list"]},
    ])
    assert _parse(text) == {"secret/data/a": ["create", "update"], "secret/data/b/*": ["read", "list"]}
    assert text.index("secret/data/a") < text.index("secret/data/b/*")
    assert vault_policy_document({"secret/data/b/*": ["list", "read"], "secret/data/a": ["create", "update"]}) == text


def test_deny_wins_and_dict_form_takes_one_capability():
    assert _parse(vault_policy_document({"sys/*": "deny", "secret/+/x": ["read", "deny"]})) == \
        {"secret/+/x": ["deny"], "sys/*": ["deny"]}


@pytest.mark.parametrize("rules, message", [
    ([], "non-empty"),
    ([{"path": "a"}], "needs path and capabilities"),
    ([{"path": 'a" {', "capabilities": ["read"]}], "characters"),
    ([{"path": "a", "capabilities": ["reed"]}], "unknown capabilities reed"),
    ([{"path": "a", "capabilities": "read"}], "non-empty list"),
])
def test_bad_rules_are_refused_naming_the_rule(rules, message):
    with pytest.raises(AnsibleFilterError, match=message):
        vault_policy_document(rules)


def test_kv_paths():
    assert vault_kv_paths(["postgresql/replication", "x"], "kv/") == {
        "postgresql/replication": {"data": "kv/data/postgresql/replication",
                                   "metadata": "kv/metadata/postgresql/replication"},
        "x": {"data": "kv/data/x", "metadata": "kv/metadata/x"}}
    assert vault_kv_paths("a") == {"a": {"data": "secret/data/a", "metadata": "secret/metadata/a"}}
    with pytest.raises(AnsibleFilterError, match="invalid"):
        vault_kv_paths(["../etc"])
