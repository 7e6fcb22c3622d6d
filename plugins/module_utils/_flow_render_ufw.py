# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The flow policy rendered for ufw (private helper): ufw's own rule files (user.rules, user6.rules).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_parse import PORTLESS_PROTOCOLS
from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_render_nftables import (
    _element,
)


UFW_CHAINS = (
    "user-input", "user-output", "user-forward",
    "before-logging-input", "before-logging-output", "before-logging-forward",
    "user-logging-input", "user-logging-output", "user-logging-forward",
    "after-logging-input", "after-logging-output", "after-logging-forward",
    "logging-deny", "logging-allow", "user-limit", "user-limit-accept",
)
UFW_MULTIPORT_MAX = 15  # iptables multiport: at most 15 ports, a range counts as two


def _ufw_port_groups(ports):
    """Split merged ranges into iptables multiport groups; each ``(tuple_text, match)``."""
    groups = []
    current = []
    weight = 0
    for low, high in ports:
        cost = 1 if low == high else 2
        if current and weight + cost > UFW_MULTIPORT_MAX:
            groups.append(current)
            current, weight = [], 0
        current.append((low, high))
        weight += cost
    if current:
        groups.append(current)
    result = []
    for group in groups:
        text = ",".join("%d" % lo if lo == hi else "%d:%d" % (lo, hi) for lo, hi in group)
        if len(group) == 1 and group[0][0] == group[0][1]:
            match = "--dport %s" % text
        else:
            match = "-m multiport --dports %s" % text
        result.append((text, match))
    return result


def _hex(text):
    return "".join("%02x" % b for b in text.encode("utf-8"))


def render_ufw(ruleset, version=4, log_drops=False):
    """Render ``/etc/ufw/user.rules`` (``version=4``) or ``user6.rules`` (``version=6``).

    ufw's own file format, so ``ufw status`` lists the rules with their flow as comment: each
    rule is preceded by its ``### tuple ###`` line. ufw has no address sets, so a flow becomes
    one rule per merged CIDR (and per group of at most 15 ports). Outbound rules (egress
    policy) go to ``ufw-user-output``. Deterministic: flows by name, CIDRs sorted.
    """
    prefix = "ufw" if version == 4 else "ufw6"
    anywhere = "0.0.0.0/0" if version == 4 else "::/0"
    key = "v%d" % version
    # exactly the layout ufw itself writes (ufw rewrites the file when it is enabled), so a rerun is a no-op
    out = ["*filter"]
    out += [":%s-%s - [0:0]" % (prefix, chain) for chain in UFW_CHAINS]
    out.append("### RULES ###")
    for direction, flows in (("in", ruleset.get("flows", [])), ("out", ruleset.get("egress") or [])):
        for flow in flows:
            label = "%s %s%s" % ("flow" if direction == "in" else "egress", flow["name"],
                                 (": " + flow["description"]) if flow["description"] else "")
            comment = _hex(re.sub(r"[\n\r']", " ", label)[:120])
            for cidr in flow[key]:
                addr = _element(cidr)
                if flow["proto"] in PORTLESS_PROTOCOLS:
                    # ufw's rule model knows no VRRP: the rule goes in as iptables alone, without a
                    # ufw tuple (iptables-restore loads it; `ufw status` does not list it).
                    number = PORTLESS_PROTOCOLS[flow["proto"]]
                    out += ["", "# %s %s (proto %s, no ufw tuple: ufw has no such protocol)"
                            % ("flow" if direction == "in" else "egress", flow["name"], flow["proto"])]
                    out.append("-A %s-user-input -p %d -s %s -j ACCEPT" % (prefix, number, addr) if direction == "in"
                               else "-A %s-user-output -p %d -d %s -j ACCEPT" % (prefix, number, addr))
                    continue
                for text, match in _ufw_port_groups(flow["ports"]):
                    if direction == "in":
                        out += ["", "### tuple ### allow %s %s %s any %s in comment=%s"
                                % (flow["proto"], text, anywhere, addr, comment),
                                "-A %s-user-input -p %s %s -s %s -j ACCEPT" % (prefix, flow["proto"], match, addr)]
                    else:
                        out += ["", "### tuple ### allow %s %s %s any %s out comment=%s"
                                % (flow["proto"], text, addr, anywhere, comment),
                                "-A %s-user-output -p %s -d %s %s -j ACCEPT" % (prefix, flow["proto"], addr, match)]
    out += ["", "### END RULES ###", "", "### LOGGING ###"]
    if log_drops:
        limit = "-m limit --limit 3/min --limit-burst 10"
        out += ['-A %s-after-logging-input -j LOG --log-prefix "[UFW BLOCK] " %s' % (prefix, limit),
                '-A %s-after-logging-forward -j LOG --log-prefix "[UFW BLOCK] " %s' % (prefix, limit)]
        if ruleset.get("egress") is not None:
            out.append('-A %s-after-logging-output -j LOG --log-prefix "[UFW BLOCK] " %s' % (prefix, limit))
        out += ["-I %s-logging-deny -m conntrack --ctstate INVALID -j RETURN %s" % (prefix, limit),
                '-A %s-logging-deny -j LOG --log-prefix "[UFW BLOCK] " %s' % (prefix, limit),
                '-A %s-logging-allow -j LOG --log-prefix "[UFW ALLOW] " %s' % (prefix, limit)]
    else:  # LOGLEVEL=off
        out += ["-I %s-user-logging-%s -j RETURN" % (prefix, chain) for chain in ("input", "output", "forward")]
    out += ["### END LOGGING ###", "", "### RATE LIMITING ###"]
    if log_drops:
        out.append('-A %s-user-limit -m limit --limit 3/minute -j LOG --log-prefix "[UFW LIMIT BLOCK] "' % prefix)
    out += ["-A %s-user-limit -j REJECT" % prefix,
            "-A %s-user-limit-accept -j ACCEPT" % prefix,
            "### END RATE LIMITING ###", "COMMIT", ""]
    return "\n".join(out)
