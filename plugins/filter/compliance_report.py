# -*- coding: utf-8 -*-
# Copyright: contributors to sovereign.datacenter
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters turning compliance_check results into a summary, an HTML report and JUnit XML."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: compliance_summary
short_description: Summarise compliance_check results per host, tier and framework
version_added: "0.1.0"
description:
  - Takes a mapping of host name to the C(hardening_compliance) fact set by the hardening role's
    audit step (the compliance_check result plus C(tier) and C(profile)) and returns one summary
    with scores per host, per tier and per framework (CIS, SOC 2, PCI DSS) and every failing
    control with its evidence.
  - The same file provides C(compliance_html) (a self-contained HTML report an auditor can read)
    and C(compliance_junit) (JUnit XML, one test case per host and control; C(fail) is a failure,
    C(not_applicable) and C(waived) are skipped with their reason).
  - Score is pass / (pass + fail) in percent; not applicable and waived controls are not scored
    but are listed.
options:
  _input:
    description: Mapping host name -> hardening_compliance fact (or C({error}) for hosts not audited).
    type: dict
    required: true
  environment:
    description: Environment name shown in the report.
    type: str
    default: unknown
author:
  - sovereign.datacenter contributors
"""

EXAMPLES = r"""
- name: Summary, HTML and JUnit from per-host results
  ansible.builtin.copy:
    dest: /tmp/compliance.html
    content: "{{ results_by_host | sovereign.datacenter.compliance_summary(environment='lab')
                 | sovereign.datacenter.compliance_html }}"
    mode: "0640"
"""

RETURN = r"""
_value:
  description:
    - Summary with keys C(environment), C(generated), C(totals), C(hosts), C(tiers), C(frameworks), C(failures).
    - C(compliance_html) returns a string of HTML; C(compliance_junit) a string of JUnit XML.
  type: dict
"""

import datetime
import json
from xml.sax.saxutils import escape, quoteattr

from ansible_collections.sovereign.datacenter.plugins.module_utils._compliance_host import (
    STATUSES,
    empty_counts as _counts,
    score as _score,
)

FRAMEWORKS = (("cis", "CIS Debian 12 v1.1.0"), ("soc2", "SOC 2 (TSC 2017)"), ("pci", "PCI DSS 4.0"),
              ("anssi", "ANSSI BP-028 v2.0"))


def _refs(value):
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)] if value else []


def compliance_summary(results_by_host, environment="unknown"):
    if not isinstance(results_by_host, dict):
        raise TypeError("compliance_summary expects a mapping of host -> compliance result")
    summary = {
        "environment": environment,
        "generated": datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z",
        "totals": {"hosts": len(results_by_host), "errors": 0, "counts": _counts(), "score": 100.0},
        "hosts": {},
        "tiers": {},
        "frameworks": {},
        "failures": [],
    }
    frameworks = dict((key, {"title": title, "counts": _counts(), "requirements": {}}) for key, title in FRAMEWORKS)
    for host in sorted(results_by_host):
        data = results_by_host[host] or {}
        tier = data.get("tier", "none")
        entry = {"tier": tier, "profile": data.get("profile"), "container": (data.get("container") or {}).get("detected"),
                 "counts": _counts(), "score": None, "results": data.get("results", []),
                 "duration_seconds": (data.get("summary") or {}).get("duration_seconds"), "error": data.get("error")}
        tier_entry = summary["tiers"].setdefault(tier, {"hosts": [], "counts": _counts(), "score": 100.0})
        tier_entry["hosts"].append(host)
        if entry["error"]:
            summary["totals"]["errors"] += 1
        for row in entry["results"]:
            status = row["status"]
            entry["counts"][status] += 1
            tier_entry["counts"][status] += 1
            summary["totals"]["counts"][status] += 1
            for key, _title in FRAMEWORKS:
                fw = frameworks[key]
                refs = _refs(row.get("frameworks", {}).get(key))
                if not refs and key == "anssi":
                    continue  # only the controls ANSSI has a recommendation for count towards it
                fw["counts"][status] += 1
                for ref in refs:
                    req = fw["requirements"].setdefault(ref, {"counts": _counts(), "controls": []})
                    req["counts"][status] += 1
                    if row["id"] not in req["controls"]:
                        req["controls"].append(row["id"])
            if status == "fail":
                summary["failures"].append({"host": host, "tier": tier, "id": row["id"], "title": row.get("title"),
                                            "message": row.get("message"), "evidence": row.get("evidence"),
                                            "frameworks": row.get("frameworks")})
        entry["score"] = _score(entry["counts"]) if not entry["error"] else 0.0
        summary["hosts"][host] = entry
    for tier_entry in summary["tiers"].values():
        tier_entry["score"] = _score(tier_entry["counts"])
    for fw in frameworks.values():
        fw["score"] = _score(fw["counts"])
        for req in fw["requirements"].values():
            req["score"] = _score(req["counts"])
    summary["frameworks"] = frameworks
    summary["totals"]["score"] = _score(summary["totals"]["counts"])
    return summary


_CSS = """body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #bbb;padding:3px 8px;text-align:left;vertical-align:top;font-size:13px}
th{background:#eee}.pass{color:#1a7f37}.fail{color:#c00;font-weight:bold}.not_applicable{color:#777}
.waived{color:#9a6700}code{font-size:12px;white-space:pre-wrap}h2{margin-top:2em}"""


def _h(value):
    return escape("" if value is None else str(value))


def _j(value):
    return _h(value if isinstance(value, str) else json.dumps(value, sort_keys=True))


def _count_cells(counts):
    return "".join('<td class="%s">%d</td>' % (s, counts.get(s, 0)) for s in STATUSES)


def compliance_html(summary):
    out = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>Compliance report %s</title><style>%s</style>'
           '</head><body>' % (_h(summary["environment"]), _CSS)]
    totals = summary["totals"]
    out.append("<h1>Compliance report: %s</h1><p>Generated %s. %d host(s), overall score <b>%s%%</b> "
               "(pass / (pass + fail)); %d host(s) not audited.</p>"
               % (_h(summary["environment"]), _h(summary["generated"]), totals["hosts"], totals["score"],
                  totals["errors"]))
    head = "".join("<th>%s</th>" % s for s in STATUSES)
    out.append("<h2>Hosts</h2><table><tr><th>host</th><th>tier</th><th>profile</th><th>container</th>"
               "<th>score</th>%s<th>seconds</th></tr>" % head)
    for host, entry in sorted(summary["hosts"].items()):
        out.append('<tr><td><a href="#host-%s">%s</a></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>%s<td>%s</td></tr>'
                   % (_h(host), _h(host), _h(entry["tier"]), _h(entry["profile"]), _h(entry["container"]),
                      _h(entry["error"] or "%s%%" % entry["score"]), _count_cells(entry["counts"]),
                      _h(entry["duration_seconds"])))
    out.append("</table><h2>Tiers</h2><table><tr><th>tier</th><th>hosts</th><th>score</th>%s</tr>" % head)
    for tier, entry in sorted(summary["tiers"].items()):
        out.append("<tr><td>%s</td><td>%s</td><td>%s%%</td>%s</tr>"
                   % (_h(tier), _h(", ".join(entry["hosts"])), entry["score"], _count_cells(entry["counts"])))
    out.append("</table><h2>Frameworks</h2><table><tr><th>framework</th><th>score</th>%s</tr>" % head)
    for key, fw in sorted(summary["frameworks"].items()):
        out.append("<tr><td>%s</td><td>%s%%</td>%s</tr>" % (_h(fw["title"]), fw["score"], _count_cells(fw["counts"])))
    out.append("</table>")
    for key, fw in sorted(summary["frameworks"].items()):
        out.append("<h3>%s by requirement</h3><table><tr><th>requirement</th><th>score</th>%s<th>controls</th></tr>"
                   % (_h(fw["title"]), head))
        for ref, req in sorted(fw["requirements"].items()):
            out.append("<tr><td>%s</td><td>%s%%</td>%s<td>%s</td></tr>"
                       % (_h(ref), req["score"], _count_cells(req["counts"]), _h(", ".join(req["controls"]))))
        out.append("</table>")
    out.append("<h2>Failing controls with evidence</h2>")
    if not summary["failures"]:
        out.append("<p>None.</p>")
    else:
        out.append("<table><tr><th>host</th><th>control</th><th>CIS / SOC 2 / PCI</th><th>message</th>"
                   "<th>file</th><th>found</th><th>expected</th></tr>")
        for row in summary["failures"]:
            ev = row.get("evidence") or {}
            fw = row.get("frameworks") or {}
            out.append("<tr><td>%s</td><td>%s<br>%s</td><td>%s / %s / %s</td><td>%s</td><td>%s</td>"
                       "<td><code>%s</code></td><td><code>%s</code></td></tr>"
                       % (_h(row["host"]), _h(row["id"]), _h(row["title"]), _h(fw.get("cis")),
                          _h(", ".join(_refs(fw.get("soc2")))), _h(", ".join(_refs(fw.get("pci")))), _h(row["message"]),
                          _h(ev.get("file")), _j(ev.get("found")), _j(ev.get("expected"))))
        out.append("</table>")
    for host, entry in sorted(summary["hosts"].items()):
        status = entry["error"] or "score %s%%" % entry["score"]
        out.append('<h2 id="host-%s">%s (%s, %s)</h2>' % (_h(host), _h(host), _h(entry["tier"]), _h(status)))
        out.append("<table><tr><th>control</th><th>status</th><th>CIS</th><th>message</th><th>file</th>"
                   "<th>found</th><th>expected</th></tr>")
        for row in entry["results"]:
            ev = row.get("evidence") or {}
            out.append('<tr><td>%s</td><td class="%s">%s</td><td>%s</td><td>%s</td><td>%s</td><td><code>%s</code></td>'
                       "<td><code>%s</code></td></tr>"
                       % (_h(row["id"]), _h(row["status"]), _h(row["status"]),
                          _h((row.get("frameworks") or {}).get("cis")), _h(row.get("message")), _h(ev.get("file")),
                          _j(ev.get("found")), _j(ev.get("expected"))))
        out.append("</table>")
    out.append("</body></html>\n")
    return "\n".join(out)


def compliance_junit(summary):
    suites = []
    all_tests = all_fail = all_skip = 0
    for host, entry in sorted(summary["hosts"].items()):
        cases = []
        failures = skipped = errors = 0
        if entry.get("error"):
            errors = 1
            cases.append('<testcase classname=%s name="audit"><error message=%s/></testcase>'
                         % (quoteattr("compliance." + host), quoteattr(entry["error"])))
        for row in entry["results"]:
            name = quoteattr(row["id"])
            classname = quoteattr("compliance.%s.%s" % (host, row.get("area", "host")))
            status = row["status"]
            if status == "fail":
                failures += 1
                cases.append("<testcase classname=%s name=%s><failure message=%s>%s</failure></testcase>"
                             % (classname, name, quoteattr(row.get("message") or ""),
                                escape(json.dumps(row.get("evidence"), sort_keys=True))))
            elif status in ("not_applicable", "waived"):
                skipped += 1
                cases.append("<testcase classname=%s name=%s><skipped message=%s/></testcase>"
                             % (classname, name, quoteattr("%s: %s" % (status, row.get("message") or ""))))
            else:
                cases.append("<testcase classname=%s name=%s/>" % (classname, name))
        all_tests += len(cases)
        all_fail += failures
        all_skip += skipped
        suites.append('<testsuite name=%s tests="%d" failures="%d" errors="%d" skipped="%d">\n%s\n</testsuite>'
                      % (quoteattr("compliance." + host), len(cases), failures, errors, skipped, "\n".join(cases)))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name=%s tests="%d" failures="%d" skipped="%d">\n%s\n'
            "</testsuites>\n" % (quoteattr("compliance " + str(summary["environment"])), all_tests, all_fail,
                                 all_skip, "\n".join(suites)))


class FilterModule(object):
    def filters(self):
        return {
            "compliance_summary": compliance_summary,
            "compliance_html": compliance_html,
            "compliance_junit": compliance_junit,
        }
