#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_secrets_engine
short_description: Mount and tune a Vault secrets engine
version_added: 0.2.0
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Enables a secrets engine (C(kv), C(pki), C(transit), C(database), ...) at a path of Vault or
    OpenBao (C(sys/mounts)), tunes its lease TTLs, description and options, or disables it.
  - Reads C(sys/mounts) first and writes only what differs; a second run reports no change.
  - Never changes the type of an existing mount (that would destroy its data); it fails instead.
extends_documentation_fragment:
  - sovereign.datacenter.vault
  - sovereign.datacenter.vault.attributes
options:
  path:
    description: Mount path, such as C(secret) or C(pki_int), without slashes around it.
    type: str
    required: true
  engine_type:
    description: Engine type, such as C(kv), C(pki), C(transit), C(database). Required with O(state=present).
    type: str
  description:
    description: Human-readable description of the mount.
    type: str
  default_lease_ttl:
    description: Default lease TTL (seconds, or a duration such as C(1h)).
    type: str
  max_lease_ttl:
    description: Maximum lease TTL (seconds, or a duration such as C(87600h)).
    type: str
  options:
    description: Engine options, such as C(version=2) for KV version 2.
    type: dict
  state:
    description: C(present) mounts and tunes; C(absent) disables the mount and B(destroys its data).
    type: str
    default: present
    choices: [present, absent]
"""

EXAMPLES = r"""
- name: KV version 2 at secret/
  sovereign.datacenter.vault_secrets_engine:
    url: https://vault1.internal:8200
    ca_cert: /etc/ssl/sovereign/ca.crt
    token: "{{ vault_admin_token }}"
    path: secret
    engine_type: kv
    options: {version: 2}

- name: Root PKI, 10 years
  sovereign.datacenter.vault_secrets_engine:
    path: pki
    engine_type: pki
    max_lease_ttl: 87600h
"""

RETURN = r"""
path:
  description: The mount path.
  returned: always
  type: str
  sample: secret
created:
  description: Whether the mount was created by this run.
  returned: state=present
  type: bool
tuned:
  description: Settings changed on an existing mount.
  returned: state=present and the mount existed
  type: list
  elements: str
  sample: [max_lease_ttl]
"""

from ansible_collections.sovereign.datacenter.plugins.module_utils._vault import run_mount_module


def main():
    run_mount_module("mounts", "engine_type")


if __name__ == "__main__":
    main()
