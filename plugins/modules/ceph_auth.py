#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ceph_auth
short_description: Manage a cephx entity (its key and capabilities) in a Ceph cluster
version_added: "0.3.0"
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Makes the monitors' auth database hold O(entity) with exactly O(key) and O(caps), or removes it.
  - Reads the entity first (C(ceph auth get -f json)) and writes only when it differs, with C(ceph auth import), which
    creates the entity or replaces its key and capabilities in one step. The key travels on standard input, never
    in the command line.
  - Runs on a host with the C(ceph) command, the cluster's configuration and a keyring allowed to manage auth
    (C(client.admin) by default).
options:
  entity:
    description: The entity, such as C(mgr.ceph1), C(client.rgw.ceph1) or C(client.bootstrap-osd).
    type: str
    required: true
  key:
    description: The cephx key (base64, as C(ceph-authtool --gen-print-key) prints it). Required with O(state=present).
    type: str
  caps:
    description: Capabilities by daemon type (C(mon), C(osd), C(mgr), C(mds)), each a capability string.
    type: dict
    default: {}
  state:
    description: Whether the entity exists.
    type: str
    choices: [present, absent]
    default: present
  cluster_conf:
    description: The cluster's configuration file.
    type: path
    default: /etc/ceph/ceph.conf
  timeout:
    description: Seconds each C(ceph) command may take (the monitors must have quorum).
    type: int
    default: 30
attributes:
  check_mode:
    support: full
    description: Reads the entity and predicts the change; writes nothing.
  diff_mode:
    support: full
    description: Shows the capabilities before and after; the key is shown as changed or unchanged, never in clear.
notes:
  - Mark tasks that pass O(key) with C(no_log); the module never returns the key.
"""

EXAMPLES = r"""
- name: The manager's key and capabilities
  sovereign.datacenter.ceph_auth:
    entity: mgr.ceph1
    key: "{{ mgr_key }}"
    caps:
      mon: allow profile mgr
      osd: allow *
  no_log: true
"""

RETURN = r"""
entity:
  description: The entity.
  returned: always
  type: str
  sample: mgr.ceph1
existed:
  description: Whether the entity existed before.
  returned: always
  type: bool
key_changed:
  description: Whether the key was (or would be) replaced.
  returned: always
  type: bool
caps:
  description: The capabilities after the run (or the prediction in check mode).
  returned: always
  type: dict
  sample: {mon: allow profile mgr, osd: allow *}
"""

import json

from ansible.module_utils.basic import AnsibleModule


def _keyring(entity, key, caps):
    lines = ["[%s]" % entity, "\tkey = %s" % key]
    for daemon in sorted(caps):
        lines.append('\tcaps %s = "%s"' % (daemon, caps[daemon]))
    return "\n".join(lines) + "\n"


def _current(module, base, entity):
    rc, out, err = module.run_command(base + ["auth", "get", entity, "--format", "json"])
    if rc == 2 or (rc != 0 and "ENOENT" in (err or "")) or (rc != 0 and "failed to find" in (err or "")):
        return None
    if rc != 0:
        module.fail_json(msg="ceph auth get %s failed (rc %d): %s" % (entity, rc, (err or out).strip()))
    try:
        data = json.loads(out)
    except ValueError:
        module.fail_json(msg="ceph auth get %s: unreadable answer" % entity)
    item = data[0] if isinstance(data, list) and data else data
    return {"key": item.get("key"), "caps": dict(item.get("caps") or {})}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            entity=dict(type="str", required=True),
            key=dict(type="str", no_log=True),
            caps=dict(type="dict", default={}),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            cluster_conf=dict(type="path", default="/etc/ceph/ceph.conf"),
            timeout=dict(type="int", default=30),
        ),
        required_if=[("state", "present", ["key"])],
        supports_check_mode=True,
    )
    entity = module.params["entity"]
    caps = {str(k): str(v) for k, v in (module.params["caps"] or {}).items()}
    ceph = module.get_bin_path("ceph", required=True)
    base = [ceph, "--conf", module.params["cluster_conf"], "--connect-timeout", str(module.params["timeout"])]
    before = _current(module, base, entity)
    result = dict(changed=False, entity=entity, existed=before is not None, key_changed=False, caps=caps)

    if module.params["state"] == "absent":
        result["caps"] = {}
        if before is not None:
            result["changed"] = True
            if module._diff:
                result["diff"] = dict(before=json.dumps(before["caps"], indent=2, sort_keys=True) + "\n", after="")
            if not module.check_mode:
                rc, out, err = module.run_command(base + ["auth", "del", entity])
                if rc != 0:
                    module.fail_json(msg="ceph auth del %s failed: %s" % (entity, (err or out).strip()), **result)
        module.exit_json(**result)

    key = module.params["key"].strip()
    key_changed = before is None or before["key"] != key
    caps_changed = before is None or before["caps"] != caps
    result["key_changed"] = key_changed
    if key_changed or caps_changed:
        result["changed"] = True
        if module._diff:
            result["diff"] = dict(
                before="" if before is None else json.dumps(
                    dict(caps=before["caps"], key="(current)"), indent=2, sort_keys=True) + "\n",
                after=json.dumps(dict(caps=caps, key="(replaced)" if key_changed else "(current)"),
                                 indent=2, sort_keys=True) + "\n")
        if not module.check_mode:
            rc, out, err = module.run_command(base + ["auth", "import", "-i", "-"], data=_keyring(entity, key, caps),
                                              binary_data=True)
            if rc != 0:
                module.fail_json(msg="ceph auth import %s failed: %s" % (entity, (err or out).strip()), **result)
            after = _current(module, base, entity)
            if after is None or after["key"] != key or after["caps"] != caps:
                module.fail_json(msg="ceph auth import %s: the cluster does not hold the requested key and caps" % entity,
                                 **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
