# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers: the platform flow policy model.

One policy for the whole data centre: flows ``{name, from, to, proto, ports}``
between groups, segments and CIDRs. This module merges policy layers, validates
them (every problem named by its flow) and compiles, per host, the minimal
inbound ruleset, then renders it as one atomic nftables file.

Pure Python + netaddr; runs on the controller (filter plugins) and has no
Ansible imports, so unit tests and the benchmark import it directly.
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

try:
    import netaddr

    HAS_NETADDR = True
    NETADDR_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - reported by the callers
    HAS_NETADDR = False
    NETADDR_IMPORT_ERROR = _exc

FLOW_KEYS = frozenset(("name", "description", "from", "to", "proto", "ports", "state"))
PROTOCOLS = ("tcp", "udp")
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


# --------------------------------------------------------------------------- policy


class Policy(object):
    """A validated, resolved policy: per flow the merged sources, ports and targets."""

    def __init__(self, hosts, segments, flows, tiers=None, sites=None, ports_map=None,
                 cdn_ranges=None, known_groups=None, public_tier="dmz",
                 public_admin_tiers=("management",), model=None):
        """``model``: an already parsed :class:`PlatformModel` of the same hosts (the preflight's),
        used instead of parsing ``hosts``, ``segments``, ``tiers`` and ``sites`` again."""
        if not HAS_NETADDR:  # pragma: no cover
            raise FlowPolicyError(["the netaddr Python library is required: %s" % NETADDR_IMPORT_ERROR])
        ctx = _Context(hosts, segments, tiers, sites, ports_map, known_groups, model)
        self.ctx = ctx
        errors = ctx.errors
        self.public_tier = public_tier
        self.admin_tiers = set(_as_list(public_admin_tiers))
        cdn = []
        for cidr in _as_list(cdn_ranges):
            net, problem = parse_cidr(cidr)
            if problem:
                errors.append("platform_cdn_ranges: %s" % problem)
            else:
                cdn.append(net)
        self.cdn = netaddr.IPSet(cdn)
        self.has_cdn = bool(cdn)
        admin_nets = [n for (site, tier), nets in ctx.segment_nets.items()
                      if tier in self.admin_tiers for n in nets]
        self.admin = netaddr.IPSet(admin_nets)
        internal_nets = [n for nets in ctx.segment_nets.values() for n in nets]
        self.internal = netaddr.IPSet(internal_nets)
        self.has_internal = bool(internal_nets)

        self.flows = []
        seen = {}
        for index, flow in enumerate(_as_list(flows)):
            resolved = self._resolve_flow(index, flow, errors)
            if resolved is None:
                continue
            if resolved["name"] in seen:
                errors.append("flow %s: defined twice (flows are merged by name; use one entry)"
                              % resolved["name"])
                continue
            seen[resolved["name"]] = resolved
            self.flows.append(resolved)
        self.flows.sort(key=lambda f: f["name"])
        self.errors = errors
        if errors:
            raise FlowPolicyError(errors)

    # ..................................................................... resolution
    def _resolve_source(self, flow_name, item, errors):
        """Return ``(cidrs, kind, tiers)``; kind is group/segment/cidr."""
        ctx = self.ctx
        if not isinstance(item, str):
            errors.append("flow %s: source %r must be a string (group, segment or CIDR)" % (flow_name, item))
            return None
        text = item.strip()
        kind = None
        if text.startswith("group:"):
            kind, text = "group", text[6:]
        elif text.startswith("segment:"):
            kind, text = "segment", text[8:]
        elif _looks_like_address(text):
            kind = "cidr"
        elif "." in text or text in ctx.tiers:
            kind = "segment"
        else:
            kind = "group"
        if kind == "cidr":
            net, problem = parse_cidr(text)
            if problem:
                errors.append("flow %s: %s" % (flow_name, problem))
                return None
            return [net], kind, None
        if kind == "segment":
            site, _sep, tier = text.rpartition(".")
            sites = [site] if site else list(ctx.sites)
            if site and site not in ctx.sites:
                errors.append("flow %s: unknown site %r in segment %r" % (flow_name, site, item))
                return None
            if tier not in ctx.tiers:
                errors.append("flow %s: unknown tier %r in segment %r" % (flow_name, tier, item))
                return None
            nets = []
            found = False
            for one_site in sites:
                if (one_site, tier) in ctx.segment_nets:
                    found = True
                    nets.extend(ctx.segment_nets[(one_site, tier)])
            if not found:
                errors.append("flow %s: segment %r is not declared in platform_segments" % (flow_name, item))
                return None
            return nets, kind, {tier}
        if text not in ctx.members:
            errors.append("flow %s: unknown group %r in from" % (flow_name, text))
            return None
        members = ctx.members[text]
        nets = []
        for host in members:
            if host in ctx.host_v4:
                nets.append(netaddr.IPNetwork(ctx.host_v4[host]))
            if host in ctx.host_v6:
                nets.append(netaddr.IPNetwork(ctx.host_v6[host]))
        return nets, kind, set(ctx.host_tier.get(h) for h in members)

    def _resolve_flow(self, index, flow, errors):
        if not isinstance(flow, dict):
            errors.append("flow #%d: must be a mapping, got %r" % (index + 1, flow))
            return None
        name = flow.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append("flow #%d (%r): name must match %s" % (index + 1, name, NAME_RE.pattern))
            return None
        before = len(errors)
        proto, ports = _check_keys_proto_ports("flow %s" % name, flow, FLOW_KEYS, name, self.ctx.ports_map, errors)
        sources = _as_list(flow.get("from"))
        if not sources:
            errors.append("flow %s: from must name at least one group, segment or CIDR" % name)
        v4 = []
        v6 = []
        source_checks = []
        for item in sources:
            resolved = self._resolve_source(name, item, errors)
            if resolved is None:
                continue
            nets, kind, tiers = resolved
            source_checks.append((item, nets, kind, tiers))
            for net in nets:
                (v4 if net.version == 4 else v6).append(net)
        targets = _as_list(flow.get("to"))
        if not targets:
            errors.append("flow %s: to must name at least one group" % name)
        dest = set()
        for target in targets:
            # "postgresql&dc2": hosts in every one of the groups (Ansible's pattern `:&`).
            parts = [p.strip() for p in target.split("&")] if isinstance(target, str) else [target]
            members = None
            for group in parts:
                if not isinstance(group, str) or group not in self.ctx.members:
                    errors.append("flow %s: unknown group %r in to" % (name, group))
                    members = None
                    break
                group_members = self.ctx.members[group]
                members = set(group_members) if members is None else members & group_members
            if members:
                dest |= members
        # Internet-facing tier: only the CDN ranges (and the management tier) may enter.
        target_tiers = set(self.ctx.host_tier.get(h) for h in dest)
        target_tiers |= set(t for t in targets if isinstance(t, str) and t in self.ctx.tiers)
        into_public = self.public_tier in target_tiers
        # (Boundary checks are about the hosts the flow reaches in this inventory: a flow
        # into a group that is empty here cannot open anything.)
        for item, nets, kind, tiers in source_checks if (dest or into_public) else ():
            if into_public:
                if kind == "cidr":
                    from_admin = all(n in self.admin for n in nets)
                else:
                    # an empty group lets nobody in; otherwise every member must be an admin host
                    from_admin = not nets or bool(tiers) and tiers <= self.admin_tiers
                from_cdn = kind == "cidr" and self.has_cdn and all(n in self.cdn for n in nets)
                if not (from_admin or from_cdn):
                    errors.append(
                        "flow %s: source %r may not enter the internet-facing %s tier; only "
                        "platform_cdn_ranges (and the %s tier for administration) may"
                        % (name, item, self.public_tier, "/".join(sorted(self.admin_tiers)))
                    )
            elif kind == "cidr" and self.has_internal and not all(n in self.internal for n in nets):
                errors.append(
                    "flow %s: source %r lies outside the platform segments; only the %s tier "
                    "may be reached from outside" % (name, item, self.public_tier)
                )
        if len(errors) > before:
            return None
        return {
            "name": name,
            "description": str(flow.get("description", "") or ""),
            "proto": proto,
            "ports": ports,
            "v4": [str(n) for n in netaddr.cidr_merge(v4)],
            "v6": [str(n) for n in netaddr.cidr_merge(v6)],
            "to": sorted(dest),
        }

    # ..................................................................... compile
    def compile(self, only_hosts=None, egress=None):
        """Return ``{host: ruleset}``; hosts with the same flows share one ruleset object.

        ``egress`` maps the hosts that get an outbound (egress) policy to their extra outbound
        allowances (DNS, NTP, package mirror: see :func:`parse_egress_allow`). Such a host's
        ruleset also has ``egress``: every flow the host originates (its address is among the
        flow's sources), with the addresses of the flow's targets, plus the allowances.
        """
        per_host = {}
        for index, flow in enumerate(self.flows):
            for host in flow["to"]:
                per_host.setdefault(host, []).append(index)
        wanted = sorted(self.ctx.members["all"]) if only_hosts is None else sorted(_as_list(only_hosts))
        egress = egress or {}
        cache = {}
        result = {}
        allow_cache = {}
        for host in wanted:
            key = tuple(per_host.get(host, ()))
            out_key = None
            if host in egress:
                allow = parse_egress_allow(egress[host], self.ctx.ports_map,
                                           taken=set(f["name"] for f in self.flows))
                allow_key = repr(allow)
                allow_cache.setdefault(allow_key, allow)
                out_key = (self._originated(host), allow_key)
            ruleset = cache.get((key, out_key))
            if ruleset is None:
                ruleset = {"flows": [self.flows[i] for i in key]}
                if out_key is not None:
                    ruleset["egress"] = [self._outbound(i) for i in out_key[0]] + allow_cache[out_key[1]]
                cache[(key, out_key)] = ruleset
            result[host] = ruleset
        return result

    def _originated(self, host):
        """Indexes of the flows whose sources contain one of the host's addresses."""
        addresses = [a for a in (self.ctx.host_v4.get(host), self.ctx.host_v6.get(host)) if a is not None]
        found = []
        for index, flow in enumerate(self.flows):
            if "_sources" not in flow:
                flow["_sources"] = netaddr.IPSet(flow["v4"] + flow["v6"])
            if any(a in flow["_sources"] for a in addresses):
                found.append(index)
        return tuple(found)

    def _outbound(self, index):
        """The outbound view of flow ``index``: its targets' addresses as destinations."""
        flow = self.flows[index]
        if "_outbound" not in flow:
            v4 = [netaddr.IPNetwork(self.ctx.host_v4[h]) for h in flow["to"] if h in self.ctx.host_v4]
            v6 = [netaddr.IPNetwork(self.ctx.host_v6[h]) for h in flow["to"] if h in self.ctx.host_v6]
            flow["_outbound"] = {
                "name": flow["name"], "description": flow["description"], "proto": flow["proto"],
                "ports": flow["ports"],
                "v4": [str(n) for n in netaddr.cidr_merge(v4)], "v6": [str(n) for n in netaddr.cidr_merge(v6)],
            }
        return flow["_outbound"]


EGRESS_KEYS = frozenset(("name", "description", "to", "proto", "ports"))


def parse_egress_allow(entries, ports_map=None, taken=()):
    """Normalise extra outbound allowances ``{name, description, to: CIDRs, proto, ports}``.

    They are what a host with an egress policy may reach besides the flows it originates
    (DNS resolvers, NTP servers, the package mirror). Raises FlowPolicyError naming the entry.
    Returns flows in the compiled shape (``v4``/``v6`` hold the destinations), sorted by name.
    """
    errors = []
    result = []
    seen = set()
    for index, entry in enumerate(_as_list(entries)):
        if not isinstance(entry, dict):
            errors.append("egress allowance #%d: must be a mapping, got %r" % (index + 1, entry))
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append("egress allowance #%d (%r): name must match %s" % (index + 1, name, NAME_RE.pattern))
            continue
        label = "egress allowance %s" % name
        before = len(errors)
        if name in seen or name in taken:
            errors.append("%s: name already used by %s" % (label, "a flow" if name in taken else "another allowance"))
        seen.add(name)
        proto, ports = _check_keys_proto_ports(label, entry, EGRESS_KEYS, label, ports_map or {}, errors)
        nets = []
        targets = _as_list(entry.get("to"))
        if not targets:
            errors.append("%s: to must list at least one address or CIDR" % label)
        for target in targets:
            net, problem = parse_cidr(target)
            if problem:
                errors.append("%s: %s" % (label, problem))
            else:
                nets.append(net)
        if len(errors) > before:
            continue
        result.append({
            "name": name, "description": str(entry.get("description", "") or ""), "proto": proto, "ports": ports,
            "v4": [str(n) for n in netaddr.cidr_merge([n for n in nets if n.version == 4])],
            "v6": [str(n) for n in netaddr.cidr_merge([n for n in nets if n.version == 6])],
        })
    if errors:
        raise FlowPolicyError(errors)
    result.sort(key=lambda f: f["name"])
    return result


def public_ruleset(ruleset):
    """A compiled ruleset without the compiler's private caches (for output to Ansible)."""
    out = {"flows": [dict((k, v) for k, v in f.items() if not k.startswith("_")) for f in ruleset["flows"]]}
    if "egress" in ruleset:
        out["egress"] = [dict(f) for f in ruleset["egress"]]
    return out


def validate_policy(hosts, segments, flows, **options):
    """Return the list of problems (empty when the policy is valid)."""
    try:
        Policy(hosts, segments, flows, **options)
    except FlowPolicyError as exc:
        return exc.errors
    return []


def compile_policy(hosts, segments, flows, **options):
    """Validate and compile; raises FlowPolicyError naming every bad flow."""
    only_hosts = options.pop("only_hosts", None)
    egress = options.pop("egress", None)
    return Policy(hosts, segments, flows, **options).compile(only_hosts=only_hosts, egress=egress)


# --------------------------------------------------------------------------- render


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
        ports = _ports_expr(flow["ports"])
        comment = _quote("%s %s%s" % (kind, flow["name"], (": " + flow["description"]) if flow["description"] else ""))
        emitted = False
        for version, family in ((4, "ip"), (6, "ip6")):
            if flow["v%d" % version]:
                lines.append("\t\t%s %s @%s %s dport %s accept comment %s"
                             % (family, "saddr" if inbound else "daddr",
                                _set_name(flow["name"], version, "f" if inbound else "e"), flow["proto"], ports, comment))
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


# --------------------------------------------------------------------------- audit


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


# --------------------------------------------------------------------------- ufw

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


# --------------------------------------------------------------------------- firewalld

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
