"""Issue 16: one input contract per playbook an operator launches.

Each such playbook has ``<name>.spec.yml`` beside it and a first play that checks it on the controller
(playbooks/tasks/input_contract.yml, ansible.builtin.validate_argument_spec). Each runbook gets one
wrong value here and must refuse it in that play, with a message naming the variable, before any
host task: the lab inventory is used but every host is pointed at a container that does not exist,
so touching one would show as UNREACHABLE / "no-such-container".
"""
import glob
import json
import os
import subprocess

import pytest
import yaml

from ansible_run import REPO, ansible_bin, ansible_env

from ansible_collections.sovereign.datacenter.plugins.filter.contract import awx_survey, input_contract_spec

PLAYBOOKS = os.path.join(REPO, "playbooks")
# Playbooks that are not launched by an operator as a job: awx_configure.yml configures AWX itself.
NOT_LAUNCHED = {"awx_configure.yml"}


def operator_playbooks():
    found = sorted(glob.glob(os.path.join(PLAYBOOKS, "*.yml")) + glob.glob(os.path.join(PLAYBOOKS, "runbooks", "*.yml")))
    return [os.path.relpath(p, REPO) for p in found
            if not p.endswith(".spec.yml") and os.path.basename(p) not in NOT_LAUNCHED]


def contract_of(playbook):
    with open(os.path.join(REPO, playbook[:-4] + ".spec.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# One wrong value per runbook/playbook whose contract can refuse something: (extra vars, variable named).
WRONG = {
    "playbooks/compliance_audit.yml": ({"compliance_hosts": "no_such_group"}, "compliance_hosts"),
    "playbooks/firewall_audit.yml": ({"firewall_audit_timeout": "soon"}, "firewall_audit_timeout"),
    "playbooks/vault_configure.yml": ({"vault_runbook_site": "dc9"}, "vault_runbook_site"),
    "playbooks/runbooks/gpu_driver_upgrade.yml": ({"gpu_driver_upgrade_drain_timeout": "forever"},
                                                  "gpu_driver_upgrade_drain_timeout"),
    "playbooks/runbooks/pg_switchover.yml": ({"pg_switchover_to": "pg9"}, "pg_switchover_to"),
    "playbooks/runbooks/pg_dr_failover.yml": ({"pg_failover_target": "db9"}, "pg_failover_target"),
    "playbooks/runbooks/pg_dr_failback.yml": ({"pg_failback_primary": "pg2", "pg_failback_hosts": ["pg1", "pg7"]},
                                              "pg_failback_hosts"),
    "playbooks/runbooks/pg_restore_test.yml": ({"pg_restore_test_port": "high"}, "pg_restore_test_port"),
    "playbooks/runbooks/secrets_migrate.yml": ({"vault_runbook_site": "dc3"}, "vault_runbook_site"),
    "playbooks/runbooks/vault_init.yml": ({"vault_init_secret_shares": "five"}, "vault_init_secret_shares"),
    "playbooks/runbooks/vault_restore.yml": ({"vault_runbook_site": "mars", "vault_restore_snapshot": "/tmp/x.snap",
                                              "vault_restore_confirm": "mars"}, "vault_runbook_site"),
    "playbooks/runbooks/vault_rolling_restart.yml": ({"vault_rolling_upgrade": "perhaps"}, "vault_rolling_upgrade"),
    "playbooks/runbooks/vault_unseal.yml": ({"vault_runbook_site": "dc0"}, "vault_runbook_site"),
    "playbooks/runbooks/incident_diagnostics.yml": ({"incident_severity": "P5"}, "incident_severity"),
    "playbooks/runbooks/secret_rotation.yml": ({"secret_rotation_secrets": ["postgresql/app", "ldap/root"]},
                                               "secret_rotation_secrets"),
    "playbooks/runbooks/rolling_upgrade.yml": ({"rolling_upgrade_tiers": ["data", "mainframe"]}, "rolling_upgrade_tiers"),
    "playbooks/runbooks/rabbitmq_rolling_restart.yml": ({"rabbitmq_restart_timeout": "soon"}, "rabbitmq_restart_timeout"),
    "playbooks/runbooks/app_deploy.yml": ({"app_deploy_version": "2.0.0", "app_deploy_mode": "blue-green"},
                                          "app_deploy_mode"),
    "playbooks/cdn_ranges_update.yml": ({"cdn_ranges_source": "https://cdn.example/ips"}, "cdn_ranges_file"),
}


def test_every_operator_playbook_has_a_contract_checked_first():
    missing = []
    for playbook in operator_playbooks():
        spec = playbook[:-4] + ".spec.yml"
        if not os.path.exists(os.path.join(REPO, spec)):
            missing.append(spec)
            continue
        with open(os.path.join(REPO, playbook), encoding="utf-8") as handle:
            plays = yaml.safe_load(handle)
        first = plays[0]
        assert first.get("hosts") == "localhost:all", playbook
        assert first["vars"]["input_contract"] == "{{ playbook_dir }}/" + os.path.basename(spec), playbook
        assert first["tasks"][0]["ansible.builtin.import_tasks"].endswith("tasks/input_contract.yml"), playbook
        assert "always" in first.get("tags", []), playbook
    assert not missing, missing


def test_no_orphan_contract():
    specs = glob.glob(os.path.join(PLAYBOOKS, "*.spec.yml")) + glob.glob(os.path.join(PLAYBOOKS, "runbooks", "*.spec.yml"))
    orphans = [s for s in specs if not os.path.exists(s[:-9] + ".yml")]
    assert not orphans


@pytest.mark.parametrize("playbook", operator_playbooks())
def test_contract_is_well_formed(playbook):
    contract = contract_of(playbook)
    assert contract["short_description"], playbook
    groups = {"all": ["pg1"], "postgresql": ["pg1"], "backup_servers": ["backup1"], "ungrouped": []}
    spec = input_contract_spec(contract, groups)
    for name, option in (contract.get("options") or {}).items():
        assert option.get("description"), (playbook, name)
        assert not (option.get("required") and "default" in option), (playbook, name, "required with a default")
        if "choices" in option and "default" in option:
            default = option["default"] if isinstance(option["default"], list) else [option["default"]]
            assert set(default) <= set(option["choices"]), (playbook, name)
        if "inventory_hosts" in option:
            assert spec[name]["choices"][:1] == groups.get(option["inventory_hosts"], [])[:1]
    awx_survey(contract)  # every asked option maps to a survey question type


def test_every_runbook_has_a_wrong_value_case():
    runbooks = [p for p in operator_playbooks() if "/runbooks/" in p and contract_of(p).get("options")]
    assert sorted(set(runbooks) - set(WRONG)) == []


@pytest.mark.parametrize("playbook", sorted(WRONG))
def test_wrong_value_is_refused_before_any_host(playbook):
    if not os.path.exists(os.path.join(REPO, playbook)):
        pytest.skip("%s not in this checkout" % playbook)
    extra, variable = WRONG[playbook]
    # Every inventory host points at a container that does not exist: touching one would show.
    extra = dict(extra, ansible_host="sovereign-test-no-such-container")
    env = ansible_env()
    env.update({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    proc = subprocess.run([ansible_bin("ansible-playbook"), "-i", "inventories/lab", playbook, "-e", json.dumps(extra)],
                          capture_output=True, text=True, env=env, cwd=REPO, stdin=subprocess.DEVNULL, timeout=300,
                          check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "Validation of arguments failed" in out, out[-3000:]
    assert variable in out.split("Validation of arguments failed", 1)[1], out[-3000:]
    tasks = [line for line in out.splitlines() if line.startswith("TASK [")]
    expected = "TASK [Input contract | %s]" % os.path.basename(playbook[:-4] + ".spec.yml")
    assert len(tasks) == 1 and tasks[0].startswith(expected), tasks
    assert "UNREACHABLE" not in out and "no-such-container" not in out


def test_every_operator_playbook_and_awx_configure_pass_syntax_check():
    playbooks = operator_playbooks() + ["playbooks/awx_configure.yml"]
    env = ansible_env()
    env.update({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    proc = subprocess.run([ansible_bin("ansible-playbook"), "--syntax-check", "-i", "inventories/lab"] + playbooks,
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
