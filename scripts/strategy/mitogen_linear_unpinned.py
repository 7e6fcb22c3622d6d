# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mitogen's linear strategy without Mitogen's CPU pinning.

ansible_mitogen pins processes to CPUs (ansible_mitogen/affinity.py). On a machine with 2 or 3
CPUs it reserves CPU 0 for its connection multiplexer and pins the top-level ansible-playbook
process, every WorkerProcess and every subprocess they start to the remaining CPU. That includes
`podman exec` and `podman run`: the interpreter that runs the modules inside each podman host, and
every host Molecule creates (conmon, systemd and all their services), inherit the one-CPU mask. On
the 2-core CI machine a whole converge then runs on one core while the other idles (measured:
cpu0 80% idle, cpu1 98% busy, 136 processes with mask 0x2). This strategy is mitogen_linear with
the base Policy, whose methods leave the affinity alone: the kernel schedules every process on
every core. scripts/env.sh selects it (ANSIBLE_STRATEGY=mitogen_linear_unpinned).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ansible_mitogen.affinity
import ansible_mitogen.loaders
import ansible_mitogen.strategy

# Before any process is forked: Mitogen reads the module attribute at each assignment.
ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    """mitogen_linear, every process free to run on every CPU."""
