# -*- coding: utf-8 -*-
# Copyright: contributors to sovereign.datacenter
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compliance evaluators, part 1 (private helper): SSH, kernel parameters and modules, packages,
services, PAM, login definitions, umask and core dumps. Each evaluator reads, never writes:
``ev_x(host, settings, params) -> (status, evidence, detail)``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sovereign.datacenter.plugins.module_utils._compliance_host import (
    CONTAINER_REASONS,
    FAIL,
    NA,
    PASS,
    _ev,
    _int,
    parse_key_values,
    parse_sshd_config,
)


# --------------------------------------------------------------------------------------------
# Evaluators: f(host, settings, params) -> (status, evidence, message)
# --------------------------------------------------------------------------------------------
def ev_sshd(host, settings, params):
    if "openssh-server" not in host.packages() and not host.exists("/etc/ssh/sshd_config"):
        return NA, _ev("/etc/ssh/sshd_config", None, None), "openssh-server is not installed"
    cfg = parse_sshd_config(host)
    key = params["key"]
    value, path = cfg.get(key.lower(), (None, "/etc/ssh/sshd_config"))
    check = params["check"]
    expected = params.get("expected")
    if callable(expected):
        expected = expected(settings)
    found = value if value is not None else params.get("default")
    ok = check(found, expected)
    shown = "%s %s" % (key, expected) if not isinstance(expected, list) else "%s %s" % (key, ",".join(expected))
    msg = "%s is %s" % (key, found if found is not None else "unset")
    return (PASS if ok else FAIL), _ev(path, "%s %s" % (key, found) if found is not None else None, shown), msg


def _eq(found, expected):
    return found is not None and str(found).lower() == str(expected).lower()


def _le(found, expected):
    value = _int(re.sub(r"s$", "", str(found)) if found is not None else None)
    return value is not None and 0 < value <= int(expected)


def _subset(found, expected):
    if not found:
        return False
    return set(x.strip() for x in found.split(",")) <= set(expected)


def _in(found, expected):
    return found is not None and str(found).upper() in [str(x).upper() for x in expected]


def ev_sysctl(host, settings, params):
    key = params["key"]
    expected = settings["sysctls"].get(key)
    path = "/proc/sys/" + key.replace(".", "/")
    if expected is None:
        return NA, _ev(path, None, None), "not part of this profile"
    found = host.sysctl(key)
    if host.container and not (key.startswith("net.") and found is not None):
        return NA, _ev(path, found.strip() if found else None, str(expected)), CONTAINER_REASONS["proc_sys"]
    if found is None:
        return FAIL, _ev(path, None, str(expected)), "sysctl %s does not exist on this kernel" % key
    found = found.strip()
    ok = found.split() == str(expected).split()
    return (PASS if ok else FAIL), _ev(path, found, str(expected)), "%s = %s" % (key, found)


def ev_sysctl_persisted(host, settings, params):
    """Every expected sysctl is persisted under /etc/sysctl.d (applies on VMs at boot)."""
    found = {}
    files = ["/etc/sysctl.conf"] + host.glob("/etc/sysctl.d/*.conf")
    for path in files:
        for key, value in parse_key_values(host.read(path), sep="=").items():
            found[key.lstrip("-")] = (value, path)
    missing = {}
    for key, value in settings["sysctls"].items():
        have = found.get(key)
        if have is None or have[0].split() != str(value).split():
            missing[key] = have[0] if have else None
    expected = dict((k, str(v)) for k, v in settings["sysctls"].items())
    return (FAIL if missing else PASS), _ev("/etc/sysctl.d/*.conf", missing or "all persisted", expected), (
        "%d sysctl(s) not persisted" % len(missing) if missing else "all sysctls persisted")


def ev_modules(host, settings, params):
    wanted = settings["blacklisted_modules"]
    text = ""
    for path in host.glob("/etc/modprobe.d/*.conf"):
        text += (host.read(path) or "") + "\n"
    bad = []
    for mod in wanted:
        names = set([mod, mod.replace("-", "_")])
        installs = any(re.search(r"^\s*install\s+%s\s+/bin/(false|true)\s*$" % re.escape(n), text, re.M) for n in names)
        blacklisted = any(re.search(r"^\s*blacklist\s+%s\s*$" % re.escape(n), text, re.M) for n in names)
        if not (installs and blacklisted):
            bad.append(mod)
    loaded = set(line.split()[0] for line in (host.read("/proc/modules") or "").splitlines() if line.strip())
    still = sorted(m for m in wanted if m.replace("-", "_") in loaded)
    evidence = _ev("/etc/modprobe.d/*.conf", {"not_disabled": bad, "loaded": still},
                   {"install /bin/false + blacklist": wanted})
    if host.container:
        # The files are configuration the role still writes; loading is the host kernel's business.
        return NA, evidence, CONTAINER_REASONS["modules"]
    if bad or still:
        return FAIL, evidence, "modules not disabled: %s; loaded: %s" % (", ".join(bad) or "-", ", ".join(still) or "-")
    return PASS, evidence, "%d modules disabled, none loaded" % len(wanted)


def ev_package_installed(host, settings, params):
    names = settings[params["setting"]] if "setting" in params else params["packages"]
    have = [n for n in names if n in host.packages()]
    ok = bool(have) if params.get("any") else len(have) == len(names)
    return (PASS if ok else FAIL), _ev("/var/lib/dpkg/status", have, names), (
        "installed: %s" % (", ".join(have) or "none"))


def ev_packages_absent(host, settings, params):
    names = settings[params["setting"]]
    have = sorted(n for n in names if n in host.packages())
    return (FAIL if have else PASS), _ev("/var/lib/dpkg/status", have, []), (
        "installed legacy packages: %s" % ", ".join(have) if have else "none of %d legacy packages installed" % len(names))


def ev_service(host, settings, params):
    unit = params.get("unit") or settings.get(params.get("setting", ""), "")
    pkgs = params.get("packages", [unit])
    if params.get("container") and host.container:
        active, enabled = host.service_state(unit)
        return NA, _ev("systemctl is-active %s" % unit, active, "active"), CONTAINER_REASONS[params["container"]]
    if not any(p in host.packages() for p in pkgs):
        return FAIL, _ev("/var/lib/dpkg/status", None, pkgs), "%s is not installed" % "/".join(pkgs)
    active, enabled = host.service_state(unit)
    ok = active == "active" and enabled in ("enabled", "static", "alias")
    return (PASS if ok else FAIL), _ev("systemctl is-active/is-enabled %s" % unit, "%s/%s" % (active, enabled),
                                       "active/enabled"), "%s is %s, %s" % (unit, active, enabled)


def ev_pwquality(host, settings, params):
    path = "/etc/security/pwquality.conf"
    values = parse_key_values(host.read(path), sep="=")
    for extra in host.glob("/etc/security/pwquality.conf.d/*.conf"):
        values.update(parse_key_values(host.read(extra), sep="="))
    expected = settings["pwquality"]
    bad = {}
    for key, want in expected.items():
        have = _int(values.get(key))
        if key == "maxrepeat":
            ok = have is not None and 0 < have <= want
        elif key.endswith("credit"):  # negative: at least that many of the class; 0 or more: none required
            ok = have is not None and have <= want
        else:
            ok = have is not None and have >= want
        if not ok:
            bad[key] = values.get(key)
    stack = host.read("/etc/pam.d/common-password") or ""
    in_stack = bool(re.search(r"^\s*password\s+\S+\s+pam_pwquality\.so", stack, re.M))
    if not in_stack:
        bad["pam_pwquality.so in /etc/pam.d/common-password"] = "missing"
    return (FAIL if bad else PASS), _ev(path, bad or dict((k, values.get(k)) for k in expected), expected), (
        "pwquality settings off: %s" % ", ".join(sorted(bad)) if bad else "password quality enforced")


def ev_faillock(host, settings, params):
    path = "/etc/security/faillock.conf"
    values = parse_key_values(host.read(path), sep="=")
    expected = settings["faillock"]
    bad = {}
    deny = _int(values.get("deny"), 3)
    if not 0 < deny <= expected["deny"]:
        bad["deny"] = deny
    unlock = _int(values.get("unlock_time"), 600)
    if not (unlock == 0 or unlock >= expected["unlock_time"]):
        bad["unlock_time"] = unlock
    auth = host.read("/etc/pam.d/common-auth") or ""
    for needle in ("pam_faillock.so preauth", "pam_faillock.so authfail"):
        if not re.search(r"^\s*auth\s+.*" + re.escape(needle), auth, re.M):
            bad[needle] = "missing in /etc/pam.d/common-auth"
    account = host.read("/etc/pam.d/common-account") or ""
    if not re.search(r"^\s*account\s+\S+\s+pam_faillock\.so", account, re.M):
        bad["pam_faillock.so"] = "missing in /etc/pam.d/common-account"
    return (FAIL if bad else PASS), _ev(path, bad or {"deny": deny, "unlock_time": unlock}, expected), (
        "faillock off: %s" % ", ".join(sorted(bad)) if bad else "account lockout enforced")


def ev_login_defs(host, settings, params):
    path = "/etc/login.defs"
    values = parse_key_values(host.read(path))
    key = params["key"]
    want = settings["login_defs"][key] if key in settings["login_defs"] else settings.get(params.get("setting"))
    have = values.get(key)
    if params["op"] == "le":
        ok = _int(have) is not None and 0 < _int(have) <= int(want)
    elif params["op"] == "ge":
        ok = _int(have) is not None and _int(have) >= int(want)
    elif params["op"] == "umask":
        ok = have is not None and _umask_ok(have, want)
    else:
        ok = have is not None and have.upper() == str(want).upper()
    return (PASS if ok else FAIL), _ev(path, "%s %s" % (key, have) if have else None, "%s %s" % (key, want)), (
        "%s is %s" % (key, have))


def _umask_ok(found, wanted):
    try:
        return int(str(found), 8) & int(str(wanted), 8) == int(str(wanted), 8)
    except ValueError:
        return False


def ev_umask_profile(host, settings, params):
    want = settings["umask"]
    hits = []
    for path in ["/etc/profile", "/etc/bash.bashrc"] + host.glob("/etc/profile.d/*.sh"):
        for match in re.finditer(r"^\s*umask\s+([0-7]{3,4})\s*(?:#.*)?$", host.read(path) or "", re.M):
            hits.append((path, match.group(1)))
    good = [h for h in hits if _umask_ok(h[1], want)]
    weak = [h for h in hits if not _umask_ok(h[1], want)]
    ok = bool(good) and not weak
    return (PASS if ok else FAIL), _ev(", ".join(sorted(set(h[0] for h in hits))) or "/etc/profile.d/*.sh",
                                       ["%s: umask %s" % h for h in hits], "umask %s (or stricter)" % want), (
        "login shells get umask %s" % (good[0][1] if ok else "unset or weak"))


def ev_core_dumps(host, settings, params):
    found = None
    where = None
    for path in ["/etc/security/limits.conf"] + host.glob("/etc/security/limits.d/*.conf"):
        for line in (host.read(path) or "").splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) == 4 and fields[0] == "*" and fields[1] == "hard" and fields[2] == "core":
                found, where = fields[3], path
    bad = []
    if found != "0":
        bad.append("limits: * hard core %s" % found)
    coredump = parse_key_values(host.read("/etc/systemd/coredump.conf"), sep="=")
    for path in host.glob("/etc/systemd/coredump.conf.d/*.conf"):
        coredump.update(parse_key_values(host.read(path), sep="="))
    if "systemd-coredump" in host.packages() and coredump.get("Storage", "").lower() != "none":
        bad.append("systemd-coredump Storage=%s" % coredump.get("Storage"))
    return (FAIL if bad else PASS), _ev(where or "/etc/security/limits.d/*.conf", bad or "* hard core 0",
                                        "* hard core 0"), "; ".join(bad) or "core dumps disabled"
