# -*- coding: utf-8 -*-
"""Property-based tests (hypothesis) of the flow policy compiler.

The compiled and rendered nftables ruleset of every host is parsed back and
evaluated as a predicate "may <source address> reach <port> on <host>?", then
compared with the policy's own meaning. Merging CIDRs must never widen (or
narrow) what a flow allows, and every flow that reaches a host is in its rules.
"""
from __future__ import absolute_import, division, print_function

import re

import netaddr
from hypothesis import given, settings, strategies as st, HealthCheck

from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_policy import (
    compile_policy,
    merge_flows,
)
from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_render_nftables import render_nftables

TIERS = ["dmz", "app", "data", "management"]
SITES = ["dc1", "dc2"]
SEGMENTS = dict((site, dict((tier, ["10.%d.%d.0/24" % (s, t)]) for t, tier in enumerate(TIERS)))
                for s, site in enumerate(SITES, start=1))
SERVICE_GROUPS = {"dmz": ["lbs"], "app": ["apps", "workers"], "data": ["dbs", "caches"], "management": ["mon", "bastions"]}
CDN = ["192.0.2.0/24"]
ALL_GROUPS = sorted(TIERS + SITES + [g for gs in SERVICE_GROUPS.values() for g in gs])
PUBLIC_OK_SOURCES = ["management", "dc1.management", "mon", "bastions", "192.0.2.0/25", "192.0.2.128/26"]


@st.composite
def inventories(draw):
    count = draw(st.integers(min_value=1, max_value=12))
    hosts = {}
    used = set()
    for index in range(count):
        site_i = draw(st.integers(0, len(SITES) - 1))
        tier_i = draw(st.integers(0, len(TIERS) - 1))
        last = draw(st.integers(1, 254).filter(lambda n, s=site_i, t=tier_i: (s, t, n) not in used))
        used.add((site_i, tier_i, last))
        tier = TIERS[tier_i]
        services = draw(st.lists(st.sampled_from(SERVICE_GROUPS[tier]), max_size=2, unique=True))
        hosts["h%02d" % index] = {
            "platform_address": "10.%d.%d.%d" % (site_i + 1, tier_i, last),
            "groups": [tier, SITES[site_i]] + services,
        }
    return hosts


def internal_cidr():
    return st.builds(lambda s, t, third, plen: str(netaddr.IPNetwork("10.%d.%d.%d/%d" % (s, t, third, plen)).cidr),
                     st.integers(1, 2), st.integers(0, len(TIERS) - 1), st.integers(0, 255), st.integers(24, 32))


def sources_for(target):
    if target in ("lbs", "dmz"):
        return st.lists(st.sampled_from(PUBLIC_OK_SOURCES), min_size=1, max_size=3)
    plain = st.sampled_from(["app", "data", "management", "dc1.data", "dc2.app", "apps", "workers", "dbs", "caches",
                             "mon", "bastions", "dc1", "dc2"])
    return st.lists(st.one_of(plain, internal_cidr()), min_size=1, max_size=4)


@st.composite
def flows(draw):
    result = []
    for index in range(draw(st.integers(1, 8))):
        target = draw(st.sampled_from(["apps", "workers", "dbs", "caches", "mon", "app", "data", "lbs", "dmz"]))
        # mostly a crowded low range, so adjacent and overlapping port ranges are common
        start = st.one_of(st.integers(1, 30), st.integers(65500, 65535), st.integers(1, 65535))
        ports = draw(st.lists(st.one_of(start,
                                        st.builds(lambda a, n: "%d-%d" % (a, min(65535, a + n)),
                                                  start, st.integers(0, 6))),
                              min_size=1, max_size=5))
        result.append({"name": "flow%02d" % index, "from": draw(sources_for(target)), "to": target,
                       "proto": draw(st.sampled_from(["tcp", "udp"])), "ports": ports})
    return result


def options():
    return dict(tiers=TIERS, sites=SITES, cdn_ranges=CDN, known_groups=ALL_GROUPS)


# ------------------------------------------------------------------- the policy's own meaning


def members(hosts, group):
    return set(h for h, info in hosts.items() if group in info["groups"]) if group != "all" else set(hosts)


def source_set(hosts, item):
    if "/" in item:
        return netaddr.IPSet([item])
    if "." in item or item in TIERS:
        site, _sep, tier = item.rpartition(".")
        return netaddr.IPSet([c for s in ([site] if site else SITES) for c in SEGMENTS[s][tier]])
    return netaddr.IPSet([hosts[h]["platform_address"] for h in members(hosts, item)])


def port_allowed(spec, port):
    for item in spec:
        if isinstance(item, int) and item == port:
            return True
        if isinstance(item, str):
            low, high = (int(x) for x in item.split("-"))
            if low <= port <= high:
                return True
    return False


def spans(ipset):
    """An IPSet as integer (first, last) spans: fast membership for the many probes."""
    return [(c.first, c.last) for c in ipset.iter_cidrs()]


def inside(span_list, value):
    return any(first <= value <= last for first, last in span_list)


def policy_oracle(hosts, flow_list):
    """Straight from the declarations: per flow its target hosts, protocol, ports and sources."""
    resolved = [(members(hosts, f["to"]), f.get("proto", "tcp"), f["ports"],
                 [spans(source_set(hosts, s)) for s in f["from"]]) for f in flow_list]

    def allows(host, proto, source, port):
        return any(host in targets and p == proto and port_allowed(ports, port)
                   and any(inside(srcs, source) for srcs in sources)
                   for targets, p, ports, sources in resolved)
    return allows


# ------------------------------------------------------------------- the rendered rules' meaning

SET_RE = re.compile(r"set (\S+) \{ type ipv(\d)_addr; flags interval; elements = \{ ([^}]*) \} \}")
RULE_RE = re.compile(r"ip6? saddr @(\S+) (tcp|udp) dport (\{ [^}]* \}|\d+(?:-\d+)?) accept comment \"flow ([^:\"]+)")


def parse_rules(text):
    sets = dict((name, netaddr.IPSet([c.strip() for c in elems.split(",")])) for name, _v, elems in SET_RE.findall(text))
    rules = []
    for set_name, proto, ports, flow_name in RULE_RE.findall(text):
        ranges = []
        for part in ports.strip("{} ").split(","):
            low, _sep, high = part.strip().partition("-")
            ranges.append((int(low), int(high or low)))
        rules.append((spans(sets[set_name]), proto, ranges, flow_name))
    return rules


def rules_allow(rules, proto, source, port):
    return any(inside(srcs, source) and p == proto and any(lo <= port <= hi for lo, hi in ranges)
               for srcs, p, ranges, _name in rules)


def probe_addresses(hosts, flow_list):
    """Every host, every CIDR boundary and its neighbours, a few outside addresses."""
    probes = set(netaddr.IPAddress(h["platform_address"]) for h in hosts.values())
    for flow in flow_list:
        for item in flow["from"]:
            for cidr in source_set(hosts, item).iter_cidrs():
                for addr in (cidr.first - 1, cidr.first, cidr.last, cidr.last + 1):
                    if 0 <= addr < 2 ** 32:
                        probes.add(netaddr.IPAddress(addr))
    probes.update(netaddr.IPAddress(a) for a in ("10.1.0.1", "10.2.3.200", "192.0.2.1", "8.8.8.8"))
    return sorted(probes)


def probe_ports(flow_list):
    ports = {1, 22, 65535}
    for flow in flow_list:
        for item in flow["ports"]:
            low, _sep, high = str(item).partition("-")
            for port in (int(low), int(high or low)):
                ports.update(p for p in (port - 1, port, port + 1) if 1 <= p <= 65535)
    return sorted(ports)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inventories(), flows())
def test_compiled_rules_allow_exactly_what_the_policy_declares(hosts, flow_list):
    compiled = compile_policy(hosts, SEGMENTS, flow_list, **options())
    probes = probe_addresses(hosts, flow_list)
    ports = probe_ports(flow_list)
    allows = policy_oracle(hosts, flow_list)
    for host in sorted(hosts):
        rules = parse_rules(render_nftables(compiled[host]))
        for proto in ("tcp", "udp"):
            for source in probes:
                for port in ports:
                    value = int(source)
                    assert rules_allow(rules, proto, value, port) == allows(host, proto, value, port), (
                        host, proto, str(source), port)


@settings(max_examples=150, deadline=None)
@given(inventories(), flows())
def test_every_flow_reaching_a_host_is_in_its_rules(hosts, flow_list):
    compiled = compile_policy(hosts, SEGMENTS, flow_list, **options())
    for host in hosts:
        text = render_nftables(compiled[host])
        for flow in flow_list:
            if host in members(hosts, flow["to"]):
                has_sources = any(source_set(hosts, s).size for s in flow["from"])
                marker = ('comment "flow %s"' if has_sources else "# flow %s: no source") % flow["name"]
                assert marker in text
            else:
                assert "flow %s" % flow["name"] not in text


@settings(max_examples=300, deadline=None)
@given(st.lists(internal_cidr(), min_size=1, max_size=30))
def test_merging_sources_never_widens_or_narrows_a_flow(cidrs):
    hosts = {"db": {"platform_address": "10.1.2.10", "groups": ["data", "dbs", "dc1"]}}
    flow = {"name": "f", "from": cidrs, "to": "dbs", "ports": [5432]}
    merged = compile_policy(hosts, SEGMENTS, [flow], **options())["db"]["flows"][0]["v4"]
    assert netaddr.IPSet(merged) == netaddr.IPSet(cidrs)
    # minimal: no two merged CIDRs overlap or could be joined
    assert merged == [str(c) for c in netaddr.cidr_merge(merged)]
    assert len(merged) <= len(set(cidrs))


@settings(max_examples=150, deadline=None)
@given(flows(), flows())
def test_layer_merge_keeps_every_flow_once_and_later_keys_win(base, layer):
    layer = [dict(f, name=f["name"] if i % 2 else "extra%02d" % i) for i, f in enumerate(layer)]
    merged = merge_flows(base, layer)
    names = [f["name"] for f in merged]
    assert len(names) == len(set(names))
    assert set(names) == set(f["name"] for f in base) | set(f["name"] for f in layer)
    by_name = dict((f["name"], f) for f in merged)
    for f in layer:
        for key, value in f.items():
            assert by_name[f["name"]][key] == value
