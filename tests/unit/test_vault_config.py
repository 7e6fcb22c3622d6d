"""roles/vault: the rendered server configuration, parsed as HCL (python-hcl2) and checked.

Renders roles/vault/templates/vault.hcl.j2 for every host of a 3-node DC1 cluster and a 1-node DC2
cluster, for both distributions, with the role's defaults and vars, and checks what a node needs:
TLS-only listeners with the platform certificate, a retry_join for every other peer of its own
site (and none of the other site), leader_tls_servername carried by every certificate, telemetry
for Prometheus, the audit block (OpenBao; HashiCorp Vault has no audit stanza, the device is
enabled by API in vault_configure), UI off. No Vault or OpenBao server is run (none can be
installed here): the server's own checker runs in the role (template validate) only where the
binary exists.
"""
import json
import os
import subprocess

import pytest

from ansible_run import REPO, ansible_bin, ansible_env, run_playbook_json

hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 (tests/requirements.txt) is needed to parse the HCL")


def parse(text):
    """HCL to plain data: strings unquoted, no block markers."""
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    return hcl2.loads(text, serialization_options=options)


INVENTORY = {
    "all": {
        "vars": {"platform_environment": "production", "ansible_connection": "local"},
        "children": {
            "vault": {"hosts": {"vault1": {"platform_address": "10.0.40.11"},
                                "vault2": {"platform_address": "10.0.40.12"},
                                "vault3": {"platform_address": "10.0.40.13"},
                                "dr-vault1": {"platform_address": "10.1.40.11"}}},
            "dc1": {"hosts": {"vault1": {}, "vault2": {}, "vault3": {}}},
            "dc2": {"hosts": {"dr-vault1": {}}},
        },
    }
}
ROLE = os.path.join(REPO, "roles", "vault")
PLAY = """- hosts: vault
  gather_facts: false
  vars_files: [{platform}, {role}/defaults/main.yml, {role}/vars/main.yml]
  tasks:
    - ansible.builtin.debug:
        msg:
          hcl: "{{{{ lookup('ansible.builtin.template', '{role}/templates/vault.hcl.j2') }}}}"
          sans: "{{{{ __vault_tls_sans }}}}"
          unit: "{{{{ lookup('ansible.builtin.template', '{role}/templates/vault.service.j2') }}}}"
"""


@pytest.fixture(scope="module", params=["vault", "openbao"])
def rendered(request, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vault-" + request.param)
    (workdir / "hosts.json").write_text(json.dumps(INVENTORY))
    (workdir / "play.yml").write_text(PLAY.format(platform=os.path.join(REPO, "group_vars", "all", "platform.yml"),
                                                  role=ROLE))
    out = run_playbook_json("-i", workdir / "hosts.json", workdir / "play.yml", "-e",
                            json.dumps({"vault_distribution": request.param}))
    hosts = out["plays"][0]["tasks"][0]["hosts"]
    return request.param, {host: dict(result["msg"], config=parse(result["msg"]["hcl"]))
                           for host, result in hosts.items()}


def _one(blocks, kind):
    """python-hcl2 gives labelled blocks as [{label: {...}}]: the body of the block ``kind``."""
    assert len(blocks) == 1, blocks
    return blocks[0][kind] if kind in blocks[0] else blocks[0]


def test_tls_only_listener_with_the_platform_certificate(rendered):
    dist, hosts = rendered
    for host, node in hosts.items():
        listener = _one(node["config"]["listener"], "tcp")
        assert listener["address"] == "0.0.0.0:8200" and listener["cluster_address"] == "0.0.0.0:8201"
        assert listener["tls_disable"] is False and listener["tls_min_version"] == "tls12"
        assert listener["tls_cert_file"] == "/etc/ssl/sovereign/vault.crt"
        assert listener["tls_key_file"] == "/etc/ssl/sovereign/private/vault.key"
        assert node["config"]["api_addr"] == "https://%s.production.internal:8200" % host
        assert node["config"]["cluster_addr"] == "https://%s.production.internal:8201" % host
        assert node["config"]["ui"] is False


def test_retry_join_covers_every_peer_of_the_site(rendered):
    dist, hosts = rendered
    sites = {"vault1": "dc1", "vault2": "dc1", "vault3": "dc1", "dr-vault1": "dc2"}
    for host, node in hosts.items():
        raft = _one(node["config"]["storage"], "raft")
        assert raft["node_id"] == host
        assert raft["path"] == ("/opt/openbao/data" if dist == "openbao" else "/opt/vault/data")
        joins = raft.get("retry_join", [])
        peers = sorted(p for p, s in sites.items() if s == sites[host] and p != host)
        assert sorted(j["leader_api_addr"] for j in joins) == \
            ["https://%s.production.internal:8200" % p for p in peers], host
        for join in joins:
            assert join["leader_tls_servername"] == "vault.production.internal"
            assert join["leader_ca_cert_file"] == "/etc/ssl/sovereign/ca.crt"
            assert join["leader_client_cert_file"] == "/etc/ssl/sovereign/vault.crt"
        # Every node's certificate carries the name retry_join verifies, and its own names.
        assert "DNS:vault.production.internal" in node["sans"] and "DNS:%s.production.internal" % host in node["sans"]
        assert "IP:127.0.0.1" in node["sans"]
        assert node["config"]["cluster_name"] == "production-%s-vault" % sites[host]


def test_telemetry_for_prometheus(rendered):
    unused, hosts = rendered
    for node in hosts.values():
        telemetry = _one(node["config"]["telemetry"], "telemetry")
        assert telemetry["prometheus_retention_time"] == "24h" and telemetry["disable_hostname"] is True
        listener = _one(node["config"]["listener"], "tcp")
        assert _one(listener["telemetry"], "telemetry")["unauthenticated_metrics_access"] is True


def test_audit_device_declared_for_openbao(rendered):
    dist, hosts = rendered
    for node in hosts.values():
        if dist == "openbao":
            audit = node["config"]["audit"]
            assert len(audit) == 1
            device = audit[0]["file"]["file"]
            assert _one(device["options"], "options")["file_path"] == "/var/log/openbao/audit.log"
        else:
            assert "audit" not in node["config"]  # enabled by API in playbooks/vault_configure.yml


def test_hardened_unit(rendered):
    dist, hosts = rendered
    unit = hosts["vault1"]["unit"]
    binary = "/usr/bin/bao" if dist == "openbao" else "/usr/bin/vault"
    for line in ("ExecStart=%s server -config=" % binary, "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "CapabilityBoundingSet=\n", "PrivateDevices=yes", "ExecReload=/bin/kill --signal HUP $MAINPID",
                 "User=%s" % ("openbao" if dist == "openbao" else "vault")):
        assert line in unit, line


def test_auto_unseal_block(tmp_path):
    (tmp_path / "hosts.json").write_text(json.dumps(INVENTORY))
    (tmp_path / "play.yml").write_text(PLAY.format(platform=os.path.join(REPO, "group_vars", "all", "platform.yml"),
                                                   role=ROLE))
    seal = {"type": "transit", "options": {"address": "https://vault-unseal.internal:8200", "key_name": "autounseal",
                                           "mount_path": "transit/"}}
    out = run_playbook_json("-i", tmp_path / "hosts.json", "--limit", "vault1", tmp_path / "play.yml", "-e",
                            json.dumps({"vault_seal": seal}))
    config = parse(out["plays"][0]["tasks"][0]["hosts"]["vault1"]["msg"]["hcl"])
    assert config["seal"][0]["transit"]["key_name"] == "autounseal"


@pytest.mark.parametrize("extra, hosts, expected", [
    ({"vault_distribution": "hashicorp"}, ["vault1", "vault2", "vault3"], "vault_distribution"),
    ({}, ["vault1", "vault2"], "1, 3, 5 or 7 nodes"),
    ({"vault_tls_min_version": "tls11"}, ["vault1", "vault2", "vault3"], "vault_tls_min_version"),
])
def test_bad_input_fails_before_any_host_is_touched(tmp_path, extra, hosts, expected):
    """Only the role's always-tagged checks run (--tags none): they fail on the controller, naming the value."""
    inventory = {"all": {"vars": {"platform_environment": "production", "ansible_connection": "local"},
                         "children": {"security": {"children": {"vault": {"hosts": {h: {} for h in hosts}}}},
                                      "dc1": {"hosts": {h: {} for h in hosts}}}}}
    (tmp_path / "hosts.json").write_text(json.dumps(inventory))
    proc = subprocess.run([ansible_bin("ansible-playbook"), "-i", str(tmp_path / "hosts.json"),
                           os.path.join(REPO, "playbooks", "tier_security.yml"), "--tags", "none",
                           "-e", "@" + os.path.join(REPO, "group_vars", "all", "platform.yml"), "-e",
                           json.dumps(dict(extra, platform_secrets_dir=str(tmp_path)))],
                          capture_output=True, text=True, env=ansible_env(), cwd=REPO, check=False)
    assert proc.returncode != 0
    assert expected in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
