# -*- coding: utf-8 -*-
# Copyright: contributors to sovereign.datacenter
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compliance controls, part 1 (private helper): the statuses and the score, read-only host access
(``Host``) and the parsers the evaluators share. The expected settings (``DEFAULT_SETTINGS``) are in
_compliance_settings, generated from the role defaults.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
import subprocess

PASS = "pass"
FAIL = "fail"
NA = "not_applicable"
WAIVED = "waived"
STATUSES = (PASS, FAIL, NA, WAIVED)


def empty_counts():
    """A counter of every status, at zero."""
    return dict((s, 0) for s in STATUSES)


def score(counts):
    """The compliance score: pass / (pass + fail) in percent, one decimal; not applicable and waived
    controls are not scored, and nothing scored is 100."""
    scored = counts[PASS] + counts[FAIL]
    return round(100.0 * counts[PASS] / scored, 1) if scored else 100.0


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
