#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: preflight
short_description: Validate the whole platform on the controller before any host task
version_added: 0.2.0
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Runs on the controller only (action plugin); it never connects to a host. It reads C(hostvars) and C(groups),
    which hold the whole inventory even under C(--limit), and the collection's role files.
  - "Checks, all at once: the inventory model (one tier and one site per host, segments, addresses);
    platform-wide settings with one value on every host; the flow policy (C(platform_flows) and its layers,
    merged and validated as the firewall role compiles it, egress allowances included); the PostgreSQL topology
    (one primary, roles, synchronous standbys only in the synchronous site, replication password, backup host);
    every role's argument spec (entry point C(main)) against the role variables each host defines (types, choices,
    list elements, sub-option keys) and role-prefixed variables no role declares; the SSH public keys of
    C(base_admin_users)."
  - Values that call the C(sovereign.datacenter.secret) lookup are not evaluated (the lookup would create secrets);
    values that cannot be evaluated before facts are gathered are left to the roles, which keep their own checks.
  - Every message names the host, the variable and the value (secrets masked).
options:
  skip:
    description: Sections not to check.
    type: list
    elements: str
    choices: [inventory, platform, flows, postgresql, arguments, ssh_keys]
    default: []
  roles_dir:
    description: Directory of the roles whose argument specs are evaluated; defaults to the collection's C(roles/).
    type: path
extends_documentation_fragment:
  - sovereign.datacenter.read_only
attributes:
  action:
    support: full
    description: Implemented by an action plugin on the controller.
"""

EXAMPLES = r"""
- name: Preflight | the whole platform, on the controller
  sovereign.datacenter.preflight:
  run_once: true
"""

RETURN = r"""
problems:
  description: Every problem, prefixed with its section.
  returned: always
  type: list
  elements: str
sections:
  description: The problems per section (inventory, platform, flows, postgresql, arguments, ssh_keys).
  returned: always
  type: dict
hosts:
  description: Number of inventory hosts checked.
  returned: always
  type: int
not_evaluated:
  description: Per host, the variables that could not be evaluated on the controller (left to the roles).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    """The work is done by the action plugin; reaching a host is an error."""
    module = AnsibleModule(argument_spec={"skip": {"type": "list", "elements": "str", "default": [],
                                                   "choices": ["inventory", "platform", "flows", "postgresql",
                                                               "arguments", "ssh_keys"]},
                                          "roles_dir": {"type": "path"}},
                           supports_check_mode=True)
    module.fail_json(msg="sovereign.datacenter.preflight runs on the controller (action plugin); it was sent to a host")


if __name__ == "__main__":
    main()
