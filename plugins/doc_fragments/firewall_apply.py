# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment(object):
    """Options and behaviour the firewall modules share (module_utils/_firewall_apply.py, the apply engine)."""

    DOCUMENTATION = r"""
options:
  rollback_timeout:
    description:
      - Seconds after which the previous firewall comes back by itself unless confirmed. C(0) disables the rollback.
      - Needs systemd (C(systemd-run)); the module fails rather than apply without the promised safety net.
      - The rollback is armed B(before) the change. When the change is refused while it is applied, the previous
        firewall is restored at once and the module fails. When the rollback fires before the change is applied
        completely (a slow apply), the module fails.
      - C(state=confirmed) fails when the rollback already ran (the previous firewall is back, so the change did
        not stay); otherwise it disarms the pending rollback.
    type: int
    default: 0
  state_dir:
    description: Directory for the recorded state and the rollback files (C(rollback.sh); C(rollback.done) once it ran).
    type: path
    default: /var/lib/sovereign-firewall
"""
