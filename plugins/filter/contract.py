# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input contracts of the playbooks an operator launches, and the AWX surveys made from them.

A contract is the YAML file beside a playbook (``<playbook>.spec.yml``)::

    short_description: one line
    options:
      <variable>:
        type: str | int | float | bool | list | dict | path | raw
        required: false
        default: ...            # documented default, and the survey's default
        choices: [...]          # static choices
        elements: str           # for lists
        no_log: true            # a secret: a password field in the survey, never printed
        inventory_hosts: GROUP  # the value(s) must be hosts of this inventory group (``all``: any host)
        inventory_groups: true  # the value(s) must be group names of the inventory
        survey: false           # not asked in the AWX survey (structured data: extra vars only)
        description: text

``input_contract_spec`` turns it into the argument spec that ``ansible.builtin.validate_argument_spec``
checks on the controller (the inventory keys become ``choices`` drawn from the inventory being
used), ``awx_survey`` into the survey of the job template: one source for both, so they cannot drift.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

# Keys of a contract option that validate_argument_spec knows; the others are ours (stripped).
_SPEC_KEYS = ("type", "required", "default", "choices", "elements", "no_log", "aliases", "options")
_TYPES = ("str", "int", "float", "bool", "list", "dict", "path", "raw")


def _options(contract):
    if not isinstance(contract, dict) or not isinstance(contract.get("options", {}), dict):
        raise AnsibleFilterError("input contract: a mapping with an `options` mapping is expected")
    options = contract.get("options") or {}
    for name, option in options.items():
        if not isinstance(option, dict):
            raise AnsibleFilterError("input contract: option %s is not a mapping" % name)
        if option.get("type", "str") not in _TYPES:
            raise AnsibleFilterError("input contract: option %s has unknown type %s" % (name, option.get("type")))
    return options


def input_contract_spec(contract, groups):
    """The validate_argument_spec argument spec of a contract, for the inventory whose ``groups`` is given."""
    if not isinstance(groups, dict):
        raise AnsibleFilterError("input_contract_spec: pass the `groups` magic variable")
    spec = {}
    for name, option in _options(contract).items():
        entry = {key: option[key] for key in _SPEC_KEYS if key in option}
        entry.setdefault("type", "str")
        allowed = None
        if "inventory_hosts" in option:
            allowed = list(groups.get(option["inventory_hosts"]) or [])
        elif option.get("inventory_groups"):
            allowed = sorted(g for g in groups if g != "ungrouped")
        if allowed is not None:
            if not option.get("required"):
                allowed.append("")  # empty: not given (an AWX survey sends blank optional answers)
            entry["choices"] = allowed
            if entry["type"] == "list":
                entry.setdefault("elements", "str")
        spec[name] = entry
    return spec


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def awx_survey(contract, name=None):
    """The AWX survey_spec of a contract (question order: the contract's)."""
    questions = []
    for variable, option in _options(contract).items():
        if option.get("survey", True) is False:
            continue
        kind = option.get("type", "str")
        question = {
            "variable": variable,
            "question_name": variable,
            "question_description": " ".join(str(option.get("description", "")).split()),
            "required": bool(option.get("required", False)),
        }
        if option.get("no_log"):
            question.update(type="password", min=0, max=1024)
        elif kind == "bool":
            question.update(type="multiplechoice", choices=["true", "false"])
        elif kind == "int":
            question.update(type="integer")
            for bound in ("min", "max"):
                if bound in option:
                    question[bound] = option[bound]
        elif kind == "float":
            question.update(type="float")
        elif "choices" in option and kind == "list":
            question.update(type="multiselect", choices=[str(c) for c in option["choices"]])
        elif "choices" in option:
            # "" (not given) is a blank answer in AWX, not a choice
            question.update(type="multiplechoice", choices=[str(c) for c in option["choices"] if c != ""])
        elif kind in ("str", "path", "list", "raw"):
            question.update(type="text", min=0, max=1024)
            if kind == "list":
                question["question_description"] = (question["question_description"] + " (comma-separated)").strip()
        else:
            raise AnsibleFilterError("awx_survey: option %s of type %s cannot be a survey question: mark it survey: false"
                                     % (variable, kind))
        if "default" in option and not option.get("no_log"):
            default = option["default"]
            if question["type"] in ("integer", "float"):
                question["default"] = default
            elif question["type"] == "multiselect":
                question["default"] = "\n".join(str(v) for v in (default or []))
            else:
                question["default"] = _text(default)
        else:
            question["default"] = ""
        questions.append(question)
    return {
        "name": name or contract.get("short_description", ""),
        "description": contract.get("short_description", ""),
        "spec": questions,
    }


class FilterModule(object):
    """sovereign.datacenter input contract filters."""

    def filters(self):
        return {"input_contract_spec": input_contract_spec, "awx_survey": awx_survey}
