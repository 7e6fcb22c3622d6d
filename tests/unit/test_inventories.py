"""Every inventory loads the platform-wide group_vars and is valid; broken inventories are
refused by site.yml before any host is touched, with a message naming host and variable."""
import json
import os
import subprocess

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORIES = ["production", "staging", "development", "lab"]
CALLBACKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "callbacks")


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
            # every service group the shared flows name exists (most empty), as in a real inventory
            "dmz": {"children": {"loadbalancers": None, "ids_sensors": None}},
            "app": {"hosts": {"app1": {"platform_address": "10.250.10.11"}},
                    "children": {"app_servers": {"hosts": {"app1": None}}, "redis": None, "rabbitmq": None}},
            "data": {"hosts": {"pg1": {"platform_address": "10.250.20.11", "postgresql_role": "primary",
                                       "postgresql_synchronous": False},
                               "pg3": {"platform_address": "10.251.20.11", "postgresql_role": "standby",
                                       "postgresql_synchronous": False}},
                     "children": {"postgresql": {"hosts": {"pg1": None, "pg3": None}}, "minio": None,
                                  "ceph": None, "backup_servers": None}},
            "ai": {"children": {"k8s_control_plane": None, "gpu_nodes": None}},
            "security": {"children": {"vault": None}},
            "management": {"children": {"monitoring": None, "log_collectors": None, "bastions": None}},
        }},
        "sites": {"children": {"dc1": {"hosts": {"app1": None, "pg1": None}},
                               "dc2": {"hosts": {"pg3": None}}}},
    }}
}
SEGMENTS = {"dc1": {"dmz": ["10.250.1.0/24"], "app": ["10.250.10.0/24"], "data": ["10.250.20.0/24"],
                    "ai": ["10.250.30.0/24"], "security": ["10.250.40.0/24"], "management": ["10.250.50.0/24"]},
            "dc2": {"data": ["10.251.20.0/24"]}}


def _write_inventory(tmp_path, hosts_doc, segments, extra_vars=None):
    inv = tmp_path / "inv"
    gv = inv / "group_vars" / "all"
    gv.mkdir(parents=True)
    for shared in sorted(os.listdir(os.path.join(REPO, "group_vars", "all"))):
        os.symlink(os.path.join(REPO, "group_vars", "all", shared), gv / ("000_" + shared))
    (gv / "environment.yml").write_text(yaml.safe_dump({
        "platform_environment": "broken",
        "platform_segments": segments,
        # pinned per inventory (inventories/<env>/group_vars/all/edge.yml): a documentation range here
        "platform_cdn_ranges": ["192.0.2.0/24"],
        # Any host really touched would fail loudly: these containers do not exist.
        "ansible_connection": "podman",
        "ansible_host": "sovereign-test-no-such-container",
        "postgresql_replication_password": "unit-test-only",
        **(extra_vars or {}),
    }))
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts_doc))
    return str(inv)


def _site(inventory):
    # with the task log (see _assert_refused_by_preflight below), next to the inventory
    env = _env()
    env.update({"ANSIBLE_CALLBACK_PLUGINS": CALLBACKS, "ANSIBLE_CALLBACKS_ENABLED": "task_log",
                "SOVEREIGN_TASK_LOG": os.path.join(os.path.dirname(inventory), "tasks.jsonl")})
    return subprocess.run(["ansible-playbook", "-i", inventory, os.path.join(REPO, "playbooks", "site.yml")],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False)


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
    # The task log: the preflight's controller-side task is the only one that started.
    _assert_refused_by_preflight(res, os.path.join(str(tmp_path), "tasks.jsonl"), ["[inventory]"])


def test_valid_inventory_passes_preflight(tmp_path):
    inv = _write_inventory(tmp_path, BASE, SEGMENTS)
    res = subprocess.run(["ansible-playbook", "-i", inv, os.path.join(REPO, "playbooks", "preflight.yml")],
                         capture_output=True, text=True, env=_env(), cwd=REPO, timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "3 hosts valid" in res.stdout


# --- the whole platform, before any host task (issue 10, item 6) ---------------------------------
# Each case: (mutate(doc, segments, extra) -> None, fragments the message must hold, extra CLI args).
# ``extra`` holds variables for group all (environment.yml). The inventory's hosts are podman
# containers that do not exist, and a callback logs every task start: the refusal must come from
# the preflight's controller-side task, and no other task may start on any host.

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZb3v1i6pXqj8mIhzE5UeEhmc2QfCEZk4rCbDmVc+wB ops@example"


def _host(doc, tier, host):
    return doc["all"]["children"]["tiers"]["children"][tier]["hosts"][host]


def _layer(extra, *flows):
    extra["platform_flows_zz_test"] = list(flows)


WHOLE_PLATFORM_CASES = {
    # the broken inventories of the issue
    "flow port out of range": (
        lambda d, s, e: _layer(e, {"name": "bad_port", "from": ["app"], "to": ["postgresql"], "ports": [70000]}),
        ["[flows]", "flow bad_port", "70000", "out of range 1-65535"], []),
    "flow target group misspelt": (
        lambda d, s, e: _layer(e, {"name": "typo_group", "from": ["app"], "to": ["postgersql"], "ports": [5432]}),
        ["[flows]", "flow typo_group", "unknown group 'postgersql' in to"], []),
    "flow port range reversed": (
        lambda d, s, e: _layer(e, {"name": "reversed", "from": ["app"], "to": ["postgresql"], "ports": ["6000-5000"]}),
        ["[flows]", "flow reversed", "'6000-5000'", "reversed"], []),
    "flow from the internet into the data tier": (
        lambda d, s, e: _layer(e, {"name": "open_db", "from": ["0.0.0.0/0"], "to": ["postgresql"], "ports": [5432]}),
        ["[flows]", "flow open_db", "'0.0.0.0/0'", "outside the platform segments"], []),
    "synchronous standby in dc2": (
        lambda d, s, e: _host(d, "data", "pg3").update({"postgresql_synchronous": True}),
        ["[postgresql]", "'pg3'", "postgresql_synchronous=True", "not in site dc1"], []),
    "postgresql_role replica": (
        lambda d, s, e: _host(d, "data", "pg3").update({"postgresql_role": "replica"}),
        ["[postgresql]", "'pg3'", "postgresql_role='replica'", "must be primary or standby",
         "[arguments]", "one of: primary, standby"], []),
    "admin with a malformed SSH key": (
        lambda d, s, e: e.update({"base_admin_users": [{"name": "ops", "ssh_public_keys": [KEY, "ssh-ed25519 not-a-key ops@x"]}]}),
        ["[ssh_keys]", "'app1'", "base_admin_users[0] (ops).ssh_public_keys[1]", "'ssh-ed25519 not-a-key ops@x'",
         "not base64"], []),
    # more of our own
    "wrong type of a role variable": (
        lambda d, s, e: _host(d, "app", "app1").update({"base_apt_backports": "maybe"}),
        ["[arguments]", "'app1'", "base_apt_backports='maybe'", "bool", "sovereign.datacenter.base"], []),
    "unknown choice": (
        lambda d, s, e: e.update({"firewall_backend": "iptables"}),
        ["[arguments]", "'app1', 'pg1', 'pg3'", "firewall_backend='iptables'", "nftables, ufw, firewalld"], []),
    "malformed key in a list of dicts": (
        lambda d, s, e: e.update({"base_admin_users": [{"name": "ops", "ssh_keys": [KEY]}]}),
        ["[arguments]", "base_admin_users", "ssh_keys", "sovereign.datacenter.base"], []),
    "host in two tiers": (
        lambda d, s, e: d["all"]["children"]["tiers"]["children"]["data"]["hosts"].update({"app1": None}),
        ["[inventory]", "'app1'", "exactly one tier", "app", "data"], []),
    "two primaries": (
        lambda d, s, e: _host(d, "data", "pg3").update({"postgresql_role": "primary"}),
        ["[postgresql]", "'pg1', 'pg3'", "exactly one primary"], []),
    "misspelt role variable": (
        lambda d, s, e: _host(d, "data", "pg3").update({"postgresql_synchronus": True}),
        ["[arguments]", "'pg3'", "postgresql_synchronus=True", "unknown variable",
         "did you mean postgresql_synchronous"], []),
    "platform-wide setting set for one host": (
        lambda d, s, e: _host(d, "data", "pg3").update({"platform_sites": ["dc1", "dc2", "dc3"]}),
        ["[platform]", "'pg3'", "platform_sites=['dc1', 'dc2', 'dc3']", "platform-wide"], []),
    "egress allowance with a bad port": (
        lambda d, s, e: _host(d, "app", "app1").update({
            "firewall_egress_policy": True,
            "firewall_egress_allow": [{"name": "dns", "to": ["10.9.9.9"], "proto": "udp", "ports": [99999]}]}),
        ["[flows]", "dns", "99999", "out of range"], []),
    "flow with an unknown key": (
        lambda d, s, e: _layer(e, {"name": "bad_key", "from": ["app"], "to": ["postgresql"], "port": 5432}),
        ["[flows]", "flow bad_key", "unknown keys ['port']"], []),
    "host without an address": (
        lambda d, s, e: _host(d, "data", "pg3").pop("platform_address"),
        ["[inventory]", "'pg3'", "platform_address is not set"], []),
    "unknown TLS profile": (
        lambda d, s, e: e.update({"platform_tls_profile": "legacy"}),
        ["[platform]", "'app1', 'pg1', 'pg3'", "platform_tls_profile='legacy'", "one of: default, modern"], []),
    "broken host outside --limit": (
        lambda d, s, e: _host(d, "data", "pg3").update({"postgresql_role": "replica"}),
        ["[postgresql]", "'pg3'", "postgresql_role='replica'"], ["--limit", "app1"]),
}


def _started(log_path):
    if not os.path.exists(log_path):
        return []
    with open(log_path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _site_logged(inventory, log_path, extra_args=()):
    env = _env()
    env.update({"ANSIBLE_CALLBACK_PLUGINS": CALLBACKS, "ANSIBLE_CALLBACKS_ENABLED": "task_log",
                "SOVEREIGN_TASK_LOG": log_path})
    return subprocess.run(["ansible-playbook", "-i", inventory, os.path.join(REPO, "playbooks", "site.yml")]
                          + list(extra_args), capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
                          check=False)


def _assert_refused_by_preflight(res, log_path, expected):
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "Invalid inventory" in out, out[-3000:]
    assert "refused on the controller before any host task" in out, out[-3000:]
    for fragment in expected:
        assert fragment in out, (fragment, out[-4000:])
    assert "no-such-container" not in out and "UNREACHABLE" not in out, out[-3000:]
    events = _started(log_path)
    # Before the preflight: only the playbooks' input contracts (validate_argument_spec, evaluated on
    # the controller, run_once; docs/operations.md).
    plays = [e["play"] for e in events if e["event"] == "play"]
    assert plays and all(p.startswith("Preflight") or p.endswith("input contract (on the controller, before any host)")
                         for p in plays), plays
    contracts = [e for e in events if e["event"] == "host_task" and e["action"] == "ansible.builtin.validate_argument_spec"]
    host_tasks = [e for e in events if e["event"] == "host_task" and e not in contracts]
    assert host_tasks, events
    assert all(e["action"] == "sovereign.datacenter.preflight" for e in host_tasks), host_tasks
    assert len(host_tasks) == 1, host_tasks  # run_once: one start, on the controller
    failed = [e for e in events if e["event"] == "failed"]
    assert [e["task"] for e in failed] == [host_tasks[0]["task"]], failed
    assert not [e for e in events if e["event"] == "unreachable"], events


@pytest.mark.parametrize("case", sorted(WHOLE_PLATFORM_CASES))
def test_broken_platform_is_refused_before_the_first_host_task(tmp_path, case):
    mutate, expected, args = WHOLE_PLATFORM_CASES[case]
    doc = json.loads(json.dumps(BASE))
    segments = json.loads(json.dumps(SEGMENTS))
    extra = {}
    mutate(doc, segments, extra)
    log_path = str(tmp_path / "tasks.jsonl")
    res = _site_logged(_write_inventory(tmp_path, doc, segments, extra), log_path, args)
    _assert_refused_by_preflight(res, log_path, expected)


def test_broken_inventory_cases_are_at_least_fifteen():
    assert len(CASES) + len(WHOLE_PLATFORM_CASES) >= 15


def test_preflight_counts_what_it_checked(tmp_path):
    """A valid platform passes; under --limit the whole inventory is still read."""
    inv = _write_inventory(tmp_path, BASE, SEGMENTS)
    res = subprocess.run(["ansible-playbook", "-v", "-i", inv, "--limit", "pg3",
                          os.path.join(REPO, "playbooks", "preflight.yml")],
                         capture_output=True, text=True, env=_env(), cwd=REPO, timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert '"hosts": 3' in res.stdout, res.stdout
