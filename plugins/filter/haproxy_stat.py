# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy's runtime API ``show stat`` CSV, for the deploy runbook (playbooks/runbooks/app_deploy.yml).

``haproxy_stat`` parses one answer; ``haproxy_server_totals`` sums one server's counters over the
answers of every load balancer (each counts only the traffic it carried); ``haproxy_5xx_ratio`` gives
the share of 5xx responses between two such totals (a canary's watch window).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

_COUNTERS = ("scur", "qcur", "req_tot", "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")
_RESPONSES = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")


def _value(text):
    text = text.strip()
    if text == "":
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    return text


def haproxy_stat(text):
    """Rows of a ``show stat`` CSV answer as dicts (header ``# pxname,svname,...``; numbers as int, empty as None)."""
    if isinstance(text, (list, tuple)):
        text = "\n".join(text)
    if not isinstance(text, str):
        raise AnsibleFilterError("haproxy_stat: expected the text of a `show stat` answer, got %s" % type(text).__name__)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("#"):
        raise AnsibleFilterError("haproxy_stat: no `# pxname,svname,...` header (the runtime API answered %r)" % text[:200])
    header = [name.strip() for name in lines[0].lstrip("#").strip().split(",")]
    if header[:2] != ["pxname", "svname"]:
        raise AnsibleFilterError("haproxy_stat: the header does not start with pxname,svname: %r" % lines[0][:200])
    rows = []
    for line in lines[1:]:
        if line.startswith("#"):
            continue
        fields = line.split(",")
        rows.append({name: _value(fields[i]) if i < len(fields) else None for i, name in enumerate(header) if name})
    return rows


def haproxy_server_totals(answers, backend, server):
    """One server's counters summed over the ``show stat`` answers of every load balancer.

    ``found`` counts the answers that list the server and ``status`` collects each one's status;
    ``requests`` is ``req_tot`` where HAProxy fills it for servers, else the sum of the hrsp_* counters.
    """
    if isinstance(answers, str):
        answers = [answers]
    totals = dict.fromkeys(_COUNTERS, 0)
    totals.update(found=0, status=[], requests=0)
    for answer in answers or []:
        for row in haproxy_stat(answer):
            if row.get("pxname") != backend or row.get("svname") != server:
                continue
            totals["found"] += 1
            totals["status"].append(row.get("status"))
            for name in _COUNTERS:
                totals[name] += int(row.get(name) or 0)
            responses = sum(int(row.get(name) or 0) for name in _RESPONSES)
            totals["requests"] += int(row["req_tot"]) if row.get("req_tot") is not None else responses
    return totals


def haproxy_5xx_ratio(before, after):
    """5xx share of the requests between two totals of haproxy_server_totals (``ratio``, ``requests``, ``errors``).

    A counter that went down (a load balancer restarted or reloaded) counts from zero: its value after is the delta.
    """
    def delta(name):
        first, last = int((before or {}).get(name) or 0), int((after or {}).get(name) or 0)
        return last - first if last >= first else last

    requests, errors = delta("requests"), delta("hrsp_5xx")
    return {"requests": requests, "errors": errors, "ratio": (float(errors) / requests) if requests > 0 else 0.0}


class FilterModule(object):
    """sovereign.datacenter HAProxy runtime API filters."""

    def filters(self):
        return {
            "haproxy_stat": haproxy_stat,
            "haproxy_server_totals": haproxy_server_totals,
            "haproxy_5xx_ratio": haproxy_5xx_ratio,
        }
