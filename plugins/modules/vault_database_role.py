#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_database_role
short_description: Manage a Vault database role (dynamic credentials)
version_added: 0.2.0
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Keeps a role of the database secrets engine (C(<mount>/roles/<name>)), that is the SQL that creates
    and revokes each dynamic user and the lease TTLs (platform defaults 1 h, at most 24 h).
  - Reads the role first and writes only when a setting differs.
extends_documentation_fragment:
  - sovereign.datacenter.vault
  - sovereign.datacenter.vault.attributes
options:
  mount_point:
    description: Mount path of the database engine.
    type: str
    default: database
  name:
    description: Role name (clients read C(<mount>/creds/<name>)).
    type: str
    required: true
  db_name:
    description: Name of the connection (M(sovereign.datacenter.vault_database_connection)). Required with O(state=present).
    type: str
  creation_statements:
    description:
      - SQL run to create a user; C({{name}}), C({{password}}) and C({{expiration}}) are filled in by
        Vault. Required with O(state=present).
    type: list
    elements: str
  revocation_statements:
    description: SQL run when the lease ends (terminate sessions, drop the user).
    type: list
    elements: str
  rollback_statements:
    description: SQL run if creation fails half-way.
    type: list
    elements: str
  renew_statements:
    description: SQL run when the lease is renewed.
    type: list
    elements: str
  default_ttl:
    description: Default lease TTL (seconds or a duration).
    type: str
    default: 1h
  max_ttl:
    description: Maximum lease TTL.
    type: str
    default: 24h
  state:
    description: Whether the role exists.
    type: str
    default: present
    choices: [present, absent]
"""

EXAMPLES = r"""
- name: Read-write role of the billing database
  sovereign.datacenter.vault_database_role:
    name: billing-rw
    db_name: pg-dc1
    creation_statements:
      - CREATE ROLE "{{ '{{' }}name{{ '}}' }}" LOGIN PASSWORD '{{ '{{' }}password{{ '}}' }}' VALID UNTIL '{{ '{{' }}expiration{{ '}}' }}' IN ROLE billing_rw;
    revocation_statements:
      - SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{ '{{' }}name{{ '}}' }}';
      - DROP ROLE IF EXISTS "{{ '{{' }}name{{ '}}' }}";
"""

RETURN = r"""
settings:
  description: The role as written (TTLs in seconds).
  returned: state=present
  type: dict
"""

from ansible_collections.sovereign.datacenter.plugins.module_utils._vault import VaultModule, ensure_object


def main():
    statements = dict(type="list", elements="str")
    module = VaultModule(
        argument_spec=dict(
            mount_point=dict(type="str", default="database"),
            name=dict(type="str", required=True),
            db_name=dict(type="str"),
            creation_statements=statements,
            revocation_statements=statements,
            rollback_statements=statements,
            renew_statements=statements,
            default_ttl=dict(type="str", default="1h"),
            max_ttl=dict(type="str", default="24h"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        required_if=[("state", "present", ("db_name", "creation_statements"))],
        supports_check_mode=True,
    )
    params = module.params
    ttls = module.durations("default_ttl", "max_ttl")
    if params["state"] == "present" and not 0 < ttls["default_ttl"] <= ttls["max_ttl"]:
        module.fail_json(msg="database role %s: default_ttl=%s must be more than 0 and at most max_ttl=%s"
                             % (params["name"], params["default_ttl"], params["max_ttl"]))
    desired = {key: params[key] for key in ("db_name", "creation_statements", "revocation_statements",
                                            "rollback_statements", "renew_statements")}
    desired.update(ttls)
    changed, unused, before, after = ensure_object(
        module, "%s/roles/%s" % (params["mount_point"].strip("/"), params["name"]), desired, params["state"],
        what="database role " + params["name"], ordered=[key for key in desired if key.endswith("_statements")])
    module.finish(changed, before, after, **({"settings": after} if params["state"] == "present" else {}))


if __name__ == "__main__":
    main()
