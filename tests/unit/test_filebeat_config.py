"""Filebeat -> Elasticsearch configuration of sovereign.datacenter.filebeat, rendered from an inventory.

Filebeat and Elasticsearch cannot be installed on the project's test machines (TESTING-HERE.md), so
`filebeat test config` (the role's validate step) cannot run here. These tests render
roles/filebeat/templates/filebeat.yml.j2 with Ansible's own template engine for hosts of the
production inventory and check the structure Filebeat 8 expects, and the values the inventory
dictates: Elasticsearch nodes, mutual TLS, tier/site/environment labels, a security index, and
Suricata's eve.json only on IDS sensors.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml
from ansible_run import ansible_bin, ansible_env

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(REPO, "roles", "filebeat")
HOSTS = ["lb1", "app1", "log1"]
# Top-level settings Filebeat 8 knows (a subset of its reference configuration) that the template uses.
KNOWN_TOP_LEVEL = {
    "filebeat.inputs", "fields", "fields_under_root", "processors", "output.elasticsearch",
    "setup.ilm.enabled", "setup.template.name", "setup.template.pattern", "logging.level", "logging.to_files",
}
KNOWN_INPUT_TYPES = {"journald", "filestream"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """{host: parsed filebeat.yml} for HOSTS of the production inventory."""
    playbook = tmp_path_factory.mktemp("filebeat") / "render.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - name: Render filebeat.yml per host
          hosts: {','.join(HOSTS)}
          gather_facts: false
          vars_files:
            - {ROLE}/defaults/main.yml
            - {ROLE}/vars/main.yml
          tasks:
            - name: Render
              ansible.builtin.debug:
                msg: "{{{{ lookup('ansible.builtin.template', '{ROLE}/templates/filebeat.yml.j2') }}}}"
        """))
    proc = subprocess.run(
        [ansible_bin("ansible-playbook"), "-i", os.path.join(REPO, "inventories", "production"), str(playbook),
         "-e", json.dumps({"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                           # production has no Elasticsearch group: its log collectors stand in.
                           "filebeat_elasticsearch_group": "log_collectors"})],
        capture_output=True, text=True, env=ansible_env(), cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads(proc.stdout)
    task = result["plays"][0]["tasks"][-1]["hosts"]
    return {host: yaml.safe_load(task[host]["msg"]) for host in HOSTS}


@pytest.mark.parametrize("host", HOSTS)
def test_structure_is_what_filebeat_expects(rendered, host):
    config = rendered[host]
    assert set(config) <= KNOWN_TOP_LEVEL, set(config) - KNOWN_TOP_LEVEL
    inputs = config["filebeat.inputs"]
    assert isinstance(inputs, list) and inputs
    assert {i["type"] for i in inputs} <= KNOWN_INPUT_TYPES
    ids = [i["id"] for i in inputs]
    assert len(ids) == len(set(ids)), "filestream/journald inputs need unique ids"
    for processor in config["processors"]:
        assert len(processor) == 1 and next(iter(processor)) in {"drop_event", "add_fields"}
    out = config["output.elasticsearch"]
    assert isinstance(out["hosts"], list) and out["hosts"]
    assert isinstance(out["indices"], list)


@pytest.mark.parametrize("host,tier,site", [("lb1", "dmz", "dc1"), ("app1", "app", "dc1"), ("log1", "management", "dc1")])
def test_labels_come_from_the_inventory(rendered, host, tier, site):
    config = rendered[host]
    assert config["fields_under_root"] is True
    assert config["fields"] == {"tier": tier, "site": site, "environment": "production"}


def test_elasticsearch_nodes_and_mutual_tls_from_the_inventory(rendered):
    out = rendered["app1"]["output.elasticsearch"]
    assert out["hosts"] == ["https://10.0.50.21:9200"]
    assert out["ssl.verification_mode"] == "full"
    assert out["ssl.certificate_authorities"] == ["/etc/ssl/sovereign/ca.crt"]
    assert out["ssl.certificate"] == "/etc/ssl/sovereign/host.crt"
    assert out["ssl.key"] == "/etc/ssl/sovereign/private/host.key"


def test_security_events_get_their_own_index(rendered):
    config = rendered["app1"]
    out = config["output.elasticsearch"]
    assert out["index"].startswith("sovereign-active-production-")
    assert out["indices"] == [{"index": "sovereign-security-production-%{+yyyy.MM.dd}",
                               "when.equals": {"stream": "security"}}]
    marker = [p["add_fields"] for p in config["processors"] if "add_fields" in p]
    assert marker and marker[0]["fields"] == {"stream": "security"}
    conditions = marker[0]["when"]["or"]
    assert {"equals": {"log.syslog.facility.code": 10}} in conditions      # authpriv
    assert {"equals": {"log.syslog.appname": "sshd"}} in conditions


def test_production_ships_info_and_above(rendered):
    drops = [p["drop_event"] for p in rendered["app1"]["processors"] if "drop_event" in p]
    assert drops == [{"when": {"range": {"log.syslog.priority": {"gt": 6}}}}]


def test_suricata_alerts_only_on_ids_sensors(rendered):
    def eve(host):
        return [i for i in rendered[host]["filebeat.inputs"] if i["type"] == "filestream"]
    assert eve("app1") == [] and eve("log1") == []
    (sensor,) = eve("lb1")
    assert sensor["paths"] == ["/var/log/suricata/eve.json"]
    assert sensor["parsers"] == [{"ndjson": {"target": "suricata", "add_error_key": True}}]
    assert sensor["fields"] == {"program": "suricata", "stream": "security"}
    keep = sensor["processors"][0]["drop_event"]["when"]["not"]["or"]
    assert keep == [{"equals": {"suricata.event_type": "alert"}}, {"equals": {"suricata.event_type": "anomaly"}}]
