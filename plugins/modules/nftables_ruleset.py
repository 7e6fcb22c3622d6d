#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nftables_ruleset
short_description: Apply one host's whole nftables table atomically, with check, diff and a timed rollback
version_added: "0.1.0"
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Replaces one nftables table (for example C(inet sovereign)) with the content given, in one
    C(nft -f) transaction, after C(nft -c) accepted it. Other tables are never touched.
  - Reads first and changes only when needed. The run is C(changed) when the persisted file differs
    from O(content), or when the live table differs from what the last apply left (drift, for example
    a rule added by hand). The diff shows the exact rules that would change.
  - With O(rollback_timeout), a systemd timer is armed B(before) the new ruleset is loaded. It restores
    the previous table and file by itself after that many seconds, unless a later call with
    O(state=confirmed) (made once the controller has reconnected) disarms it. So a ruleset that cuts
    the controller off is undone within a bounded time.
  - One call carries the whole ruleset of the host.
options:
  content:
    description:
      - The complete nftables file. It must replace only O(table) (C(table ...), C(delete table ...), then the
        table definition), as the output of the P(sovereign.datacenter.nftables_render#filter) filter does.
      - Required with O(state=present).
    type: str
  path:
    description: Where the ruleset is persisted (included by C(/etc/nftables.conf) at boot).
    type: path
    default: /etc/nftables.d/sovereign.nft
  table:
    description: Name of the C(inet) table O(content) defines.
    type: str
    default: sovereign
  state:
    description:
      - C(present) checks and applies O(content).
      - C(absent) deletes the table and the persisted file.
      - C(confirmed) disarms a pending rollback (call it after the controller reconnected); it fails when the
        rollback already ran.
    type: str
    choices: [present, absent, confirmed]
    default: present
  nft_binary:
    description: Path of C(nft).
    type: path
    default: /usr/sbin/nft
extends_documentation_fragment:
  - sovereign.datacenter.firewall_apply
attributes:
  check_mode:
    support: full
    description: Can run in check mode and return the changed status prediction.
    details: C(nft -c) still validates the candidate in check mode; nothing is loaded or written.
  diff_mode:
    support: full
    description: Returns the rules that would be added and removed.
notes:
  - Needs C(CAP_NET_ADMIN) (root, or a container started with it).
requirements:
  - nftables (C(nft)) on the managed host
  - systemd on the managed host for O(rollback_timeout)
"""

EXAMPLES = r"""
- name: Apply the compiled ruleset; undo it after 120 s unless confirmed
  sovereign.datacenter.nftables_ruleset:
    content: "{{ rulesets[inventory_hostname] }}"
    rollback_timeout: 120
  register: applied

- name: Reconnect from the controller (a new connection, through the new rules)
  ansible.builtin.wait_for_connection:
    timeout: 60
  when: applied.rollback_armed

- name: Confirm, disarming the rollback
  sovereign.datacenter.nftables_ruleset:
    state: confirmed
  when: applied.rollback_armed
"""

RETURN = r"""
rollback_armed:
  description: Whether a rollback timer is waiting for confirmation.
  returned: always
  type: bool
rollback_unit:
  description: The systemd unit of the rollback timer.
  returned: always
  type: str
  sample: sovereign-firewall-rollback
drift:
  description: The live table differed from the last applied ruleset.
  returned: state=present
  type: bool
path:
  description: The persisted ruleset file.
  returned: always
  type: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.sovereign.datacenter.plugins.module_utils._firewall_apply import (
    ROLLBACK_UNIT, ApplyFailed, FirewallHost, argument_spec, read_text as _read, write_atomic as _write)


class Ruleset(FirewallHost):
    """The nftables adapter: one table, its persisted file and the listing the last apply left."""

    WHAT = "ruleset"
    RESTORED_AT_ONCE = "the previous ruleset was restored at once"

    def __init__(self, module):
        super(Ruleset, self).__init__(module)
        params = module.params
        self.nft = params["nft_binary"]
        self.table = params["table"]
        self.path = params["path"]
        self.applied_listing = os.path.join(self.state_dir, "applied.list")
        self.rollback_nft = os.path.join(self.state_dir, "rollback.nft")
        self.rollback_file = os.path.join(self.state_dir, "rollback.file")

    def live(self):
        """The live table as nft lists it, or None when it does not exist."""
        rc, out, err = self.run([self.nft, "list", "table", "inet", self.table], check_rc=False)
        if rc != 0:
            if "No such file or directory" in err or "does not exist" in err:
                return None
            self.module.fail_json(msg="cannot read the live ruleset: %s" % err.strip(), rc=rc)
        return out

    def check(self, content):
        directory = self.state_dir if os.path.isdir(self.state_dir) else None  # check mode on a fresh host
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".candidate-", suffix=".nft")
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        rc, out, err = self.run([self.nft, "-c", "-f", tmp], check_rc=False)
        if rc != 0:
            os.unlink(tmp)
            self.module.fail_json(msg="nft -c rejected the ruleset, nothing was applied: %s" % (err or out).strip(),
                                  rc=rc)
        return tmp

    def arm(self, previous_live, previous_file, timeout):
        header = "table inet %s\ndelete table inet %s\n" % (self.table, self.table)
        _write(self.rollback_nft, header + (previous_live or ""))
        if previous_file is None:
            restore_file = "rm -f '%s'" % self.path
        else:
            _write(self.rollback_file, previous_file)
            restore_file = "cp -f '%s' '%s'" % (self.rollback_file, self.path)
        restore = "%s -f '%s' && %s && rm -f '%s'" % (self.nft, self.rollback_nft, restore_file, self.applied_listing)
        self.arm_rollback([restore], timeout, "Restore the previous firewall ruleset",
                          ["Written by sovereign.datacenter.nftables_ruleset: restores the ruleset that was",
                           "live before the last unconfirmed change."])

    def load(self, candidate, content):
        rc, out, err = self.run([self.nft, "-f", candidate], check_rc=False)
        if rc != 0:
            raise ApplyFailed("%s -f failed: %s" % (self.nft, (err or out).strip()), rc)
        _write(self.path, content, mode=0o600)

    def record(self):
        _write(self.applied_listing, self.live() or "")


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            content=dict(type="str"),
            path=dict(type="path", default="/etc/nftables.d/sovereign.nft"),
            table=dict(type="str", default="sovereign"),
            state=dict(type="str", default="present", choices=["present", "absent", "confirmed"]),
            nft_binary=dict(type="path", default="/usr/sbin/nft"),
        ),
        required_if=[("state", "present", ["content"])],
        supports_check_mode=True,
    )
    params = module.params
    ruleset = Ruleset(module)
    result = dict(changed=False, rollback_armed=False, rollback_unit=ROLLBACK_UNIT, path=params["path"])

    if params["state"] == "confirmed":
        ruleset.confirm(result)

    if not os.path.exists(ruleset.nft):
        module.fail_json(msg="%s not found: install nftables first" % ruleset.nft)
    if not os.path.isdir(ruleset.state_dir) and not module.check_mode:
        os.makedirs(ruleset.state_dir, 0o700)

    live = ruleset.live()
    persisted = _read(params["path"])
    applied = _read(ruleset.applied_listing)
    drift = live is not None and applied is not None and live != applied

    if params["state"] == "absent":
        result["changed"] = live is not None or persisted is not None
        result["diff"] = dict(before=persisted or live or "", after="")
        if result["changed"] and not module.check_mode:
            if live is not None:
                ruleset.run([ruleset.nft, "delete", "table", "inet", ruleset.table])
            for path in (params["path"], ruleset.applied_listing):
                if os.path.exists(path):
                    os.unlink(path)
        module.exit_json(**result)

    content = params["content"]
    if not content.endswith("\n"):
        content += "\n"
    in_sync = persisted == content and live is not None and applied is not None and live == applied
    result["drift"] = drift or (live is None and persisted is not None)
    if drift:
        before = "# live table inet %s differs from the last applied ruleset:\n%s" % (ruleset.table, live)
    else:
        before = persisted if persisted is not None else (live or "")
    result["diff"] = dict(before=before, after=content, before_header="%s (live)" % params["path"],
                          after_header="%s (policy)" % params["path"])

    candidate = ruleset.check(content)  # validates in check mode too
    try:
        if in_sync:
            result.pop("diff")
            module.exit_json(**result)
        result["changed"] = True
        if module.check_mode:
            module.exit_json(**result)
        parent = os.path.dirname(params["path"])
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
        ruleset.apply(result, params["rollback_timeout"],
                      arm=lambda: ruleset.arm(live, persisted, params["rollback_timeout"]),
                      apply=lambda: ruleset.load(candidate, content),
                      record=ruleset.record)
    except Exception as exc:  # pragma: no cover - surfaced to the operator
        module.fail_json(msg="applying the ruleset failed: %s" % to_native(exc), **result)
    finally:
        if os.path.exists(candidate):
            os.unlink(candidate)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
