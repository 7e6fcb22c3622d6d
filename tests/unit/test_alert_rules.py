"""Alert rules of sovereign.datacenter.prometheus: rendered per environment, checked and unit-tested with promtool.

The rule templates are rendered through Ansible's own template engine with the role's defaults
(tests/promtool/render.yml), exactly as the role renders them on the monitoring host. Every
rendered file must pass `promtool check rules`; tests/promtool/common/*.test.yml run against
every environment and tests/promtool/<environment>/*.test.yml against that environment only.
"""
import json
import os
import shutil
import subprocess

import pytest
from ansible_run import ansible_bin, ansible_env as _ansible_env, inventory_listing, render_role_templates, run_playbook_json

from ansible_collections.sovereign.datacenter.plugins.module_utils._platform import group_members

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROMTOOL_DIR = os.path.join(REPO, "tests", "promtool")
ENVIRONMENTS = ["production", "staging"]
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing (Debian package prometheus)")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Render the rule files of every environment; return {environment: directory}."""
    env = _ansible_env()
    proc = subprocess.run(
        [ansible_bin("ansible-playbook"), os.path.join(PROMTOOL_DIR, "render.yml"),
         "-e", json.dumps({"promtool_environments": ENVIRONMENTS})],
        capture_output=True, text=True, env=env, cwd=REPO, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads(proc.stdout)
    files = result["plays"][0]["tasks"][-1]["hosts"]["localhost"]["promtool_rendered"]
    base = tmp_path_factory.mktemp("rules")
    dirs = {}
    for name, content in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        dirs[name.split("/")[0]] = path.parent
    return dirs


def _tests_for(environment):
    out = []
    for sub in ("common", environment):
        folder = os.path.join(PROMTOOL_DIR, sub)
        out += [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".test.yml")]
    return out


CASES = [(e, t) for e in ENVIRONMENTS for t in _tests_for(e)]


def _promtool(*args, cwd=None):
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=cwd, check=False)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_rules_pass_promtool_check(rendered, environment):
    files = sorted(str(p) for p in rendered[environment].glob("*.rules.yml"))
    assert len(files) >= 8
    proc = _promtool("check", "rules", *files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_thresholds_are_rendered(rendered, environment):
    node = (rendered[environment] / "node.rules.yml").read_text()
    expected = {"production": ("> 80\n        for: 5m", "> 90\n        for: 2m"),
                "staging": ("> 85\n        for: 10m", "> 95\n        for: 5m")}[environment]
    for fragment in expected:
        assert fragment in node


@pytest.mark.parametrize("environment,test_file", CASES,
                         ids=[f"{e}-{os.path.relpath(t, PROMTOOL_DIR)}" for e, t in CASES])
def test_promtool_unit_tests(rendered, environment, test_file, tmp_path):
    # promtool resolves rule_files relative to the test file: put both side by side.
    for rule in rendered[environment].glob("*.rules.yml"):
        shutil.copy(rule, tmp_path / rule.name)
    shutil.copy(test_file, tmp_path / os.path.basename(test_file))
    proc = _promtool("test", "rules", os.path.basename(test_file), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_alert_has_a_unit_test(rendered):
    """Each alert name of the rendered rules appears in at least one promtool test."""
    import yaml
    alerts = set()
    for rule in rendered["production"].glob("*.rules.yml"):
        for group in yaml.safe_load(rule.read_text())["groups"]:
            alerts |= {r["alert"] for r in group["rules"] if "alert" in r}
    tested = set()
    for unused_env, test_file in CASES:
        with open(test_file, encoding="utf-8") as handle:
            for case in yaml.safe_load(handle)["tests"]:
                tested |= {a["alertname"] for a in case.get("alert_rule_test", [])}
    assert alerts - tested == set()


AMTOOL = shutil.which("amtool")


@pytest.fixture(scope="module")
def alertmanager_config(tmp_path_factory):
    """alertmanager.yml rendered with the role defaults and every channel configured."""
    env = _ansible_env()
    proc = subprocess.run([ansible_bin("ansible-playbook"), os.path.join(PROMTOOL_DIR, "render_alertmanager.yml")],
                          capture_output=True, text=True, env=env, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    text = json.loads(proc.stdout)["plays"][0]["tasks"][-1]["hosts"]["localhost"]["msg"]
    base = tmp_path_factory.mktemp("alertmanager")
    # The secret files the role writes next to the configuration.
    for name in ("alertmanager-pagerduty.key", "alertmanager-slack.url"):
        (base / name).write_text("dummy\n")
        text = text.replace("/etc/prometheus/" + name, str(base / name))
    path = base / "alertmanager.yml"
    path.write_text(text)
    return path


@pytest.mark.skipif(AMTOOL is None, reason="amtool missing (Debian package prometheus-alertmanager)")
def test_alertmanager_config_passes_amtool(alertmanager_config):
    proc = subprocess.run([AMTOOL, "check-config", str(alertmanager_config)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(AMTOOL is None, reason="amtool missing (Debian package prometheus-alertmanager)")
@pytest.mark.parametrize("labels,receiver", [
    ({"environment": "production", "severity": "critical", "alertname": "HostCpuHigh"}, "production-critical"),
    ({"environment": "production", "severity": "warning", "alertname": "HostCpuHigh"}, "production-warning"),
    ({"environment": "staging", "severity": "critical", "alertname": "VaultSealed"}, "staging-critical"),
    ({"environment": "staging", "severity": "warning", "alertname": "HostCpuHigh"}, "staging-warning"),
    ({"environment": "lab", "severity": "critical", "alertname": "TargetDown"}, "default"),
])
def test_alertmanager_routes_per_environment_and_severity(alertmanager_config, labels, receiver):
    args = [f"{k}={v}" for k, v in labels.items()]
    proc = subprocess.run([AMTOOL, "config", "routes", "test", f"--config.file={alertmanager_config}", *args],
                          capture_output=True, text=True, check=False)
    assert proc.stdout.strip() == receiver, proc.stdout + proc.stderr


def test_alertmanager_receivers_carry_the_right_channels(alertmanager_config):
    import yaml
    receivers = {r["name"]: r for r in yaml.safe_load(alertmanager_config.read_text())["receivers"]}
    assert set(receivers["production-critical"]) == {"name", "pagerduty_configs", "slack_configs"}
    assert set(receivers["production-warning"]) == {"name", "slack_configs"}
    assert receivers["staging-critical"]["slack_configs"][0]["channel"] == "#alerts-staging"
    # Unrouted alerts reach every configured channel.
    assert set(receivers["default"]) == {"name", "pagerduty_configs", "slack_configs", "webhook_configs"}


def _prometheus_config(inv_dir, *extra):
    """prometheus.yml rendered for an inventory's monitoring host, and that inventory's listing."""
    import yaml
    result = run_playbook_json("-i", inv_dir, os.path.join(PROMTOOL_DIR, "render_prometheus_config.yml"), *extra)
    text = next(iter(result["plays"][0]["tasks"][-1]["hosts"].values()))["msg"]
    return text, yaml.safe_load(text), inventory_listing(inv_dir)


def _assert_promtool_accepts_config(text, tmp_path):
    """promtool accepts the rendered prometheus.yml (with the files it references present)."""
    text = text.replace("/etc/ssl/sovereign/ca.crt", str(tmp_path / "ca.crt"))
    text = text.replace("/etc/prometheus/targets.password", str(tmp_path / "targets.password"))
    text = text.replace("/etc/prometheus/rules.d/", str(tmp_path) + "/")
    (tmp_path / "ca.crt").write_text("")
    (tmp_path / "targets.password").write_text("x")
    (tmp_path / "prometheus.yml").write_text(text)
    proc = _promtool("check", "config", "--syntax-only", str(tmp_path / "prometheus.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("inventory", ["production", "staging"])
def test_scrape_targets_are_generated_from_the_inventory(inventory, tmp_path):
    inv_dir = os.path.join(REPO, "inventories", inventory)
    text, config, listing = _prometheus_config(inv_dir)
    hostvars = listing["_meta"]["hostvars"]

    def members(group):
        return group_members(listing, group)

    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    node = jobs["node"]
    assert node["scheme"] == "https" and node["basic_auth"]["password_file"]
    got = {sc["labels"]["instance"]: sc for sc in node["static_configs"]}
    assert set(got) == set(hostvars)                       # every host, nothing else
    for name, sc in got.items():
        assert sc["targets"] == [f"{hostvars[name]['platform_address']}:9100"]
        assert name in members(sc["labels"]["site"]) and name in members(sc["labels"]["tier"])
    assert {sc["labels"]["instance"] for sc in jobs["postgres"]["static_configs"]} == members("postgresql")
    # GPU metrics (DCGM exporter host port) from every GPU node of the AI tier, where there are any
    assert {sc["labels"]["instance"] for sc in jobs.get("dcgm", {}).get("static_configs", [])} == members("gpu_nodes")
    assert config["global"]["external_labels"]["environment"] == inventory
    assert len(config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]) == len(members("monitoring"))
    # MinIO's cluster endpoint on every MinIO host, where there are any (object storage tier)
    assert {sc["labels"]["instance"] for sc in jobs.get("minio", {}).get("static_configs", [])} == members("minio")
    _assert_promtool_accepts_config(text, tmp_path)


def test_object_storage_scrape_jobs(tmp_path):
    """Ceph's mgr module (plain HTTP, the mgr's own labels kept) on every host of group ceph, and MinIO's
    v2 cluster endpoint (TLS, bearer token read from a file) on every host of group minio. The token
    itself never lands in prometheus.yml (tasks/configure.yml writes the file)."""
    import yaml
    hosts = {"mon1": "10.9.0.1", "ceph1": "10.9.0.11", "ceph2": "10.9.0.12", "ceph3": "10.9.0.13",
             "minio1": "10.9.0.21", "minio2": "10.9.0.22"}
    inventory = {"all": {
        "vars": {"platform_environment": "production", "platform_sites": ["dc1"], "platform_tiers": ["data", "management"],
                 "platform_ports": {"minio": 9000}},
        "children": {
            "monitoring": {"hosts": {"mon1": None}}, "ceph": {"hosts": {"ceph1": None, "ceph2": None, "ceph3": {"ceph_mgr": False}}},
            "minio": {"hosts": {"minio1": None, "minio2": None}},
            "dc1": {"hosts": {h: None for h in hosts}},
            "data": {"hosts": {h: None for h in hosts if h != "mon1"}}, "management": {"hosts": {"mon1": None}},
            "addresses": {"hosts": {h: {"platform_address": a} for h, a in hosts.items()}},
        }}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    text, config, unused = _prometheus_config(str(tmp_path / "hosts.yml"))
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}

    ceph = jobs["ceph"]
    assert ceph["scheme"] == "http" and ceph["honor_labels"] is True and ceph["metrics_path"] == "/metrics"
    assert "tls_config" not in ceph and "basic_auth" not in ceph and "authorization" not in ceph
    # ceph3 runs no mgr (ceph_mgr: false): not scraped
    assert [sc["targets"] for sc in ceph["static_configs"]] == [["10.9.0.11:9283"], ["10.9.0.12:9283"]]
    assert {(sc["labels"]["site"], sc["labels"]["tier"]) for sc in ceph["static_configs"]} == {("dc1", "data")}

    minio = jobs["minio"]
    assert minio["scheme"] == "https" and minio["metrics_path"] == "/minio/v2/metrics/cluster"
    assert minio["authorization"] == {"type": "Bearer", "credentials_file": "/etc/prometheus/minio.token"}
    assert "honor_labels" not in minio and "basic_auth" not in minio
    assert [sc["targets"] for sc in minio["static_configs"]] == [["10.9.0.21:9000"], ["10.9.0.22:9000"]]
    assert all("honor_labels" not in j for name, j in jobs.items() if name != "ceph")
    text = text.replace("/etc/prometheus/minio.token", str(tmp_path / "minio.token"))
    (tmp_path / "minio.token").write_text("x")
    _assert_promtool_accepts_config(text, tmp_path)


@pytest.mark.parametrize("inventory", ["production", "lab"])
def test_blackbox_probe_jobs_are_generated_from_the_inventory(inventory, tmp_path):
    """The probes an inventory declares (group_vars/monitoring.yml) become one scrape job each, with
    a target per host of the group, sent to the blackbox_exporter of the Prometheus host."""
    import yaml
    inv_dir = os.path.join(REPO, "inventories", inventory)
    with open(os.path.join(inv_dir, "group_vars", "monitoring.yml"), encoding="utf-8") as handle:
        probes = yaml.safe_load(handle)["prometheus_blackbox_probes"]
    # Extra vars: the render playbook loads the role defaults as vars_files, above group_vars.
    text, config, listing = _prometheus_config(inv_dir, "-e", json.dumps({"prometheus_blackbox_probes": probes}))
    hostvars = listing["_meta"]["hostvars"]

    def members(group):
        return group_members(listing, group)

    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    monitor = config["global"]["external_labels"]["monitor"]   # the host the file was rendered for
    for probe in probes:
        hosts = members(probe["group"]) if probe["group"] != "all" else set(hostvars)
        if not hosts:
            assert probe["job_name"] not in jobs
            continue
        job = jobs[probe["job_name"]]
        assert job["metrics_path"] == "/probe" and job["params"] == {"module": [probe["module"]]}
        assert job["scheme"] == "https" and job["tls_config"]["ca_file"] == "/etc/ssl/sovereign/ca.crt"
        assert job["basic_auth"]["password_file"]
        targets = {sc["labels"]["instance"]: sc["targets"][0] for sc in job["static_configs"]}
        assert set(targets) == hosts
        for host, target in targets.items():
            address = "%s:%s" % (hostvars[host]["platform_address"], probe["port"])
            assert target == ("https://%s%s" % (address, probe["path"]) if "path" in probe else address)
        relabel = job["relabel_configs"]
        assert relabel[0] == {"source_labels": ["__address__"], "target_label": "__param_target"}
        assert relabel[-1]["replacement"] == "%s:9115" % hostvars[monitor]["platform_address"]
    _assert_promtool_accepts_config(text, tmp_path)


BLACKBOX = shutil.which("prometheus-blackbox-exporter")


@pytest.mark.skipif(BLACKBOX is None, reason="prometheus-blackbox-exporter missing (Debian package of that name)")
def test_blackbox_modules_pass_the_exporters_own_check(tmp_path):
    """The role's default modules render to a file blackbox_exporter --config.check accepts (the same
    check the role's template task runs on the host), with the CA verification the probes rely on."""
    import yaml
    text = render_role_templates(os.path.join(REPO, "roles", "blackbox_exporter"), {"config": "blackbox.yml.j2"},
                                 tmp_path)["config"]
    modules = yaml.safe_load(text)["modules"]
    assert set(modules) == {"tls", "http_2xx", "tcp"}
    assert modules["tls"]["tcp"]["tls"] is True
    assert modules["tls"]["tcp"]["tls_config"]["ca_file"] == "/etc/ssl/sovereign/ca.crt"
    assert modules["http_2xx"]["http"]["fail_if_not_ssl"] is True
    (tmp_path / "blackbox.yml").write_text(text)
    proc = subprocess.run([BLACKBOX, "--config.check", "--config.file=%s" % (tmp_path / "blackbox.yml")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and the checker really checks: a misspelt option is refused
    (tmp_path / "broken.yml").write_text(text.replace("fail_if_not_ssl", "fail_if_not_tls"))
    proc = subprocess.run([BLACKBOX, "--config.check", "--config.file=%s" % (tmp_path / "broken.yml")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode != 0
