# -*- coding: utf-8 -*-
# Copyright: contributors to sovereign.datacenter
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compliance controls, the catalogue (private helper): every control with its evaluator,
parameters and its mapping to CIS Debian 12 v1.1.0, SOC 2, PCI DSS 4.0 and ANSSI BP-028 v2.0.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.datacenter.plugins.module_utils._compliance_settings import (
    DEFAULT_SETTINGS,
)
from ansible_collections.sovereign.datacenter.plugins.module_utils._compliance_host import (
    CONTAINER_REASONS,
    sysctl_control_id,
)
from ansible_collections.sovereign.datacenter.plugins.module_utils._compliance_eval_system import (
    _eq,
    _in,
    _le,
    _subset,
    ev_core_dumps,
    ev_faillock,
    ev_login_defs,
    ev_modules,
    ev_package_installed,
    ev_packages_absent,
    ev_pwquality,
    ev_service,
    ev_sshd,
    ev_sysctl,
    ev_sysctl_persisted,
    ev_umask_profile,
)
from ansible_collections.sovereign.datacenter.plugins.module_utils._compliance_eval_access import (
    ev_allow_file,
    ev_apt_security_source,
    ev_file_mode,
    ev_home_files,
    ev_kernel_64bit,
    ev_pam_unix_password,
    ev_root_password_max_age,
    ev_sudo,
    ev_sudo_default,
    ev_sudo_group,
    ev_sudoers_rules,
    ev_umask_file,
)
from ansible_collections.sovereign.datacenter.plugins.module_utils._compliance_eval_audit import (
    ev_aide_database,
    ev_aide_scheduled,
    ev_apparmor,
    ev_audit_immutable,
    ev_audit_loaded,
    ev_audit_rules_file,
    ev_auto_updates,
    ev_banner,
    ev_mounts,
    ev_shell_timeout,
    ev_single_time_daemon,
    ev_storage_encrypted,
    ev_sudo_nopasswd,
    ev_time_sync_config,
)


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
