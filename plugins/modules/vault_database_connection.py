#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_database_connection
short_description: Manage a Vault database connection (PostgreSQL)
version_added: 0.2.0
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Keeps a connection of the database secrets engine (C(<mount>/config/<name>)), that is its plugin,
    connection URL, the management user, the roles allowed to use it.
  - Vault never returns the connection's password, so the module cannot compare it. With
    O(update_password=on_create) (the default) it is sent only when the connection is created;
    Vault keeps the stored password when other settings change (it merges the connection details),
    so a password Vault has rotated itself (C(rotate-root)) is never overwritten. With C(always) it
    is sent, and reported as a change, on every run.
extends_documentation_fragment:
  - sovereign.datacenter.vault
options:
  mount_point:
    description: Mount path of the database engine.
    type: str
    default: database
  name:
    description: Connection name.
    type: str
    required: true
  plugin_name:
    description: Database plugin.
    type: str
    default: postgresql-database-plugin
  connection_url:
    description:
      - Connection string with C({{username}}) and C({{password}}) placeholders that Vault fills in,
        such as C(postgresql://{{username}}:{{password}}@pg1.internal:5432/postgres?sslmode=verify-full).
        Required with O(state=present).
    type: str
  username:
    description: Management user Vault connects as (creates and drops the dynamic users). Required with O(state=present).
    type: str
  password:
    description: Password of O(username).
    type: str
  update_password:
    description: When to send O(password) (see the description).
    type: str
    default: on_create
    choices: [on_create, always]
  allowed_roles:
    description: Database roles (M(sovereign.datacenter.vault_database_role)) that may use this connection.
    type: list
    elements: str
  verify_connection:
    description: Let Vault connect once to check the settings before saving them.
    type: bool
    default: true
  max_open_connections:
    description: Connection pool size.
    type: int
  password_policy:
    description: Vault password policy for generated passwords.
    type: str
  state:
    description: Whether the connection exists.
    type: str
    default: present
    choices: [present, absent]
attributes:
  check_mode:
    support: full
    description: Reads the current state and reports what would change without writing.
  diff_mode:
    support: full
    description: The password is shown only as a placeholder.
"""

EXAMPLES = r"""
- name: PostgreSQL primary of DC1
  sovereign.datacenter.vault_database_connection:
    name: pg-dc1
    connection_url: "postgresql://{{ '{{' }}username{{ '}}' }}:{{ '{{' }}password{{ '}}' }}@pg1.internal:5432/postgres?sslmode=verify-full"
    username: vault
    password: "{{ lookup('sovereign.datacenter.secret', 'postgresql/vault') }}"
    allowed_roles: [billing-rw, billing-ro]
  no_log: true
"""

RETURN = r"""
settings:
  description: The connection's settings without the password.
  returned: state=present
  type: dict
"""

from ansible_collections.sovereign.datacenter.plugins.module_utils._vault import (
    REDACTED, VaultModule, changed_fields)


def main():
    module = VaultModule(
        argument_spec=dict(
            mount_point=dict(type="str", default="database"),
            name=dict(type="str", required=True),
            plugin_name=dict(type="str", default="postgresql-database-plugin"),
            connection_url=dict(type="str"),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            update_password=dict(type="str", default="on_create", choices=["on_create", "always"], no_log=False),
            allowed_roles=dict(type="list", elements="str"),
            verify_connection=dict(type="bool", default=True),
            max_open_connections=dict(type="int"),
            password_policy=dict(type="str", no_log=False),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        required_if=[("state", "present", ("connection_url", "username"))],
        supports_check_mode=True,
    )
    params = module.params
    path = "%s/config/%s" % (params["mount_point"].strip("/"), params["name"])
    label = "database connection " + params["name"]
    current = module.read(path, what="read " + label)
    flat = None
    if current is not None:
        flat = dict(current.get("connection_details") or {}, plugin_name=current.get("plugin_name"),
                    allowed_roles=current.get("allowed_roles"), password_policy=current.get("password_policy"))
    if params["state"] == "absent":
        if current is not None:
            module.delete(path, what="delete " + label)
        module.finish(current is not None, flat or {}, {})
    if current is None and not params["password"]:
        module.fail_json(msg="%s: password is required to create the connection" % label)
    desired = {key: params[key] for key in ("plugin_name", "connection_url", "username", "allowed_roles",
                                            "max_open_connections", "password_policy")}
    changes = changed_fields(desired, flat or {})
    send_password = params["password"] is not None and (current is None or params["update_password"] == "always")
    changed = current is None or bool(changes) or send_password
    payload = {key: value for key, value in desired.items() if value is not None}
    payload["verify_connection"] = params["verify_connection"]
    if send_password:
        payload["password"] = params["password"]
    if changed:
        module.write(path, payload, what="write " + label)
    view = ("plugin_name", "connection_url", "username", "allowed_roles", "max_open_connections")
    before = {key: flat.get(key) for key in view} if flat else {}
    after = {key: payload.get(key, (flat or {}).get(key)) for key in view}
    if send_password:
        before["password"] = REDACTED if flat else None
        after["password"] = REDACTED + " (sent)"
    module.finish(changed, before, after, settings={key: value for key, value in after.items() if key != "password"})


if __name__ == "__main__":
    main()
