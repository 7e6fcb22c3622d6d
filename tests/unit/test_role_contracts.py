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
