# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: one line per play, task and host task started, in $SOVEREIGN_TASK_LOG.

The broken-inventory tests read it to prove that no task started after the preflight's.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: task_log
type: aggregate
short_description: Log every play, task and host task start to a file (tests only)
description: Writes JSON lines to the file named by the SOVEREIGN_TASK_LOG environment variable.
requirements: [enable in callbacks_enabled]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_log"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("SOVEREIGN_TASK_LOG")
        self._play = None

    def _write(self, **entry):
        if self._path:
            with open(self._path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()
        self._write(event="play", play=self._play)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._write(event="task", play=self._play, task=task.get_name(), action=task.action)

    def v2_runner_on_start(self, host, task):
        self._write(event="host_task", play=self._play, task=task.get_name(), action=task.action, host=host.get_name())

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(event="failed", play=self._play, task=result._task.get_name(), host=result._host.get_name())

    def v2_runner_on_unreachable(self, result):
        self._write(event="unreachable", play=self._play, task=result._task.get_name(), host=result._host.get_name())
