# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers: the platform flow policy, validated and compiled.

One policy for the whole data centre: flows ``{name, from, to, proto, ports}`` between groups,
segments and CIDRs. :class:`Policy` validates a merged policy (every problem named by its flow) and
compiles, per host, the minimal inbound ruleset (and the outbound one of a host with an egress policy).
The layers, each importing only those above it:

* ``_platform``: the inventory model (one parse, one ``parse_cidr``);
* ``_flow_parse``: the flow schema, ``FlowPolicyError``, the merge of layers, ports and sources;
* this module: ``Policy``, the egress allowances, ``public_ruleset``;
* ``_flow_render_nftables``, ``_flow_render_ufw``, ``_flow_render_firewalld``: one renderer per backend;
* ``_firewall_audit``: the audit's probe plan and its report.

Pure Python + netaddr; runs on the controller (filter plugins, the preflight action) and has no
Ansible imports, so unit tests and the benchmark import it directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.datacenter.plugins.module_utils._platform import (
    _as_list,
)
from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_parse import (
    DEFAULT_TABLE,
    FLOW_KEYS,
    FlowPolicyError,
    HAS_NETADDR,
    NAME_RE,
    NETADDR_IMPORT_ERROR,
    _Context,
    _check_keys_proto_ports,
    _looks_like_address,
    hosts_from_groups,
    merge_flows,
    netaddr,
    parse_cidr,
)

# names the filters and the preflight import from here, with those defined below
__all__ = ["DEFAULT_TABLE", "FlowPolicyError", "HAS_NETADDR", "NETADDR_IMPORT_ERROR", "EGRESS_KEYS", "Policy",
           "compile_policy", "hosts_from_groups", "merge_flows", "parse_egress_allow", "public_ruleset",
           "validate_policy"]


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
                # hosts of the internet-facing tier itself (VRRP between the load balancers): a group
                # or segment whose every member is in that tier, never a CIDR
                from_peer = kind != "cidr" and bool(nets) and bool(tiers) and tiers <= {self.public_tier}
                if not (from_admin or from_cdn or from_peer):
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
