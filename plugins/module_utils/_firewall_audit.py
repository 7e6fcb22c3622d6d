# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall audit (private helper): the probe plan that proves a compiled policy from the outside
(``audit_plan``), and the report of the probe script's results (roles/firewall/files/firewall_probe.py)
from every source host, summed up per host pair (``audit_report``). Pure Python + netaddr, no Ansible
import: the filters flow_policy_audit_plan and flow_policy_audit_report and the unit tests call it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_parse import (
    netaddr,
)


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


def audit_plan(rulesets, hosts, sample_ports=(), proto="tcp"):
    """Probes that prove a compiled policy from the outside.

    For every ordered pair of distinct hosts (source, target): each port some flow allows from the
    source's address to the target is expected to pass (``expect: allow``, with the flow names);
    every port of ``sample_ports`` (plus the neighbours of the ports the target opens) that no flow
    allows for the pair is expected to be dropped (``expect: deny``). Only ``proto`` flows (TCP by default) are probed;
    call it once per protocol. Returns ``{source: [{target, address, port, proto, expect, flows}]}``, sorted.
    """
    sample = sorted(set(int(p) for p in sample_ports if 1 <= int(p) <= 65535))
    addresses = dict((h, (info or {}).get("platform_address")) for h, info in hosts.items())
    spans = {}
    plan = {}
    for source in sorted(hosts):
        src = addresses.get(source)
        if not src:
            continue
        src_int = int(netaddr.IPAddress(src))
        probes = []
        for target in sorted(rulesets):
            if target == source or not addresses.get(target):
                continue
            allowed = {}
            for flow in rulesets[target].get("flows", []):
                if flow.get("proto", "tcp") != proto:
                    continue
                key = id(flow)
                if key not in spans:
                    spans[key] = [(n.first, n.last) for n in (netaddr.IPNetwork(c) for c in flow.get("v4", []))]
                if not any(first <= src_int <= last for first, last in spans[key]):
                    continue
                for low, high in flow["ports"]:
                    # a range is proven by its ends (and middle), not by every port in it
                    for port in sorted(set((low, (low + high) // 2, high))):
                        allowed.setdefault(port, []).append(flow["name"])
            for port in sorted(allowed):
                probes.append({"target": target, "address": addresses[target], "port": port, "proto": proto,
                               "expect": "allow", "flows": sorted(set(allowed[port]))})
            # the sample, plus the neighbours of every port the target opens to anyone
            neighbours = set(sample)
            for flow in rulesets[target].get("flows", []):
                for low, high in flow["ports"]:
                    neighbours.update(p for p in (low - 1, high + 1) if 1 <= p <= 65535)
            for port in sorted(neighbours):
                if not _port_allowed(rulesets[target], src_int, port, proto, spans):
                    probes.append({"target": target, "address": addresses[target], "port": port, "proto": proto,
                                   "expect": "deny", "flows": []})
        plan[source] = probes
    return plan


def _port_allowed(ruleset, src_int, port, proto, spans):
    for flow in ruleset.get("flows", []):
        if flow.get("proto", "tcp") != proto:
            continue
        if not any(low <= port <= high for low, high in flow["ports"]):
            continue
        key = id(flow)
        if key not in spans:
            spans[key] = [(n.first, n.last) for n in (netaddr.IPNetwork(c) for c in flow.get("v4", []))]
        if any(first <= src_int <= last for first, last in spans[key]):
            return True
    return False
