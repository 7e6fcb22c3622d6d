# -*- coding: utf-8 -*-
# Copyright: contributors to sovereign.datacenter
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare the PostgreSQL cluster the inventory describes with the cluster as it runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: postgresql_topology_problems
short_description: What is wrong with acting on this inventory, given the cluster's real state
version_added: "0.2.0"
description:
  - Takes the real state of each cluster member of the play, as the postgresql role's topology
    guard reads it (read-only) before it changes anything, and the member the inventory calls
    primary. Returns the problems, one sentence each, that make acting on the inventory unsafe.
    An empty list means the inventory matches the cluster.
  - A member is a real primary when its server runs and is not in recovery.
  - Problems found are more than one real primary (split brain); a real primary that is not the
    inventory's primary (after a failover, before the inventory was updated), with what the
    inventory's primary is now (unreachable, stopped, fenced, a standby) and what to change; and a
    running standby that streams from another address than the inventory's primary.
  - No real primary among the members (a new cluster, or every member down) is no problem here;
    the role's own steps handle those cases.
options:
  _input:
    description:
      - Mapping of member name to the result of the guard's probe registered on that member, either a
        result with C(unreachable) set or a C(stdout) of the form C(running FENCED RECOVERY UPSTREAM)
        or C(stopped FENCED). FENCED and RECOVERY are C(true) or C(false) (RECOVERY is C(unknown)
        when the server did not answer), and UPSTREAM, when present, is the address its WAL
        receiver streams from.
      - A parsed state (keys C(reachable), C(running), C(recovery), C(upstream), C(fenced)) is
        accepted as well.
    type: dict
    required: true
  primary:
    description: The member the inventory (or the runbook's override) calls primary.
    type: str
    required: true
  primary_address:
    description: The address the standbys stream from when the inventory is right.
    type: str
    required: true
author:
  - sovereign.datacenter contributors
"""

EXAMPLES = r"""
- name: Stop every host before any change when the inventory is stale
  ansible.builtin.fail:
    msg: "{{ problems | join(' ') }}"
  vars:
    problems: "{{ probes_by_member | sovereign.datacenter.postgresql_topology_problems(primary='pg1', primary_address='10.0.0.11') }}"
  when: problems | length > 0
"""

RETURN = r"""
_value:
  description: The problems found, one sentence each; empty when the inventory matches the cluster.
  type: list
  elements: str
"""


def _describe(name, state):
    """What a member is now, in words an operator acts on."""
    if not state.get("reachable", True):
        return "%s is unreachable (a killed or isolated former primary fences itself when it starts)" % name
    if state.get("fenced"):
        return "%s is fenced (demoted by a failover runbook)" % name
    if not state.get("running"):
        return "%s has no running server" % name
    if state.get("recovery"):
        upstream = state.get("upstream") or "no upstream"
        return "%s is a standby (streaming from %s)" % (name, upstream)
    return "%s is a primary" % name


def parse_probe(result):
    """The state of one member from its probe result (see the option's description)."""
    result = result or {}
    if "stdout" not in result and "unreachable" not in result:
        return dict(result)
    if result.get("unreachable"):
        return {"reachable": False, "running": False, "recovery": None, "upstream": "", "fenced": False}
    words = (result.get("stdout") or "").split()
    words += [""] * (4 - len(words))
    return {"reachable": True, "running": words[0] == "running", "fenced": words[1] == "true",
            "recovery": {"true": True, "false": False}.get(words[2]), "upstream": words[3]}


def postgresql_topology_problems(probes, primary, primary_address):
    states = dict((name, parse_probe(result)) for name, result in (probes or {}).items())
    real = sorted(name for name, state in states.items()
                  if state.get("reachable", True) and state.get("running") and state.get("recovery") is False)
    problems = []
    if len(real) > 1:
        problems.append("More than one member runs as a primary: %s. Fence all but one (playbooks/runbooks/"
                        "pg_dr_failover.yml) before any converge." % ", ".join(real))
        return problems
    if real and real[0] != primary:
        now = real[0]
        was = _describe(primary, states[primary]) if primary in states else "%s is not in this play" % primary
        problems.append(
            "The inventory names %s as the PostgreSQL primary, but %s is the primary now and %s. Acting on "
            "this inventory would re-point the standbys at %s. Update the inventory first: set "
            "postgresql_role: primary on %s, postgresql_role: standby on %s, and rebuild %s with "
            "playbooks/runbooks/pg_dr_failback.yml. No host was changed."
            % (primary, now, was, primary, now, primary, primary))
        return problems
    if real and primary_address:
        for name in sorted(states):
            state = states[name]
            if name == primary or not state.get("reachable", True) or not state.get("running"):
                continue
            upstream = state.get("upstream") or ""
            if state.get("recovery") and upstream and upstream != primary_address:
                problems.append(
                    "%s streams from %s, not from the primary %s (%s): find out why before a converge re-points it "
                    "(a cascading standby must be declared in the inventory). No host was changed."
                    % (name, upstream, primary, primary_address))
    return problems


class FilterModule(object):
    def filters(self):
        return {"postgresql_topology_problems": postgresql_topology_problems}
