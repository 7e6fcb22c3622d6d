# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the firewall modules (nftables_ruleset, firewall_files) share: atomic file writes and
the timed rollback, a transient systemd timer that restores the previous firewall unless the
controller reconnects and confirms the change."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

ROLLBACK_UNIT = "sovereign-firewall-rollback"


def read_text(path):
    """The file's text, or None when it cannot be read (missing)."""
    try:
        with open(path, "r") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def write_atomic(path, text, mode=0o600):
    """Write through a temporary file in the same directory and rename it into place."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class FirewallHost(object):
    """Commands on the managed host and the rollback timer around a firewall change."""

    def __init__(self, module):
        self.module = module

    def run(self, argv, check_rc=True, data=None):
        rc, out, err = self.module.run_command(argv, data=data)
        if check_rc and rc != 0:
            self.module.fail_json(msg="%s failed: %s" % (" ".join(argv), (err or out).strip()), rc=rc)
        return rc, out, err

    def timer_active(self):
        if not self.module.get_bin_path("systemctl"):
            return False
        rc, _out, _err = self.run(["systemctl", "is-active", "--quiet", ROLLBACK_UNIT + ".timer"], check_rc=False)
        return rc == 0

    def disarm(self):
        """Stop a pending rollback; True when one was pending."""
        if not self.module.get_bin_path("systemctl"):
            return False
        was_active = self.timer_active()
        if was_active:
            self.run(["systemctl", "stop", ROLLBACK_UNIT + ".timer"], check_rc=False)
        self.run(["systemctl", "reset-failed", ROLLBACK_UNIT + ".timer", ROLLBACK_UNIT + ".service"], check_rc=False)
        return was_active

    def systemd_run(self):
        """systemd-run's path; fails the module when the host cannot run a rollback timer."""
        path = self.module.get_bin_path("systemd-run")
        if not path or not os.path.isdir("/run/systemd/system"):
            self.module.fail_json(msg="rollback_timeout needs systemd (systemd-run) on the host; "
                                      "set rollback_timeout: 0 to apply without a rollback")
        return path

    def start_rollback(self, systemd_run, script, timeout, description):
        """Run ``script`` after ``timeout`` seconds unless disarmed first."""
        self.disarm()
        self.run([systemd_run, "--unit=%s" % ROLLBACK_UNIT, "--on-active=%ds" % timeout,
                  "--timer-property=AccuracySec=1s", "--description=%s" % description, "/bin/sh", script])
