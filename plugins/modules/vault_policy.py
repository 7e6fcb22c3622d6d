#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_policy
short_description: Manage a Vault ACL policy
version_added: 0.2.0
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Creates, updates or deletes an ACL policy (C(sys/policies/acl/<name>)) of Vault or OpenBao.
  - The policy is given as HCL text (O(policy)) or as structured O(rules), rendered the same way as
    the filter P(sovereign.datacenter.vault_policy_document#filter).
  - Reads the policy first and writes only when its text differs.
extends_documentation_fragment:
  - sovereign.datacenter.vault
  - sovereign.datacenter.vault.attributes
options:
  name:
    description: Policy name.
    type: str
    required: true
  policy:
    description: Policy document (HCL). Mutually exclusive with O(rules).
    type: str
  rules:
    description: Structured rules, each a path and its capabilities. Mutually exclusive with O(policy).
    type: list
    elements: dict
    suboptions:
      path:
        description: Vault API path, C(*) and C(+) globs allowed.
        type: str
        required: true
      capabilities:
        description: Capabilities on the path.
        type: list
        elements: str
        required: true
        choices: [create, read, update, patch, delete, list, sudo, deny, subscribe]
  state:
    description: Whether the policy exists.
    type: str
    default: present
    choices: [present, absent]
"""

EXAMPLES = r"""
- name: The billing service reads its own secrets and nothing else
  sovereign.datacenter.vault_policy:
    name: svc-billing
    rules:
      - path: secret/data/billing/*
        capabilities: [read]
      - path: database/creds/billing
        capabilities: [read]
"""

RETURN = r"""
policy:
  description: The policy text now in force (empty after O(state=absent)).
  returned: always
  type: str
"""

from ansible_collections.sovereign.datacenter.plugins.module_utils._vault import VaultModule, ensure_object
from ansible_collections.sovereign.datacenter.plugins.module_utils._vault_policy import policy_document


def main():
    module = VaultModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            policy=dict(type="str"),
            rules=dict(type="list", elements="dict", options=dict(
                path=dict(type="str", required=True),
                capabilities=dict(type="list", elements="str", required=True,
                                  choices=["create", "read", "update", "patch", "delete", "list", "sudo", "deny",
                                           "subscribe"]))),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        mutually_exclusive=[("policy", "rules")],
        required_if=[("state", "present", ("policy", "rules"), True)],
        supports_check_mode=True,
    )
    params = module.params
    text = params["policy"]
    if params["rules"]:
        try:
            text = policy_document(params["rules"])
        except ValueError as err:
            module.fail_json(msg="policy %s: %s" % (params["name"], err))
    if params["name"] in ("root", "default") and params["state"] == "absent":
        module.fail_json(msg="policy %s is built into Vault and cannot be deleted" % params["name"])
    changed, unused, before, after = ensure_object(module, "sys/policies/acl/" + params["name"], {"policy": text},
                                                   params["state"], what="policy " + params["name"])
    module.finish(changed, before, after, policy=after.get("policy", ""))


if __name__ == "__main__":
    main()
