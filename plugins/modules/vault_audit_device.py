#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_audit_device
short_description: Enable a Vault audit device through the API
version_added: 0.2.0
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Enables an audit device (C(sys/audit/<path>)) of HashiCorp Vault, such as the platform's
    file audit log, or disables it. Audit devices cannot be changed in place; a device at the
    path with other settings makes the module fail rather than drop the audit trail.
  - OpenBao refuses API creation of audit devices by default; there the device is declared in the
    server configuration (role C(sovereign.datacenter.vault)) and this module is not needed.
extends_documentation_fragment:
  - sovereign.datacenter.vault
  - sovereign.datacenter.vault.attributes
options:
  path:
    description: Path of the device, such as C(file).
    type: str
    default: file
  device_type:
    description: Device type.
    type: str
    default: file
    choices: [file, syslog, socket]
  description:
    description: Human-readable description.
    type: str
    default: ""
  options:
    description: Device options (string values), such as C(file_path) and C(mode) for C(file).
    type: dict
    default: {}
  state:
    description: Whether the device is enabled. Disabling one loses the ability to match its HMACs.
    type: str
    default: present
    choices: [present, absent]
"""

EXAMPLES = r"""
- name: The platform's file audit log
  sovereign.datacenter.vault_audit_device:
    path: file
    options:
      file_path: /var/log/vault/audit.log
      mode: "0600"
"""

RETURN = r"""
path:
  description: The device path.
  returned: always
  type: str
"""

from ansible_collections.sovereign.datacenter.plugins.module_utils._vault import VaultModule


def main():
    module = VaultModule(
        argument_spec=dict(
            path=dict(type="str", default="file"),
            device_type=dict(type="str", default="file", choices=["file", "syslog", "socket"]),
            description=dict(type="str", default=""),
            options=dict(type="dict", default={}),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    path = params["path"].strip("/")
    devices = module.read("sys/audit", what="list audit devices") or {}
    current = devices.get(path + "/")
    before = {key: current.get(key) for key in ("type", "description", "options")} if current else {}
    if params["state"] == "absent":
        if current:
            module.delete("sys/audit/" + path, what="disable audit device " + path)
        module.finish(bool(current), before, {}, path=path)
    want = {"type": params["device_type"], "description": params["description"],
            "options": {key: str(value) for key, value in params["options"].items()}}
    if current:
        have_options = {key: str(value) for key, value in (current.get("options") or {}).items()}
        if current.get("type") != want["type"] or any(have_options.get(k) != v for k, v in want["options"].items()):
            module.fail_json(msg="audit device %s exists with type %s and options %s: Vault cannot change a device in "
                                 "place; disable it first (state=absent) or use another path"
                                 % (path, current.get("type"), sorted(have_options)))
        module.finish(False, before, before, path=path)
    module.write("sys/audit/" + path, want, what="enable audit device " + path)
    module.finish(True, {}, want, path=path)


if __name__ == "__main__":
    main()
