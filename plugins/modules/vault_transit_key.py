#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_transit_key
short_description: Manage a Vault transit encryption key and its rotation period
version_added: 0.2.0
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Creates a named key of a transit engine (C(<mount>/keys/<name>)) and keeps its configuration
    (C(<mount>/keys/<name>/config)), that is its automatic rotation period, deletion protection.
  - The key type and derivation cannot change once a key exists; the module fails rather than
    pretending. Key material is never read or returned.
extends_documentation_fragment:
  - sovereign.datacenter.vault
  - sovereign.datacenter.vault.attributes
options:
  mount_point:
    description: Mount path of the transit engine.
    type: str
    default: transit
  name:
    description: Key name.
    type: str
    required: true
  key_type:
    description: Key type.
    type: str
    default: aes256-gcm96
    choices: [aes128-gcm96, aes256-gcm96, chacha20-poly1305, ed25519, ecdsa-p256, ecdsa-p384, ecdsa-p521,
              rsa-2048, rsa-3072, rsa-4096, hmac]
  derived:
    description: Key derivation (a context is then required on every operation).
    type: bool
    default: false
  auto_rotate_period:
    description: Rotate the key automatically this often (seconds or a duration; C(0) disables; Vault's minimum is 1 h).
    type: str
    default: 2160h
  deletion_allowed:
    description: Allow the key to be deleted.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Application encryption key, rotated every 90 days
  sovereign.datacenter.vault_transit_key:
    name: app-data
    auto_rotate_period: 90d
"""

RETURN = r"""
latest_version:
  description: Latest key version (0 in check mode for a new key).
  returned: always
  type: int
"""

from ansible_collections.sovereign.datacenter.plugins.module_utils._vault import VaultModule, changed_fields


def main():
    module = VaultModule(
        argument_spec=dict(
            mount_point=dict(type="str", default="transit"),
            name=dict(type="str", required=True),
            key_type=dict(type="str", default="aes256-gcm96",
                          choices=["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305", "ed25519", "ecdsa-p256",
                                   "ecdsa-p384", "ecdsa-p521", "rsa-2048", "rsa-3072", "rsa-4096", "hmac"]),
            derived=dict(type="bool", default=False),
            auto_rotate_period=dict(type="str", default="2160h"),
            deletion_allowed=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    period = module.durations("auto_rotate_period")["auto_rotate_period"]
    if 0 < period < 3600:
        module.fail_json(msg="auto_rotate_period=%r: Vault's minimum is 1h (or 0 to disable)" % params["auto_rotate_period"])
    path = "%s/keys/%s" % (params["mount_point"].strip("/"), params["name"])
    current = module.read(path, what="read transit key " + params["name"])
    config = {"auto_rotate_period": period, "deletion_allowed": params["deletion_allowed"]}
    view = ("type", "derived", "auto_rotate_period", "deletion_allowed", "latest_version")
    if current is None:
        module.write(path, {"type": params["key_type"], "derived": params["derived"], "auto_rotate_period": period},
                     what="create transit key " + params["name"])
        if params["deletion_allowed"]:
            module.write(path + "/config", {"deletion_allowed": True}, what="configure transit key " + params["name"])
        after = dict(config, type=params["key_type"], derived=params["derived"])
        module.finish(True, {}, after, latest_version=0 if module.check_mode else 1)
    for field, want in (("type", params["key_type"]), ("derived", params["derived"])):
        if current.get(field) != want:
            module.fail_json(msg="transit key %s has %s=%r, not %r: Vault cannot change it on an existing key; "
                                 "create a new key and rewrap the data" % (params["name"], field, current.get(field), want))
    changes = {key: config[key] for key in changed_fields(config, current)}
    if changes:
        module.write(path + "/config", changes, what="configure transit key " + params["name"])
    before = {key: current.get(key) for key in view}
    module.finish(bool(changes), before, dict(before, **changes), latest_version=current.get("latest_version", 0))


if __name__ == "__main__":
    main()
