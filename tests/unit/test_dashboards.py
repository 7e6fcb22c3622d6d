"""Dashboards of sovereign.datacenter.grafana, validated without Grafana (it cannot run here).

Every dashboard JSON: schema basics (unique uid and title, panels with ids, grid positions,
datasource bound to the provisioned Prometheus uid, targets with unique refIds); every PromQL
expression parses (`promtool check rules` on a throw-away rules file, Grafana variables
substituted); every metric name an expression references exists in the exporters the collection
ships (tests/unit/data/metric_names.txt, captured from the lab's Prometheus) or is a recording rule
of the prometheus role. The role's provisioning templates are rendered with Ansible and checked.
"""
import glob
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml
from ansible_run import render_role_templates

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(REPO, "roles", "grafana")
DASHBOARDS = sorted(glob.glob(os.path.join(ROLE, "files", "dashboards", "*.json")))
DATASOURCE_UID = "sovereign-prometheus"
PROMTOOL = shutil.which("promtool")
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
            "offset", "inf", "nan"}
# Series Prometheus makes itself (not scraped from an exporter).
BUILTIN = {"ALERTS", "ALERTS_FOR_STATE", "up", "scrape_duration_seconds", "scrape_samples_scraped",
           "scrape_samples_post_metric_relabeling", "scrape_series_added"}


def _load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _panels(board):
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _expressions(board):
    """(where, PromQL) of every panel target and template variable of a dashboard."""
    out = []
    for panel in _panels(board):
        for target in panel.get("targets", []):
            out.append(("panel %r %s" % (panel["title"], target["refId"]), target["expr"]))
    for var in board.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query.strip())
            assert match, "variable %s: only label_values(<selector>, <label>) queries are used: %s" % (var["name"], query)
            out.append(("variable %s" % var["name"], match.group(1)))
    return out


def _substitute(expr):
    """Grafana's variables -> values PromQL accepts ($__rate_interval -> a duration, $tier -> a regex)."""
    expr = re.sub(r"\$__(rate_interval|interval|range)\b", "5m", expr)
    expr = re.sub(r"\$\{?__\w+\}?", "1", expr)
    return re.sub(r"\$\{?(\w+)(:\w+)?\}?", ".*", expr)


def _metric_names(expr):
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)                      # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)                                 # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)                                # ranges, subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w:.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def _catalogue():
    with open(os.path.join(REPO, "tests", "unit", "data", "metric_names.txt"), encoding="utf-8") as handle:
        names = {line.strip() for line in handle if line.strip() and not line.startswith("#")}
    for rules in glob.glob(os.path.join(REPO, "roles", "prometheus", "templates", "rules", "*.j2")):
        with open(rules, encoding="utf-8") as handle:
            names |= set(re.findall(r"^\s*-?\s*record:\s*(\S+)", handle.read(), re.M))
    return names | BUILTIN


def test_dashboards_exist_and_are_the_role_default():
    names = sorted(os.path.basename(p)[:-5] for p in DASHBOARDS)
    assert names == ["alerts-overview", "gpu", "postgresql", "system-health"]
    with open(os.path.join(ROLE, "defaults", "main.yml"), encoding="utf-8") as handle:
        assert sorted(yaml.safe_load(handle)["grafana_dashboards"]) == names


def test_uids_and_titles_are_unique():
    boards = [_load(p) for p in DASHBOARDS]
    uids = [b["uid"] for b in boards]
    titles = [b["title"] for b in boards]
    assert len(set(uids)) == len(uids) and all(re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", u) for u in uids), uids
    assert len(set(titles)) == len(titles)


@pytest.mark.parametrize("path", DASHBOARDS, ids=os.path.basename)
def test_dashboard_schema_basics(path):
    board = _load(path)
    for key in ("uid", "title", "panels", "schemaVersion", "templating", "time"):
        assert key in board, key
    assert board["editable"] is False
    panels = list(_panels(board))
    ids = [p["id"] for p in panels]
    assert len(set(ids)) == len(ids), "panel ids not unique"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["title"], panel
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, panel["title"]
        targets = panel.get("targets", [])
        assert targets, "panel %r has no targets" % panel["title"]
        refs = [t["refId"] for t in targets]
        assert len(set(refs)) == len(refs), panel["title"]
        for target in targets:
            assert target["expr"].strip(), panel["title"]
            assert target.get("datasource", panel["datasource"])["uid"] == DATASOURCE_UID
    for var in board["templating"]["list"]:
        if var.get("type") == "query":
            assert var["datasource"]["uid"] == DATASOURCE_UID, var["name"]
    # every variable an expression uses is defined
    defined = {v["name"] for v in board["templating"]["list"]}
    for where, expr in _expressions(board):
        used = {m for m in re.findall(r"\$\{?(\w+)", expr) if not m.startswith("__")}
        assert used <= defined, (where, used - defined)


@pytest.mark.skipif(PROMTOOL is None, reason="promtool missing (Debian package prometheus)")
@pytest.mark.parametrize("path", DASHBOARDS, ids=os.path.basename)
def test_every_promql_expression_parses(path, tmp_path):
    exprs = _expressions(_load(path))
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": "dashboard:expr_%d" % i, "expr": _substitute(expr)} for i, (_where, expr) in enumerate(exprs)]}]}
    rules_file = tmp_path / "dashboard.rules.yml"
    rules_file.write_text(yaml.safe_dump(rules))
    proc = subprocess.run([PROMTOOL, "check", "rules", str(rules_file)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:   # name the culprit(s)
        bad = []
        for where, expr in exprs:
            single = tmp_path / "single.rules.yml"
            single.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": _substitute(expr)}]}]}))
            one = subprocess.run([PROMTOOL, "check", "rules", str(single)], capture_output=True, text=True, check=False)
            if one.returncode != 0:
                bad.append((where, expr, one.stdout + one.stderr))
        pytest.fail("PromQL that promtool rejects: %s" % json.dumps(bad, indent=1))


@pytest.mark.parametrize("path", DASHBOARDS, ids=os.path.basename)
def test_referenced_metrics_exist(path):
    known = _catalogue()
    missing = {}
    for where, expr in _expressions(_load(path)):
        unknown = _metric_names(expr) - known
        if unknown:
            missing[where] = sorted(unknown)
    assert missing == {}, "metrics no shipped exporter or recording rule provides: %s" % missing


def test_metric_name_extraction():
    expr = ('100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle",tier=~"x"}[5m]))) '
            '/ on (instance) group_left count by (instance) (node_load1) or vector(0) and ALERTS{a="b or c"}')
    assert _metric_names(expr) == {"node_cpu_seconds_total", "node_load1", "ALERTS"}
    assert _metric_names("sovereign:certificate_expiry:seconds / 86400") == {"sovereign:certificate_expiry:seconds"}


def test_provisioning_templates_render(tmp_path):
    # Extra vars: they win over the role defaults loaded as vars_files (no secret is generated).
    extra = {"platform_address": "10.0.50.11", "platform_domain": "production.internal",
             "platform_ports": {"prometheus": 9090}, "grafana_admin_password": "not-a-real-one"}
    msg = render_role_templates(ROLE, {"datasource": "datasource.yml.j2", "dashboards": "dashboards.yml.j2",
                                       "ini": "grafana.ini.j2"}, tmp_path, extra)
    source = yaml.safe_load(msg["datasource"])["datasources"][0]
    assert source["uid"] == DATASOURCE_UID and source["type"] == "prometheus"
    assert source["url"] == "https://10.0.50.11:9090"
    assert source["jsonData"]["tlsAuthWithCACert"] is True and source["jsonData"]["tlsSkipVerify"] is False
    assert source["secureJsonData"]["tlsCACert"] == "$__file{/etc/ssl/sovereign/ca.crt}"
    provider = yaml.safe_load(msg["dashboards"])["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/sovereign" and provider["allowUiUpdates"] is False
    ini = msg["ini"]
    assert "protocol = https" in ini and "cert_file = /etc/ssl/sovereign/host.crt" in ini
    assert 'admin_password = """not-a-real-one"""' in ini
    assert "[auth.anonymous]\nenabled = false" in ini and "reporting_enabled = false" in ini
