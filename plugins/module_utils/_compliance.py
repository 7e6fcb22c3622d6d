# -*- coding: utf-8 -*-
# Copyright: contributors to sovereign.datacenter
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host hardening control catalogue and read-only evaluators (private helper).

One source of truth for the ``hardening`` role and the ``compliance_check`` module:

* ``DEFAULT_SETTINGS`` holds the expected values. They are the same as the role's
  ``defaults/main.yml`` (key ``x`` here is ``hardening_x`` there; a unit test fails on drift).
  The role passes its effective values (after the tier profile) to the module as ``settings``.
* ``CATALOGUE`` lists every control: id (also the role's tag), title, mapping to the CIS Debian
  Linux 12 Benchmark v1.1.0 section, SOC 2 (2017 TSC) criteria, PCI DSS 4.0 requirements and,
  where the ANSSI guide has one, the ANSSI BP-028 v2.0 recommendation (R1..R80), and whether a
  container can have it at all.
* ``evaluate()`` runs every evaluator against a ``Host`` (file reads under ``root``; a few
  commands) and applies waivers.

Nothing here writes to the host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import glob
import os
import re
import stat
import subprocess
import time

PASS = "pass"
FAIL = "fail"
NA = "not_applicable"
WAIVED = "waived"
STATUSES = (PASS, FAIL, NA, WAIVED)

SYSCTL_PREFIX = "sysctl_"

# Reasons a container cannot have a control (reported as not_applicable, never as pass).
CONTAINER_REASONS = {
    "proc_sys": "container: /proc/sys is read-only; kernel sysctls belong to the host kernel",
    "auditd": "container: the kernel audit subsystem belongs to the host; auditd cannot load rules",
    "modules": "container: kernel modules belong to the host kernel; a container cannot load or block them",
    "apparmor": "container: AppArmor is a host kernel LSM; profiles are loaded by the host",
    "time": "container: no CAP_SYS_TIME; the clock is the host's (chrony's unit condition skips it)",
    "mounts": "container: mounts are set by the container runtime, not by the host's fstab",
    "storage": "container: block devices and their encryption (LUKS) belong to the host; check the host's volumes",
}

DEFAULT_SETTINGS = {
    "ssh_ciphers": [
        "chacha20-poly1305@openssh.com",
        "aes256-gcm@openssh.com",
        "aes128-gcm@openssh.com",
        "aes256-ctr",
        "aes192-ctr",
        "aes128-ctr",
    ],
    "ssh_kex": [
        "sntrup761x25519-sha512@openssh.com",
        "curve25519-sha256",
        "curve25519-sha256@libssh.org",
        "diffie-hellman-group16-sha512",
        "diffie-hellman-group18-sha512",
        "diffie-hellman-group-exchange-sha256",
    ],
    "ssh_macs": [
        "hmac-sha2-512-etm@openssh.com",
        "hmac-sha2-256-etm@openssh.com",
        "umac-128-etm@openssh.com",
    ],
    "ssh_client_alive_interval": 300,
    "ssh_client_alive_count_max": 2,
    "ssh_max_auth_tries": 3,
    "ssh_login_grace_time": 60,
    "ssh_max_sessions": 10,
    "ssh_log_level": "VERBOSE",
    "ssh_banner": "/etc/issue.net",
    "banner_text": (
        "WARNING: this is a private system. Access is restricted to authorised users and subject to the "
        "security policy. All activity is logged, monitored and recorded; evidence of unauthorised use "
        "may be given to law enforcement. Disconnect now if you do not consent to these terms."
    ),
    "sysctls": {
        "kernel.randomize_va_space": 2,
        "kernel.kptr_restrict": 2,
        "kernel.dmesg_restrict": 1,
        "kernel.yama.ptrace_scope": 1,
        "kernel.sysrq": 0,
        "fs.suid_dumpable": 0,
        "fs.protected_hardlinks": 1,
        "fs.protected_symlinks": 1,
        "net.ipv4.ip_forward": 0,
        "net.ipv4.conf.all.send_redirects": 0,
        "net.ipv4.conf.default.send_redirects": 0,
        "net.ipv4.conf.all.accept_redirects": 0,
        "net.ipv4.conf.default.accept_redirects": 0,
        "net.ipv4.conf.all.secure_redirects": 0,
        "net.ipv4.conf.default.secure_redirects": 0,
        "net.ipv4.conf.all.accept_source_route": 0,
        "net.ipv4.conf.default.accept_source_route": 0,
        "net.ipv4.conf.all.rp_filter": 1,
        "net.ipv4.conf.default.rp_filter": 1,
        "net.ipv4.conf.all.log_martians": 1,
        "net.ipv4.conf.default.log_martians": 1,
        "net.ipv4.icmp_echo_ignore_broadcasts": 1,
        "net.ipv4.icmp_ignore_bogus_error_responses": 1,
        "net.ipv4.tcp_syncookies": 1,
        "net.ipv6.conf.all.forwarding": 0,
        "net.ipv6.conf.all.accept_redirects": 0,
        "net.ipv6.conf.default.accept_redirects": 0,
        "net.ipv6.conf.all.accept_ra": 0,
        "net.ipv6.conf.default.accept_ra": 0,
    },
    "blacklisted_modules": [
        "cramfs", "freevxfs", "hfs", "hfsplus", "jffs2", "udf", "usb-storage",
        "firewire-core", "dccp", "sctp", "rds", "tipc",
    ],
    "pwquality": {"minlen": 15, "minclass": 4, "maxrepeat": 3, "difok": 2, "dictcheck": 1,
                  "dcredit": -1, "ucredit": -1, "lcredit": -1, "ocredit": -1},
    "faillock": {"deny": 3, "unlock_time": 900, "fail_interval": 900},
    "login_defs": {"PASS_MAX_DAYS": 365, "PASS_MIN_DAYS": 1, "PASS_WARN_AGE": 7, "ENCRYPT_METHOD": "YESCRYPT",
                   "SHA_CRYPT_MIN_ROUNDS": 5000, "SHA_CRYPT_MAX_ROUNDS": 100000},
    "umask": "077",
    "legacy_packages": [
        "telnet", "telnetd", "inetutils-telnet", "inetutils-telnetd", "rsh-client", "rsh-server",
        "rsh-redone-client", "rsh-redone-server", "nis", "talk", "talkd", "xinetd", "tftpd-hpa",
        "inetutils-inetd", "openbsd-inetd", "ftp", "inetutils-ftp", "ldap-utils", "avahi-daemon",
    ],
    "file_permissions": {
        "/etc/passwd": {"mode": "0644", "owner": "root", "group": "root"},
        "/etc/group": {"mode": "0644", "owner": "root", "group": "root"},
        "/etc/shadow": {"mode": "0640", "owner": "root", "group": "shadow"},
        "/etc/gshadow": {"mode": "0640", "owner": "root", "group": "shadow"},
        "/etc/ssh/sshd_config": {"mode": "0600", "owner": "root", "group": "root"},
        "/etc/crontab": {"mode": "0600", "owner": "root", "group": "root"},
        "/etc/cron.d": {"mode": "0700", "owner": "root", "group": "root"},
        "/etc/cron.hourly": {"mode": "0700", "owner": "root", "group": "root"},
        "/etc/cron.daily": {"mode": "0700", "owner": "root", "group": "root"},
        "/etc/cron.weekly": {"mode": "0700", "owner": "root", "group": "root"},
        "/etc/cron.monthly": {"mode": "0700", "owner": "root", "group": "root"},
        "/etc/sudoers.d": {"mode": "0750", "owner": "root", "group": "root"},
    },
    "cron_allow": ["root"],
    "audit_rules_file": "/etc/audit/rules.d/50-hardening.rules",
    "audit_rules": [
        "-w /etc/passwd -p wa -k identity",
        "-w /etc/group -p wa -k identity",
        "-w /etc/shadow -p wa -k identity",
        "-w /etc/gshadow -p wa -k identity",
        "-w /etc/security/opasswd -p wa -k identity",
        "-w /etc/sudoers -p wa -k scope",
        "-w /etc/sudoers.d -p wa -k scope",
        "-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time-change",
        "-a always,exit -F arch=b32 -S adjtimex,settimeofday,clock_settime -k time-change",
        "-w /etc/localtime -p wa -k time-change",
        "-a always,exit -F path=/usr/bin/sudo -F perm=x -F auid>=1000 -F auid!=unset -k privileged",
        "-a always,exit -F path=/usr/bin/su -F perm=x -F auid>=1000 -F auid!=unset -k privileged",
        "-a always,exit -F path=/usr/bin/passwd -F perm=x -F auid>=1000 -F auid!=unset -k privileged",
        "-a always,exit -F path=/usr/bin/chsh -F perm=x -F auid>=1000 -F auid!=unset -k privileged",
        "-w /sbin/insmod -p x -k modules",
        "-w /sbin/rmmod -p x -k modules",
        "-w /sbin/modprobe -p x -k modules",
        "-a always,exit -F arch=b64 -S init_module,finit_module,delete_module -k modules",
        "-w /var/log/sudo.log -p wa -k actions",
    ],
    "audit_keys": ["identity", "scope", "time-change", "privileged", "modules"],
    "mounts": {"/dev/shm": ["nodev", "nosuid", "noexec"]},
    "time_sync_service": "chrony",
    "file_integrity_packages": ["aide", "aide-common"],
    "sudo_logfile": "/var/log/sudo.log",
    "sudo_group": "sovereign-admins",
    "sudo_binary_mode": "4110",
    "password_history": 2,
    "password_hash_rounds": 11,
    "root_password_max_days": 365,
    "sudo_umask": "0077",
    "home_files_mode": "0750",
    "init_files_mode": "0740",
    "shell_timeout": 900,
}


def sysctl_control_id(key):
    """Control id of one sysctl key (the role uses the same rule for its tags)."""
    return SYSCTL_PREFIX + re.sub(r"[^a-z0-9]+", "_", key.lower())


# --------------------------------------------------------------------------------------------
# Host access: every read goes through here, so tests can point ``root`` at a temporary tree.
# --------------------------------------------------------------------------------------------
class Host(object):
    def __init__(self, root="/", container=None, runner=None):
        self.root = root or "/"
        self._runner = runner or _run
        self._cache = {}
        self.container, self.container_evidence = self._detect_container(container)

    def path(self, path):
        if self.root == "/":
            return path
        return os.path.join(self.root, path.lstrip("/"))

    def read(self, path):
        key = ("read", path)
        if key not in self._cache:
            try:
                with open(self.path(path), "r", errors="replace") as handle:
                    self._cache[key] = handle.read()
            except (IOError, OSError):
                self._cache[key] = None
        return self._cache[key]

    def exists(self, path):
        return os.path.lexists(self.path(path))

    def stat(self, path):
        try:
            return os.stat(self.path(path))
        except OSError:
            return None

    def glob(self, pattern):
        hits = sorted(glob.glob(self.path(pattern)))
        if self.root == "/":
            return hits
        return ["/" + os.path.relpath(hit, self.root) for hit in hits]

    def run(self, argv):
        key = ("run",) + tuple(argv)
        if key not in self._cache:
            self._cache[key] = self._runner(argv)
        return self._cache[key]

    # --- derived, cached ---------------------------------------------------------------
    def packages(self):
        """Installed packages from the dpkg status file (no subprocess)."""
        if "packages" not in self._cache:
            installed = {}
            text = self.read("/var/lib/dpkg/status") or ""
            for block in text.split("\n\n"):
                name = status = version = None
                for line in block.splitlines():
                    if line.startswith("Package: "):
                        name = line[9:].strip()
                    elif line.startswith("Status: "):
                        status = line[8:].strip()
                    elif line.startswith("Version: "):
                        version = line[9:].strip()
                if name and status and status.endswith(" installed"):
                    installed[name] = version
            self._cache["packages"] = installed
        return self._cache["packages"]

    def sysctl(self, key):
        return self.read("/proc/sys/" + key.replace(".", "/"))

    def proc_sys_writable(self):
        """False when /proc/sys is mounted read-only (containers)."""
        mounts = self.read("/proc/self/mounts") or ""
        for line in mounts.splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[1] == "/proc/sys":
                return "ro" not in fields[3].split(",")
        return True

    def mounts(self):
        table = {}
        for line in (self.read("/proc/self/mounts") or "").splitlines():
            fields = line.split()
            if len(fields) >= 4:
                table[fields[1]] = {"fstype": fields[2], "options": fields[3].split(","), "source": fields[0]}
        return table

    def service_state(self, unit):
        """(active, enabled) of a systemd unit, from systemctl."""
        rc, out = self.run(["systemctl", "is-active", unit])
        active = out.strip() or "unknown"
        rc, out = self.run(["systemctl", "is-enabled", unit])
        enabled = out.strip() or "unknown"
        return active, enabled

    def _detect_container(self, forced):
        if forced is not None:
            return bool(forced), "forced by the caller"
        if self.exists("/run/.containerenv"):
            return True, "/run/.containerenv exists"
        if self.exists("/.dockerenv"):
            return True, "/.dockerenv exists"
        environ = self.read("/proc/1/environ") or ""
        for item in environ.split("\0"):
            if item.startswith("container="):
                return True, "/proc/1/environ: " + item
        return False, "no container marker found"


def _run(argv):
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = proc.communicate()[0]
        return proc.returncode, out.decode("utf-8", "replace")
    except OSError as exc:
        return 127, str(exc)


# --------------------------------------------------------------------------------------------
# Parsers (read-only)
# --------------------------------------------------------------------------------------------
def parse_sshd_config(host, path="/etc/ssh/sshd_config", _seen=None):
    """Effective global sshd options: first value wins, Include expanded, Match blocks ignored.

    Returns {lowercase keyword: (value, file)}.
    """
    seen = _seen if _seen is not None else {}
    text = host.read(path)
    if text is None:
        return seen
    in_match = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = re.split(r"[\s=]+", line, maxsplit=1)
        key = parts[0].lower()
        value = parts[1].strip() if len(parts) > 1 else ""
        if key == "match":
            in_match = True
            continue
        if in_match:
            continue
        if key == "include":
            for pattern in value.split():
                if not pattern.startswith("/"):
                    pattern = "/etc/ssh/" + pattern
                for inc in host.glob(pattern):
                    parse_sshd_config(host, inc, seen)
            continue
        if key not in seen:
            seen[key] = (value, path)
    return seen


def parse_key_values(text, sep=None):
    """KEY VALUE (or KEY = VALUE) lines; last wins, comments dropped."""
    values = {}
    for raw in (text or "").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if sep and sep in line:
            key, value = line.split(sep, 1)
        else:
            parts = line.split(None, 1)
            key, value = parts[0], parts[1] if len(parts) > 1 else ""
        values[key.strip()] = value.strip()
    return values


def _int(value, default=None):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _ev(file, found, expected):
    return {"file": file, "found": found, "expected": expected}


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
    """Home directories of interactive accounts (UID >= 1000, not nobody), as the scanners select them."""
    uid_min = _int(parse_key_values(host.read("/etc/login.defs")).get("UID_MIN"), 1000)
    homes = []
    for line in (host.read("/etc/passwd") or "").splitlines():
        fields = line.split(":")
        if len(fields) < 7:
            continue
        uid = _int(fields[2], -1)
        if uid < uid_min or uid == 65534 or fields[5] in ("", "/", "/nonexistent"):
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


# --------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------
# ANSSI BP-028 v2.0 recommendations ("Configuration recommendations of a GNU/Linux system"), where one
# maps; the ids are those the SCAP Security Guide's BP-028 profiles use. Sysctls: _anssi_sysctl().
ANSSI = {
    "ssh_permit_root_login": ["R33"],
    "auditd_installed": ["R33"],
    "auditd_service": ["R33"],
    "perm_etc_passwd": ["R50"],
    "perm_etc_group": ["R50"],
    "perm_etc_shadow": ["R50"],
    "perm_etc_gshadow": ["R50"],
    "perm_sshd_config": ["R50"],
    "perm_sudoers_d": ["R50"],
    "pam_pwquality": ["R31"],
    "pam_faillock": ["R31"],
    "login_defs_umask": ["R36"],
    "umask_profile": ["R36"],
    "umask_etc_profile": ["R36"],
    "sudo_use_pty": ["R39"],
    "sudo_ignore_dot": ["R39"],
    "sudo_noexec": ["R39"],
    "sudo_requiretty": ["R39"],
    "sudo_umask": ["R39"],
    "sudo_dedicated_group": ["R38"],
    "home_files_permissions": ["R50"],
    "init_files_permissions": ["R50"],
    "apparmor_enforcing": ["R45"],
    "kernel_modules_disabled": ["R10"],
    "legacy_services_removed": ["R62"],
    "auto_security_updates": ["R61"],
    "mount_options": ["R28"],
    "file_integrity_tool": ["R76"],
    "aide_initialised": ["R76"],
    "aide_check_scheduled": ["R76"],
    "shell_timeout": ["R32"],
}  # storage_encrypted: BP-028 has no recommendation of its own for disk encryption.
# sudo_remove_nopasswd: the SSG content available here (0.1.65) tags it with BP-028 v1 ids only; no v2.0 id
# is claimed for it.


def _anssi_sysctl(key):
    if key.startswith("fs."):
        return ["R14"]
    if key == "kernel.yama.ptrace_scope":
        return ["R11"]
    if key.startswith("kernel."):
        return ["R9"]
    if key.startswith("net.ipv6."):
        return ["R13"]
    if key.startswith("net.ipv4.") or key.startswith("net.core."):
        return ["R12"]
    return []


def _c(cid, title, area, cis, soc2, pci, evaluator, params=None, container=None, anssi=None):
    return {"id": cid, "title": title, "area": area, "cis": cis, "soc2": list(soc2), "pci": list(pci),
            "anssi": list(anssi if anssi is not None else ANSSI.get(cid, [])),
            "evaluator": evaluator, "params": params or {}, "container": container}


def _frameworks(control):
    return {"cis": control["cis"], "soc2": control["soc2"], "pci": control["pci"], "anssi": control["anssi"]}


def _sshd(cid, title, cis, pci, key, check, expected, default=None, soc2=("CC6.1",)):
    return _c(cid, title, "ssh", cis, soc2, pci, ev_sshd,
              {"key": key, "check": check, "expected": expected, "default": default})


_SSH = [
    _sshd("ssh_permit_root_login", "SSH: root login refused", "5.1.20", ["2.2.2", "8.2.2"],
          "PermitRootLogin", _eq, "no", "prohibit-password"),
    _sshd("ssh_password_authentication", "SSH: password authentication off (keys only)", "5.1.4",
          ["8.3.1", "2.2.7"], "PasswordAuthentication", _eq, "no", "yes"),
    _sshd("ssh_kbd_interactive", "SSH: keyboard-interactive authentication off", "5.1.4", ["8.3.1"],
          "KbdInteractiveAuthentication", _eq, "no", "yes"),
    _sshd("ssh_pubkey_authentication", "SSH: public key authentication on", "5.1.4", ["8.3.1"],
          "PubkeyAuthentication", _eq, "yes", "yes"),
    _sshd("ssh_permit_empty_passwords", "SSH: empty passwords refused", "5.1.19", ["8.3.1"],
          "PermitEmptyPasswords", _eq, "no", "no"),
    _sshd("ssh_ciphers", "SSH: modern ciphers only", "5.1.6", ["2.2.7", "4.2.1"], "Ciphers", _subset,
          lambda s: s["ssh_ciphers"], soc2=("CC6.1", "CC6.7")),
    _sshd("ssh_kex", "SSH: modern key exchange only", "5.1.12", ["2.2.7", "4.2.1"], "KexAlgorithms", _subset,
          lambda s: s["ssh_kex"], soc2=("CC6.1", "CC6.7")),
    _sshd("ssh_macs", "SSH: modern MACs only", "5.1.15", ["2.2.7", "4.2.1"], "MACs", _subset,
          lambda s: s["ssh_macs"], soc2=("CC6.1", "CC6.7")),
    _sshd("ssh_client_alive_interval", "SSH: idle session timeout (interval)", "5.1.7", ["8.2.8"],
          "ClientAliveInterval", _le, lambda s: s["ssh_client_alive_interval"], "0"),
    _sshd("ssh_client_alive_count_max", "SSH: idle session timeout (count)", "5.1.7", ["8.2.8"],
          "ClientAliveCountMax", _le, lambda s: s["ssh_client_alive_count_max"], "3"),
    _sshd("ssh_max_auth_tries", "SSH: at most N authentication attempts", "5.1.16", ["8.3.4"],
          "MaxAuthTries", _le, lambda s: s["ssh_max_auth_tries"], "6"),
    _sshd("ssh_login_grace_time", "SSH: short login grace time", "5.1.13", ["8.3.4"],
          "LoginGraceTime", _le, lambda s: s["ssh_login_grace_time"], "120"),
    _sshd("ssh_max_sessions", "SSH: bounded sessions per connection", "5.1.17", ["2.2.6"],
          "MaxSessions", _le, lambda s: s["ssh_max_sessions"], "10"),
    _sshd("ssh_log_level", "SSH: logging at INFO or VERBOSE", "5.1.14", ["10.2.1"], "LogLevel", _in,
          ["INFO", "VERBOSE"], "INFO", soc2=("CC7.2",)),
    _sshd("ssh_x11_forwarding", "SSH: X11 forwarding off", "5.1.8", ["2.2.6"], "X11Forwarding", _eq, "no", "no"),
    _sshd("ssh_hostbased_authentication", "SSH: host-based authentication off", "5.1.10", ["8.3.1"],
          "HostbasedAuthentication", _eq, "no", "no"),
    _sshd("ssh_ignore_rhosts", "SSH: .rhosts ignored", "5.1.11", ["8.3.1"], "IgnoreRhosts", _eq, "yes", "yes"),
    _sshd("ssh_permit_user_environment", "SSH: user environment refused", "5.1.21", ["2.2.6"],
          "PermitUserEnvironment", _eq, "no", "no"),
    _sshd("ssh_use_pam", "SSH: PAM enabled (account lockout applies)", "5.1.22", ["8.3.4"], "UsePAM", _eq,
          "yes", "no"),
    _sshd("ssh_banner", "SSH: legal banner shown before login", "5.1.5", ["12.1.1"], "Banner", _eq,
          lambda s: s["ssh_banner"], "none", soc2=("CC2.3",)),
    _c("perm_sshd_config", "SSH: sshd_config owned by root, 0600", "ssh", "5.1.1", ["CC6.1"], ["2.2.6"],
       ev_file_mode, {"paths": ["/etc/ssh/sshd_config"]}),
    _c("banner_issue_net", "Banner: /etc/issue.net legal notice, no OS details", "ssh", "1.6.3", ["CC2.3"],
       ["12.1.1"], ev_banner, {"path": "/etc/issue.net"}),
    _c("banner_issue", "Banner: /etc/issue legal notice, no OS details", "ssh", "1.6.2", ["CC2.3"],
       ["12.1.1"], ev_banner, {"path": "/etc/issue"}),
]

_SYSCTL_MAP = {
    "kernel.randomize_va_space": ("1.5.1", ["2.2.6"]),
    "kernel.kptr_restrict": ("1.5", ["2.2.6"]),
    "kernel.dmesg_restrict": ("1.5", ["2.2.6"]),
    "kernel.yama.ptrace_scope": ("1.5.2", ["2.2.6"]),
    "kernel.sysrq": ("1.5", ["2.2.6"]),
    "fs.suid_dumpable": ("1.5.3", ["2.2.6"]),
    "fs.protected_hardlinks": ("1.5", ["2.2.6"]),
    "fs.protected_symlinks": ("1.5", ["2.2.6"]),
    "net.ipv4.ip_forward": ("3.3.1", ["1.4.2", "2.2.6"]),
    "net.ipv6.conf.all.forwarding": ("3.3.1", ["1.4.2", "2.2.6"]),
    "net.ipv4.tcp_syncookies": ("3.3.10", ["2.2.6"]),
    "net.bridge.bridge-nf-call-iptables": ("3.3", ["1.4.2", "2.2.6"]),
    "net.bridge.bridge-nf-call-ip6tables": ("3.3", ["1.4.2", "2.2.6"]),
}


def _sysctl_cis(key):
    if key in _SYSCTL_MAP:
        return _SYSCTL_MAP[key]
    for needle, section in (("send_redirects", "3.3.2"), ("ignore_bogus", "3.3.3"), ("broadcasts", "3.3.4"),
                            ("secure_redirects", "3.3.6"), ("accept_redirects", "3.3.5"), ("rp_filter", "3.3.7"),
                            ("source_route", "3.3.8"), ("log_martians", "3.3.9"), ("accept_ra", "3.3.11")):
        if needle in key:
            return section, ["1.4.2", "2.2.6"]
    return "3.3", ["2.2.6"]


def sysctl_controls(settings):
    """One control per sysctl in the effective settings (profiles may add keys)."""
    out = []
    for key in sorted(settings["sysctls"]):
        cis, pci = _sysctl_cis(key)
        area = "network" if key.startswith("net.") else "kernel"
        out.append(_c(sysctl_control_id(key), "sysctl %s = %s" % (key, settings["sysctls"][key]), area, cis,
                      ["CC6.6"] if area == "network" else ["CC6.8"], pci, ev_sysctl, {"key": key},
                      anssi=_anssi_sysctl(key)))
    return out


_PERM = [
    ("perm_etc_passwd", "/etc/passwd", "7.1.1"),
    ("perm_etc_group", "/etc/group", "7.1.3"),
    ("perm_etc_shadow", "/etc/shadow", "7.1.5"),
    ("perm_etc_gshadow", "/etc/gshadow", "7.1.7"),
]

_STATIC = _SSH + [
    _c("sysctl_persisted", "Kernel parameters persisted in /etc/sysctl.d", "kernel", "3.3", ["CC6.8"], ["2.2.6"],
       ev_sysctl_persisted),
    _c("kernel_modules_disabled", "Unused filesystems and network protocols disabled (modprobe.d)", "kernel",
       "1.1.1, 3.2", ["CC6.8"], ["2.2.4", "2.2.5"], ev_modules),
    _c("auditd_installed", "auditd installed, rules file with identity/privileged/time/module rules, immutable",
       "audit", "6.2.1.1, 6.2.3", ["CC7.2"], ["10.2.1", "10.2.1.2", "10.2.1.5", "10.3.2"], ev_audit_rules_file),
    _c("auditd_service", "auditd running and enabled", "audit", "6.2.1.2", ["CC7.2"], ["10.2.1"], ev_service,
       {"unit": "auditd", "packages": ["auditd"], "container": "auditd"}),
    _c("auditd_rules_loaded", "Audit rules loaded in the kernel", "audit", "6.2.3", ["CC7.2"],
       ["10.2.1", "10.2.2"], ev_audit_loaded),
    _c("auditd_immutable", "Audit configuration immutable (-e 2)", "audit", "6.2.3.20", ["CC7.2"], ["10.3.2"],
       ev_audit_immutable),
    _c("pam_pwquality", "PAM password quality (pwquality)", "auth", "5.3.3.2", ["CC6.1"], ["8.3.6"], ev_pwquality),
    _c("pam_faillock", "PAM account lockout after failed logins (faillock)", "auth", "5.3.3.1", ["CC6.1"],
       ["8.3.4"], ev_faillock),
    _c("login_defs_pass_max_days", "Password maximum age", "auth", "5.4.1.1", ["CC6.1"], ["8.3.9"],
       ev_login_defs, {"key": "PASS_MAX_DAYS", "op": "le"}),
    _c("login_defs_pass_min_days", "Password minimum age", "auth", "5.4.1.2", ["CC6.1"], ["8.3.7"],
       ev_login_defs, {"key": "PASS_MIN_DAYS", "op": "ge"}),
    _c("login_defs_pass_warn_age", "Password expiry warning", "auth", "5.4.1.3", ["CC6.1"], ["8.3.9"],
       ev_login_defs, {"key": "PASS_WARN_AGE", "op": "ge"}),
    _c("login_defs_encrypt_method", "Strong password hashing", "auth", "5.4.1.4", ["CC6.1"], ["8.3.2"],
       ev_login_defs, {"key": "ENCRYPT_METHOD", "op": "eq"}),
    _c("login_defs_umask", "Default umask in login.defs", "auth", "5.4.3.3", ["CC6.1"], ["7.2.1"],
       ev_login_defs, {"key": "UMASK", "op": "umask", "setting": "umask"}),
    _c("umask_profile", "Default umask for login shells", "auth", "5.4.3.3", ["CC6.1"], ["7.2.1"], ev_umask_profile),
    _c("core_dumps_disabled", "Core dumps disabled", "kernel", "1.5.3", ["CC6.1"], ["3.3.1"], ev_core_dumps),
    _c("sudo_use_pty", "sudo runs commands in a pseudo-terminal", "auth", "5.2.2", ["CC6.1"], ["10.2.1.2"],
       ev_sudo, {"pattern": r"^\s*Defaults\s+.*\buse_pty\b", "expected": "Defaults use_pty"}),
    _c("sudo_logfile", "sudo keeps its own log", "auth", "5.2.3", ["CC7.2"], ["10.2.1.2"],
       ev_sudo, {"pattern": r"^\s*Defaults\s+.*\blogfile=", "expected": "Defaults logfile=..."}),
    _c("sudo_ignore_dot", "sudo ignores '.' in PATH", "auth", "5.2", ["CC6.1"], ["2.2.6"],
       ev_sudo_default, {"option": "ignore_dot"}),
    _c("sudo_noexec", "sudo forbids commands to execute further programs (noexec)", "auth", "5.2", ["CC6.1"],
       ["2.2.6", "7.2.2"], ev_sudo_default, {"option": "noexec"}),
    _c("sudo_requiretty", "sudo only from a real terminal (requiretty)", "auth", "5.2", ["CC6.1"], ["2.2.6"],
       ev_sudo_default, {"option": "requiretty"}),
    _c("sudo_umask", "sudo runs commands with a restrictive umask", "auth", "5.2", ["CC6.1"], ["7.2.1"],
       ev_sudo_default, {"option": "umask", "setting": "sudo_umask"}),
    _c("sudo_dedicated_group", "sudo executable restricted to a dedicated group", "auth", "5.2", ["CC6.1", "CC6.3"],
       ["7.2.1", "7.2.2"], ev_sudo_group),
    _c("perm_sudoers_d", "/etc/sudoers.d owned by root, 0750 or stricter", "auth", "5.2", ["CC6.1"], ["7.2.1"],
       ev_file_mode, {"paths": ["/etc/sudoers.d"]}),
    _c("home_files_permissions", "Files and directories in interactive users' homes 0750 or stricter", "files",
       "7.2.9", ["CC6.1"], ["7.2.1"], ev_home_files, {"setting": "home_files_mode"}),
    _c("init_files_permissions", "User initialisation (dot) files 0740 or stricter", "files", "7.2.10", ["CC6.1"],
       ["7.2.1"], ev_home_files, {"setting": "init_files_mode", "init_files": True}),
    _c("sudo_remove_nopasswd", "sudo asks for authentication (no NOPASSWD, no !authenticate)", "auth", "5.2.4",
       ["CC6.1"], ["8.2.2", "8.3.1"], ev_sudo_nopasswd),
    _c("shell_timeout", "Idle interactive shells time out (readonly TMOUT)", "auth", "5.4.3.2", ["CC6.1"], ["8.2.8"],
       ev_shell_timeout),
    _c("umask_etc_profile", "Default umask set in /etc/profile itself", "auth", "5.4.3.3", ["CC6.1"], ["7.2.1"],
       ev_umask_file, {"path": "/etc/profile"}),
] + [
    _c(cid, "%s owned by root, not more permissive than expected" % path, "files", cis, ["CC6.1"], ["7.2.1", "8.3.2"],
       ev_file_mode, {"paths": [path]})
    for cid, path, cis in _PERM
] + [
    _c("perm_cron", "cron files and directories root-only", "files", "2.4.1.2-2.4.1.7", ["CC6.1"], ["7.2.1"],
       ev_file_mode, {"paths": ["/etc/crontab", "/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily",
                                "/etc/cron.weekly", "/etc/cron.monthly"], "optional": True}),
    _c("cron_restricted", "crontab restricted to cron.allow", "services", "2.4.1.8", ["CC6.1"], ["7.2.1"],
       ev_allow_file, {"allow": "/etc/cron.allow", "deny": "/etc/cron.deny", "package": "cron"}),
    _c("at_restricted", "at restricted to at.allow", "services", "2.4.2.1", ["CC6.1"], ["7.2.1"],
       ev_allow_file, {"allow": "/etc/at.allow", "deny": "/etc/at.deny", "package": "at"}),
    _c("file_integrity_tool", "File integrity tool (AIDE) installed", "services", "6.3.1", ["CC7.1"],
       ["11.5.2"], ev_package_installed, {"setting": "file_integrity_packages"}),
    _c("aide_initialised", "AIDE database initialised, SHA-256/SHA-512 checksums", "services", "6.3.1", ["CC7.1"],
       ["11.5.2"], ev_aide_database),
    _c("aide_check_scheduled", "AIDE check scheduled (dailyaidecheck timer enabled)", "services", "6.3.2",
       ["CC7.1", "CC7.2"], ["11.5.2"], ev_aide_scheduled),
    _c("cron_service", "cron running and enabled", "services", "2.4.1.1", ["CC7.1"], ["10.2.1"], ev_service,
       {"unit": "cron", "packages": ["cron"]}),
    _c("apparmor_enforcing", "AppArmor enabled, profiles enforcing", "mac", "1.3.1.1-1.3.1.4", ["CC6.8"],
       ["5.2.1", "2.2.6"], ev_apparmor),
    _c("legacy_services_removed", "Legacy network services and clients removed", "services", "2.1, 2.2",
       ["CC6.8"], ["2.2.4", "2.2.5"], ev_packages_absent, {"setting": "legacy_packages"}),
    _c("time_sync_single_daemon", "Exactly one time synchronisation daemon", "time", "2.3.1.1", ["CC7.2"],
       ["10.6.1"], ev_single_time_daemon),
    _c("time_sync_configured", "Time synchronisation has sources", "time", "2.3.3.1", ["CC7.2"],
       ["10.6.2"], ev_time_sync_config),
    _c("time_sync_service", "Time synchronisation daemon running", "time", "2.3.3.3", ["CC7.2"], ["10.6.1"],
       ev_service, {"setting": "time_sync_service", "container": "time"}),
    _c("auto_security_updates", "Automatic security updates (unattended-upgrades)", "updates", "1.2.2.1",
       ["CC7.1", "CC8.1"], ["6.3.3"], ev_auto_updates),
    _c("mount_options", "Temporary filesystems mounted nodev,nosuid,noexec", "filesystem", "1.1.2", ["CC6.8"],
       ["2.2.6"], ev_mounts),
    _c("storage_encrypted", "Encryption at rest: local filesystems on LUKS/dm-crypt", "filesystem", "1.1", ["CC6.1",
       "CC6.7"], ["3.5.1"], ev_storage_encrypted, {"container": "storage"}),
    # ANSSI BP-028 "enhanced" rules the catalogue lacked (SSG 0.1.76 scan of a lab host)
    _c("umask_etc_bashrc", "Default umask set in /etc/bash.bashrc", "auth", "5.4.3.3", ["CC6.1"], ["7.2.1"],
       ev_umask_file, {"path": "/etc/bash.bashrc"}, anssi=["R36"]),
    _c("pam_unix_history_rounds", "Password history (remember) and hashing cost (rounds) in pam_unix", "auth",
       "5.3.3.3", ["CC6.1"], ["8.3.7"], ev_pam_unix_password, anssi=["R31", "R68"]),
    _c("root_password_max_age", "root's password expires", "auth", "5.4.1.1", ["CC6.1"], ["8.3.9"],
       ev_root_password_max_age, anssi=["R31"]),
    _c("kernel_64bit", "A 64-bit kernel (SSG prefer_64bit_os)", "kernel", "1.5", ["CC6.8"], ["2.2.1"],
       ev_kernel_64bit),
    _c("apt_security_source", "The security suite is an enabled package source", "updates", "1.2.1.2",
       ["CC7.1", "CC8.1"], ["6.3.3"], ev_apt_security_source, anssi=["R61"]),
    _c("sudoers_explicit_commands", "sudoers rules name explicit commands with their arguments", "auth", "5.2",
       ["CC6.1", "CC6.3"], ["7.2.2"], ev_sudoers_rules, {"check": "commands"}, anssi=["R42"]),
    _c("sudoers_no_root_target", "No sudoers rule runs commands as root or ALL", "auth", "5.2", ["CC6.1", "CC6.3"],
       ["7.2.2"], ev_sudoers_rules, {"check": "runas"}, anssi=["R40"]),
]


def catalogue(settings=None):
    """Every control for the given (effective) settings, in report order."""
    settings = merge_settings(settings)
    controls = list(_STATIC)
    controls[len(_SSH):len(_SSH)] = sysctl_controls(settings)
    return controls


def control_ids(settings=None):
    return [c["id"] for c in catalogue(settings)]


def merge_settings(overrides):
    merged = dict(DEFAULT_SETTINGS)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        merged[key] = value
    return merged


def public_catalogue(settings=None):
    """The catalogue without callables: what the module returns and the docs list."""
    rows = []
    for c in catalogue(settings):
        rows.append({"id": c["id"], "title": c["title"], "area": c["area"],
                     "frameworks": _frameworks(c),
                     "container": CONTAINER_REASONS.get(c["params"].get("container")) if c["params"].get("container")
                     else None})
    return rows


# --------------------------------------------------------------------------------------------
# Waivers
# --------------------------------------------------------------------------------------------
class WaiverError(ValueError):
    pass


def parse_waivers(waivers, today=None):
    """Validate waivers; returns {control id: waiver dict with `expired` bool}."""
    today = today or datetime.date.today()
    out = {}
    for index, waiver in enumerate(waivers or []):
        if not isinstance(waiver, dict):
            raise WaiverError("waiver #%d is not a mapping" % index)
        missing = [k for k in ("control", "justification", "owner", "expires") if not str(waiver.get(k) or "").strip()]
        if missing:
            raise WaiverError("waiver #%d (%s) lacks %s" % (index, waiver.get("control", "?"), ", ".join(missing)))
        expires = waiver["expires"]
        if isinstance(expires, datetime.datetime):
            expires = expires.date()
        if not isinstance(expires, datetime.date):
            try:
                expires = datetime.datetime.strptime(str(expires).strip(), "%Y-%m-%d").date()
            except ValueError:
                raise WaiverError("waiver #%d (%s): expires %r is not YYYY-MM-DD" % (index, waiver["control"], expires))
        out[str(waiver["control"])] = {
            "control": str(waiver["control"]),
            "justification": str(waiver["justification"]),
            "owner": str(waiver["owner"]),
            "expires": expires.isoformat(),
            "expired": expires < today,
            "compensating_control": str(waiver.get("compensating_control") or "") or None,
        }
    return out


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------
def evaluate(host, settings=None, waivers=None, only=None, today=None):
    """Evaluate every control (or the ids in ``only``); returns (results, summary)."""
    started = time.time()
    settings = merge_settings(settings)
    parsed = parse_waivers(waivers, today=today)
    controls = catalogue(settings)
    known = set(c["id"] for c in controls)
    unknown = sorted(set(parsed) - known) + sorted(set(only or []) - known)
    if unknown:
        raise WaiverError("unknown control id(s): %s" % ", ".join(unknown))
    results = []
    for control in controls:
        if only and control["id"] not in only:
            continue
        try:
            status, evidence, message = control["evaluator"](host, settings, control["params"])
        except Exception as exc:  # an evaluator bug must show as a failed control, not a crash
            status, evidence, message = FAIL, _ev(None, None, None), "evaluator error: %s" % exc
        waiver = parsed.get(control["id"])
        if waiver and status != PASS:
            if waiver["expired"]:
                status = FAIL
                message = "waiver expired on %s (owner %s): %s" % (waiver["expires"], waiver["owner"], message)
            else:
                status = WAIVED
                message = "waived until %s by %s: %s%s (%s)" % (
                    waiver["expires"], waiver["owner"], waiver["justification"],
                    "; compensating control: %s" % waiver["compensating_control"] if waiver["compensating_control"] else "",
                    message)
        elif waiver and waiver["expired"]:
            message += " (expired waiver still declared; remove it)"
        results.append({
            "id": control["id"],
            "title": control["title"],
            "area": control["area"],
            "status": status,
            "message": message,
            "evidence": evidence,
            "frameworks": _frameworks(control),
            "waiver": waiver,
        })
    return results, summarise(results, time.time() - started)


def summarise(results, duration=None):
    counts = dict((s, 0) for s in STATUSES)
    for row in results:
        counts[row["status"]] += 1
    scored = counts[PASS] + counts[FAIL]
    summary = {
        "total": len(results),
        "counts": counts,
        "score": round(100.0 * counts[PASS] / scored, 1) if scored else 100.0,
        "failed": [r["id"] for r in results if r["status"] == FAIL],
    }
    if duration is not None:
        summary["duration_seconds"] = round(duration, 3)
    return summary
