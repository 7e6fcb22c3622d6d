#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: state_fingerprint
short_description: Tell whether a role's inputs and the host state it manages are those of its last verified run
version_added: "0.9.0"
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Computes one digest of what a role depends on and what it manages on a host, and compares it with the digest
    recorded after the role's last complete, verified run. A role uses it as a fast path. When nothing differs,
    the role's configuration tasks would all report C(ok), so the role may skip them and run only its final
    verification. When anything differs, the role runs in full and records the new digest at its end.
  - The digest covers O(inputs) (a digest the role computes on the controller from its variables and its own
    files), the content and metadata of every path in O(files), the metadata of every path in O(paths), and the
    exit status and standard output of every command in O(commands).
  - Nothing is returned but digests and the names of the items that differ. File contents and command outputs
    never leave the host.
  - With O(state=query) the module only reads, also in check mode. With O(state=record) it writes the record
    (directory C(0700), file C(0600), owner root), and in check mode reports what it would write.
options:
  path:
    description: The record, a JSON file of digests (for example C(/var/lib/sovereign/fingerprints/hardening.json)).
    type: path
    required: true
  state:
    description: C(query) compares with the record; C(record) writes the current digests as the record.
    type: str
    choices: [query, record]
    default: query
  inputs:
    description: The controller's side, usually C(<variables and role files> | to_json | hash('sha256')).
    type: str
    default: ""
  files:
    description: Paths whose content (SHA-256), type, mode, owner, group and link target are part of the digest. A missing path counts as such.
    type: list
    elements: path
    default: []
  paths:
    description: Paths whose type, mode, owner, group and link target (not content) are part of the digest.
    type: list
    elements: path
    default: []
  commands:
    description:
      - Read-only commands (argument lists, run without a shell, with C(LC_ALL=C)) whose exit status and standard
        output are part of the digest. A command that is not installed counts as such.
    type: list
    elements: list
    default: []
notes:
  - The record says only that the state was the same when the role last ran in full and verified it. It is a
    cache, not configuration. A role that records at its end typically reports that task with C(changed_when=false).
  - A fast path is as complete as the lists it is given. Every file, directory, service state and command output
    that a role's tasks read or write belongs in them.
attributes:
  check_mode:
    support: full
    description: Can run in check mode. O(state=query) reads as always; O(state=record) reports the change and writes nothing.
  diff_mode:
    support: full
    description: With O(state=record), the recorded digest before and after.
"""

EXAMPLES = r"""
- name: Fingerprint of the inputs and of the managed state
  sovereign.datacenter.state_fingerprint:
    path: /var/lib/sovereign/fingerprints/myrole.json
    inputs: "{{ {'vars': myrole_settings, 'role': lookup('sovereign.datacenter.tree_digest', role_path)} | to_json(sort_keys=true) | hash('sha256') }}"
    files: [/etc/myservice/myservice.conf]
    paths: [/etc/myservice]
    commands:
      - [systemctl, is-enabled, myservice]
      - [systemctl, is-active, myservice]
  register: __myrole_fingerprint

- name: Configure (only when something differs)
  ansible.builtin.include_tasks: configure.yml
  when: not __myrole_fingerprint.match

- name: Record the verified state
  sovereign.datacenter.state_fingerprint:
    path: /var/lib/sovereign/fingerprints/myrole.json
    state: record
    inputs: "{{ __myrole_inputs }}"
    files: [/etc/myservice/myservice.conf]
    paths: [/etc/myservice]
    commands:
      - [systemctl, is-enabled, myservice]
      - [systemctl, is-active, myservice]
  changed_when: false
  when: not __myrole_fingerprint.match
"""

RETURN = r"""
digest:
  description: The digest of the current inputs and state.
  returned: always
  type: str
  sample: 4b1c0a5e9d3f...
recorded:
  description: The digest in the record before this call; empty when there is none.
  returned: always
  type: str
match:
  description: Whether the current digest is the recorded one.
  returned: always
  type: bool
differs:
  description:
    - The items whose digest is not the recorded one (C(inputs), C(file:PATH), C(path:PATH), C(command:N ARGV0 ...)),
      and items present in only one of the two. Empty on a match; all items when there is no record.
  returned: always
  type: list
  elements: str
  sample: ["file:/etc/ssh/sshd_config", "command:1 systemctl is-active cron"]
"""

import hashlib
import json
import os
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def path_state(path, content):
    """A digest of a path's type, mode, owner, group, link target and, for a regular file, content."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return _sha256(b"absent")
    parts = ["%o" % stat.S_IFMT(st.st_mode), "%o" % stat.S_IMODE(st.st_mode), str(st.st_uid), str(st.st_gid)]
    if stat.S_ISLNK(st.st_mode):
        parts.append("->" + os.readlink(path))
    elif content and stat.S_ISREG(st.st_mode):
        h = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                h.update(block)
        parts.append(h.hexdigest())
    return _sha256("\0".join(parts).encode())


def command_label(index, argv):
    return "command:%d %s" % (index, " ".join(str(a) for a in argv)[:120])


def collect(module):
    """Every item's digest, by name."""
    items = {"inputs": _sha256(module.params["inputs"].encode())}
    for path in module.params["files"]:
        items["file:" + path] = path_state(path, content=True)
    for path in module.params["paths"]:
        items["path:" + path] = path_state(path, content=False)
    for index, argv in enumerate(module.params["commands"]):
        argv = [str(a) for a in argv]
        installed = os.path.exists(argv[0]) if os.path.isabs(argv[0]) else module.get_bin_path(argv[0]) is not None
        if installed:
            rc, out, dummy = module.run_command(argv, environ_update={"LC_ALL": "C"})
        else:
            rc, out = 127, "not installed"
        items[command_label(index, argv)] = _sha256(("%d\0%s" % (rc, out)).encode())
    return items


def overall(items):
    return _sha256(json.dumps(items, sort_keys=True).encode())


def read_record(path):
    try:
        with open(path, "rb") as handle:
            record = json.loads(handle.read().decode())
    except (OSError, IOError, ValueError):
        return {}
    return record if isinstance(record, dict) and isinstance(record.get("items"), dict) else {}


def write_record(path, record):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    fd, tmp = tempfile.mkstemp(prefix=".fingerprint.", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(record, sort_keys=True, indent=1) + "\n")
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", choices=["query", "record"], default="query"),
            inputs=dict(type="str", default="", no_log=False),
            files=dict(type="list", elements="path", default=[]),
            paths=dict(type="list", elements="path", default=[]),
            commands=dict(type="list", elements="list", default=[]),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    if not os.path.isabs(path):
        module.fail_json(msg="path must be absolute: %s" % path)
    for argv in module.params["commands"]:
        if not argv:
            module.fail_json(msg="a command is an empty argument list")

    items = collect(module)
    digest = overall(items)
    record = read_record(path)
    recorded = record.get("digest", "")
    old_items = record.get("items", {})
    differs = sorted(name for name in set(items) | set(old_items) if items.get(name) != old_items.get(name))
    match = bool(recorded) and recorded == digest
    result = dict(changed=False, digest=digest, recorded=recorded, match=match, differs=differs)

    if module.params["state"] == "record" and not match:
        result["changed"] = True
        if module._diff:
            result["diff"] = dict(before_header=path, after_header=path,
                                  before="digest: %s\n" % (recorded or "(none)"), after="digest: %s\n" % digest)
        if not module.check_mode:
            write_record(path, {"digest": digest, "items": items})
    result["msg"] = ("inputs and managed state as recorded after the last verified run" if match else
                     "no record yet" if not recorded else "%d item(s) differ from the record" % len(differs))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
