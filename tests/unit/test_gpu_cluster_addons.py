"""gpu_cluster_addons: every manifest rendered by the role's own validate tasks (Ansible, role
defaults, platform group_vars) and checked with kubernetes-validate (strict, bundled schemas of
platform_kubernetes_version); a manifest with a schema error stops the role before anything is
applied. No Kubernetes API server exists here: nothing is applied by these tests.
"""
import json
import os
import subprocess

import pytest
import yaml

from ansible_run import ansible_bin, ansible_env

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (tests/requirements.txt) missing")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(REPO, "group_vars", "all", "ai.yml"), encoding="utf-8") as _handle:
    VERSION = yaml.safe_load(_handle)["platform_kubernetes_version"]

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars_files: [{repo}/group_vars/all/platform.yml, {repo}/group_vars/all/ai.yml]
  vars:
    platform_environment: production
  tasks:
    - ansible.builtin.include_role:
        name: sovereign.datacenter.gpu_cluster_addons
        tasks_from: {tasks_from}
    - ansible.builtin.debug:
        var: __gpu_cluster_addons_manifests
"""


def run_role(tmp_path, tasks_from="validate.yml", **extra):
    playbook = tmp_path / "addons.yml"
    playbook.write_text(PLAYBOOK.format(repo=REPO, tasks_from=tasks_from))
    args = [ansible_bin("ansible-playbook"), "-i", "localhost,", str(playbook), "-e", json.dumps(extra)]
    proc = subprocess.run(args, capture_output=True, text=True, env=ansible_env(), cwd=REPO, check=False)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.startswith("{") else proc.stdout + proc.stderr


def task_results(out):
    return [(t["task"]["name"].split(" : ")[-1], t["hosts"]["localhost"]) for t in out["plays"][0]["tasks"]]


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    rc, out = run_role(tmp_path_factory.mktemp("addons"), gpu_cluster_addons_mig_strategy="mixed")
    assert rc == 0, out
    return task_results(out)[-1][1]["__gpu_cluster_addons_manifests"]


def by_kind(manifests, kind, name=None):
    return next(m for m in manifests if m["kind"] == kind and (name is None or m["metadata"]["name"] == name))


def test_every_manifest_is_valid_in_strict_mode(manifests):
    assert sorted(m["kind"] for m in manifests) == ["DaemonSet", "DaemonSet", "Namespace", "RuntimeClass", "Service"]
    for manifest in manifests:  # the library directly, besides the role's own filter
        kubernetes_validate.validate(manifest, VERSION, strict=True)


def test_runtime_class_schedules_on_gpu_nodes(manifests):
    rc = by_kind(manifests, "RuntimeClass")
    assert rc["handler"] == "nvidia" and rc["metadata"]["name"] == "nvidia"
    assert rc["scheduling"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert rc["scheduling"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_device_plugin_shape(manifests):
    spec = by_kind(manifests, "DaemonSet", "nvidia-device-plugin")["spec"]["template"]["spec"]
    assert spec["priorityClassName"] == "system-node-critical"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    container = spec["containers"][0]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert container["image"].startswith("registry.production.internal/nvcr.io/nvidia/k8s-device-plugin:")
    assert {"name": "MIG_STRATEGY", "value": "mixed"} in container["env"]


def test_dcgm_exporter_and_service(manifests):
    ds = by_kind(manifests, "DaemonSet", "dcgm-exporter")["spec"]["template"]["spec"]
    port = ds["containers"][0]["ports"][0]
    assert port["containerPort"] == port["hostPort"] == 9400
    assert ds["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert ds["containers"][0]["image"].startswith("registry.production.internal/")
    svc = by_kind(manifests, "Service", "dcgm-exporter")
    assert svc["spec"]["ports"][0]["port"] == 9400


def test_schema_error_is_refused_before_anything_is_applied(tmp_path):
    """The full role (main.yml): a manifest with a schema error stops it at the validate task, before
    any kubernetes.core task runs (there is no cluster here; an apply would fail differently)."""
    broken = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "site", "namespace": "nvidia-gpu"},
              "data": {"a": "b"}, "spec": {"replicas": 1}}
    rc, out = run_role(tmp_path, tasks_from="main.yml", gpu_cluster_addons_extra_manifests=[broken])
    assert rc != 0
    results = task_results(out)
    failed = [(name, r) for name, r in results if r.get("failed")]
    assert len(failed) == 1 and failed[0][0].startswith("Validate | every manifest against")
    assert "ConfigMap nvidia-gpu/site" in failed[0][1]["msg"] and "'spec' was unexpected" in failed[0][1]["msg"]
    assert not any(name.startswith("GPU add-ons | apply") or "label" in name or "taint" in name for name, _result in results)


def test_wrong_type_is_refused_with_the_field_path():
    from ansible_collections.sovereign.datacenter.plugins.filter.k8s_manifests import k8s_manifest_errors
    bad = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "x", "namespace": "n"},
           "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
               "containers": [{"name": "c", "image": "i", "securityContext": {"capabilities": {"drop": "ALL"}}}]}}}}
    errors = k8s_manifest_errors([bad, {"kind": "Pod"}], VERSION)
    assert len(errors) == 2
    assert errors[0].startswith("DaemonSet n/x: spec.template.spec.containers.0.securityContext.capabilities.drop:")
    assert "not a Kubernetes resource" in errors[1]
