# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The flow policy rendered for nftables (private helper): one atomic file per host, named sets
per flow and address family, one rule per flow.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_parse import (
    DEFAULT_TABLE,
    ICMP_V4_TYPES,
    ICMP_V6_TYPES,
    PORTLESS_PROTOCOLS,
)


def _set_name(flow_name, version, prefix="f"):
    return "%s_%s_v%d" % (prefix, flow_name.replace("-", "_"), version)


def _nft_chain(hook, flows, icmp_echo, log_drops):
    """Lines of the default-drop ``input`` chain (one rule per flow, by source set) or of the
    egress ``output`` chain (one rule per originated flow, by destination set)."""
    inbound = hook == "input"
    kind = "flow" if inbound else "egress"
    echo = ("echo-request",) if icmp_echo else ()
    lines = [
        "\tchain %s {" % hook,
        "\t\ttype filter hook %s priority filter; policy drop;" % hook,
        '\t\t%s "lo" accept' % ("iifname" if inbound else "oifname"),
        "\t\tct state established,related accept",
        "\t\tct state invalid drop",
        "\t\ticmp type { %s } accept" % ", ".join(ICMP_V4_TYPES + echo),
        "\t\ticmpv6 type { %s } accept" % ", ".join(ICMP_V6_TYPES + (() if inbound else ("nd-router-solicit",)) + echo),
    ]
    for flow in flows:
        if flow["proto"] in PORTLESS_PROTOCOLS:  # e.g. VRRP: the protocol number, no ports
            match = "meta l4proto %d" % PORTLESS_PROTOCOLS[flow["proto"]]
        else:
            match = "%s dport %s" % (flow["proto"], _ports_expr(flow["ports"]))
        comment = _quote("%s %s%s" % (kind, flow["name"], (": " + flow["description"]) if flow["description"] else ""))
        emitted = False
        for version, family in ((4, "ip"), (6, "ip6")):
            if flow["v%d" % version]:
                lines.append("\t\t%s %s @%s %s accept comment %s"
                             % (family, "saddr" if inbound else "daddr",
                                _set_name(flow["name"], version, "f" if inbound else "e"), match, comment))
                emitted = True
        if not emitted:
            lines.append("\t\t# %s %s: no %s addresses in this inventory"
                         % (kind, flow["name"], "source" if inbound else "destination"))
    if log_drops:
        lines.append('\t\tlimit rate 5/minute burst 10 packets log prefix "sovereign-%sdrop: " level info'
                     % ("" if inbound else "egress-"))
    lines.append("\t}")
    return lines


def _element(cidr):
    """A set element: single addresses without their /32 or /128."""
    if cidr.endswith("/32") and "." in cidr or cidr.endswith("/128"):
        return cidr.rsplit("/", 1)[0]
    return cidr


def _ports_expr(ports):
    parts = ["%d" % lo if lo == hi else "%d-%d" % (lo, hi) for lo, hi in ports]
    if len(parts) == 1:
        return parts[0]
    return "{ %s }" % ", ".join(parts)


def _quote(text):
    return '"%s"' % re.sub(r'["\\\n\r]', " ", text)[:120]


def render_nftables(ruleset, table=DEFAULT_TABLE, icmp_echo=True, log_drops=False, header=None):
    """Render one host's ruleset as an atomic nftables file (one ``nft -f`` transaction).

    Only the ``inet <table>`` table is replaced: ``table``/``delete table`` first, so the
    file loads whether or not the table exists, and other tables (container engines,
    other tools) stay untouched.
    """
    flows = ruleset.get("flows", [])
    egress = ruleset.get("egress")
    out = ["#!/usr/sbin/nft -f",
           "# Managed by Ansible (sovereign.datacenter.firewall) from the platform flow policy.",
           "# Do not edit: changes are overwritten. Flows: %d" % len(flows)]
    if header:
        out.extend("# %s" % line for line in str(header).splitlines())
    out += ["table inet %s" % table, "delete table inet %s" % table, "table inet %s {" % table]
    for flow in flows:
        for version in (4, 6):
            cidrs = flow["v%d" % version]
            if not cidrs:
                continue
            out.append("\tset %s { type ipv%d_addr; flags interval; elements = { %s } }"
                       % (_set_name(flow["name"], version), version, ", ".join(_element(c) for c in cidrs)))
    for flow in egress or []:
        for version in (4, 6):
            cidrs = flow["v%d" % version]
            if cidrs:
                out.append("\tset %s { type ipv%d_addr; flags interval; elements = { %s } }"
                           % (_set_name(flow["name"], version, "e"), version,
                              ", ".join(_element(c) for c in cidrs)))
    out += _nft_chain("input", flows, icmp_echo, log_drops)
    if egress is not None:
        out += _nft_chain("output", egress, icmp_echo, log_drops)
    out += ["}", ""]
    return "\n".join(out)
