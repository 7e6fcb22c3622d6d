#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_config
short_description: Manage a Redis or Sentinel configuration file that the server also rewrites
version_added: "0.2.0"
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Redis and Redis Sentinel rewrite their own configuration file at run time. A Sentinel failover
    sends C(REPLICAOF) and C(CONFIG REWRITE) to the members, and every Sentinel records the primary,
    the replicas, the other Sentinels and the epochs in C(sentinel.conf). A plain template would undo
    a failover on the next run, or report a change on every run.
  - This module compares the file B(by directive), not by text. It reads the file, parses each
    directive the way the server does (quotes, case of the directive name), and compares the
    directives the caller manages with O(lines). Directives in O(runtime_keys) belong to the server
    once the file exists. They are written from O(lines) only into a file that lacks them, and kept
    otherwise, at their place. Directives the server added itself are left alone until the file is
    written again.
  - The server's directives are kept only from a file this module wrote (it starts with O(header)). A file
    it did not write, such as the package's example configuration, is replaced as a whole on the first run.
  - When a managed directive differs, the whole file is written atomically, after O(validate) (a
    command the server itself runs on the candidate) accepted it.
  - Secret directives (passwords) go in O(secret_lines). They are compared like the others and
    masked in the diff.
options:
  path:
    description: The configuration file.
    type: path
    required: true
  lines:
    description:
      - The managed directives, one per item, in file order (C(tls-port 6379), C(sentinel monitor main 10.0.0.1 6379 2)).
      - A directive given several times (C(save), C(rename-command)) is compared as the list of its values.
    type: list
    elements: str
    required: true
  secret_lines:
    description: Directives that carry a secret (C(masterauth ...), C(sentinel auth-pass main ...)); written after O(lines).
    type: list
    elements: str
    default: []
  runtime_keys:
    description:
      - Directive keys that the server owns once the file exists, such as C(replicaof) or C(sentinel monitor main).
        A key is the directive name; for C(sentinel) directives it is C(sentinel <option>), followed by the
        primary's name for the per-primary options.
      - Shell-style wildcards match several keys (C(sentinel known-*)).
    type: list
    elements: str
    default: []
  header:
    description: Comment written at the top of the file (without C(#)).
    type: str
    default: Managed by sovereign.datacenter; the server rewrites the directives it owns at run time.
  validate:
    description: Command run on the candidate file before it replaces O(path); C(%s) is the candidate's path. It must exit 0.
    type: str
  owner:
    description: Owner of the file.
    type: str
  group:
    description: Group of the file.
    type: str
  mode:
    description: Mode of the file, as an octal string.
    type: str
    default: "0640"
attributes:
  check_mode:
    support: full
    description: Can run in check mode and return the changed status prediction.
    details: O(validate) still runs on the candidate in check mode; the file is not replaced.
  diff_mode:
    support: full
    description: Returns the file before and after, with the values of O(secret_lines) masked.
notes:
  - The comparison ignores comments, blank lines, the order of directives and the quoting of values.
  - C(user) directives (ACL users, as in C(sentinel.conf)) are compared by name, on/off and password hashes, and
    their rules through a fingerprint of the lines as given, which the module records in a comment (C(# users <digest>)),
    because Sentinel rewrites the rules in its own canonical form, so they cannot be compared as text.
requirements:
  - none on the managed host beyond Python
"""

EXAMPLES = r"""
- name: Redis server configuration; Sentinel owns replicaof after a failover
  sovereign.datacenter.redis_config:
    path: /etc/redis/redis.conf
    lines:
      - port 0
      - tls-port 6379
      - replicaof 10.210.10.11 6379
    secret_lines:
      - masterauth "{{ replica_password }}"
    runtime_keys: [replicaof]
    validate: /usr/local/sbin/redis-config-check %s
    owner: redis
    group: redis
  no_log: false
  notify: Restart redis

- name: Sentinel configuration; the Sentinels own the topology and epochs
  sovereign.datacenter.redis_config:
    path: /etc/redis/sentinel.conf
    lines:
      - tls-port 26379
      - sentinel monitor main 10.210.10.11 6379 2
      - sentinel down-after-milliseconds main 5000
    runtime_keys: ["sentinel monitor main", "sentinel known-* main", "sentinel *-epoch*", "sentinel myid"]
"""

RETURN = r"""
changed_keys:
  description: Managed directive keys whose values differ from the file (secret ones included, values never shown).
  returned: always
  type: list
  elements: str
  sample: [maxmemory, tls-protocols]
kept_keys:
  description: Runtime-owned directive keys taken from the existing file instead of O(lines).
  returned: always
  type: list
  elements: str
  sample: [replicaof]
"""

import fnmatch
import hashlib
import os
import re
import shlex
import tempfile

from ansible.module_utils.basic import AnsibleModule

# Sentinel options whose second argument is the monitored primary's name.
PER_PRIMARY = frozenset((
    "monitor", "down-after-milliseconds", "failover-timeout", "parallel-syncs", "auth-pass", "auth-user",
    "notification-script", "client-reconfig-script", "known-replica", "known-slave", "known-sentinel",
    "config-epoch", "leader-epoch", "rename-command", "master-reboot-down-after-period",
))
MASK = "********"
USERS_FP = re.compile(r"^# users ([0-9a-f]{16})$", re.M)
USERS_KEY = "user rules"


def fingerprint(lines):
    """Short digest of the C(user) lines as given (their rules, which Sentinel rewrites in another form)."""
    lines = list(lines)
    if not lines:
        return None
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


def tokens(line):
    """Split one directive as Redis' sdssplitargs does closely enough for comparison; None for comments/blank."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    try:
        parts = shlex.split(text, comments=False, posix=True)
    except ValueError:
        parts = text.split()
    if not parts:
        return None
    parts[0] = parts[0].lower()
    if parts[0] == "sentinel" and len(parts) > 1:
        parts[1] = parts[1].lower()
    return parts


def key_of(parts):
    if parts[0] == "user" and len(parts) > 1:
        return "user %s" % parts[1]
    if parts[0] == "sentinel" and len(parts) > 1:
        if parts[1] in PER_PRIMARY and len(parts) > 2:
            return "sentinel %s %s" % (parts[1], parts[2])
        return "sentinel %s" % parts[1]
    return parts[0]


def matches(key, patterns):
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns)


def parse(text):
    """[(key, parts, raw_line)] of every directive of a file."""
    out = []
    for raw in text.splitlines():
        parts = tokens(raw)
        if parts is not None:
            out.append((key_of(parts), parts, raw.strip()))
    return out


def comparable(parts):
    """What is compared of a directive. A C(user) line is compared by name, state and password hashes only:
    Sentinel rewrites its users' rules in its own canonical form (C(+@all) expanded, C(resetchannels) added)."""
    if parts[0] != "user":
        return parts
    state = "on" if "on" in parts[2:] else "off"
    hashes = sorted(set(
        [p[1:].lower() for p in parts[2:] if p.startswith("#")]
        + [hashlib.sha256(p[1:].encode("utf-8")).hexdigest() for p in parts[2:] if p.startswith(">")]))
    return [parts[0], parts[1], state] + hashes


def grouped(entries):
    values = {}
    for key, parts, _raw in entries:
        values.setdefault(key, []).append(comparable(parts))
    return values


def masked(line, secret):
    if not secret:
        return line
    parts = tokens(line) or [line]
    keep = 3 if parts[0] == "sentinel" else 1
    return " ".join(parts[:keep] + [MASK])


def render(header, desired, current, runtime):
    """The new file: header, managed directives in order, the runtime-owned ones from the file where it has them."""
    have = grouped(current)
    placed = set()
    lines = ["# " + row for row in header.splitlines()]
    kept = []
    for key, _parts, raw, secret in desired:
        if matches(key, runtime) and key in have:
            if key not in placed:
                lines.extend(r for k, _p, r in current if k == key)
                placed.add(key)
                kept.append(key)
            continue
        lines.append((raw, secret))
    # Runtime-owned directives the caller does not name (known replicas, epochs): kept after the managed ones.
    for key, _parts, raw in current:
        if matches(key, runtime) and key not in placed and not any(k == key for k, _p, _r, _s in desired):
            lines.append(raw)
            if key not in kept:
                kept.append(key)
    text = "\n".join(line[0] if isinstance(line, tuple) else line for line in lines) + "\n"
    shown = "\n".join(masked(*line) if isinstance(line, tuple) else line for line in lines) + "\n"
    return text, shown, kept


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            lines=dict(type="list", elements="str", required=True),
            secret_lines=dict(type="list", elements="str", default=[], no_log=True),
            runtime_keys=dict(type="list", elements="str", default=[], no_log=False),
            header=dict(type="str", default="Managed by sovereign.datacenter; the server rewrites the directives it owns at run time."),
            validate=dict(type="str"),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="str", default="0640"),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    runtime = module.params["runtime_keys"]
    desired = []
    for raw, secret in [(line, False) for line in module.params["lines"]] + \
                       [(line, True) for line in module.params["secret_lines"]]:
        parts = tokens(raw)
        if parts is None:
            module.fail_json(msg="lines and secret_lines take directives, not comments or blank items: %r" % (raw if not secret else MASK))
        desired.append((key_of(parts), parts, raw.strip(), secret))
    secret_keys = set(k for k, _p, _r, s in desired if s)

    before_text = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            before_text = handle.read()
    current = parse(before_text)
    # The server's own directives are kept only from a file this module wrote (its header first): a package's
    # example file (Debian's sentinel.conf monitors `mymaster` on 127.0.0.1) is replaced as a whole.
    owned = before_text.startswith("# " + module.params["header"].splitlines()[0])
    if not owned:
        runtime = []
    have = grouped(current)

    want = {}
    for key, parts, _raw, _secret in desired:
        want.setdefault(key, []).append(comparable(parts))
    changed_keys = sorted(k for k, values in want.items()
                          if not (matches(k, runtime) and k in have) and have.get(k) != values)
    # The rules of C(user) lines are compared through the fingerprint the module recorded when it wrote them.
    users_fp = fingerprint(raw for _k, parts, raw, _s in desired if parts[0] == "user")
    recorded = USERS_FP.search(before_text) if owned else None
    if users_fp and (recorded is None or recorded.group(1) != users_fp) and USERS_KEY not in changed_keys:
        changed_keys.append(USERS_KEY)

    header = module.params["header"] + ("\nusers %s" % users_fp if users_fp else "")
    text, shown, kept = render(header, desired, current, runtime)
    content_changed = bool(changed_keys) or not os.path.exists(path)
    result = dict(changed=False, changed_keys=changed_keys, kept_keys=kept)

    if content_changed:
        result["changed"] = True
        before_shown = "\n".join(
            masked(raw, k in secret_keys) for k, _p, raw in current) + ("\n" if current else "")
        result["diff"] = dict(before=before_shown, after=shown, before_header=path, after_header=path)
        directory = os.path.dirname(path) or "."
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            if module.params["validate"]:
                if "%s" not in module.params["validate"]:
                    module.fail_json(msg="validate must contain %%s: %s" % module.params["validate"])
                rc, out, err = module.run_command(module.params["validate"] % tmp, use_unsafe_shell=False)
                if rc != 0:
                    module.fail_json(msg="the candidate configuration was refused by %s (rc %d); %s is unchanged"
                                     % (module.params["validate"].split()[0], rc, path),
                                     stdout=out, stderr=err, changed_keys=changed_keys)
            if not module.check_mode:
                module.atomic_move(tmp, path)
                tmp = None
        finally:
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)
    if os.path.exists(path) and not module.check_mode:
        file_args = module.load_file_common_arguments(dict(path=path, owner=module.params["owner"],
                                                           group=module.params["group"], mode=module.params["mode"]))
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
