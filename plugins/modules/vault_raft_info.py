#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_raft_info
short_description: Report the Raft peers, leader and autopilot health of a Vault cluster
version_added: 0.2.0
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Reads C(sys/storage/raft/configuration) (peers, voters, leader), C(sys/storage/raft/autopilot/state)
    (health, failure tolerance) and C(sys/seal-status) of one node. Read-only.
  - Used by the rolling restart to wait until the cluster is healthy before touching the next node.
extends_documentation_fragment:
  - sovereign.datacenter.vault
  - sovereign.datacenter.read_only
"""

EXAMPLES = r"""
- name: Raft state
  sovereign.datacenter.vault_raft_info:
    url: "https://{{ inventory_hostname }}:8200"
    ca_cert: /etc/ssl/sovereign/ca.crt
    token: "{{ vault_operator_token }}"
  delegate_to: localhost
  register: raft
  no_log: true

- name: Three healthy voters
  ansible.builtin.assert:
    that: raft.healthy and raft.voters | length == 3
"""

RETURN = r"""
peers:
  description: Raft peers.
  returned: always
  type: list
  elements: dict
  contains:
    node_id: {description: Node ID., type: str}
    address: {description: Cluster address., type: str}
    leader: {description: Whether this peer leads., type: bool}
    voter: {description: Whether this peer votes., type: bool}
leader:
  description: Node ID of the leader (empty when there is none).
  returned: always
  type: str
voters:
  description: Node IDs of the voters.
  returned: always
  type: list
  elements: str
healthy:
  description: Autopilot reports the cluster healthy.
  returned: always
  type: bool
failure_tolerance:
  description: Voters the cluster can lose and keep a quorum.
  returned: always
  type: int
servers:
  description: Autopilot's view of each server (status, health, last index).
  returned: always
  type: dict
sealed:
  description: Whether the node asked is sealed.
  returned: always
  type: bool
"""

from ansible_collections.sovereign.datacenter.plugins.module_utils._vault import VaultModule


def main():
    module = VaultModule(argument_spec={}, supports_check_mode=True)
    seal = module.call("read the seal status", module.client.sys.read_seal_status) or {}
    config = (module.read("sys/storage/raft/configuration", what="read the raft configuration") or {}).get("config") or {}
    autopilot = module.read("sys/storage/raft/autopilot/state", what="read the autopilot state") or {}
    peers = [{key: server.get(key) for key in ("node_id", "address", "leader", "voter")}
             for server in config.get("servers") or []]
    leader = next((peer["node_id"] for peer in peers if peer["leader"]), "")
    module.exit_json(changed=False, peers=peers, leader=autopilot.get("leader") or leader,
                     voters=sorted(autopilot.get("voters") or [peer["node_id"] for peer in peers if peer["voter"]]),
                     healthy=bool(autopilot.get("healthy")), failure_tolerance=int(autopilot.get("failure_tolerance") or 0),
                     servers=autopilot.get("servers") or {}, sealed=bool(seal.get("sealed")))


if __name__ == "__main__":
    main()
