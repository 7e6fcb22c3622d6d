#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_approle_secret_id
short_description: Issue a response-wrapped AppRole secret ID
version_added: 0.2.0
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Generates a new secret ID for an AppRole role (C(auth/<mount>/role/<name>/secret-id)) and
    returns it B(response-wrapped) only (C(X-Vault-Wrap-TTL)); the caller gets a single-use wrapping
    token that the service unwraps itself (C(sys/wrapping/unwrap)). The secret ID never passes
    through Ansible's results, facts or logs.
  - Every run issues a new secret ID, so the module always reports a change; in check mode nothing
    is issued.
extends_documentation_fragment:
  - sovereign.datacenter.vault
options:
  role_name:
    description: AppRole role name.
    type: str
    required: true
  mount_point:
    description: Mount path of the AppRole auth method.
    type: str
    default: approle
  wrap_ttl:
    description: Lifetime of the wrapping token (seconds or a duration); at most 1 h.
    type: str
    default: 5m
  metadata:
    description: Metadata (string values) attached to the secret ID and to the tokens it logs in to.
    type: dict
  cidr_list:
    description: Addresses the secret ID may log in from (within the role's own bounds).
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    description: Reports a change and issues nothing.
  diff_mode:
    support: none
    description: No diff is returned.
notes:
  - Mark the task C(no_log) anyway, because the wrapping token can be unwrapped once, by whoever holds it first.
"""

EXAMPLES = r"""
- name: Wrapped secret ID for the billing service
  sovereign.datacenter.vault_approle_secret_id:
    role_name: billing
    wrap_ttl: 5m
    metadata: {host: "{{ inventory_hostname }}"}
  register: billing_secret
  no_log: true

- name: Hand the wrapping token to the service, which unwraps it at start-up
  ansible.builtin.copy:
    content: "{{ billing_secret.wrapping_token }}"
    dest: /etc/billing/vault-wrapped-secret-id
    owner: billing
    mode: "0400"
  no_log: true
"""

RETURN = r"""
wrapping_token:
  description: Single-use token that unwraps to the secret ID; empty in check mode.
  returned: always
  type: str
wrapping_accessor:
  description: Accessor of the wrapping token (to look it up or revoke it).
  returned: not in check mode
  type: str
wrap_ttl:
  description: Seconds the wrapping token is valid.
  returned: always
  type: int
creation_time:
  description: When Vault issued the wrapping token.
  returned: not in check mode
  type: str
"""

from ansible_collections.sovereign.datacenter.plugins.module_utils._vault import VaultModule


def main():
    module = VaultModule(
        argument_spec=dict(
            role_name=dict(type="str", required=True),
            mount_point=dict(type="str", default="approle"),
            wrap_ttl=dict(type="str", default="5m"),
            metadata=dict(type="dict"),
            cidr_list=dict(type="list", elements="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    wrap_ttl = module.durations("wrap_ttl")["wrap_ttl"]
    if not 0 < wrap_ttl <= 3600:
        module.fail_json(msg="wrap_ttl=%r: must be more than 0 and at most 1h" % params["wrap_ttl"])
    if module.check_mode:
        module.exit_json(changed=True, wrapping_token="", wrap_ttl=wrap_ttl)
    role = "%s/role/%s" % (params["mount_point"].strip("/"), params["role_name"])
    response = module.call("issue a secret ID for AppRole " + role, module.client.auth.approle.generate_secret_id,
                           params["role_name"], metadata=params["metadata"], cidr_list=params["cidr_list"],
                           mount_point=params["mount_point"].strip("/"), wrap_ttl="%ds" % wrap_ttl)
    wrap = (response or {}).get("wrap_info") if isinstance(response, dict) else None
    if not wrap or not wrap.get("token"):
        module.fail_json(msg="AppRole %s: Vault returned no wrapped response (role missing, or a proxy dropped "
                             "the X-Vault-Wrap-TTL header); refusing to handle an unwrapped secret ID" % role)
    module.exit_json(changed=True, wrapping_token=wrap["token"], wrapping_accessor=wrap.get("accessor", ""),
                     wrap_ttl=int(wrap.get("ttl") or wrap_ttl), creation_time=wrap.get("creation_time", ""))


if __name__ == "__main__":
    main()
