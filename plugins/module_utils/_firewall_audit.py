# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall audit's report: the probe script's results (roles/firewall/files/firewall_probe.py), from
every source host, summed up per host pair. Pure Python, no Ansible import: the filter
flow_policy_audit_report and the unit tests call it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def audit_report(results):
    """``results``: every probe result (source, target, port, proto, expect, ok, ...).

    Returns probes, udp_probes and failed (counts) and, per ``"<source> -> <target>"`` pair, the ports whose
    probe passed split by expectation and protocol (allowed_ok, denied_ok, udp_allowed_ok, udp_denied_ok)
    and the failed results themselves, in probe order."""
    pairs = {}
    failed = udp = 0
    for result in results:
        key = "%s -> %s" % (result.get("source", ""), result.get("target", ""))
        pair = pairs.setdefault(key, {"allowed_ok": [], "denied_ok": [], "udp_allowed_ok": [], "udp_denied_ok": [],
                                      "failed": []})
        is_udp = result.get("proto", "tcp") == "udp"
        udp += 1 if is_udp else 0
        if not result.get("ok"):
            failed += 1
            pair["failed"].append(result)
            continue
        kind = "allowed_ok" if result.get("expect") == "allow" else "denied_ok"
        pair[("udp_" if is_udp else "") + kind].append(result.get("port"))
    return {"probes": len(results), "udp_probes": udp, "failed": failed,
            "pairs": dict(sorted(pairs.items()))}
