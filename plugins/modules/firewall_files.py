#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: firewall_files
short_description: Replace a firewall's configuration files as one checked change, with diff, drift detection and a timed rollback
version_added: "0.2.0"
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Applies the complete rendered configuration of a file-configured firewall (ufw rule files, firewalld zone
    and ipset XML) as one change. Used by the C(ufw) and C(firewalld) backends of the C(sovereign.datacenter.firewall) role.
  - Reads first and changes only when needed. The run is C(changed) when a file differs from its wanted content,
    when a file matching O(purge) is not wanted any more, or when the live firewall (the output of O(state_commands))
    differs from what the last apply left (drift, for example a rule added by hand). The diff shows every file
    that would change and, on drift, the live state.
  - Before anything is written, the candidate configuration is checked by the firewall's own checker
    (O(validate), run against a copy of O(validate_root) with the new files in place). Also in check mode.
  - With O(rollback_timeout), a systemd timer is armed B(before) the change. It restores the previous files and
    runs O(reload) again after that many seconds, unless a later call with O(state=confirmed) (made once the
    controller has reconnected) disarms it. When a O(reload) command fails, the previous files are restored and
    reloaded at once and the module fails.
options:
  files:
    description: The wanted files (absolute paths). Required with O(state=present).
    type: list
    elements: dict
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      content:
        description: Complete content.
        type: str
        required: true
      mode:
        description: File mode (octal string).
        type: str
        default: "0644"
  purge:
    description: Glob patterns; existing files that match and are not in O(files) are removed (for example stale ipsets).
    type: list
    elements: str
    default: []
  validate_root:
    description:
      - Configuration directory copied to a temporary directory for O(validate); files of O(files) below it are
        written into the copy, purged files removed from it.
    type: path
  validate:
    description: Checks of the candidate; C({root}) in an argument is replaced by the candidate copy of O(validate_root).
    type: list
    elements: dict
    default: []
    suboptions:
      argv:
        description: Command and arguments.
        type: list
        elements: str
        required: true
      fail_regex:
        description: The check also fails when its output matches this regular expression (for checkers that warn with status 0).
        type: str
  reload:
    description: Commands (argv lists) that make the firewall load the written files, run in order.
    type: list
    elements: list
    default: []
  reload_in_place:
    description:
      - Load a change into the running firewall without restarting it. Used instead of O(reload) when every
        changed file is one of O(reload_in_place.files), no file is purged, the live firewall shows no drift,
        and every O(reload_in_place.running) command succeeds; otherwise O(reload) runs.
      - For ufw, C(iptables-restore --noflush) of its user rule files replaces ufw's user chains in one
        transaction per address family, where C(ufw reload) (ufw's stop and start) leaves the host unfiltered
        for the moment between the two.
    type: dict
    suboptions:
      files:
        description: The files a change of which the commands load.
        type: list
        elements: path
        required: true
      running:
        description: Commands (argv lists) that succeed only while the firewall runs with what the commands replace.
        type: list
        elements: list
        default: []
      commands:
        description: Commands (argv lists) that load the changed files into the running firewall, in order.
        type: list
        elements: list
        required: true
  state_commands:
    description:
      - Commands (argv lists) whose output describes the live firewall. Recorded after each apply; a different
        output on a later run is drift and makes the module apply (reload) again.
    type: list
    elements: list
    default: []
  name:
    description: Name of this configuration (the state file under O(state_dir) is named after it).
    type: str
    default: firewall
  state:
    description:
      - C(present) checks and applies O(files).
      - C(confirmed) disarms a pending rollback (call it after the controller reconnected); it fails when the
        rollback already ran.
    type: str
    choices: [present, confirmed]
    default: present
extends_documentation_fragment:
  - sovereign.datacenter.firewall_apply
attributes:
  check_mode:
    support: full
    description: Can run in check mode and return the changed status prediction.
    details:
      - O(validate) still checks the candidate in check mode; nothing is written or reloaded.
      - When the firewall is not installed yet (check mode on a fresh host), validation is skipped with a warning.
  diff_mode:
    support: full
    description: Returns one diff per changed file, and the live state on drift.
notes:
  - The rollback timer shares its unit name with P(sovereign.datacenter.nftables_ruleset#module), so one
    O(state=confirmed) call of either module disarms it.
requirements:
  - systemd on the managed host for O(rollback_timeout)
"""

EXAMPLES = r"""
- name: ufw rule files, checked with iptables-restore --test, loaded with ufw reload
  sovereign.datacenter.firewall_files:
    name: ufw
    files:
      - {path: /etc/ufw/user.rules, content: "{{ rules['user.rules'] }}", mode: "0640"}
      - {path: /etc/ufw/user6.rules, content: "{{ rules['user6.rules'] }}", mode: "0640"}
    validate_root: /etc/ufw
    validate:
      - argv: [iptables-restore, --test, "{root}/user.rules"]
      - argv: [ip6tables-restore, --test, "{root}/user6.rules"]
    reload: [[ufw, reload]]
    # a change of the rule files only: replace ufw's user chains atomically, no unfiltered moment
    reload_in_place:
      files: [/etc/ufw/user.rules, /etc/ufw/user6.rules]
      running: [[iptables, -n, -L, ufw-user-input], [ip6tables, -n, -L, ufw6-user-input]]
      commands: [[iptables-restore, --noflush, /etc/ufw/user.rules], [ip6tables-restore, --noflush, /etc/ufw/user6.rules]]
    state_commands: [[iptables, -S, ufw-user-input], [ip6tables, -S, ufw6-user-input]]
    rollback_timeout: 120
  register: applied

- name: Confirm once the controller reconnected
  sovereign.datacenter.firewall_files:
    state: confirmed
  when: applied.rollback_armed
"""

RETURN = r"""
changed_files:
  description: Files written (or, in check mode, that would be written).
  returned: state=present
  type: list
  elements: str
removed_files:
  description: Files removed by O(purge) (or that would be).
  returned: state=present
  type: list
  elements: str
reloaded_in_place:
  description: The change was loaded with O(reload_in_place.commands), not O(reload).
  returned: state=present
  type: bool
drift:
  description: The live firewall differed from what the last apply left.
  returned: state=present
  type: bool
rollback_armed:
  description: Whether a rollback timer is waiting for confirmation.
  returned: always
  type: bool
rollback_unit:
  description: The systemd unit of the rollback timer.
  returned: always
  type: str
  sample: sovereign-firewall-rollback
rolled_back:
  description: A O(reload) command failed and the previous configuration was restored at once (with O(rollback_timeout)).
  returned: when a reload failed
  type: bool
"""

import glob
import os
import re
import shlex
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.sovereign.datacenter.plugins.module_utils._firewall_apply import (
    ROLLBACK_UNIT, ApplyFailed, FirewallHost, argument_spec, read_text as _read, write_atomic as _write)


class Files(FirewallHost):
    """The adapter of file-configured firewalls (ufw, firewalld): files, checker, reload commands."""

    def __init__(self, module):
        super(Files, self).__init__(module)
        self.params = module.params
        self.state_file = os.path.join(self.state_dir, "%s.state" % self.params["name"])
        self.rollback_dir = os.path.join(self.state_dir, "rollback-files")

    def live_state(self):
        """The output of state_commands; a missing command is part of the state, not an error."""
        parts = []
        for argv in self.params["state_commands"]:
            argv = [to_native(a) for a in argv]
            if not self.module.get_bin_path(argv[0]) and not os.path.exists(argv[0]):
                parts.append("$ %s\n(not installed)\n" % " ".join(argv))
                continue
            rc, out, err = self.run(argv, check_rc=False)
            parts.append("$ %s\n%s%s" % (" ".join(argv), out, "" if rc == 0 else "(exit %d) %s" % (rc, err)))
        return "".join(parts)

    def validate(self, wanted, removed):
        root = self.params["validate_root"]
        checks = self.params["validate"]
        if not checks:
            return
        missing = [c["argv"][0] for c in checks if not self.module.get_bin_path(c["argv"][0])
                   and not os.path.exists(c["argv"][0])]
        if missing:
            if self.module.check_mode:
                self.module.warn("not validated: %s not installed yet (check mode)" % ", ".join(missing))
                return
            self.module.fail_json(msg="cannot validate the candidate: %s not installed" % ", ".join(missing))
        tmp = tempfile.mkdtemp(prefix="sovereign-firewall-candidate-")
        try:
            candidate = os.path.join(tmp, "root")
            if root and os.path.isdir(root):
                shutil.copytree(root, candidate, symlinks=True)
            else:
                os.makedirs(candidate)
            prefix = (root or "").rstrip("/") + "/"
            for path, (content, mode) in wanted.items():
                if root and path.startswith(prefix):
                    _write(os.path.join(candidate, path[len(prefix):]), content, mode)
            for path in removed:
                if root and path.startswith(prefix) and os.path.exists(os.path.join(candidate, path[len(prefix):])):
                    os.unlink(os.path.join(candidate, path[len(prefix):]))
            for check in checks:
                argv = [to_native(a).replace("{root}", candidate) for a in check["argv"]]
                rc, out, err = self.run(argv, check_rc=False)
                output = (out + err).replace(candidate, root or candidate)
                bad = check.get("fail_regex") and re.search(check["fail_regex"], out + err)
                if rc != 0 or bad:
                    self.module.fail_json(msg="the firewall's checker rejected the candidate, nothing was changed: "
                                              "%s: %s" % (" ".join(check["argv"]), output.strip()), rc=rc)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # ---------------------------------------------------------------- rollback timer
    def arm(self, previous, timeout):
        """previous: {path: old content or None}; restores them and reloads after ``timeout`` seconds."""
        if os.path.isdir(self.rollback_dir):
            shutil.rmtree(self.rollback_dir)
        os.makedirs(self.rollback_dir, 0o700)
        previous = dict(previous)
        previous[self.state_file] = _read(self.state_file)  # the live state recorded with the old files
        lines = []
        for index, path in enumerate(sorted(previous)):
            old = previous[path]
            if old is None:
                lines.append("rm -f %s" % shlex.quote(path))
            else:
                saved = os.path.join(self.rollback_dir, "%03d" % index)
                mode = os.stat(path).st_mode & 0o7777
                _write(saved, old, mode)
                lines.append("cp -pf %s %s" % (shlex.quote(saved), shlex.quote(path)))
        lines += [" ".join(shlex.quote(to_native(a)) for a in argv) for argv in self.params["reload"]]
        self.arm_rollback(lines, timeout, "Restore the previous firewall configuration",
                          ["Written by sovereign.datacenter.firewall_files: restores the firewall configuration",
                           "that was in place before the last unconfirmed change, then reloads the firewall."])

    def in_place(self, changed_files, removed, drift):
        """The reload_in_place commands, when they can load this change; None otherwise."""
        spec = self.params["reload_in_place"]
        if not spec or not changed_files or removed or drift or not set(changed_files) <= set(spec["files"]):
            return None
        for argv in spec["running"]:
            if self.run([to_native(a) for a in argv], check_rc=False)[0] != 0:
                return None
        return spec["commands"]

    def write_and_reload(self, wanted, changed_files, removed, commands=None):
        for path in changed_files:
            _write(path, wanted[path][0], wanted[path][1])
        for path in removed:
            os.unlink(path)
        for argv in commands or self.params["reload"]:
            argv = [to_native(a) for a in argv]
            rc, out, err = self.run(argv, check_rc=False)
            if rc != 0:
                # the firewall refused what its checker accepted (firewalld's check-config misses, e.g., an
                # ipset a rule names)
                raise ApplyFailed("%s failed: %s" % (" ".join(argv), (err or out).strip()), rc)

    def record(self):
        _write(self.state_file, self.live_state(), 0o600)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            files=dict(type="list", elements="dict", options=dict(
                path=dict(type="path", required=True),
                content=dict(type="str", required=True),
                mode=dict(type="str", default="0644"),
            )),
            purge=dict(type="list", elements="str", default=[]),
            validate_root=dict(type="path"),
            validate=dict(type="list", elements="dict", default=[], options=dict(
                argv=dict(type="list", elements="str", required=True),
                fail_regex=dict(type="str"),
            )),
            reload=dict(type="list", elements="list", default=[]),
            reload_in_place=dict(type="dict", options=dict(
                files=dict(type="list", elements="path", required=True),
                running=dict(type="list", elements="list", default=[]),
                commands=dict(type="list", elements="list", required=True),
            )),
            state_commands=dict(type="list", elements="list", default=[]),
            name=dict(type="str", default="firewall"),
            state=dict(type="str", default="present", choices=["present", "confirmed"]),
        ),
        required_if=[("state", "present", ["files"])],
        supports_check_mode=True,
    )
    params = module.params
    files = Files(module)
    result = dict(changed=False, rollback_armed=False, rollback_unit=ROLLBACK_UNIT)

    if params["state"] == "confirmed":
        files.confirm(result)

    wanted = {}
    for item in params["files"]:
        path = item["path"]
        if not os.path.isabs(path):
            module.fail_json(msg="files: path %r must be absolute" % path)
        try:
            mode = int(item["mode"], 8)
        except ValueError:
            module.fail_json(msg="files: mode %r of %s is not an octal mode" % (item["mode"], path))
        content = item["content"]
        if not content.endswith("\n"):
            content += "\n"
        wanted[path] = (content, mode)
    removed = sorted(set(p for pattern in params["purge"] for p in glob.glob(pattern)
                         if os.path.isfile(p)) - set(wanted))

    current = dict((path, _read(path)) for path in wanted)
    changed_files = sorted(p for p in wanted if current[p] != wanted[p][0]
                           or (current[p] is not None and os.stat(p).st_mode & 0o7777 != wanted[p][1]))
    live = files.live_state()
    recorded = _read(files.state_file)
    drift = bool(params["state_commands"]) and recorded is not None and live != recorded
    unknown_live = bool(params["state_commands"]) and recorded is None  # never applied by this module
    result.update(changed_files=changed_files, removed_files=removed, drift=drift, reloaded_in_place=False)

    diffs = []
    for path in changed_files:
        diffs.append(dict(before_header=path, after_header="%s (policy)" % path,
                          before=current[path] or "", after=wanted[path][0]))
    for path in removed:
        diffs.append(dict(before_header=path, after_header="%s (removed)" % path, before=_read(path) or "", after=""))
    if drift:
        diffs.append(dict(before_header="live firewall (changed outside this module)",
                          after_header="live firewall after the last apply", before=live, after=recorded))

    files.validate(wanted, removed)  # also in check mode
    if not (changed_files or removed or drift or unknown_live):
        module.exit_json(**result)
    result["changed"] = True
    result["diff"] = diffs
    if module.check_mode:
        module.exit_json(**result)

    try:
        if not os.path.isdir(files.state_dir):
            os.makedirs(files.state_dir, 0o700)
        # the rollback keeps every file of the configuration, not only the changed ones: a failed reload
        # may rewrite the others (ufw rewrites user.rules and user6.rules in its own format)
        previous = dict((p, current[p]) for p in wanted)
        previous.update((p, _read(p)) for p in removed)
        commands = None if unknown_live else files.in_place(changed_files, removed, drift)
        result["reloaded_in_place"] = commands is not None
        files.apply(result, params["rollback_timeout"],
                    arm=lambda: files.arm(previous, params["rollback_timeout"]),
                    apply=lambda: files.write_and_reload(wanted, changed_files, removed, commands),
                    record=files.record)
    except Exception as exc:  # pragma: no cover - surfaced to the operator
        module.fail_json(msg="applying the firewall configuration failed: %s" % to_native(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
