"""The kubernetes role's kubeadm configuration, encryption configuration and audit policy, rendered
by Ansible with the role's defaults, checked offline: YAML structure, API versions and kinds, the
hardened API server and kubelet settings, etcd encryption at rest. kubeadm itself was NOT run
(no kubeadm package in any registry reachable here); `kubeadm config validate --config F` on a
host with kubeadm is the next check (SOVEREIGN_KUBEADM=1 runs it when kubeadm is on PATH).
"""
import base64
import os
import shutil
import subprocess

import pytest
import yaml

from ansible_run import render_role_templates

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(REPO, "roles", "kubernetes")
KEY = base64.b64encode(b"k" * 32).decode()
COMMON = {"platform_kubernetes_version": "1.31.4", "platform_environment": "production",
          "platform_registry_mirror": "registry.production.internal", "platform_ports": {"kubernetes_api": 6443},
          "kubernetes_api_endpoint": "10.0.30.10", "kubernetes_node_address": "10.0.30.10",
          "kubernetes_encryption_key": KEY}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    work = tmp_path_factory.mktemp("kubernetes")
    init = render_role_templates(ROLE, {"kubeadm": "kubeadm-config.yaml.j2", "encryption": "encryption-config.yaml.j2",
                                        "audit": "audit-policy.yaml.j2"}, work,
                                 dict(COMMON, __kubernetes_init=True, __kubernetes_is_control_plane=True))
    join = render_role_templates(ROLE, {"kubeadm": "kubeadm-config.yaml.j2"}, work,
                                 dict(COMMON, __kubernetes_init=False, __kubernetes_is_control_plane=False,
                                      __kubernetes_join_token="abcdef.0123456789abcdef",
                                      __kubernetes_ca_hash="sha256:" + "0" * 64))
    docs = {name: list(yaml.safe_load_all(text)) for name, text in init.items()}
    docs["join"] = list(yaml.safe_load_all(join["kubeadm"]))
    return docs, init


def kind(docs, name):
    return next(d for d in docs if d and d["kind"] == name)


def test_init_documents_and_versions(rendered):
    docs = rendered[0]
    kinds = [(d["apiVersion"], d["kind"]) for d in docs["kubeadm"] if d]
    assert kinds == [("kubeadm.k8s.io/v1beta3", "InitConfiguration"), ("kubeadm.k8s.io/v1beta3", "ClusterConfiguration"),
                     ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration")]
    cluster = kind(docs["kubeadm"], "ClusterConfiguration")
    assert cluster["kubernetesVersion"] == "v1.31.4"
    assert cluster["controlPlaneEndpoint"] == "10.0.30.10:6443"
    assert cluster["imageRepository"] == "registry.production.internal/registry.k8s.io"
    assert kind(docs["kubeadm"], "InitConfiguration")["nodeRegistration"]["criSocket"] == "unix:///run/containerd/containerd.sock"


def test_api_server_flags_hardened(rendered):
    docs = rendered[0]
    cluster = kind(docs["kubeadm"], "ClusterConfiguration")
    args = cluster["apiServer"]["extraArgs"]
    assert all(isinstance(v, str) for v in args.values())  # v1beta3 extraArgs is map[string]string
    expected = {"anonymous-auth": "false", "profiling": "false", "authorization-mode": "Node,RBAC",
                "tls-min-version": "VersionTLS12", "service-account-lookup": "true",
                "encryption-provider-config": "/etc/kubernetes/sovereign/encryption-config.yaml",
                "audit-policy-file": "/etc/kubernetes/sovereign/audit-policy.yaml",
                "audit-log-path": "/var/log/kubernetes/audit/audit.log", "audit-log-maxage": "30"}
    assert {k: args.get(k) for k in expected} == expected
    assert "NodeRestriction" in args["enable-admission-plugins"].split(",")
    assert "RC4" not in args["tls-cipher-suites"] and "CBC" not in args["tls-cipher-suites"]
    mounts = {v["mountPath"]: v for v in cluster["apiServer"]["extraVolumes"]}
    assert mounts["/etc/kubernetes/sovereign"]["readOnly"] is True and "/var/log/kubernetes/audit" in mounts
    for component in ("controllerManager", "scheduler"):
        assert cluster[component]["extraArgs"]["profiling"] == "false"
        assert cluster[component]["extraArgs"]["bind-address"] == "127.0.0.1"


def test_kubelet_hardened(rendered):
    docs = rendered[0]
    kubelet = kind(docs["kubeadm"], "KubeletConfiguration")
    assert kubelet["cgroupDriver"] == "systemd"  # matches containerd's SystemdCgroup = true
    assert kubelet["authentication"]["anonymous"]["enabled"] is False
    assert kubelet["authentication"]["webhook"]["enabled"] is True
    assert kubelet["authorization"]["mode"] == "Webhook" and kubelet["readOnlyPort"] == 0
    assert kubelet["protectKernelDefaults"] is True and kubelet["rotateCertificates"] is True


def test_etcd_encryption_at_rest(rendered):
    docs = rendered[0]
    enc = docs["encryption"][0]
    assert (enc["apiVersion"], enc["kind"]) == ("apiserver.config.k8s.io/v1", "EncryptionConfiguration")
    providers = enc["resources"][0]["providers"]
    assert enc["resources"][0]["resources"] == ["secrets", "configmaps"]
    assert list(providers[0]) == ["secretbox"] and providers[-1] == {"identity": {}}
    assert len(base64.b64decode(providers[0]["secretbox"]["keys"][0]["secret"])) == 32


def test_audit_policy_never_logs_secret_bodies(rendered):
    docs = rendered[0]
    policy = docs["audit"][0]
    assert (policy["apiVersion"], policy["kind"]) == ("audit.k8s.io/v1", "Policy")
    secret_rule = next(r for r in policy["rules"] if any("secrets" in res.get("resources", []) for res in r.get("resources", [])))
    assert secret_rule["level"] == "Metadata"
    assert policy["rules"].index(secret_rule) < next(i for i, r in enumerate(policy["rules"]) if r["level"] == "Request")


def test_worker_join_configuration(rendered):
    docs = rendered[0]
    join = kind(docs["join"], "JoinConfiguration")
    assert join["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "10.0.30.10:6443"
    assert join["discovery"]["bootstrapToken"]["caCertHashes"] == ["sha256:" + "0" * 64]
    assert "controlPlane" not in join
    assert [d["kind"] for d in docs["join"] if d] == ["JoinConfiguration", "KubeletConfiguration"]


@pytest.mark.skipif(os.environ.get("SOVEREIGN_KUBEADM") != "1" or not shutil.which("kubeadm"),
                    reason="kubeadm not available here (set SOVEREIGN_KUBEADM=1 on a host with kubeadm)")
def test_kubeadm_accepts_the_config(rendered, tmp_path):
    init = rendered[1]
    path = tmp_path / "kubeadm.yaml"
    path.write_text(init["kubeadm"])
    subprocess.run(["kubeadm", "config", "validate", "--config", str(path)], check=True, timeout=60)


def test_cluster_networks_must_not_shadow_the_platform():
    from ansible_collections.sovereign.datacenter.plugins.filter.k8s_manifests import k8s_network_errors
    with open(os.path.join(REPO, "inventories", "production", "group_vars", "all", "environment.yml"), encoding="utf-8") as handle:
        segments = yaml.safe_load(handle)["platform_segments"]
    with open(os.path.join(ROLE, "defaults", "main.yml"), encoding="utf-8") as handle:
        defaults = yaml.safe_load(handle)
    tiers, sites = ["dmz", "app", "data", "ai", "security", "management"], ["dc1", "dc2"]
    ok = {"kubernetes_pod_subnet": defaults["kubernetes_pod_subnet"], "kubernetes_service_subnet": defaults["kubernetes_service_subnet"]}
    assert k8s_network_errors(ok, segments, tiers, sites) == []
    bad = k8s_network_errors({"kubernetes_pod_subnet": "10.0.0.0/16", "kubernetes_service_subnet": "10.0.30.0/24"},
                             segments, tiers, sites)
    assert "kubernetes_pod_subnet (10.0.0.0/16) overlaps kubernetes_service_subnet (10.0.30.0/24)" in bad
    assert "kubernetes_service_subnet (10.0.30.0/24) overlaps platform_segments.dc1.ai (10.0.30.0/24)" in bad
    assert k8s_network_errors({"kubernetes_pod_subnet": "10.244.0.1/16"}, segments, tiers, sites)[0].startswith(
        "kubernetes_pod_subnet: '10.244.0.1/16' has host bits set")
