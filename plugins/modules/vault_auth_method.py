#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_auth_method
short_description: Enable and tune a Vault auth method
version_added: 0.2.0
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Enables an auth method (C(approle), C(cert), C(userpass), ...) at a path of Vault or OpenBao
    (C(sys/auth)), tunes its token TTLs, description and options, or disables it.
  - Reads C(sys/auth) first and writes only what differs; a second run reports no change.
  - Never changes the type of an existing auth mount (every role and identity under it would be
    lost); it fails instead.
extends_documentation_fragment:
  - sovereign.datacenter.vault
  - sovereign.datacenter.vault.attributes
options:
  path:
    description: Mount path under C(auth/), such as C(approle), without slashes around it.
    type: str
    required: true
  method_type:
    description: Auth method type, such as C(approle) or C(cert). Required with O(state=present).
    type: str
  description:
    description: Human-readable description of the mount.
    type: str
  default_lease_ttl:
    description: Default TTL of the tokens it issues (seconds, or a duration such as C(1h)).
    type: str
  max_lease_ttl:
    description: Maximum TTL of the tokens it issues (seconds, or a duration such as C(4h)).
    type: str
  options:
    description: Method options (most methods take none).
    type: dict
  state:
    description: C(present) enables and tunes; C(absent) disables the method and B(revokes every token it issued).
    type: str
    default: present
    choices: [present, absent]
"""

EXAMPLES = r"""
- name: AppRole for the services (token TTL 1 h, max 4 h)
  sovereign.datacenter.vault_auth_method:
    url: https://vault1.internal:8200
    ca_cert: /etc/ssl/sovereign/ca.crt
    token: "{{ vault_admin_token }}"
    path: approle
    method_type: approle
    default_lease_ttl: 1h
    max_lease_ttl: 4h
"""

RETURN = r"""
path:
  description: The mount path.
  returned: always
  type: str
  sample: approle
created:
  description: Whether the auth method was created by this run.
  returned: state=present
  type: bool
tuned:
  description: Settings changed on an existing auth method.
  returned: state=present and the mount existed
  type: list
  elements: str
  sample: [max_lease_ttl]
"""

from ansible_collections.sovereign.datacenter.plugins.module_utils._vault import run_mount_module


def main():
    run_mount_module("auth", "method_type")


if __name__ == "__main__":
    main()
