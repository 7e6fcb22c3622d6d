#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_approle_role
short_description: Manage a Vault AppRole role with bounded credentials
version_added: 0.2.0
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Creates, updates or deletes a role of the AppRole auth method (C(auth/<mount>/role/<name>)) and
    returns its role ID.
  - Credentials are always bounded. O(secret_id_ttl) is required and must be more than 0 and at most
    O(secret_id_ttl_max); Vault's C(0), "secret IDs never expire", is refused. Token TTLs default to
    the platform's 1 h, at most 4 h (SPEC "Security tier").
  - Reads the role first and writes only the settings that differ.
extends_documentation_fragment:
  - sovereign.datacenter.vault
  - sovereign.datacenter.vault.attributes
options:
  name:
    description: Role name, usually the service name.
    type: str
    required: true
  mount_point:
    description: Mount path of the AppRole auth method.
    type: str
    default: approle
  token_policies:
    description: Policies of the tokens issued to the role.
    type: list
    elements: str
  token_ttl:
    description: TTL of issued tokens (seconds or a duration).
    type: str
    default: 1h
  token_max_ttl:
    description: Maximum TTL of issued tokens, renewals included.
    type: str
    default: 4h
  token_type:
    description: Type of issued tokens.
    type: str
    choices: [default, service, batch]
  token_bound_cidrs:
    description: Addresses the issued tokens may be used from.
    type: list
    elements: str
  secret_id_ttl:
    description:
      - Lifetime of each secret ID (seconds or a duration). Required with O(state=present); C(0)
        (never expire) is refused.
    type: str
  secret_id_ttl_max:
    description: Upper bound accepted for O(secret_id_ttl).
    type: str
    default: 720h
  secret_id_num_uses:
    description: Logins allowed per secret ID; C(0) is unlimited within its TTL.
    type: int
  secret_id_bound_cidrs:
    description: Addresses a secret ID may log in from.
    type: list
    elements: str
  state:
    description: Whether the role exists.
    type: str
    default: present
    choices: [present, absent]
"""

EXAMPLES = r"""
- name: AppRole of the billing service
  sovereign.datacenter.vault_approle_role:
    name: billing
    token_policies: [svc-billing]
    secret_id_ttl: 24h
    secret_id_num_uses: 1
    secret_id_bound_cidrs: [10.20.0.0/24]
  register: billing_role
"""

RETURN = r"""
role_id:
  description: The role ID (not a secret on its own; the secret ID is).
  returned: state=present and the role exists (not in check mode for a new role)
  type: str
settings:
  description: The role's settings as Vault reports them (TTLs in seconds).
  returned: state=present
  type: dict
"""

from ansible_collections.sovereign.datacenter.plugins.module_utils._vault import VaultModule, ensure_object


def main():
    module = VaultModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            mount_point=dict(type="str", default="approle"),
            token_policies=dict(type="list", elements="str", no_log=False),
            token_ttl=dict(type="str", default="1h", no_log=False),
            token_max_ttl=dict(type="str", default="4h", no_log=False),
            token_type=dict(type="str", choices=["default", "service", "batch"]),
            token_bound_cidrs=dict(type="list", elements="str", no_log=False),
            secret_id_ttl=dict(type="str", no_log=False),
            secret_id_ttl_max=dict(type="str", default="720h", no_log=False),
            secret_id_num_uses=dict(type="int", no_log=False),
            secret_id_bound_cidrs=dict(type="list", elements="str", no_log=False),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        required_if=[("state", "present", ("secret_id_ttl",))],
        supports_check_mode=True,
    )
    params = module.params
    ttls = module.durations("token_ttl", "token_max_ttl", "secret_id_ttl", "secret_id_ttl_max")
    if params["state"] == "present":
        if not ttls["secret_id_ttl"] or ttls["secret_id_ttl"] > ttls["secret_id_ttl_max"]:
            module.fail_json(msg="AppRole %s: secret_id_ttl=%r must be more than 0 and at most secret_id_ttl_max=%s: "
                                 "secret IDs that never expire are not accepted"
                                 % (params["name"], params["secret_id_ttl"], params["secret_id_ttl_max"]))
        if not 0 < ttls["token_ttl"] <= ttls["token_max_ttl"]:
            module.fail_json(msg="AppRole %s: token_ttl=%s must be more than 0 and at most token_max_ttl=%s"
                                 % (params["name"], params["token_ttl"], params["token_max_ttl"]))
    desired = {key: params[key] for key in ("token_policies", "token_type", "token_bound_cidrs", "secret_id_num_uses",
                                            "secret_id_bound_cidrs")}
    desired.update({key: ttls[key] for key in ("token_ttl", "token_max_ttl", "secret_id_ttl")})
    path = "auth/%s/role/%s" % (params["mount_point"].strip("/"), params["name"])
    changed, current, before, after = ensure_object(module, path, desired, params["state"],
                                                    what="AppRole " + params["name"])
    result = {}
    if params["state"] == "present":
        result["settings"] = after
        role_id = module.read(path + "/role-id", what="read role ID of " + params["name"]) \
            if current is not None or not module.check_mode else None
        if role_id:
            result["role_id"] = role_id["role_id"]
    module.finish(changed, before, after, **result)


if __name__ == "__main__":
    main()
