# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for Vault: ACL policy documents from structured rules, KV v2 paths from secret names."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.datacenter.plugins.module_utils._vault_policy import kv2_paths, policy_document


def vault_policy_document(rules):
    """HCL policy text from a list of {path, capabilities} (or a path -> capabilities dict)."""
    try:
        return policy_document(rules)
    except ValueError as err:
        raise AnsibleFilterError("vault_policy_document: %s" % err) from None


def vault_kv_paths(names, mount="secret"):
    """{name: {data: <mount>/data/<name>, metadata: <mount>/metadata/<name>}} for secret names."""
    try:
        return kv2_paths(names, mount)
    except ValueError as err:
        raise AnsibleFilterError("vault_kv_paths: %s" % err) from None


class FilterModule(object):
    """sovereign.datacenter Vault filters."""

    def filters(self):
        return {"vault_policy_document": vault_policy_document, "vault_kv_paths": vault_kv_paths}
