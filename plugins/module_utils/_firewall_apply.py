# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one firewall apply engine of the firewall modules (nftables_ruleset, firewall_files).

The cycle, the same for every backend: read the current state and detect drift (the adapter),
validate the candidate with the firewall's own checker (the adapter), then :meth:`FirewallHost.apply`:
clear the last rollback's mark, arm the rollback (a transient systemd timer running a script the
adapter describes as shell lines), apply (the adapter), fail at once and restore when the apply
fails, fail when the rollback already fired during the apply, and record the applied state.
:meth:`FirewallHost.confirm` is the one confirmation: it fails when the rollback already fired
(the old firewall is back, so the change did not stay), else disarms the timer.

The modules are adapters: they know their firewall's files and commands, nothing of the cycle.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

ROLLBACK_UNIT = "sovereign-firewall-rollback"
ROLLBACK_SCRIPT = "rollback.sh"
# Written by the rollback script when it has run: a later confirmation must fail.
ROLLBACK_DONE = "rollback.done"

# The shared options (documented by the doc fragment sovereign.datacenter.firewall_apply).
SHARED_OPTIONS = dict(
    rollback_timeout=dict(type="int", default=0),
    state_dir=dict(type="path", default="/var/lib/sovereign-firewall"),
)


def argument_spec(**options):
    """A firewall module's argument spec: its own options and the shared ones."""
    spec = dict((name, dict(value)) for name, value in SHARED_OPTIONS.items())
    spec.update(options)
    return spec


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


class ApplyFailed(Exception):
    """Raised by an adapter's apply step when the firewall refused the change."""

    def __init__(self, msg, rc=1):
        super(ApplyFailed, self).__init__(msg)
        self.msg = msg
        self.rc = rc


class FirewallHost(object):
    """Commands on the managed host and the rollback timer around a firewall change."""

    # The adapter's words in messages.
    WHAT = "configuration"
    RESTORED_AT_ONCE = "the previous configuration was restored and reloaded at once"

    def __init__(self, module):
        self.module = module
        self.state_dir = module.params["state_dir"]
        self.rollback_script = os.path.join(self.state_dir, ROLLBACK_SCRIPT)
        self.rolled_back = os.path.join(self.state_dir, ROLLBACK_DONE)

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

    # ---------------------------------------------------------------- the one rollback semantic
    def rollback_fired(self):
        """When the last armed rollback ran (its mark), or None."""
        text = read_text(self.rolled_back)
        return None if text is None else (text.strip() or "?")

    def arm_rollback(self, lines, timeout, description, header):
        """Write the rollback script (the adapter's restore ``lines``, then the mark) and arm the timer."""
        systemd_run = self.systemd_run()
        script = ["#!/bin/sh"] + ["# " + line for line in header] + list(lines)
        script.append("date -u +%%FT%%TZ > '%s'" % self.rolled_back)
        write_atomic(self.rollback_script, "\n".join(script) + "\n", 0o700)
        self.start_rollback(systemd_run, self.rollback_script, timeout, description)

    def confirm(self, result):
        """state=confirmed: fail when the rollback already fired, else disarm it. Exits the module."""
        fired = self.rollback_fired()
        if fired:
            self.module.fail_json(msg="the rollback already ran (at %s): the previous %s is back; the change was not "
                                      "confirmed in time (raise rollback_timeout?)" % (fired, self.WHAT), **result)
        result["changed"] = self.timer_active() if self.module.check_mode else self.disarm()
        self.module.exit_json(**result)

    def apply(self, result, timeout, arm, apply, record):
        """The apply cycle after read, drift and validation: ``arm()`` writes the adapter's rollback
        (called only with ``timeout > 0``), ``apply()`` changes the firewall (raises
        :class:`ApplyFailed` when it refuses), ``record()`` keeps the applied state."""
        if os.path.exists(self.rolled_back):
            os.unlink(self.rolled_back)
        if timeout > 0:
            arm()
            result["rollback_armed"] = True
        try:
            apply()
        except ApplyFailed as exc:
            msg = exc.msg
            if result.get("rollback_armed"):
                # do not leave the host on a half-applied firewall until the timer fires
                self.disarm()
                self.run(["/bin/sh", self.rollback_script], check_rc=False)
                result.update(rollback_armed=False, rolled_back=True)
                msg += "; " + self.RESTORED_AT_ONCE
            self.module.fail_json(msg=msg, rc=exc.rc, **result)
        if result.get("rollback_armed") and (not self.timer_active() or self.rollback_fired()):
            self.module.fail_json(msg="the apply took longer than rollback_timeout (%d s): the rollback ran and restored "
                                      "the previous %s; raise rollback_timeout" % (timeout, self.WHAT), **result)
        record()
