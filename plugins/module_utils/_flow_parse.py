# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The flow policy, part 1 (private helper): the flow schema and its problems (``FlowPolicyError``),
the merge of policy layers, the host map and the parsers of ports and CIDRs. Pure Python + netaddr.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sovereign.datacenter.plugins.module_utils._platform import (
    CidrError,
    PlatformModel,
    _as_list,
    parse_cidr as _parse_cidr,
)

# netaddr for the whole flow pipeline: the modules below import it, and HAS_NETADDR, from here.
try:
    import netaddr

    NETADDR_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - reported by the callers
    netaddr = None
    NETADDR_IMPORT_ERROR = _exc
HAS_NETADDR = netaddr is not None


FLOW_KEYS = frozenset(("name", "description", "from", "to", "proto", "ports", "state"))
PROTOCOLS = ("tcp", "udp", "vrrp")
# Protocols without ports (a flow of one of these opens the protocol from its sources, and has no
# ``ports``), with their IANA protocol numbers (nftables and iptables match the number: a host's
# /etc/protocols may not know the name).
PORTLESS_PROTOCOLS = {"vrrp": 112}
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
PORT_RANGE_RE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")

DEFAULT_TABLE = "sovereign"
ICMP_V4_TYPES = ("destination-unreachable", "time-exceeded", "parameter-problem")
ICMP_V6_TYPES = (
    "destination-unreachable",
    "packet-too-big",
    "time-exceeded",
    "parameter-problem",
    "nd-router-advert",
    "nd-neighbor-solicit",
    "nd-neighbor-advert",
)


class FlowPolicyError(Exception):
    """Raised with every problem found; ``errors`` lists one message per problem."""

    def __init__(self, errors):
        self.errors = list(errors)
        super(FlowPolicyError, self).__init__(
            "flow policy invalid (%d problem%s):\n- %s"
            % (len(self.errors), "" if len(self.errors) == 1 else "s", "\n- ".join(self.errors))
        )


# --------------------------------------------------------------------------- merge


def merge_flows(*layers):
    """Merge flow lists by ``name`` (Linuxfabrik-style ``combine_lod``).

    Layers are applied in order; a later entry with the same ``name`` updates the
    earlier one key by key (so a role or host layer can narrow ``from`` or change
    ``ports`` without repeating the rest); ``state: absent`` removes the flow.
    Entries without a usable name are kept as they are, so validation can name them.
    The result keeps first-appearance order.
    """
    merged = {}
    order = []
    anonymous = []
    for layer in layers:
        for entry in _as_list(layer):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                anonymous.append(entry)
                continue
            name = entry["name"]
            if name not in merged:
                merged[name] = {}
                order.append(name)
            merged[name].update(entry)
    result = []
    for name in order:
        flow = merged[name]
        if flow.get("state", "present") == "absent":
            continue
        flow = dict(flow)
        flow.pop("state", None)
        result.append(flow)
    return result + anonymous


# --------------------------------------------------------------------------- inventory


def hosts_from_groups(groups, addresses, addresses6=None):
    """Build the compiler's host map from Ansible's ``groups`` and per-host addresses.

    ``groups`` is the magic variable (group -> hosts, children already flattened).
    Returns ``{host: {"platform_address": ..., "platform_address6": ..., "groups": [...]}}``.
    """
    addresses6 = addresses6 or {}
    hosts = {}
    for host in groups.get("all", []):
        hosts[host] = {
            "platform_address": addresses.get(host),
            "platform_address6": addresses6.get(host),
            "groups": [],
        }
    for group in sorted(groups):
        if group in ("all", "ungrouped"):
            continue
        for host in groups[group]:
            hosts.setdefault(host, {"platform_address": addresses.get(host), "groups": []})
            hosts[host]["groups"].append(group)
    return hosts


class _Context(object):
    """Everything the resolver needs, computed once per policy from the one platform model."""

    def __init__(self, hosts, segments, tiers, sites, ports_map, known_groups, model=None):
        model = model or PlatformModel(hosts, tiers, sites, segments or {})
        self.model = model
        self.errors = _model_errors(model)
        self.tiers = model.tiers
        self.sites = model.sites
        self.ports_map = dict(ports_map or {})
        self.segments = segments or {}
        self.members = model.members
        for group in _as_list(known_groups):
            self.members.setdefault(group, set())
        self.host_v4 = model.address
        self.host_v6 = model.address6
        self.host_tier = model.tier_of
        self.host_site = model.site_of
        self.segment_nets = model.segment_nets


def _model_errors(model):
    """The model's problems the flow policy reports, in its own words (the preflight reports them all)."""
    errors = []
    for kind, d in model.problems:
        if kind == "segments_type":
            errors.append("platform_segments must map site -> tier -> list of CIDRs")
        elif kind == "site_type":
            errors.append("segment %s: must map tier -> list of CIDRs" % d["site"])
        elif kind == "bad_cidr":
            errors.append("segment %s.%s: %s" % (d["site"], d["tier"], _cidr_problem(d["error"])))
        elif kind == "placement":
            listed = model.tiers if d["kind"] == "tier" else model.sites
            errors.append("host %s: must belong to exactly one %s group of %s, found %s"
                          % (d["host"], d["kind"], listed, d["found"]))
        elif kind == "no_address":
            errors.append("host %s: platform_address is not set" % d["host"])
        elif kind == "bad_address":
            errors.append("host %s: platform_address%s %r is not an IP address" % (d["host"], d["suffix"], d["value"]))
        elif kind == "outside" and d["same_version"] and d["address"].version == 4:
            errors.append("host %s: platform_address %s is outside segment %s.%s %s"
                          % (d["host"], d["address"], d["key"][0], d["key"][1], [str(n) for n in d["same_version"]]))
    return errors


def _cidr_problem(exc):
    if exc.kind == "host_bits":
        return "bad CIDR %r: host bits set (did you mean %s?)" % (exc.value, exc.network)
    return "bad CIDR %r" % (exc.value,)


def parse_cidr(value):
    """Return ``(IPNetwork, None)`` or ``(None, problem)``; a bare address is its own network."""
    try:
        return _parse_cidr(value, allow_address=True), None
    except CidrError as exc:
        return None, _cidr_problem(exc)


def _looks_like_address(text):
    return "/" in text or ":" in text or re.match(r"^[0-9.]+$", text) is not None


def _check_keys_proto_ports(label, entry, allowed_keys, ports_name, ports_map, errors):
    """Checks a flow and an egress allowance share: known keys, protocol, ports.
    Returns (proto, parsed ports); problems go to ``errors`` prefixed with ``label``."""
    unknown = sorted(set(entry) - allowed_keys)
    if unknown:
        errors.append("%s: unknown keys %s (allowed: %s)" % (label, unknown, sorted(allowed_keys)))
    proto = entry.get("proto", "tcp")
    if proto not in PROTOCOLS:
        errors.append("%s: proto %r must be one of %s" % (label, proto, list(PROTOCOLS)))
    if proto in PORTLESS_PROTOCOLS:
        if _as_list(entry.get("ports")):
            errors.append("%s: proto %s has no ports; remove ports %r" % (label, proto, entry.get("ports")))
        return proto, []
    return proto, parse_ports(ports_name, entry.get("ports"), ports_map, errors)


def parse_ports(flow_name, ports, ports_map, errors):
    """Normalise ``ports`` into a sorted, merged list of ``(low, high)`` ranges."""
    ranges = []
    values = _as_list(ports)
    if not values:
        errors.append("flow %s: ports must list at least one port" % flow_name)
        return []
    for item in values:
        low = high = None
        if isinstance(item, bool):
            pass
        elif isinstance(item, int):
            low = high = item
        elif isinstance(item, str):
            text = item.strip()
            match = PORT_RANGE_RE.match(text)
            if text.isdigit():
                low = high = int(text)
            elif match:
                low, high = int(match.group(1)), int(match.group(2))
            elif text in ports_map:
                try:
                    low = high = int(ports_map[text])
                except (TypeError, ValueError):
                    errors.append("flow %s: platform_ports.%s is not a number" % (flow_name, text))
                    continue
            else:
                errors.append("flow %s: unknown port name %r (not in platform_ports)" % (flow_name, item))
                continue
        if low is None:
            errors.append("flow %s: port %r is not a number, range or port name" % (flow_name, item))
            continue
        if not (1 <= low <= 65535 and 1 <= high <= 65535):
            errors.append("flow %s: port %r out of range 1-65535" % (flow_name, item))
            continue
        if low > high:
            errors.append("flow %s: port range %r is reversed" % (flow_name, item))
            continue
        ranges.append((low, high))
    ranges.sort()
    merged = []
    for low, high in ranges:
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged
