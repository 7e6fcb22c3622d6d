"""Every role documents its interface: meta/main.yml, README.md and meta/argument_specs.yml whose
`main` options match defaults/main.yml exactly (the drift check prometheus.prometheus runs)."""
import os

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = sorted(d for d in os.listdir(os.path.join(REPO, "roles"))
               if os.path.isdir(os.path.join(REPO, "roles", d, "tasks")))


def _load(*parts):
    path = os.path.join(REPO, "roles", *parts)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


@pytest.mark.parametrize("role", ROLES)
def test_role_has_meta_readme_and_specs(role):
    assert _load(role, "meta", "main.yml") is not None, "roles/%s/meta/main.yml missing" % role
    assert os.path.exists(os.path.join(REPO, "roles", role, "README.md")), "roles/%s/README.md missing" % role
    assert _load(role, "meta", "argument_specs.yml") is not None, "roles/%s/meta/argument_specs.yml missing" % role


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_do_not_drift(role):
    defaults = _load(role, "defaults", "main.yml") or {}
    specs = (_load(role, "meta", "argument_specs.yml") or {}).get("argument_specs", {})
    options = set()
    for entry in specs.values():
        options |= set((entry or {}).get("options") or {})
    undocumented = sorted(set(defaults) - options)
    assert undocumented == [], "roles/%s: defaults without an argument spec: %s" % (role, undocumented)
    main = set(((specs.get("main") or {}).get("options") or {}))
    for name in sorted(main):
        assert name.startswith(role.lstrip("_") + "_") or name.startswith("_" + role.lstrip("_") + "_"), \
            "roles/%s: public variable %s lacks the role prefix" % (role, name)


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_and_defaults_agree_both_ways(role):
    """The other direction, and the values: every `main` option the spec gives a default has that
    default in defaults/main.yml, with the same value (templated defaults are the role's to evaluate)."""
    defaults = _load(role, "defaults", "main.yml") or {}
    specs = (_load(role, "meta", "argument_specs.yml") or {}).get("argument_specs", {})
    main = (specs.get("main") or {}).get("options") or {}
    missing = sorted(n for n, o in main.items() if "default" in (o or {}) and n not in defaults)
    assert missing == [], "roles/%s: argument spec defaults missing from defaults/main.yml: %s" % (role, missing)
    differ = sorted((n, main[n]["default"], defaults[n]) for n in main
                    if n in defaults and "default" in (main[n] or {}) and main[n]["default"] != defaults[n]
                    and not (isinstance(defaults[n], str) and "{{" in defaults[n]))
    assert differ == [], "roles/%s: argument spec and defaults/main.yml disagree (option, spec, defaults): %s" % (role, differ)


def test_hardening_waivers_are_validated_as_dicts():
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    specs = _load("hardening", "meta", "argument_specs.yml")["argument_specs"]
    good = {"control": "cis-5.2.7", "justification": "bastion", "owner": "ops", "expires": "2027-01-31"}
    for entry in ("main", "audit"):
        spec = {"hardening_waivers": specs[entry]["options"]["hardening_waivers"]}
        assert not ArgumentSpecValidator(spec).validate({"hardening_waivers": [good]}).error_messages
        for broken in ("cis-5.2.7", {k: v for k, v in good.items() if k != "owner"}, dict(good, reason="x")):
            assert ArgumentSpecValidator(spec).validate({"hardening_waivers": [broken]}).error_messages, (entry, broken)
