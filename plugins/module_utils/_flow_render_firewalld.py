# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The flow policy rendered for firewalld (private helper): a zone, one ipset per flow and address
family, and the egress policy object.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_render_nftables import (
    _element,
)


FIREWALLD_ICMP_TYPES = ("destination-unreachable", "time-exceeded", "parameter-problem", "packet-too-big",
                        "neighbour-solicitation", "neighbour-advertisement", "router-advertisement")
# outbound: what the nftables egress chain lets out (router-solicitation instead of the advertisement)
FIREWALLD_EGRESS_ICMP_TYPES = ("destination-unreachable", "time-exceeded", "parameter-problem", "packet-too-big",
                               "neighbour-solicitation", "neighbour-advertisement", "router-solicitation")
FIREWALLD_IPSET_PREFIX = "sv_"
FIREWALLD_IPSET_MAXLEN = 31  # ipset names: at most 31 characters
FIREWALLD_POLICY_MAXLEN = 18  # firewalld 1.x: policy names (iptables chain names) at most 18 characters
FIREWALLD_EGRESS_TARGETS = ("DROP", "REJECT")


def firewalld_ipset_name(flow_name, version, outbound=False):
    """``sv_<flow>_<4|6>`` (sources of an inbound flow) or ``sv_<flow>_o<4|6>`` (destinations of an
    outbound one), shortened with a stable hash when longer than ipset allows. The suffixes keep the
    two apart even for a flow a host both receives and originates."""
    import hashlib

    base = FIREWALLD_IPSET_PREFIX + flow_name.replace("-", "_")
    suffix = "_%s%d" % ("o" if outbound else "", version)
    if len(base) + len(suffix) > FIREWALLD_IPSET_MAXLEN:
        digest = hashlib.sha1(flow_name.encode("utf-8")).hexdigest()[:6]
        base = base[:FIREWALLD_IPSET_MAXLEN - len(suffix) - 7] + "_" + digest
    return base + suffix


def _xml(text):
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))[:200]


def _firewalld_flow_rules(flows, files, outbound):
    """Rich rules of ``flows`` (one per flow, address family and port range, matching the flow's
    ipset), adding each ipset's XML to ``files``. Inbound rules match the source, outbound ones
    (egress policy) the destination."""
    kind = "egress" if outbound else "flow"
    rules = []
    for flow in flows:
        label = "%s %s%s" % (kind, flow["name"], (": " + flow["description"]) if flow["description"] else "")
        emitted = False
        for version, family in ((4, "ipv4"), (6, "ipv6")):
            cidrs = flow["v%d" % version]
            if not cidrs:
                continue
            emitted = True
            ipset = firewalld_ipset_name(flow["name"], version, outbound)
            lines = ['<?xml version="1.0" encoding="utf-8"?>',
                     "<!-- Managed by Ansible (sovereign.datacenter.firewall). Do not edit. -->",
                     '<ipset type="hash:net">',
                     "  <short>%s</short>" % _xml(flow["name"]),
                     "  <description>%s</description>" % _xml(label)]
            if version == 6:
                lines.append('  <option name="family" value="inet6"/>')
            lines += ["  <entry>%s</entry>" % _element(c) for c in cidrs]
            lines += ["</ipset>", ""]
            files["ipsets/%s.xml" % ipset] = "\n".join(lines)
            rules.append("  <!-- %s -->" % _xml(label).replace("--", "- -"))
            if not flow["ports"]:  # a protocol without ports (VRRP)
                rules.append('  <rule family="%s"><%s ipset="%s"/><protocol value="%s"/><accept/></rule>'
                             % (family, "destination" if outbound else "source", ipset, flow["proto"]))
            for low, high in flow["ports"]:
                port = "%d" % low if low == high else "%d-%d" % (low, high)
                rules.append('  <rule family="%s"><%s ipset="%s"/><port port="%s" protocol="%s"/><accept/></rule>'
                             % (family, "destination" if outbound else "source", ipset, port, flow["proto"]))
        if not emitted:
            rules.append("  <!-- %s %s: no %s addresses in this inventory -->"
                         % (kind, _xml(flow["name"]), "destination" if outbound else "source"))
    return rules


def render_firewalld(ruleset, zone="sovereign", icmp_echo=True, policy="sovereign_egress", egress_target="DROP"):
    """Render one host's ruleset as firewalld permanent configuration.

    Returns ``{relative path under /etc/firewalld: XML}``: the zone ``zones/<zone>.xml``
    (target DROP: default deny; firewalld itself accepts loopback and established/related and
    drops invalid packets) with one rich rule per flow, address family and port range, matching
    an ipset ``ipsets/sv_<flow>_<4|6>.xml`` (``hash:net``) that holds the flow's merged CIDRs.

    A ruleset with ``egress`` (egress policy) also gets the policy object ``policies/<policy>.xml``
    (firewalld >= 0.9): ingress zone HOST, egress zone ANY, i.e. everything the host itself sends
    (firewalld accepts established/related and loopback before any policy), target
    ``egress_target``, one rich rule per outbound flow matching the ipset
    ``ipsets/sv_<flow>_o<4|6>.xml`` of its destinations, and the essential ICMP types.
    """
    flows = ruleset.get("flows", [])
    egress = ruleset.get("egress")
    files = {}
    echo = ("echo-request",) if icmp_echo else ()
    rules = ['  <rule><icmp-type name="%s"/><accept/></rule>' % name for name in FIREWALLD_ICMP_TYPES + echo]
    rules += _firewalld_flow_rules(flows, files, outbound=False)
    zone_xml = ['<?xml version="1.0" encoding="utf-8"?>',
                "<!-- Managed by Ansible (sovereign.datacenter.firewall) from the platform flow policy. Do not edit. -->",
                '<zone target="DROP">',
                "  <short>%s</short>" % _xml(zone),
                "  <description>Default deny; %d flow(s) of the platform flow policy.</description>" % len(flows)]
    zone_xml += rules + ["</zone>", ""]
    files["zones/%s.xml" % zone] = "\n".join(zone_xml)
    if egress is not None:
        if not re.match(r"^[A-Za-z0-9_-]{1,%d}$" % FIREWALLD_POLICY_MAXLEN, str(policy)):
            raise ValueError("firewalld policy name %r: letters, digits, '_' and '-', at most %d characters"
                             % (policy, FIREWALLD_POLICY_MAXLEN))
        if egress_target not in FIREWALLD_EGRESS_TARGETS:
            raise ValueError("firewalld egress target %r: one of %s" % (egress_target, list(FIREWALLD_EGRESS_TARGETS)))
        out = ['  <rule><icmp-type name="%s"/><accept/></rule>' % name
               for name in FIREWALLD_EGRESS_ICMP_TYPES + echo]
        out += _firewalld_flow_rules(egress, files, outbound=True)
        policy_xml = ['<?xml version="1.0" encoding="utf-8"?>',
                      "<!-- Managed by Ansible (sovereign.datacenter.firewall) from the platform flow policy. "
                      "Do not edit. -->",
                      '<policy target="%s" priority="-1">' % egress_target,
                      "  <short>%s</short>" % _xml(policy),
                      "  <description>Egress policy: default deny outbound; %d flow(s) this host originates "
                      "and its allowances.</description>" % len(egress),
                      '  <ingress-zone name="HOST"/>',
                      '  <egress-zone name="ANY"/>']
        policy_xml += out + ["</policy>", ""]
        files["policies/%s.xml" % policy] = "\n".join(policy_xml)
    return files
