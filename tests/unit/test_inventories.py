"""Every inventory loads the platform-wide group_vars and is valid; broken inventories are
refused by site.yml before any host is touched, with a message naming host and variable."""
import json
import os
import subprocess

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORIES = ["production", "staging", "development", "lab"]


def _env():
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = os.path.join(REPO, "ansible.cfg")
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(REPO, ".ansible", "collections")
    env.pop("ANSIBLE_STRATEGY", None)
    return env


def _inventory(path):
    out = subprocess.run(["ansible-inventory", "-i", path, "--list"], capture_output=True, text=True,
                         env=_env(), check=True, cwd=REPO).stdout
    return json.loads(out)


@pytest.mark.parametrize("name", INVENTORIES)
def test_inventory_loads_platform_group_vars(name):
    data = _inventory(os.path.join(REPO, "inventories", name))
    hostvars = data["_meta"]["hostvars"]
    assert hostvars, "inventory %s has no hosts" % name
    with open(os.path.join(REPO, "group_vars", "all", "platform.yml"), encoding="utf-8") as handle:
        platform = yaml.safe_load(handle)
    for host, hv in hostvars.items():
        # from the shared group_vars/all (linked into every inventory)
        assert hv.get("platform_tiers") == platform["platform_tiers"], host
        assert hv.get("platform_ports") == platform["platform_ports"], host
        # from the inventory's own group_vars
        assert hv.get("platform_environment") == name, host
    groups = set(data["all"]["children"])
    assert {"tiers", "sites"} <= groups
    assert set(data["tiers"]["children"]) == set(platform["platform_tiers"])
    assert set(data["sites"]["children"]) == set(platform["platform_sites"])


@pytest.mark.parametrize("name", INVENTORIES)
def test_every_shared_file_is_linked_into_the_inventory(name):
    shared = sorted(os.listdir(os.path.join(REPO, "group_vars", "all")))
    linked = os.path.join(REPO, "inventories", name, "group_vars", "all")
    for filename in shared:
        link = os.path.join(linked, "000_" + filename)
        assert os.path.islink(link), "inventories/%s lacks the link 000_%s -> group_vars/all/%s" % (name, filename, filename)
        assert os.path.realpath(link) == os.path.realpath(os.path.join(REPO, "group_vars", "all", filename))


@pytest.mark.parametrize("name", INVENTORIES)
def test_inventory_is_valid(name):
    from ansible_collections.sovereign.datacenter.plugins.module_utils._platform import group_members, inventory_errors

    data = _inventory(os.path.join(REPO, "inventories", name))
    hostvars = data["_meta"]["hostvars"]

    group_names = {h: [] for h in hostvars}
    for group in data:
        if group in ("_meta", "all", "ungrouped"):
            continue
        for h in group_members(data, group):
            group_names[h].append(group)
    any_vars = next(iter(hostvars.values()))
    hosts = {h: {"group_names": group_names[h], "platform_address": hv.get("platform_address")}
             for h, hv in hostvars.items()}
    assert inventory_errors(hosts, any_vars["platform_tiers"], any_vars["platform_sites"],
                            any_vars["platform_segments"]) == []


# --- broken inventories through site.yml --------------------------------------------------------

BASE = {
    "all": {"children": {
        "tiers": {"children": {
            "app": {"hosts": {"app1": {"platform_address": "10.250.10.11"}}},
            "data": {"hosts": {"pg1": {"platform_address": "10.250.20.11"},
                               "pg3": {"platform_address": "10.251.20.11"}}},
        }},
        "sites": {"children": {"dc1": {"hosts": {"app1": None, "pg1": None}},
                               "dc2": {"hosts": {"pg3": None}}}},
    }}
}
SEGMENTS = {"dc1": {"app": ["10.250.10.0/24"], "data": ["10.250.20.0/24"]},
            "dc2": {"data": ["10.251.20.0/24"]}}


def _write_inventory(tmp_path, hosts_doc, segments):
    inv = tmp_path / "inv"
    gv = inv / "group_vars" / "all"
    gv.mkdir(parents=True)
    for shared in sorted(os.listdir(os.path.join(REPO, "group_vars", "all"))):
        os.symlink(os.path.join(REPO, "group_vars", "all", shared), gv / ("000_" + shared))
    (gv / "environment.yml").write_text(yaml.safe_dump({
        "platform_environment": "broken",
        "platform_segments": segments,
        # Any host really touched would fail loudly: these containers do not exist.
        "ansible_connection": "podman",
        "ansible_host": "sovereign-test-no-such-container",
    }))
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts_doc))
    return str(inv)


def _site(inventory):
    return subprocess.run(["ansible-playbook", "-i", inventory, os.path.join(REPO, "playbooks", "site.yml")],
                          capture_output=True, text=True, env=_env(), cwd=REPO, timeout=300, check=False)


def _mutate(path_fn):
    doc = json.loads(json.dumps(BASE))
    segments = json.loads(json.dumps(SEGMENTS))
    path_fn(doc, segments)
    return doc, segments


CASES = {
    "unknown tier": (
        lambda d, s: d["all"]["children"]["tiers"]["children"].update(
            {"backend": {"hosts": {"be1": {"platform_address": "10.250.10.12"}}}})
        or d["all"]["children"]["sites"]["children"]["dc1"]["hosts"].update({"be1": None}),
        ["'be1'", "group_names", "backend"]),
    "unknown site": (
        lambda d, s: d["all"]["children"]["sites"]["children"].update(
            {"dc7": {"hosts": {"pg3": None}}}) or d["all"]["children"]["sites"]["children"].pop("dc2"),
        ["'pg3'", "platform_sites", "dc7"]),
    "malformed CIDR": (
        lambda d, s: s["dc1"].update({"app": ["10.250.300.0/24"]}),
        ["platform_segments.dc1.app[0]", "not a valid CIDR"]),
    "host outside its segment": (
        lambda d, s: d["all"]["children"]["tiers"]["children"]["data"]["hosts"]["pg3"].update(
            {"platform_address": "10.250.20.99"}),
        ["'pg3'", "platform_address 10.250.20.99", "platform_segments.dc2.data"]),
    "duplicate address": (
        lambda d, s: d["all"]["children"]["tiers"]["children"]["data"]["hosts"]["pg1"].update(
            {"platform_address": "10.250.10.11"}) or s["dc1"].update({"data": ["10.250.20.0/24", "10.250.10.128/25"]}),
        ["'pg1'", "'app1'", "10.250.10.11"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_inventory_is_refused_before_any_host_is_touched(tmp_path, case):
    mutate, expected = CASES[case]
    doc, segments = _mutate(mutate)
    res = _site(_write_inventory(tmp_path, doc, segments))
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "Invalid inventory" in out, out
    for fragment in expected:
        assert fragment in out, (fragment, out[-3000:])
    # Nothing ran after the preflight: no base task, no connection attempt.
    assert "sovereign.datacenter.base" not in out
    assert "no-such-container" not in out
    assert "UNREACHABLE" not in out


def test_valid_inventory_passes_preflight(tmp_path):
    inv = _write_inventory(tmp_path, BASE, SEGMENTS)
    res = subprocess.run(["ansible-playbook", "-i", inv, os.path.join(REPO, "playbooks", "preflight.yml")],
                         capture_output=True, text=True, env=_env(), cwd=REPO, timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "3 hosts valid" in res.stdout
