#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_kv2_secret
short_description: Write a KV version 2 secret with check-and-set
version_added: 0.2.0
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Keeps a secret of a KV version 2 engine (C(<mount>/data/<path>)) equal to O(data), and its
    metadata (O(max_versions), O(cas_required)) as given; or deletes the secret with all its versions.
  - Reads the current version first and writes a new version only when the data differ. Every write
    is check-and-set against the version it read (or O(cas) when given), so a concurrent writer makes
    the module fail with C(error_class=cas_conflict) instead of being overwritten.
  - The diff and the result name the keys that change, never their values.
extends_documentation_fragment:
  - sovereign.datacenter.vault
options:
  mount_point:
    description: Mount path of the KV version 2 engine.
    type: str
    default: secret
  path:
    description: Secret path inside the mount, such as C(billing/database).
    type: str
    required: true
  data:
    description: The whole secret (keys and string values). Required with O(state=present).
    type: dict
  cas:
    description:
      - Expected current version for the write (C(0) means "must not exist yet"). Unset, the
        version read by the module is used.
    type: int
  max_versions:
    description: Versions Vault keeps for this secret (C(0) is the mount's setting).
    type: int
  cas_required:
    description: Make every writer of this secret use check-and-set.
    type: bool
  state:
    description: C(present) writes; C(absent) deletes the secret and B(every version) (its metadata).
    type: str
    default: present
    choices: [present, absent]
attributes:
  check_mode:
    support: full
    description: Reads the current state and reports what would change without writing.
  diff_mode:
    support: full
    description: Key names and versions only; values are never shown.
"""

EXAMPLES = r"""
- name: Billing's database settings
  sovereign.datacenter.vault_kv2_secret:
    path: billing/config
    data:
      api_key: "{{ lookup('sovereign.datacenter.secret', 'billing/api_key') }}"
    max_versions: 10
    cas_required: true
  no_log: true
"""

RETURN = r"""
version:
  description: Current version of the secret after the run (0 when it does not exist).
  returned: always
  type: int
  sample: 3
previous_version:
  description: Version read before the run (0 when it did not exist).
  returned: always
  type: int
changed_keys:
  description: Keys added, removed or whose value changed.
  returned: state=present
  type: list
  elements: str
"""

from ansible_collections.sovereign.datacenter.plugins.module_utils._vault import REDACTED, VaultModule


def _view(version, data):
    return {"version": version, "data": {key: REDACTED for key in sorted(data or {})}} if version else {}


def main():
    module = VaultModule(
        argument_spec=dict(
            mount_point=dict(type="str", default="secret"),
            path=dict(type="str", required=True),
            data=dict(type="dict", no_log=True),
            cas=dict(type="int"),
            max_versions=dict(type="int"),
            cas_required=dict(type="bool"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        required_if=[("state", "present", ("data",))],
        supports_check_mode=True,
    )
    params = module.params
    mount, path = params["mount_point"].strip("/"), params["path"].strip("/")
    label = "secret %s/%s" % (mount, path)
    metadata = module.read("%s/metadata/%s" % (mount, path), what="read metadata of " + label) or {}
    version = int(metadata.get("current_version") or 0)
    current = None
    if version:
        read = module.read("%s/data/%s" % (mount, path), what="read " + label)
        current = (read or {}).get("data")  # None: the current version is deleted or destroyed
    if params["state"] == "absent":
        if metadata:
            module.delete("%s/metadata/%s" % (mount, path), what="delete " + label)
        module.finish(bool(metadata), _view(version, current), {}, version=0, previous_version=version)
    want = {key: str(value) for key, value in params["data"].items()}
    have = current or {}
    changed_keys = sorted(key for key in set(want) | set(have) if want.get(key) != have.get(key))
    meta_want = {k: params[k] for k in ("max_versions", "cas_required") if params[k] is not None}
    meta_changed = {k: v for k, v in meta_want.items() if metadata.get(k) != v}
    new_version = version
    if changed_keys or current is None:
        cas = version if params["cas"] is None else params["cas"]
        if params["cas"] is not None and params["cas"] != version:
            module.fail_json(msg="%s: check-and-set expected version %d, the current version is %d"
                                 % (label, params["cas"], version), error_class="cas_conflict",
                             version=version, previous_version=version)
        response = module.write("%s/data/%s" % (mount, path), {"options": {"cas": cas}, "data": want},
                                what="write " + label)
        new_version = int(((response or {}).get("data") or {}).get("version") or version + 1)
    if meta_changed:
        module.write("%s/metadata/%s" % (mount, path), meta_changed, what="write metadata of " + label)
    changed = bool(changed_keys) or current is None or bool(meta_changed)
    before, after = _view(version, current), _view(new_version, want)
    if metadata:
        before.update({k: metadata.get(k) for k in meta_want})
    after.update(meta_want)
    module.finish(changed, before, after, version=new_version, previous_version=version,
                  changed_keys=changed_keys)


if __name__ == "__main__":
    main()
