# -*- coding: utf-8 -*-
# Copyright: contributors to sovereign.datacenter
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compliance evaluators, part 3 (private helper): banner, auditd, AppArmor, mounts, storage
encryption, time sync, automatic updates, AIDE, sudo NOPASSWD and the shell timeout.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import time

from ansible_collections.sovereign.datacenter.plugins.module_utils._compliance_host import (
    CONTAINER_REASONS,
    FAIL,
    NA,
    PASS,
    _ev,
    _int,
)
from ansible_collections.sovereign.datacenter.plugins.module_utils._compliance_eval_access import (
    _sudoers_lines,
)


def ev_banner(host, settings, params):
    path = params["path"]
    text = host.read(path)
    bad = text is None or not text.strip() or re.search(r"\\[mrsv]|Debian|GNU/Linux", text or "")
    return (FAIL if bad else PASS), _ev(path, (text or "").strip()[:120] or None, "legal notice without OS details"), (
        "banner %s" % ("missing or leaks OS details" if bad else "set"))


def ev_audit_rules_file(host, settings, params):
    path = settings["audit_rules_file"]
    if "auditd" not in host.packages():
        return FAIL, _ev("/var/lib/dpkg/status", None, "auditd installed"), "auditd is not installed"
    text = ""
    for rules in host.glob("/etc/audit/rules.d/*.rules"):
        text += (host.read(rules) or "") + "\n"
    lines = set(line.strip() for line in text.splitlines())
    missing = [rule for rule in settings["audit_rules"] if rule not in lines]
    immutable = "-e 2" in lines
    if not immutable:
        missing.append("-e 2")
    return (FAIL if missing else PASS), _ev(path, {"missing": missing}, "%d rules + -e 2" % len(settings["audit_rules"])), (
        "%d rule(s) missing" % len(missing) if missing else "all rules configured, immutable")


def ev_audit_loaded(host, settings, params):
    if host.container:
        return NA, _ev("auditctl -l", None, settings["audit_keys"]), CONTAINER_REASONS["auditd"]
    rc, out = host.run(["auditctl", "-l"])
    if rc != 0:
        return FAIL, _ev("auditctl -l", out.strip()[:200], settings["audit_keys"]), "auditctl -l failed"
    keys = set(a or b for a, b in re.findall(r"-k (\S+)|key=(\S+)", out))
    missing = [k for k in settings["audit_keys"] if k not in keys]
    return (FAIL if missing else PASS), _ev("auditctl -l", sorted(keys), settings["audit_keys"]), (
        "loaded rules miss keys: %s" % ", ".join(missing) if missing else "rules loaded")


def ev_audit_immutable(host, settings, params):
    if host.container:
        return NA, _ev("auditctl -s", None, "enabled 2"), CONTAINER_REASONS["auditd"]
    rc, out = host.run(["auditctl", "-s"])
    match = re.search(r"^enabled\s+(\d)", out, re.M)
    found = match.group(1) if match else None
    return (PASS if found == "2" else FAIL), _ev("auditctl -s", "enabled %s" % found, "enabled 2"), (
        "audit configuration %s" % ("locked" if found == "2" else "not immutable"))


def ev_apparmor(host, settings, params):
    if host.container:
        return NA, _ev("/sys/module/apparmor/parameters/enabled", None, "Y"), CONTAINER_REASONS["apparmor"]
    if "apparmor" not in host.packages():
        return FAIL, _ev("/var/lib/dpkg/status", None, "apparmor installed"), "apparmor is not installed"
    enabled = (host.read("/sys/module/apparmor/parameters/enabled") or "").strip()
    if enabled != "Y":
        return FAIL, _ev("/sys/module/apparmor/parameters/enabled", enabled or None, "Y"), "AppArmor disabled in the kernel"
    rc, out = host.run(["aa-status", "--complaining"])
    complaining = _int(out.strip(), -1)
    rc2, out2 = host.run(["aa-status", "--enforced"])
    enforced = _int(out2.strip(), -1)
    ok = enforced > 0 and complaining == 0
    return (PASS if ok else FAIL), _ev("aa-status", {"enforced": enforced, "complaining": complaining},
                                       {"enforced": ">0", "complaining": 0}), "%s profiles enforced" % enforced


def ev_mounts(host, settings, params):
    wanted = settings["mounts"]
    if host.container:
        return NA, _ev("/proc/self/mounts", None, wanted), CONTAINER_REASONS["mounts"]
    table = host.mounts()
    bad = {}
    for mountpoint, options in wanted.items():
        have = table.get(mountpoint)
        if have is None:
            bad[mountpoint] = "not a separate mount"
            continue
        missing = [o for o in options if o not in have["options"]]
        if missing:
            bad[mountpoint] = "missing " + ",".join(missing)
    return (FAIL if bad else PASS), _ev("/proc/self/mounts", bad or "as expected", wanted), (
        "; ".join("%s %s" % kv for kv in bad.items()) or "mount options set")


_LOCAL_FSTYPES = ("ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "jfs", "reiserfs")


def _dm_encrypted(host, dm, depth=0):
    """True when the device-mapper device is dm-crypt (LUKS/plain) or stacked on one (LVM on LUKS)."""
    uuid = (host.read("/sys/block/%s/dm/uuid" % dm) or "").strip()
    if uuid.startswith("CRYPT-"):
        return True
    if depth > 4:
        return False
    return any(_dm_encrypted(host, os.path.basename(s), depth + 1) for s in host.glob("/sys/block/%s/slaves/dm-*" % dm))


def ev_storage_encrypted(host, settings, params):
    """Every local block filesystem (except /boot) sits on dm-crypt: encryption at rest (LUKS)."""
    if host.container:
        return NA, _ev("/proc/self/mounts", None, "local filesystems on dm-crypt"), CONTAINER_REASONS["storage"]
    plain, encrypted = [], []
    for mountpoint, row in sorted(host.mounts().items()):
        if row["fstype"] not in _LOCAL_FSTYPES or mountpoint.startswith("/boot"):
            continue
        source = row.get("source") or ""
        real = os.path.realpath(host.path(source)) if source.startswith("/dev/") else ""
        name = os.path.basename(real)
        if name.startswith("dm-") and _dm_encrypted(host, name):
            encrypted.append(mountpoint)
        else:
            plain.append("%s (%s)" % (mountpoint, source or "?"))
    evidence = _ev("/proc/self/mounts, /sys/block/dm-*/dm/uuid", {"encrypted": encrypted, "not_encrypted": plain},
                   "every local filesystem except /boot on dm-crypt")
    if plain:
        return FAIL, evidence, "not encrypted at rest: %s" % ", ".join(plain)
    return PASS, evidence, "%d local filesystem(s), all on dm-crypt" % len(encrypted)


def ev_time_sync_config(host, settings, params):
    service = settings["time_sync_service"]
    if service == "chrony":
        files = ["/etc/chrony/chrony.conf"] + host.glob("/etc/chrony/conf.d/*.conf") + host.glob("/etc/chrony/sources.d/*.sources")
        pattern = r"^\s*(server|pool|peer)\s+\S+"
    else:
        files = ["/etc/systemd/timesyncd.conf"] + host.glob("/etc/systemd/timesyncd.conf.d/*.conf")
        pattern = r"^\s*(NTP|FallbackNTP)=\S+"
    sources = []
    for path in files:
        sources += [m.group(0).strip() for m in re.finditer(pattern, host.read(path) or "", re.M)]
    pkg = "chrony" if service == "chrony" else "systemd-timesyncd"
    if pkg not in host.packages():
        return FAIL, _ev("/var/lib/dpkg/status", None, pkg), "%s is not installed" % pkg
    return (PASS if sources else FAIL), _ev(files[0], sources, "at least one server/pool"), (
        "%d time source(s)" % len(sources))


def ev_single_time_daemon(host, settings, params):
    daemons = [p for p in ("chrony", "ntp", "ntpsec", "openntpd", "systemd-timesyncd") if p in host.packages()]
    return (PASS if len(daemons) == 1 else FAIL), _ev("/var/lib/dpkg/status", daemons, "exactly one"), (
        "time daemons: %s" % (", ".join(daemons) or "none"))


def ev_auto_updates(host, settings, params):
    if "unattended-upgrades" not in host.packages():
        return FAIL, _ev("/var/lib/dpkg/status", None, "unattended-upgrades installed"), "unattended-upgrades missing"
    values = {}
    for path in host.glob("/etc/apt/apt.conf.d/*"):
        for m in re.finditer(r'^\s*(APT::Periodic::[A-Za-z-]+)\s+"?([^";]*)"?\s*;', host.read(path) or "", re.M):
            values[m.group(1)] = (m.group(2), path)
    bad = {}
    for key in ("APT::Periodic::Update-Package-Lists", "APT::Periodic::Unattended-Upgrade"):
        have = values.get(key, (None, None))[0]
        if _int(have, 0) < 1:
            bad[key] = have
    where = values.get("APT::Periodic::Unattended-Upgrade", (None, "/etc/apt/apt.conf.d/20auto-upgrades"))[1]
    return (FAIL if bad else PASS), _ev(where, bad or "enabled", 'Update-Package-Lists "1"; Unattended-Upgrade "1"'), (
        "automatic updates %s" % ("off: " + ", ".join(bad) if bad else "on"))


AIDE_CONFIG = "/etc/aide/aide.conf"
AIDE_TIMER = "dailyaidecheck.timer"


def _aide_config(host):
    """(database path, checksum attributes) of the AIDE configuration the daily check uses."""
    text = host.read(AIDE_CONFIG) or ""
    database = re.search(r"^\s*database_in\s*=\s*file:(\S+)", text, re.M)
    checksums = re.findall(r"^\s*Checksums\s*=\s*(.+?)\s*$", text, re.M)
    return (database.group(1) if database else "/var/lib/aide/aide.db"), (checksums[-1] if checksums else None)


def ev_aide_database(host, settings, params):
    """The AIDE database exists (the baseline the daily check compares with), built with SHA-256/512."""
    if "aide" not in host.packages():
        return FAIL, _ev("/var/lib/dpkg/status", None, "aide installed"), "aide is not installed"
    database, checksums = _aide_config(host)
    st = host.stat(database)
    strong = bool(checksums) and bool(re.search(r"\bsha(256|512)\b", checksums))
    if st is not None:
        written = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(st.st_mtime))
        have = "%s %d bytes, %s" % (database, st.st_size, written)
    else:
        have = "%s missing" % database
    found = {"database": have, "Checksums": checksums}
    expected = {"database": "%s present" % database, "Checksums": "sha256 or sha512"}
    bad = []
    if st is None or st.st_size == 0:
        active, enabled = host.service_state("sovereign-aide-init.service")
        bad.append("no database%s" % (" yet (initialisation running)" if active in ("active", "activating") else ""))
    if not strong:
        bad.append("Checksums = %s (no SHA-256/SHA-512)" % checksums)
    return (FAIL if bad else PASS), _ev(AIDE_CONFIG if not strong else database, found, expected), (
        "; ".join(bad) or "AIDE database initialised (%s)" % checksums)


def ev_aide_scheduled(host, settings, params):
    """The daily AIDE check (Debian's dailyaidecheck timer) is enabled and waiting."""
    if "aide-common" not in host.packages():
        return FAIL, _ev("/var/lib/dpkg/status", None, "aide-common installed"), "aide-common is not installed"
    active, enabled = host.service_state(AIDE_TIMER)
    ok = active == "active" and enabled == "enabled"
    return (PASS if ok else FAIL), _ev("systemctl is-active/is-enabled %s" % AIDE_TIMER, "%s/%s" % (active, enabled),
                                       "active/enabled"), "%s is %s, %s" % (AIDE_TIMER, active, enabled)


def ev_sudo_nopasswd(host, settings, params):
    """No sudoers rule lets a user escalate without authenticating (NOPASSWD, Defaults !authenticate)."""
    if "sudo" not in host.packages():
        return NA, _ev("/var/lib/dpkg/status", None, "sudo installed"), "sudo is not installed"
    hits = ["%s: %s" % (path, line) for path, line in _sudoers_lines(host)
            if re.search(r"\bNOPASSWD\s*:", line) or re.match(r"^Defaults.*!\s*authenticate\b", line)]
    return (FAIL if hits else PASS), _ev(", ".join(sorted(set(h.split(":")[0] for h in hits)))
                                         or "/etc/sudoers, /etc/sudoers.d/*", hits or None,
                                         "no NOPASSWD tag, no Defaults !authenticate"), (
        "%d rule(s) without authentication" % len(hits) if hits else "sudo always asks for authentication")


def ev_shell_timeout(host, settings, params):
    """Interactive shells end after the idle timeout: TMOUT set (at most the setting), read-only, exported."""
    want = int(settings["shell_timeout"])
    values, readonly, files = [], False, []
    for path in ["/etc/profile", "/etc/bash.bashrc"] + host.glob("/etc/profile.d/*.sh"):
        text = host.read(path) or ""
        for match in re.finditer(r"^\s*(?:(?:readonly|export|typeset\s+-r|declare\s+-r)\s+)*TMOUT=(\d+)", text, re.M):
            values.append(int(match.group(1)))
            files.append(path)
        if re.search(r"^\s*(readonly|typeset\s+-r|declare\s+-r)\s+(\S+\s+)*TMOUT\b", text, re.M):
            readonly = True
    ok = bool(values) and all(0 < v <= want for v in values) and readonly
    found = ["%s: TMOUT=%d" % fv for fv in zip(files, values)] + (["readonly"] if readonly else [])
    return (PASS if ok else FAIL), _ev(", ".join(sorted(set(files))) or "/etc/profile.d/*.sh", found or None,
                                       "readonly TMOUT=%d (or less), exported" % want), (
        "idle shells end after %d s" % max(values) if ok else "TMOUT unset, too long or not read-only")
