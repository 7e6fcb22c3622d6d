"""The AI tier's flows (group_vars/all/flows_ai.yml) merged into each inventory's policy: the
whole policy stays valid, and each AI flow reaches only the hosts it names, from the right source."""
import os

import pytest

from ansible_run import run_playbook_json

from ansible_collections.sovereign.datacenter.plugins.filter.flow_policy import (
    flow_policy_compile, flow_policy_validate)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


PLAYBOOK = """
- hosts: gpu1
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg:
          policy: "{{ policy }}"
          hosts: "{{ groups | sovereign.datacenter.flow_policy_hosts(hostvars) }}"
          segments: "{{ platform_segments }}"
          options:
            tiers: "{{ platform_tiers }}"
            sites: "{{ platform_sites }}"
            ports_map: "{{ platform_ports }}"
            cdn_ranges: "{{ platform_cdn_ranges }}"
            known_groups: "{{ groups.keys() | list }}"
            public_tier: dmz
            public_admin_tiers: [management]
          groups: "{{ groups }}"
      vars:
        policy: >-
          {{ platform_flows | sovereign.datacenter.flow_policy_merge(
               *query('ansible.builtin.vars', *query('ansible.builtin.varnames', '^platform_flows_.+$') | sort)) }}
"""


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """The production policy as the firewall role merges it (every platform_flows_<name> layer)."""
    playbook = tmp_path_factory.mktemp("flows") / "policy.yml"
    playbook.write_text(PLAYBOOK)
    out = run_playbook_json("-i", os.path.join(REPO, "inventories", "production"), playbook)
    msg = out["plays"][0]["tasks"][0]["hosts"]["gpu1"]["msg"]
    return msg["policy"], msg["hosts"], msg["segments"], msg["options"], msg["groups"]


def test_policy_with_ai_flows_is_valid(production):
    policy, hosts, segments, options = production[:4]
    assert flow_policy_validate(policy, hosts, segments, **options) == []
    names = [f["name"] for f in policy]
    assert len(names) == len(set(names))
    kubelet = next(f for f in policy if f["name"] == "k8s_kubelet")
    assert kubelet["to"] == ["gpu_nodes", "k8s_control_plane"] and kubelet["ports"] == ["kubelet"]


def test_ai_flows_reach_only_their_hosts(production):
    policy, hosts, segments, options, groups = production
    compiled = flow_policy_compile(policy, hosts, segments, output="rulesets", **options)

    def flows_of(host):
        return {flow["name"] for flow in compiled[host]["flows"]}

    gpu, cp = groups["gpu_nodes"][0], groups["k8s_control_plane"][0]
    app, pg = groups["app_servers"][0], groups["postgresql"][0]
    assert {"k8s_kubelet", "k8s_cni_vxlan", "monitoring_dcgm_exporter", "ai_model_serving"} <= flows_of(gpu)
    assert "k8s_etcd" not in flows_of(gpu) and "k8s_api" not in flows_of(gpu)
    assert {"k8s_api", "k8s_etcd", "k8s_kubelet", "k8s_cni_vxlan"} <= flows_of(cp)
    assert "ai_model_serving" not in flows_of(cp)
    for host in (app, pg):
        assert not flows_of(host) & {"k8s_etcd", "k8s_cni_vxlan", "monitoring_dcgm_exporter", "ai_model_serving"}
