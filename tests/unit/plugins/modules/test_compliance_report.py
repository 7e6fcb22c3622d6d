# -*- coding: utf-8 -*-
"""Report filters: summary scores, HTML with failing evidence, valid JUnit XML."""
from __future__ import absolute_import, division, print_function

import xml.etree.ElementTree as ET

from ansible_collections.sovereign.datacenter.plugins.filter.compliance_report import (
    FilterModule, compliance_html, compliance_junit, compliance_summary)


def row(cid, status, cis="5.1.20", soc2=("CC6.1",), pci=("8.2.2",), found="x", area="ssh"):
    return {"id": cid, "title": cid + " title", "area": area, "status": status, "message": "m <" + cid + ">",
            "evidence": {"file": "/etc/ssh/sshd_config", "found": found, "expected": "PermitRootLogin no"},
            "frameworks": {"cis": cis, "soc2": list(soc2), "pci": list(pci)}, "waiver": None}


RESULTS = {
    "app1": {"tier": "app", "profile": "default", "container": {"detected": True},
             "summary": {"duration_seconds": 0.05},
             "results": [row("ssh_permit_root_login", "fail", found="PermitRootLogin yes"),
                         row("perm_etc_shadow", "pass", cis="7.1.5", pci=("7.2.1",)),
                         row("auditd_immutable", "not_applicable", cis="6.2.3.20", soc2=("CC7.2",), pci=("10.3.2",))]},
    "pg1": {"tier": "data", "profile": "data", "container": {"detected": False},
            "results": [row("ssh_permit_root_login", "pass"), row("perm_etc_shadow", "waived", cis="7.1.5")]},
    "gone": {"error": "host not audited (unreachable or failed)"},
}


def test_summary_scores():
    s = compliance_summary(RESULTS, environment="lab")
    assert s["totals"]["counts"] == {"pass": 2, "fail": 1, "not_applicable": 1, "waived": 1}
    assert s["totals"]["score"] == 66.7
    assert s["totals"]["errors"] == 1
    assert s["hosts"]["app1"]["score"] == 50.0
    assert s["hosts"]["pg1"]["score"] == 100.0
    assert s["hosts"]["gone"]["score"] == 0.0
    assert s["tiers"]["data"]["hosts"] == ["pg1"]
    assert s["frameworks"]["pci"]["requirements"]["8.2.2"]["counts"]["fail"] == 1
    assert s["frameworks"]["cis"]["requirements"]["5.1.20"]["score"] == 50.0
    assert s["failures"][0]["host"] == "app1"
    assert s["failures"][0]["evidence"]["found"] == "PermitRootLogin yes"


def test_html_has_scores_and_escaped_evidence():
    html = compliance_html(compliance_summary(RESULTS, environment="lab"))
    assert "<h1>Compliance report: lab</h1>" in html
    assert "PermitRootLogin yes" in html
    assert "m &lt;ssh_permit_root_login&gt;" in html  # escaped
    assert "<script" not in html
    for section in ("Hosts", "Tiers", "Frameworks", "Failing controls with evidence"):
        assert section in html


def test_junit_is_valid_and_counts():
    xml = compliance_junit(compliance_summary(RESULTS, environment="lab"))
    tree = ET.fromstring(xml.split("\n", 1)[1])
    assert tree.tag == "testsuites"
    assert tree.get("failures") == "1"
    assert tree.get("skipped") == "2"
    suites = dict((s.get("name"), s) for s in tree)
    assert suites["compliance.gone"].get("errors") == "1"
    failure = suites["compliance.app1"].find("testcase/failure")
    assert "PermitRootLogin yes" in failure.text


def test_filter_registration():
    assert set(FilterModule().filters()) == {"compliance_summary", "compliance_html", "compliance_junit"}
