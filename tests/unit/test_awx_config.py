"""Issue 16: the AWX configuration as code (awx/*.yml, playbooks/awx_configure.yml), tested without an
AWX server (none can run here): the playbook renders every object it would send
(awx_configure_render_to) and the tests check the data. Every job template points at an existing
playbook, every operator playbook has a template, every survey equals the playbook's contract
(derived here independently of the filter that generates it), the promotion workflow gates
production behind an approval, and the schedules are the ones SPEC asks for."""
import glob
import json
import os

import pytest
import yaml

from ansible_run import REPO, run_playbook_json

from test_input_contracts import contract_of, operator_playbooks

AWX = os.path.join(REPO, "awx")


class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """SafeLoader that reads Ansible's !unsafe (AWX injector templates) as plain strings."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _load(name):
    with open(os.path.join(AWX, name), encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("awx") / "awx.json"
    run_playbook_json(os.path.join(REPO, "playbooks", "awx_configure.yml"), "-e", "awx_configure_render_to=%s" % out)
    return json.loads(out.read_text())


def test_every_template_points_at_an_existing_playbook(rendered):
    for jt in rendered["job_templates"]:
        assert os.path.isfile(os.path.join(REPO, jt["playbook"])), jt["name"]


def test_every_operator_playbook_has_one_template(rendered):
    playbooks = [jt["playbook"] for jt in rendered["job_templates"]]
    assert len(playbooks) == len(set(playbooks))
    names = [jt["name"] for jt in rendered["job_templates"]]
    assert len(names) == len(set(names))
    assert sorted(set(operator_playbooks()) - set(playbooks)) == []


def _expected_question(variable, option):
    """The survey question a contract option must become (the rules of docs/operations.md)."""
    kind = option.get("type", "str")
    q = {"variable": variable, "question_name": variable, "required": bool(option.get("required", False)),
         "question_description": " ".join(option["description"].split())}
    if option.get("no_log"):
        q.update(type="password", default="")
    elif kind == "bool":
        q.update(type="multiplechoice", choices=["true", "false"], default=str(option.get("default", "")).lower())
    elif kind == "int":
        q.update(type="integer", default=option.get("default", ""))
    elif kind == "float":
        q.update(type="float", default=option.get("default", ""))
    elif "choices" in option and kind == "list":
        q.update(type="multiselect", choices=option["choices"], default="\n".join(option.get("default", [])))
    elif "choices" in option:
        q.update(type="multiplechoice", choices=[c for c in option["choices"] if c != ""],
                 default=option.get("default", ""))
    else:
        q.update(type="text", default=",".join(option["default"]) if isinstance(option.get("default"), list)
                 else str(option.get("default", "")))
        if kind == "list":
            q["question_description"] += " (comma-separated)"
    return q


def test_every_survey_equals_its_contract(rendered):
    differ = []
    for jt in rendered["job_templates"]:
        contract = contract_of(jt["playbook"])
        asked = {k: v for k, v in (contract.get("options") or {}).items() if v.get("survey", True) is not False}
        questions = jt["survey_spec"].get("spec", []) if jt["survey_enabled"] else []
        assert jt["survey_enabled"] == bool(asked), jt["name"]
        assert [q["variable"] for q in questions] == list(asked), jt["name"]
        for q in questions:
            want = _expected_question(q["variable"], asked[q["variable"]])
            got = {k: q.get(k) for k in want}
            if got != want:
                differ.append((jt["name"], got, want))
        assert jt["description"].startswith(contract["short_description"]), jt["name"]
    assert not differ, differ


def test_secrets_are_password_fields_without_defaults(rendered):
    for jt in rendered["job_templates"]:
        for q in jt["survey_spec"].get("spec", []):
            option = contract_of(jt["playbook"])["options"][q["variable"]]
            secret = option.get("no_log", False) or any(w in q["variable"] for w in ("token", "password", "unseal_key", "secret_id"))
            assert (q["type"] == "password") == secret, (jt["name"], q["variable"])
            if q["type"] == "password":
                assert q["default"] == "", (jt["name"], q["variable"])


def test_survey_drift_is_caught():
    """The comparison above is not vacuous: a contract change shows as a difference."""
    from ansible_collections.sovereign.datacenter.plugins.filter.contract import awx_survey
    contract = contract_of("playbooks/runbooks/pg_restore_test.yml")
    survey = awx_survey(contract)
    contract["options"]["pg_restore_test_port"]["default"] = 25440
    q = next(q for q in survey["spec"] if q["variable"] == "pg_restore_test_port")
    assert _expected_question("pg_restore_test_port", contract["options"]["pg_restore_test_port"])["default"] != q["default"]


def test_inventories_are_the_repository_environments(rendered):
    names = [env["name"] for env in rendered["environments"]]
    assert names == ["development", "staging", "production"]
    for env in rendered["environments"]:
        assert os.path.isfile(os.path.join(REPO, env["inventory_path"], "hosts.yml")) or \
            glob.glob(os.path.join(REPO, env["inventory_path"], "*")), env


def test_credentials_come_from_vault(rendered):
    creds = {c["name"]: c["credential_type"] for c in rendered["credentials"]}
    for env in ("development", "staging", "production"):
        assert creds["Vault secret lookup (%s)" % env] == "HashiCorp Vault Secret Lookup"
        assert creds["Vault signed SSH (%s)" % env] == "HashiCorp Vault Signed SSH"
        assert creds["SSH ops (%s)" % env] == "Machine"
    for src in rendered["credential_input_sources"]:
        assert src["target"] in creds and src["source"] in creds, src
        assert creds[src["source"]].startswith("HashiCorp Vault"), src
    fields = {(s["target"].split(" (")[0], s["input_field_name"]) for s in rendered["credential_input_sources"]}
    assert {("SSH ops", "ssh_key_data"), ("SSH ops", "ssh_public_key_data"), ("Vault operator", "vault_token")} <= fields
    # no secret value in the data: secret inputs are names of variables given at configure time
    for cred in _load("config.yml")["awx_credentials"]:
        for field, var in cred.get("secret_inputs", {}).items():
            assert var.startswith("awx_"), (cred["name"], field)
    types = {t["name"]: t for t in rendered["credential_types"]}
    # the injector reaches AWX as AWX's own template, untouched by Ansible
    assert types["Sovereign Vault operator token"]["injectors"]["env"]["VAULT_TOKEN"] == "{{ vault_token }}"
    assert set(creds.values()) - set(types) <= {"HashiCorp Vault Secret Lookup", "HashiCorp Vault Signed SSH", "Machine"}


def test_templates_reference_existing_objects(rendered):
    notifications = set(rendered["notification_templates"])
    creds = {c["name"] for c in rendered["credentials"]}
    envs = {e["name"] for e in rendered["environments"]}
    templates = {jt["name"] for jt in rendered["job_templates"]}
    for jt in rendered["job_templates"]:
        assert set(jt["notification_templates_error"]) <= notifications
        assert set(jt["credentials"]) <= creds and jt["inventory"] in envs
        assert jt["ask_inventory_on_launch"] and jt["ask_credential_on_launch"]
    for node in rendered["workflow_nodes"]:
        if "unified_job_template" in node:
            assert node["unified_job_template"] in templates and node["inventory"] in envs
            assert set(node["credentials"]) <= creds
    for schedule in rendered["schedules"]:
        assert schedule["unified_job_template"] in templates and schedule["inventory"] in envs
    for wf in rendered["workflows"]:
        assert set(wf["notify"]) <= notifications


def test_promotion_is_staging_then_approval_then_production(rendered):
    nodes = {n["identifier"]: n for n in rendered["workflow_nodes"]}
    # follow the success chain from the node nobody points at
    pointed = {s for n in nodes.values() for s in n["success_nodes"]}
    (start,) = [i for i in nodes if i not in pointed]
    chain = [start]
    while nodes[chain[-1]]["success_nodes"]:
        (nxt,) = nodes[chain[-1]]["success_nodes"]
        chain.append(nxt)
    assert len(chain) == len(nodes)
    kinds = ["approval" if "approval_node" in nodes[i] else nodes[i]["inventory"] for i in chain]
    gate = kinds.index("approval")
    assert set(kinds[:gate]) == {"staging"} and set(kinds[gate + 1:]) == {"production"}, kinds
    assert nodes[chain[0]]["unified_job_template"] == "Site - build the data centre"
    assert nodes[chain[gate]]["approval_node"]["timeout"] > 0
    # children are created before their parents (a node names success nodes that exist)
    order = [n["identifier"] for n in rendered["workflow_nodes"]]
    for n in rendered["workflow_nodes"]:
        for s in n["success_nodes"]:
            assert order.index(s) < order.index(n["identifier"])


def test_schedules(rendered):
    by_template = {}
    for s in rendered["schedules"]:
        by_template.setdefault(s["unified_job_template"], []).append(s)
    compliance = by_template["Audit - compliance"]
    assert {s["inventory"] for s in compliance} == {"development", "staging", "production"}
    assert all("FREQ=WEEKLY" in s["rrule"] for s in compliance)
    assert all("FREQ=DAILY" in s["rrule"] for s in by_template["Audit - firewall with real traffic"])
    restore = by_template["Runbook - PostgreSQL restore test"]
    assert {s["inventory"] for s in restore} == {"staging", "production"}  # development: no backups
    # seed 003: `0 3 1 * *` (03:00 on the 1st of every month)
    for s in restore:
        assert "FREQ=MONTHLY;INTERVAL=1;BYMONTHDAY=1;BYHOUR=3;BYMINUTE=0" in s["rrule"] and "T030000Z" in s["rrule"]
    quarterly = _load("schedules.yml")["awx_restore_test_rrules"]["quarterly"]
    assert "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=1;BYHOUR=3;BYMINUTE=0" in quarterly and "20260101T030000Z" in quarterly


def test_configure_playbook_only_talks_to_awx_through_awx_awx():
    with open(os.path.join(REPO, "playbooks", "awx_configure.yml"), encoding="utf-8") as handle:
        play = yaml.safe_load(handle)[0]
    modules = []
    for task in play["tasks"]:
        for t in task.get("block", [task]):
            modules += [k for k in t if "." in k and k.split(".")[0] in ("awx", "ansible")]
    api = [m for m in modules if m.startswith("awx.awx.")]
    assert set(modules) - set(api) <= {"ansible.builtin.copy", "ansible.builtin.meta"}
    assert {"awx.awx.job_template", "awx.awx.workflow_job_template_node", "awx.awx.schedule", "awx.awx.credential",
            "awx.awx.inventory_source", "awx.awx.notification_template", "awx.awx.execution_environment"} <= set(api)
    secret_tasks = [t for t in play["tasks"] if any(m in t for m in ("awx.awx.credential", "awx.awx.notification_template"))]
    assert all(t.get("no_log") for t in secret_tasks)


def test_operations_doc_has_a_section_per_template_with_its_inputs(rendered):
    with open(os.path.join(REPO, "docs", "operations.md"), encoding="utf-8") as handle:
        doc = handle.read()
    sections = {part.split("\n", 1)[0].strip(): part for part in doc.split("\n### ")[1:]}
    for jt in rendered["job_templates"]:
        assert jt["name"] in sections, jt["name"]
        text = sections[jt["name"]]
        assert jt["playbook"] in text and "Changes:" in text and "Rollback:" in text, jt["name"]
        for option in contract_of(jt["playbook"]).get("options") or {}:
            assert "`%s`" % option in text, (jt["name"], option)
