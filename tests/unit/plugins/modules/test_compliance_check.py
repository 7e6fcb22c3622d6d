# -*- coding: utf-8 -*-
"""Evaluators of the compliance catalogue against file trees written under a tmp root."""
from __future__ import absolute_import, division, print_function

import datetime
import os

import pytest

from ansible_collections.sovereign.datacenter.plugins.module_utils import _compliance as c

TODAY = datetime.date(2026, 11, 22)

HARDENED_SSHD = """\
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com
KexAlgorithms curve25519-sha256
MACs hmac-sha2-512-etm@openssh.com
ClientAliveInterval 300
ClientAliveCountMax 2
Banner /etc/issue.net
Include /etc/ssh/sshd_config.d/*.conf
"""


def write(root, path, text, mode=0o644):
    full = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)
    os.chmod(full, mode)
    return full


def dpkg(root, *packages):
    write(root, "/var/lib/dpkg/status", "\n\n".join(
        "Package: %s\nStatus: install ok installed\nVersion: 1\n" % p for p in packages) + "\n")


def fake_runner(table):
    def run(argv):
        return table.get(tuple(argv), (1, "unknown"))
    return run


def host(root, container=False, commands=None):
    return c.Host(root=str(root), container=container, runner=fake_runner(commands or {}))


def one(h, cid, settings=None, waivers=None):
    results, unused = c.evaluate(h, settings=settings, waivers=waivers, only=[cid], today=TODAY)
    assert len(results) == 1
    return results[0]


@pytest.fixture
def root(tmp_path):
    dpkg(tmp_path, "openssh-server", "cron", "chrony", "unattended-upgrades", "auditd")
    write(tmp_path, "/etc/ssh/sshd_config", HARDENED_SSHD, 0o600)
    write(tmp_path, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
    write(tmp_path, "/etc/group", "root:x:0:\nshadow:x:%d:\n" % os.getgid())
    return tmp_path


def test_sshd_pass_and_fail_with_evidence(root):
    assert one(host(root), "ssh_permit_root_login")["status"] == "pass"
    write(root, "/etc/ssh/sshd_config", "PermitRootLogin yes\n" + HARDENED_SSHD, 0o600)
    row = one(host(root), "ssh_permit_root_login")
    assert row["status"] == "fail"
    assert row["evidence"] == {"file": "/etc/ssh/sshd_config", "found": "PermitRootLogin yes",
                               "expected": "PermitRootLogin no"}
    assert row["frameworks"]["cis"] == "5.1.20"
    assert "8.2.2" in row["frameworks"]["pci"]


def test_sshd_first_value_wins_through_include(root):
    write(root, "/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\n" + HARDENED_SSHD, 0o600)
    write(root, "/etc/ssh/sshd_config.d/10-bad.conf", "PasswordAuthentication yes\n")
    row = one(host(root), "ssh_password_authentication")
    assert row["status"] == "fail"
    assert row["evidence"]["file"] == "/etc/ssh/sshd_config.d/10-bad.conf"


def test_sshd_unset_option_uses_openssh_default(root):
    write(root, "/etc/ssh/sshd_config", "Port 22\n", 0o600)
    row = one(host(root), "ssh_permit_root_login")
    assert row["status"] == "fail" and row["evidence"]["found"] == "PermitRootLogin prohibit-password"
    assert one(host(root), "ssh_ciphers")["status"] == "fail"


def test_sshd_cipher_outside_allowed_list_fails(root):
    write(root, "/etc/ssh/sshd_config", "Ciphers aes128-cbc,aes256-gcm@openssh.com\n", 0o600)
    assert one(host(root), "ssh_ciphers")["status"] == "fail"


def test_match_blocks_ignored(root):
    write(root, "/etc/ssh/sshd_config", HARDENED_SSHD + "Match User x\n  PasswordAuthentication yes\n", 0o600)
    assert one(host(root), "ssh_password_authentication")["status"] == "pass"


def test_file_mode_too_permissive(root):
    write(root, "/etc/shadow", "root:*:1::::::\n", 0o640)
    assert one(host(root), "perm_etc_shadow")["status"] == "pass"
    os.chmod(os.path.join(str(root), "etc/shadow"), 0o644)
    row = one(host(root), "perm_etc_shadow")
    assert row["status"] == "fail"
    assert "0644" in row["evidence"]["found"][0]


def test_stricter_mode_passes(root):
    write(root, "/etc/shadow", "x\n", 0o600)
    assert one(host(root), "perm_etc_shadow")["status"] == "pass"


def test_sysctl_container_rules(root):
    write(root, "/proc/sys/kernel/randomize_va_space", "2\n")
    write(root, "/proc/sys/net/ipv4/ip_forward", "1\n")
    row = one(host(root, container=True), "sysctl_kernel_randomize_va_space")
    assert row["status"] == "not_applicable" and row["message"].startswith("container:")
    # net.* is per network namespace: evaluated for real even in a container.
    row = one(host(root, container=True), "sysctl_net_ipv4_ip_forward")
    assert row["status"] == "fail" and row["evidence"]["found"] == "1"
    assert one(host(root), "sysctl_kernel_randomize_va_space")["status"] == "pass"


def test_ai_profile_allows_forwarding(root):
    write(root, "/proc/sys/net/ipv4/ip_forward", "1\n")
    sysctls = dict(c.DEFAULT_SETTINGS["sysctls"], **{"net.ipv4.ip_forward": 1})
    assert one(host(root), "sysctl_net_ipv4_ip_forward", settings={"sysctls": sysctls})["status"] == "pass"


def test_container_only_controls_are_not_applicable(root):
    h = host(root, container=True)
    for cid in ("auditd_rules_loaded", "auditd_immutable", "auditd_service", "apparmor_enforcing",
                "kernel_modules_disabled", "mount_options", "time_sync_service"):
        row = one(h, cid)
        assert row["status"] == "not_applicable", cid
        assert row["message"].startswith("container:"), cid


def test_service_stopped_fails(root):
    h = host(root, commands={("systemctl", "is-active", "cron"): (3, "inactive\n"),
                             ("systemctl", "is-enabled", "cron"): (0, "enabled\n")})
    row = one(h, "cron_service")
    assert row["status"] == "fail" and row["evidence"]["found"] == "inactive/enabled"
    h = host(root, commands={("systemctl", "is-active", "cron"): (0, "active\n"),
                             ("systemctl", "is-enabled", "cron"): (0, "enabled\n")})
    assert one(h, "cron_service")["status"] == "pass"


def test_audit_loaded_on_vm(root):
    out = "\n".join("-w /x -p wa -k %s" % k for k in c.DEFAULT_SETTINGS["audit_keys"])
    h = host(root, commands={("auditctl", "-l"): (0, out), ("auditctl", "-s"): (0, "enabled 2\n")})
    assert one(h, "auditd_rules_loaded")["status"] == "pass"
    assert one(h, "auditd_immutable")["status"] == "pass"
    h = host(root, commands={("auditctl", "-l"): (0, "-w /x -k identity"), ("auditctl", "-s"): (0, "enabled 1\n")})
    assert one(h, "auditd_rules_loaded")["status"] == "fail"
    assert one(h, "auditd_immutable")["evidence"]["found"] == "enabled 1"


def test_audit_rules_file(root):
    assert one(host(root), "auditd_installed")["status"] == "fail"
    write(root, "/etc/audit/rules.d/50-hardening.rules", "\n".join(c.DEFAULT_SETTINGS["audit_rules"]) + "\n")
    write(root, "/etc/audit/rules.d/99-finalize.rules", "-e 2\n")
    assert one(host(root), "auditd_installed")["status"] == "pass"


def test_modules_blacklist_on_vm(root):
    text = "".join("install %s /bin/false\nblacklist %s\n" % (m, m) for m in c.DEFAULT_SETTINGS["blacklisted_modules"])
    write(root, "/etc/modprobe.d/60-hardening-blacklist.conf", text)
    write(root, "/proc/modules", "ext4 1 0 - Live 0x0\n")
    assert one(host(root), "kernel_modules_disabled")["status"] == "pass"
    write(root, "/proc/modules", "usb_storage 1 0 - Live 0x0\n")
    row = one(host(root), "kernel_modules_disabled")
    assert row["status"] == "fail" and row["evidence"]["found"]["loaded"] == ["usb-storage"]


def test_login_defs_and_umask(root):
    write(root, "/etc/login.defs", "PASS_MAX_DAYS 99999\nUMASK 022\nENCRYPT_METHOD YESCRYPT\n")
    assert one(host(root), "login_defs_pass_max_days")["status"] == "fail"
    assert one(host(root), "login_defs_umask")["status"] == "fail"
    assert one(host(root), "login_defs_encrypt_method")["status"] == "pass"
    write(root, "/etc/login.defs", "PASS_MAX_DAYS 90\nUMASK 077\n")
    assert one(host(root), "login_defs_pass_max_days")["status"] == "pass"
    assert one(host(root), "login_defs_umask")["status"] == "pass"


def test_pam(root):
    write(root, "/etc/security/pwquality.conf", "minlen = 8\n")
    row = one(host(root), "pam_pwquality")
    assert row["status"] == "fail" and "minlen" in row["evidence"]["found"]
    write(root, "/etc/security/pwquality.conf", "minlen = 15\nminclass = 4\nmaxrepeat = 3\ndifok = 2\ndictcheck = 1\n"
          "dcredit = 0\nucredit = -1\nlcredit = -1\nocredit = -1\n")
    write(root, "/etc/pam.d/common-password", "password requisite pam_pwquality.so retry=3\n")
    row = one(host(root), "pam_pwquality")  # dcredit 0 requires no digit
    assert row["status"] == "fail" and "dcredit" in row["evidence"]["found"]
    write(root, "/etc/security/pwquality.conf", "minlen = 15\nminclass = 4\nmaxrepeat = 3\ndifok = 2\ndictcheck = 1\n"
          "dcredit = -1\nucredit = -1\nlcredit = -2\nocredit = -1\n")
    write(root, "/etc/pam.d/common-password", "password requisite pam_pwquality.so retry=3\n")
    assert one(host(root), "pam_pwquality")["status"] == "pass"
    write(root, "/etc/security/faillock.conf", "deny = 3\nunlock_time = 900\n")
    write(root, "/etc/pam.d/common-auth", "auth required pam_faillock.so preauth\nauth [default=die] pam_faillock.so authfail\n")
    assert one(host(root), "pam_faillock")["status"] == "fail"  # account stack missing
    write(root, "/etc/pam.d/common-account", "account required pam_faillock.so\n")
    assert one(host(root), "pam_faillock")["status"] == "pass"


def test_waivers_valid_expired_and_invalid(root):
    write(root, "/etc/ssh/sshd_config", "PermitRootLogin yes\n", 0o600)
    valid = [{"control": "ssh_permit_root_login", "justification": "j", "owner": "o", "expires": "2026-11-22"}]
    row = one(host(root), "ssh_permit_root_login", waivers=valid)
    assert row["status"] == "waived" and row["waiver"]["expired"] is False
    expired = [dict(valid[0], expires="2026-11-21")]
    row = one(host(root), "ssh_permit_root_login", waivers=expired)
    assert row["status"] == "fail" and "expired" in row["message"]
    # A passing control stays pass even with a stale waiver, which is flagged.
    write(root, "/etc/ssh/sshd_config", HARDENED_SSHD, 0o600)
    row = one(host(root), "ssh_permit_root_login", waivers=expired)
    assert row["status"] == "pass" and "remove it" in row["message"]
    for bad in ([{"control": "ssh_permit_root_login", "owner": "o", "expires": "2026-12-01"}],
                [dict(valid[0], expires="next year")],
                [dict(valid[0], control="no_such_control")]):
        with pytest.raises(c.WaiverError):
            c.evaluate(host(root), waivers=bad, today=TODAY)


def test_whole_catalogue_runs_and_summarises(root):
    results, summary = c.evaluate(host(root, container=True), today=TODAY)
    ids = [r["id"] for r in results]
    assert len(ids) == len(set(ids)) > 60
    assert summary["total"] == len(results)
    assert sum(summary["counts"].values()) == len(results)
    for row in results:
        assert row["status"] in c.STATUSES
        assert set(row["evidence"]) == {"file", "found", "expected"}
        assert row["frameworks"]["cis"] and row["frameworks"]["soc2"] and row["frameworks"]["pci"]
        assert "evaluator error" not in row["message"], row


def test_real_container_detection_markers(tmp_path):
    write(tmp_path, "/run/.containerenv", "")
    assert c.Host(root=str(tmp_path)).container is True
    assert c.Host(root=str(tmp_path / "nothing")).container is False


def test_core_dumps(root):
    assert one(host(root), "core_dumps_disabled")["status"] == "fail"
    write(root, "/etc/security/limits.d/60-hardening-core.conf", "* hard core 0\n")
    assert one(host(root), "core_dumps_disabled")["status"] == "pass"
    dpkg(root, "systemd-coredump")
    assert one(host(root), "core_dumps_disabled")["status"] == "fail"
    write(root, "/etc/systemd/coredump.conf.d/60-hardening.conf", "[Coredump]\nStorage=none\n")
    assert one(host(root), "core_dumps_disabled")["status"] == "pass"


# --- issue 17: the controls an independent ANSSI BP-028 scan found failing ------------------------
def test_sudo_defaults_global_only_with_umask_value(root):
    dpkg(root, "sudo")
    write(root, "/etc/sudoers", "Defaults env_reset\n%sudo ALL=(ALL:ALL) ALL\n", 0o440)
    for cid in ("sudo_ignore_dot", "sudo_noexec", "sudo_requiretty", "sudo_umask"):
        row = one(host(root), cid)
        assert row["status"] == "fail" and row["frameworks"]["anssi"] == ["R39"], cid
    # Per-user or per-command Defaults do not count; a negation after the option wins.
    write(root, "/etc/sudoers.d/60-hardening", "Defaults:ops requiretty\nDefaults ignore_dot\nDefaults !ignore_dot\n"
          "Defaults umask=0022\n", 0o440)
    assert one(host(root), "sudo_requiretty")["status"] == "fail"
    assert one(host(root), "sudo_ignore_dot")["status"] == "fail"
    row = one(host(root), "sudo_umask")
    assert row["status"] == "fail" and row["evidence"]["expected"] == "Defaults umask=0077"
    write(root, "/etc/sudoers.d/60-hardening", "Defaults use_pty, ignore_dot\nDefaults umask=0077\n"
          "Defaults requiretty\nDefaults noexec\n", 0o440)
    for cid in ("sudo_ignore_dot", "sudo_noexec", "sudo_requiretty", "sudo_umask"):
        assert one(host(root), cid)["status"] == "pass", cid


def test_sudo_not_installed_is_not_applicable(root):
    assert one(host(root), "sudo_noexec")["status"] == "not_applicable"
    assert one(host(root), "sudo_dedicated_group")["status"] == "not_applicable"


def test_sudo_dedicated_group_and_sudoers_d(root):
    dpkg(root, "sudo")
    gid = os.getgid()
    write(root, "/etc/group", "root:x:0:\nsovereign-admins:x:%d:ops\n" % gid)
    write(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n%s:x:%d:0::/x:/bin/sh\n" % ("me", os.getuid()))
    path = write(root, "/usr/bin/sudo", "", 0o4755)
    row = one(host(root), "sudo_dedicated_group")
    assert row["status"] == "fail" and "mode 4755" in row["message"] and row["frameworks"]["anssi"] == ["R38"]
    os.chmod(path, 0o4750)
    row = one(host(root), "sudo_dedicated_group")
    # the test runs unprivileged: owner is the test user, which the check reports
    assert ("owner" in row["message"]) == (os.getuid() != 0)
    os.makedirs(os.path.join(str(root), "etc/sudoers.d"), exist_ok=True)
    os.chmod(os.path.join(str(root), "etc/sudoers.d"), 0o755)
    row = one(host(root), "perm_sudoers_d")
    assert row["status"] == "fail" and "0755" in " ".join(row["evidence"]["found"])


def test_home_and_init_files(root):
    home = os.path.join(str(root), "home/ops")
    write(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nops:x:1000:1000::/home/ops:/bin/bash\n"
          "nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n")
    write(root, "/root/.bashrc", "", 0o644)  # root is not an interactive user of these checks
    write(root, "/home/ops/.bashrc", "", 0o644)
    write(root, "/home/ops/.profile", "", 0o750)
    write(root, "/home/ops/notes/todo", "", 0o640)
    os.chmod(home, 0o750)
    os.chmod(os.path.join(home, "notes"), 0o750)
    os.symlink("/etc/passwd", os.path.join(home, "link"))
    row = one(host(root), "home_files_permissions")
    assert row["status"] == "fail" and row["evidence"]["found"] == ["/home/ops/.bashrc 0644"]
    row = one(host(root), "init_files_permissions")
    assert row["status"] == "fail" and sorted(row["evidence"]["found"]) == ["/home/ops/.bashrc 0644",
                                                                            "/home/ops/.profile 0750"]
    os.chmod(os.path.join(home, ".bashrc"), 0o640)
    os.chmod(os.path.join(home, ".profile"), 0o740)
    assert one(host(root), "home_files_permissions")["status"] == "pass"
    assert one(host(root), "init_files_permissions")["status"] == "pass"


def test_umask_in_etc_profile_itself(root):
    write(root, "/etc/profile.d/60-hardening-umask.sh", "umask 077\n")
    row = one(host(root), "umask_etc_profile")
    assert row["status"] == "fail" and row["frameworks"]["anssi"] == ["R36"]
    write(root, "/etc/profile", "PATH=/bin\numask 027\n")
    assert one(host(root), "umask_etc_profile")["status"] == "fail"  # weaker than the 077 default
    write(root, "/etc/profile", "PATH=/bin\numask 077\n")
    assert one(host(root), "umask_etc_profile")["status"] == "pass"
    # the line the role writes carries a comment
    write(root, "/etc/profile", "PATH=/bin\numask 077  # managed by sovereign.datacenter.hardening\n")
    assert one(host(root), "umask_etc_profile")["status"] == "pass"
    # the same evaluator reads /etc/bash.bashrc for its own control
    assert one(host(root), "umask_etc_bashrc")["status"] == "fail"
    write(root, "/etc/bash.bashrc", "umask 077\n")
    assert one(host(root), "umask_etc_bashrc")["status"] == "pass"


def test_kernel_64bit_by_release_name(root):
    write(root, "/proc/sys/kernel/osrelease", "6.1.0-28-amd64\n")
    assert one(host(root), "kernel_64bit")["status"] == "pass"
    write(root, "/proc/sys/kernel/osrelease", "6.18.44-fc-v857\n")  # the CI VM's kernel: x86_64, another name
    row = one(host(root), "kernel_64bit")
    assert row["status"] == "fail" and row["evidence"]["found"] == "6.18.44-fc-v857"
    os.remove(os.path.join(str(root), "proc/sys/kernel/osrelease"))  # an offline root has no running kernel
    assert one(host(root), "kernel_64bit")["status"] == "not_applicable"


def test_apt_security_source_in_either_format(root):
    write(root, "/etc/apt/sources.list", "# Managed: see sovereign.sources\n")
    write(root, "/etc/apt/sources.list.d/sovereign.sources",
          "Types: deb\nURIs: http://mirror/debian\nSuites: bookworm bookworm-updates\nComponents: main\n")
    row = one(host(root), "apt_security_source")
    assert row["status"] == "fail" and row["frameworks"]["anssi"] == ["R61"]
    write(root, "/etc/apt/sources.list.d/sovereign.sources",
          "Types: deb\nURIs: http://mirror/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n"
          "Types: deb\nURIs: http://mirror/debian-security\nSuites: bookworm-security\nComponents: main\nEnabled: no\n")
    assert one(host(root), "apt_security_source")["status"] == "fail"  # present but disabled
    write(root, "/etc/apt/sources.list.d/sovereign.sources",
          "Types: deb\nURIs: http://mirror/debian-security\nSuites: bookworm-security\nComponents: main\n")
    assert one(host(root), "apt_security_source")["status"] == "pass"
    os.remove(os.path.join(str(root), "etc/apt/sources.list.d/sovereign.sources"))
    write(root, "/etc/apt/sources.list", "deb [signed-by=/k.gpg] http://security.debian.org/debian-security bookworm-security main\n")
    assert one(host(root), "apt_security_source")["status"] == "pass"


def test_waiver_carries_its_compensating_control(root):
    dpkg(root, "sudo")
    write(root, "/etc/sudoers", "Defaults use_pty\n", 0o440)
    row = one(host(root), "sudo_requiretty", waivers=[{
        "control": "sudo_requiretty", "justification": "ansible pipelining", "owner": "sec",
        "expires": "2027-12-31", "compensating_control": "use_pty and sudo log"}])
    assert row["status"] == "waived"
    assert row["waiver"]["compensating_control"] == "use_pty and sudo log"
    assert "compensating control: use_pty and sudo log" in row["message"]


def test_storage_encrypted(root):
    assert one(host(root, container=True), "storage_encrypted")["status"] == "not_applicable"
    write(root, "/proc/self/mounts", "/dev/sda2 / ext4 rw 0 0\n/dev/sda1 /boot ext4 rw 0 0\n"
          "/dev/mapper/data /var/lib/postgresql ext4 rw 0 0\nproc /proc proc rw 0 0\n")
    os.makedirs(os.path.join(str(root), "dev/mapper"))
    write(root, "/dev/dm-0", "")
    write(root, "/dev/dm-1", "")
    os.symlink("../dm-1", os.path.join(str(root), "dev/mapper/data"))
    write(root, "/sys/block/dm-1/dm/uuid", "LVM-abc\n")
    write(root, "/sys/block/dm-1/slaves/dm-0", "")
    write(root, "/sys/block/dm-0/dm/uuid", "CRYPT-LUKS2-123-data\n")
    row = one(host(root), "storage_encrypted")
    assert row["status"] == "fail" and row["evidence"]["found"] == {
        "encrypted": ["/var/lib/postgresql"], "not_encrypted": ["/ (/dev/sda2)"]}
    write(root, "/proc/self/mounts", "/dev/mapper/data / ext4 rw 0 0\n/dev/sda1 /boot ext4 rw 0 0\n")
    assert one(host(root), "storage_encrypted")["status"] == "pass"


# --- issue 17: AIDE baseline and schedule, sudo without authentication, shell timeout -----------------
AIDE_CONF = "database_in=file:/var/lib/aide/aide.db\nChecksums = %s\n/etc Integrity\n"


def test_aide_database_and_checksums(root):
    assert one(host(root), "aide_initialised")["message"] == "aide is not installed"
    dpkg(root, "aide", "aide-common")
    write(root, "/etc/aide/aide.conf", AIDE_CONF % "H")
    commands = {("systemctl", "is-active", "sovereign-aide-init.service"): (0, "activating\n")}
    row = one(host(root, commands=commands), "aide_initialised")
    assert row["status"] == "fail" and "initialisation running" in row["message"] and "SHA-512" in row["message"]
    assert row["frameworks"]["anssi"] == ["R76"] and row["frameworks"]["cis"] == "6.3.1"
    write(root, "/etc/aide/aide.conf", AIDE_CONF % "sha512")
    write(root, "/var/lib/aide/aide.db", "baseline")
    row = one(host(root), "aide_initialised")
    assert row["status"] == "pass" and row["evidence"]["found"]["Checksums"] == "sha512", row


def test_aide_check_scheduled(root):
    dpkg(root, "aide", "aide-common")
    off = {("systemctl", "is-active", "dailyaidecheck.timer"): (3, "inactive\n"),
           ("systemctl", "is-enabled", "dailyaidecheck.timer"): (1, "disabled\n")}
    row = one(host(root, commands=off), "aide_check_scheduled")
    assert row["status"] == "fail" and row["evidence"]["found"] == "inactive/disabled"
    on = {("systemctl", "is-active", "dailyaidecheck.timer"): (0, "active\n"),
          ("systemctl", "is-enabled", "dailyaidecheck.timer"): (0, "enabled\n")}
    # a container has a real systemd: the schedule is evaluated there too, never not_applicable
    assert one(host(root, container=True, commands=on), "aide_check_scheduled")["status"] == "pass"


def test_sudo_nopasswd_fails_and_the_platform_waiver_applies(root):
    dpkg(root, "sudo")
    write(root, "/etc/sudoers", "Defaults env_reset\n%sudo ALL=(ALL:ALL) ALL\n", 0o440)
    assert one(host(root), "sudo_remove_nopasswd")["status"] == "pass"
    write(root, "/etc/sudoers.d/50-sovereign-admins", "%sovereign-admins ALL=(ALL:ALL) NOPASSWD: ALL\n", 0o440)
    row = one(host(root), "sudo_remove_nopasswd")
    assert row["status"] == "fail" and row["frameworks"]["cis"] == "5.2.4"
    assert row["evidence"]["found"] == ["/etc/sudoers.d/50-sovereign-admins: %sovereign-admins ALL=(ALL:ALL) NOPASSWD: ALL"]
    waiver = {"control": "sudo_remove_nopasswd", "justification": "keys only", "owner": "platform-security",
              "expires": "2027-12-31", "compensating_control": "SSH keys, sudo restricted to the admin group"}
    row = one(host(root), "sudo_remove_nopasswd", waivers=[waiver])
    assert row["status"] == "waived" and "compensating control: SSH keys" in row["message"]


def test_shell_timeout_readonly_and_not_longer_than_the_setting(root):
    assert one(host(root), "shell_timeout")["status"] == "fail"
    write(root, "/etc/profile.d/60-hardening-tmout.sh", "TMOUT=900\nexport TMOUT\n")
    assert one(host(root), "shell_timeout")["status"] == "fail"  # not read-only: a user could unset it
    write(root, "/etc/profile.d/60-hardening-tmout.sh",
          'if [ "${TMOUT:-}" != "900" ]; then\n  TMOUT=900\n  readonly TMOUT\n  export TMOUT\nfi\n')
    row = one(host(root), "shell_timeout")
    assert row["status"] == "pass" and row["frameworks"]["pci"] == ["8.2.8"], row
    assert one(host(root), "shell_timeout", settings={"shell_timeout": 600})["status"] == "fail"


def test_pam_unix_history_and_rounds(root):
    """The pam_unix password line as Debian writes it (a bracketed control with spaces)."""
    line = "password\t[success=1 default=ignore]\tpam_unix.so obscure use_authtok try_first_pass yescrypt"
    write(root, "/etc/pam.d/common-password", line + "\n")
    row = one(host(root), "pam_unix_history_rounds")
    assert row["status"] == "fail" and "remember=unset" in row["message"], row
    write(root, "/etc/pam.d/common-password", line + " remember=2 rounds=11\n")
    assert one(host(root), "pam_unix_history_rounds")["status"] == "pass"
