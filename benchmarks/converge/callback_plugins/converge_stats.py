# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Count module runs per host and per role, and wall time per role, for benchmarks/converge."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: converge_stats
type: aggregate
short_description: module runs per host and per role, wall time per role
description:
  - Counts every module run on a managed host (each loop item counts once; skipped tasks and
    controller-only actions such as set_fact, assert or include_* do not).
  - Writes a JSON summary to the file named by E(SOVEREIGN_CONVERGE_STATS) at the end of the play run.
options: {}
"""

import json
import os
import time
from collections import defaultdict

from ansible.plugins.callback import CallbackBase

# Actions that never run a module on the managed host.
CONTROLLER_ONLY = frozenset(
    "ansible.builtin." + a for a in (
        "set_fact", "assert", "debug", "fail", "meta", "include_tasks", "import_tasks", "include_role",
        "import_role", "include_vars", "add_host", "group_by", "set_stats", "validate_argument_spec",
        "pause", "import_playbook")
) | frozenset((
    "set_fact", "assert", "debug", "fail", "meta", "include_tasks", "import_tasks", "include_role",
    "import_role", "include_vars", "add_host", "group_by", "set_stats", "validate_argument_spec", "pause"))


def _role(task):
    role = getattr(task, "_role", None)
    return role.get_name(include_role_fqcn=False) if role else "(playbook)"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "converge_stats"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.runs = defaultdict(lambda: defaultdict(int))      # host -> role -> module runs
        self.tasks = defaultdict(int)                          # role -> tasks started
        self.wall = defaultdict(float)                         # role -> seconds
        self.changed = defaultdict(int)                        # host -> changed results
        self._current = None
        self._started = None
        self._t0 = time.time()

    def _close_task(self):
        if self._current is not None:
            self.wall[self._current] += time.time() - self._started
        self._current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close_task()
        self._current = _role(task)
        self._started = time.time()
        self.tasks[self._current] += 1

    v2_playbook_on_handler_task_start = v2_playbook_on_task_start

    def _count(self, result, changed_flag=None):
        task = result._task
        if task.action in CONTROLLER_ONLY:
            return
        host = result._host.get_name()
        res = result._result
        items = res.get("results") if isinstance(res, dict) else None
        if task.loop is not None or task.loop_with:
            if isinstance(items, list):
                n = sum(1 for r in items if isinstance(r, dict) and not r.get("skipped"))
            else:
                n = 1
        else:
            n = 1
        self.runs[host][_role(task)] += n
        if res.get("changed"):
            self.changed[host] += 1

    def v2_runner_on_ok(self, result):
        self._count(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result)

    def v2_playbook_on_stats(self, stats):
        self._close_task()
        path = os.environ.get("SOVEREIGN_CONVERGE_STATS")
        if not path:
            return
        hosts = sorted(self.runs)
        roles = sorted({r for h in hosts for r in self.runs[h]} | set(self.wall))
        summary = {
            "wall_s": round(time.time() - self._t0, 1),
            "module_runs_per_host": {h: sum(self.runs[h].values()) for h in hosts},
            "module_runs": {h: dict(self.runs[h]) for h in hosts},
            "role_wall_s": {r: round(self.wall[r], 1) for r in roles},
            "role_tasks": {r: self.tasks[r] for r in roles},
            "role_module_runs": {r: sum(self.runs[h].get(r, 0) for h in hosts) for r in roles},
            "changed_per_host": {h: self.changed[h] for h in hosts},
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=1, sort_keys=True)
