# -*- coding: utf-8 -*-
# Copyright: contributors to sovereign.datacenter
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compliance evaluators, part 2 (private helper): file permissions, cron/at allow files, sudo,
home directories, password ageing, the kernel architecture, apt sources and sudoers rules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import stat

from ansible_collections.sovereign.datacenter.plugins.module_utils._compliance_host import (
    FAIL,
    NA,
    PASS,
    _ev,
    _int,
    parse_key_values,
)
from ansible_collections.sovereign.datacenter.plugins.module_utils._compliance_eval_system import (
    _umask_ok,
)


def ev_file_mode(host, settings, params):
    rows = []
    bad = []
    table = settings["file_permissions"]
    paths = [p for p in params["paths"] if p in table]
    for path in paths:
        want = table[path]
        st = host.stat(path)
        if st is None:
            if params.get("optional"):
                continue
            bad.append(path)
            rows.append({"path": path, "found": "missing"})
            continue
        mode = stat.S_IMODE(st.st_mode)
        want_mode = int(str(want["mode"]), 8)
        owner = _name(host, "/etc/passwd", st.st_uid)
        group = _name(host, "/etc/group", st.st_gid)
        ok = (mode & ~want_mode) == 0 and owner == want["owner"] and group in (want["group"], "root")
        found = "%04o %s:%s" % (mode, owner, group)
        rows.append({"path": path, "found": found})
        if not ok:
            bad.append(path)
    expected = ["%s %s %s:%s (or stricter)" % (p, table[p]["mode"], table[p]["owner"], table[p]["group"]) for p in paths]
    found = [r["path"] + " " + r["found"] for r in rows]
    if not rows:
        return NA, _ev(", ".join(paths), None, expected), "none of the files exist"
    return (FAIL if bad else PASS), _ev(", ".join(bad or paths), found, expected), (
        "too permissive: %s" % ", ".join(bad) if bad else "permissions correct")


def _name(host, dbfile, ident):
    for line in (host.read(dbfile) or "").splitlines():
        fields = line.split(":")
        if len(fields) > 2 and _int(fields[2]) == ident:
            return fields[0]
    return str(ident)


def ev_allow_file(host, settings, params):
    allow, deny = params["allow"], params["deny"]
    if params.get("package") and params["package"] not in host.packages():
        return NA, _ev(allow, None, None), "%s is not installed" % params["package"]
    st = host.stat(allow)
    bad = []
    found = {}
    if st is None:
        bad.append("%s missing" % allow)
    else:
        mode = stat.S_IMODE(st.st_mode)
        found[allow] = "%04o" % mode
        if mode & 0o137:
            bad.append("%s mode %04o" % (allow, mode))
        users = [u.strip() for u in (host.read(allow) or "").splitlines() if u.strip() and not u.startswith("#")]
        found["users"] = users
    if host.exists(deny):
        bad.append("%s exists" % deny)
    return (FAIL if bad else PASS), _ev(allow, bad or found, "%s 0640 root, %s absent" % (allow, deny)), (
        "; ".join(bad) or "restricted to %s" % allow)


def ev_sudo(host, settings, params):
    text = (host.read("/etc/sudoers") or "")
    for path in host.glob("/etc/sudoers.d/*"):
        text += "\n" + (host.read(path) or "")
    pattern = params["pattern"]
    ok = bool(re.search(pattern, text, re.M))
    return (PASS if ok else FAIL), _ev("/etc/sudoers, /etc/sudoers.d/*", "present" if ok else "absent",
                                       params["expected"]), "%s %s" % (params["expected"], "set" if ok else "missing")


def _sudoers_lines(host):
    """(file, line) of every non-comment line of /etc/sudoers and /etc/sudoers.d/* (no #include expansion
    beyond the directory sudo reads by default, as the scanners read them)."""
    rows = []
    for path in ["/etc/sudoers"] + host.glob("/etc/sudoers.d/*"):
        for raw in (host.read(path) or "").splitlines():
            line = raw.strip()
            if line and not line.startswith("#"):
                rows.append((path, line))
    return rows


def ev_sudo_default(host, settings, params):
    """A global ``Defaults`` option (``Defaults:user``/``Defaults!cmd`` do not count), optionally with a value."""
    if "sudo" not in host.packages():
        return NA, _ev("/var/lib/dpkg/status", None, "sudo installed"), "sudo is not installed"
    option = params["option"]
    want = settings[params["setting"]] if params.get("setting") else None
    expected = "Defaults %s" % option + ("=%s" % want if want is not None else "")
    hits = []
    for path, line in _sudoers_lines(host):
        match = re.match(r"^Defaults\s+(.*)$", line)
        if not match:
            continue
        for item in re.split(r"\s*,\s*", match.group(1)):
            key, _sep, value = item.partition("=")
            if key.strip() == option:
                hits.append((path, value.strip().strip('"')))
            elif key.strip() == "!" + option:
                hits.append((path, "!"))
    if want is None:
        ok = bool(hits) and hits[-1][1] != "!"
    else:
        ok = bool(hits) and _umask_ok(hits[-1][1], want)
    found = ["%s: Defaults %s%s" % (p, option, "=" + v if v and v != "!" else (" (negated)" if v == "!" else ""))
             for p, v in hits]
    return (PASS if ok else FAIL), _ev(", ".join(sorted(set(p for p, v in hits))) or "/etc/sudoers, /etc/sudoers.d/*",
                                       found or None, expected), "%s %s" % (expected, "set" if ok else "missing")


def ev_sudo_group(host, settings, params):
    """/usr/bin/sudo belongs to a dedicated group and others cannot run it (ANSSI R38)."""
    path = "/usr/bin/sudo"
    if "sudo" not in host.packages():
        return NA, _ev("/var/lib/dpkg/status", None, "sudo installed"), "sudo is not installed"
    group = settings["sudo_group"]
    want = int(str(settings["sudo_binary_mode"]), 8)
    expected = "%s %s root:%s (others cannot execute)" % (path, settings["sudo_binary_mode"], group)
    st = host.stat(path)
    if st is None:
        return FAIL, _ev(path, "missing", expected), "%s missing" % path
    mode = stat.S_IMODE(st.st_mode)
    have_group = _name(host, "/etc/group", st.st_gid)
    owner = _name(host, "/etc/passwd", st.st_uid)
    bad = []
    if have_group != group or have_group == "root":
        bad.append("group %s" % have_group)
    if owner != "root":
        bad.append("owner %s" % owner)
    if mode & ~want or mode & 0o007:
        bad.append("mode %04o" % mode)
    return (FAIL if bad else PASS), _ev(path, "%04o %s:%s" % (mode, owner, have_group), expected), (
        "sudo not restricted to a dedicated group: %s" % ", ".join(bad) if bad else "only root and %s may run sudo" % group)


def _interactive_homes(host):
    """Home directories of interactive accounts (UID_MIN <= UID <= UID_MAX, not nobody, a login shell), as the
    scanners select them (CIS: a shell other than nologin or false). Service accounts with fixed high ids, such as
    Debian's ceph (64045, home /var/lib/ceph, nologin), are not interactive."""
    defs = parse_key_values(host.read("/etc/login.defs"))
    uid_min, uid_max = _int(defs.get("UID_MIN"), 1000), _int(defs.get("UID_MAX"), 60000)
    homes = []
    for line in (host.read("/etc/passwd") or "").splitlines():
        fields = line.split(":")
        if len(fields) < 7:
            continue
        uid = _int(fields[2], -1)
        if uid < uid_min or uid > uid_max or uid == 65534 or fields[5] in ("", "/", "/nonexistent"):
            continue
        if fields[6].rstrip().endswith(("/nologin", "/false")):
            continue
        if host.stat(fields[5]) is not None and fields[5] not in homes:
            homes.append(fields[5])
    return homes


def _host_rel(host, real):
    return real if host.root == "/" else "/" + os.path.relpath(real, host.root)


def ev_home_files(host, settings, params):
    """Nothing in interactive users' homes (dot files only, or everything) more permissive than the mode."""
    want = int(str(settings[params["setting"]]), 8)
    forbidden = 0o7777 & ~want
    homes = _interactive_homes(host)
    candidates = []
    for home in homes:
        real = host.path(home)
        if params.get("init_files"):
            for name in sorted(os.listdir(real)):
                full = os.path.join(real, name)
                if name.startswith(".") and os.path.isfile(full) and not os.path.islink(full):
                    candidates.append(os.path.join(home, name))
            continue
        for dirpath, _dirnames, filenames in os.walk(real):
            candidates.append(_host_rel(host, dirpath))
            candidates += [_host_rel(host, os.path.join(dirpath, n)) for n in filenames
                           if not os.path.islink(os.path.join(dirpath, n))]
    bad = []
    for path in candidates:
        st = host.stat(path)
        if st is not None and stat.S_IMODE(st.st_mode) & forbidden:
            bad.append("%s %04o" % (path, stat.S_IMODE(st.st_mode)))
    expected = "%s %s or stricter" % ("dot files in interactive homes" if params.get("init_files")
                                      else "everything in interactive homes", settings[params["setting"]])
    if not homes:
        return PASS, _ev("/etc/passwd", "no interactive home directory", expected), "no interactive users with a home"
    return (FAIL if bad else PASS), _ev(", ".join(homes), bad[:20] or "%d checked" % len(candidates), expected), (
        "%d too permissive (of %d)" % (len(bad), len(candidates)) if bad
        else "%d checked, none too permissive" % len(candidates))


def ev_umask_file(host, settings, params):
    """A shell start-up file itself sets the umask: /etc/profile (what the SSG check reads; profile.d
    files are not enough there) or /etc/bash.bashrc (interactive non-login bash shells read it)."""
    path, want = params["path"], settings["umask"]
    hits = re.findall(r"^\s*umask\s+([0-7]{3,4})\s*(?:#.*)?$", host.read(path) or "", re.M)
    ok = bool(hits) and all(_umask_ok(h, want) for h in hits)
    return (PASS if ok else FAIL), _ev(path, ["umask %s" % h for h in hits] or None, "umask %s (or stricter)" % want), (
        "%s sets umask %s" % (path, hits[-1]) if ok else "%s: umask unset or weaker than %s" % (path, want))


def ev_pam_unix_password(host, settings, params):
    """pam_unix in common-password keeps a password history (remember=N) and hashes with a cost (rounds=N)."""
    path = "/etc/pam.d/common-password"
    lines = [ln for ln in (host.read(path) or "").splitlines()
             if re.match(r"^\s*password\s+(?:\[[^\]]*\]|\S+)\s+pam_unix\.so\b", ln)]
    expected = "pam_unix.so remember>=%d rounds>=%d" % (settings["password_history"], settings["password_hash_rounds"])
    if not lines:
        return FAIL, _ev(path, None, expected), "pam_unix.so missing from %s" % path
    bad = []
    for key, setting in (("remember", "password_history"), ("rounds", "password_hash_rounds")):
        found = re.search(r"\b%s=(\d+)" % key, lines[0])
        if not found or int(found.group(1)) < settings[setting]:
            bad.append("%s=%s" % (key, found.group(1) if found else "unset"))
    return (FAIL if bad else PASS), _ev(path, lines[0].strip(), expected), (
        "pam_unix: %s" % ", ".join(bad) if bad else "password history and hashing cost set")


def ev_root_password_max_age(host, settings, params):
    """root's password must be changed at least every N days (shadow field 5)."""
    want = settings["root_password_max_days"]
    row = next((ln.split(":") for ln in (host.read("/etc/shadow") or "").splitlines() if ln.startswith("root:")), None)
    have = _int(row[4]) if row and len(row) > 4 else None
    ok = have is not None and 0 < have <= want
    return (PASS if ok else FAIL), _ev("/etc/shadow", "root max age %s" % (have if have is not None else "unset"),
                                       "root max age <= %d days" % want), (
        "root's password expires after %s days" % have if ok else "root's password never expires (or after more than %d days)" % want)


# Kernel release names of 64-bit builds, as SSG's prefer_64bit_os reads them (Debian: -amd64, -arm64).
_KERNEL_64BIT_SUFFIXES = ("x86_64", "-amd64", "aarch64", "-arm64")


def ev_kernel_64bit(host, settings, params):
    """A 64-bit kernel, told by its release name (/proc/sys/kernel/osrelease), the way SSG's
    prefer_64bit_os decides it. A kernel built under another name fails even when it is 64-bit: the
    machine's architecture is given in the message, and such a site waives the control."""
    release = (host.read("/proc/sys/kernel/osrelease") or "").strip()
    if not release:
        return NA, _ev("/proc/sys/kernel/osrelease", None, "readable"), "no running kernel to read (offline root)"
    ok = release.endswith(_KERNEL_64BIT_SUFFIXES)
    return (PASS if ok else FAIL), _ev("/proc/sys/kernel/osrelease", release,
                                       "a release ending in %s" % " or ".join(_KERNEL_64BIT_SUFFIXES)), (
        "64-bit kernel %s" % release if ok else
        "kernel %s: not a 64-bit distribution kernel by its name (machine %s)" % (release, os.uname()[4]))


def _apt_sources(host):
    """(file, suites) of every enabled deb source: one-line lists and deb822 .sources files."""
    found = []
    for path in ["/etc/apt/sources.list"] + host.glob("/etc/apt/sources.list.d/*.list"):
        for raw in (host.read(path) or "").splitlines():
            # deb [options] URI SUITE COMPONENT...
            words = re.sub(r"\[[^\]]*\]", " ", raw.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                found.append((path, [words[2]]))
    for path in host.glob("/etc/apt/sources.list.d/*.sources"):
        for stanza in re.split(r"\n\s*\n", host.read(path) or ""):
            # deb822 field names are case-insensitive
            fields = dict((key.lower(), value) for key, value in parse_key_values(stanza, sep=":").items())
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
                found.append((path, fields.get("suites", "").split()))
    return found


def ev_apt_security_source(host, settings, params):
    """The distribution's security suite (e.g. bookworm-security) is an enabled package source, in
    either format: one-line lists or deb822 .sources (Lynis 3.0.8 reads only the first)."""
    sources = _apt_sources(host)
    hits = [(path, suite) for path, suites in sources for suite in suites
            if suite.endswith("-security") or suite.endswith("/updates")]
    return (PASS if hits else FAIL), _ev(hits[0][0] if hits else "/etc/apt", [hit[1] for hit in hits] or None,
                                         "an enabled <release>-security suite"), (
        "security suite %s in %s" % (hits[0][1], hits[0][0]) if hits else
        "no enabled security suite among %d package sources" % len(sources))


def ev_sudoers_rules(host, settings, params):
    """The sudoers rules (not Defaults, aliases or includes): with check=commands every rule names explicit
    commands with their arguments (not ALL); with check=runas no rule lets a user run commands as root or ALL."""
    if "sudo" not in host.packages():
        return NA, _ev("/var/lib/dpkg/status", None, "sudo installed"), "sudo is not installed"
    bad = []
    for path, line in _sudoers_lines(host):
        if re.match(r"^(Defaults|[A-Z][A-Za-z_]*_Alias|@include|#include|@includedir|#includedir)\b", line):
            continue
        match = re.match(r"^(\S+)\s+\S+\s*=\s*(?:\(([^)]*)\))?\s*(.*)$", line)
        if not match:
            continue
        runas, commands = match.group(2), re.sub(r"^(?:[A-Z_]+:\s*)+", "", match.group(3)).strip()
        if params["check"] == "commands":
            offending = any(c.strip() == "ALL" or (c.strip() and " " not in c.strip() and not c.strip().endswith('""'))
                            for c in commands.split(","))
        else:
            targets = [t.strip() for t in re.split(r"[,:]", runas or "root")]
            offending = any(t in ("ALL", "root", "#0") for t in targets if t)
        if offending:
            bad.append("%s: %s" % (path, line))
    expected = ("every rule names its commands with their arguments" if params["check"] == "commands"
                else "no rule runs commands as root or ALL")
    return (FAIL if bad else PASS), _ev("/etc/sudoers, /etc/sudoers.d/*", bad or "none", expected), (
        "%d sudoers rule(s) against it: %s" % (len(bad), "; ".join(bad)) if bad else expected)
