# -*- coding: utf-8 -*-
"""Benchmark: compile the flow policy for 10,000 hosts and 500 flows.

Side by side:
  * compiler  - the firewall role's path: sovereign.datacenter.flow_policy_build (validate the whole policy,
                resolve and cidr_merge sources once per flow, compile once per distinct set of flows; the
                options in one mapping, as roles/firewall/vars/main.yml gives them), then
                sovereign.datacenter.nftables_render once per host, as the role's per-host task does.
  * baseline  - the naive way: a Jinja template rendered per host (as an `ansible.builtin.template`
                task would), looping over every flow, testing whether the host is a target and
                listing the flow's source addresses (group members, segment CIDRs, CIDRs) in an
                anonymous set. The baseline gets the group -> addresses map precomputed in Python
                (in a playbook it would `map('extract', hostvars, ...)` inside the loop), so it is
                measured at its best; it does no validation at all.

Usage: run.py [--hosts 10000] [--flows 500] [--seed 4] [--layout blocks|interleaved] [--output results.json]
Both are timed in this one process, on the same generated inventory and policy. Ansible's own
per-task overhead is excluded on both sides.
"""
from __future__ import print_function

import argparse
import json
import os
import platform
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, ".ansible", "collections"))
if not os.path.exists(os.path.join(REPO, ".ansible", "collections", "ansible_collections", "sovereign", "datacenter")):
    link = os.path.join(REPO, ".ansible", "collections", "ansible_collections", "sovereign", "datacenter")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(os.path.relpath(REPO, os.path.dirname(link)), link)

import jinja2  # noqa: E402
import netaddr  # noqa: E402

from ansible_collections.sovereign.datacenter.plugins.filter.flow_policy import (  # noqa: E402
    flow_policy_build,
    flow_policy_hosts,
    nftables_render,
)

TIERS = ["dmz", "app", "data", "ai", "security", "management"]
SITES = ["dc1", "dc2"]
SERVICES_PER_TIER = 5
CDN = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"]

# The naive baseline: a Jinja loop over every flow for every host (what a role would template).
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "baseline.nft.j2"), encoding="utf-8") as handle:
    BASELINE_TEMPLATE = handle.read()


def build(n_hosts, n_flows, seed, layout="blocks"):
    rng = random.Random(seed)
    segments = {}
    for s, site in enumerate(SITES):
        segments[site] = {}
        for t, tier in enumerate(TIERS):
            # /20 per site and tier: room for 4,000 hosts
            segments[site][tier] = ["10.%d.%d.0/20" % (s + 1, t * 16), "fd%02x:%x::/64" % (s + 1, t)]
    services = dict((tier, ["%s_svc%d" % (tier, i) for i in range(SERVICES_PER_TIER)]) for tier in TIERS)
    groups = {"all": []}
    for name in TIERS + SITES + [g for gs in services.values() for g in gs]:
        groups[name] = []
    hostvars = {}
    counters = {}
    for index in range(n_hosts):
        site = SITES[0] if index % 3 else SITES[1]          # 2/3 in DC1
        tier = TIERS[(index // 7) % len(TIERS)]
        service_index = (index // 11) % SERVICES_PER_TIER
        service = services[tier][service_index]
        base = netaddr.IPNetwork(segments[site][tier][0])
        if layout == "blocks":
            # IPAM practice: each service gets its own block of the tier segment
            key = (site, tier, service)
            counters[key] = counters.get(key, 0) + 1
            offset = service_index * 800 + counters[key]
        else:
            # worst case for merging: services interleaved address by address
            key = (site, tier)
            counters[key] = counters.get(key, 0) + 1
            offset = counters[key]
        host = "host%05d" % index
        hostvars[host] = {"platform_address": str(base[offset + 1])}
        for group in ("all", site, tier, service):
            groups[group].append(host)
    service_groups = [g for gs in services.values() for g in gs]
    non_dmz_services = [g for g in service_groups if not g.startswith("dmz_")]
    flows = []
    for index in range(n_flows):
        target = rng.choice(service_groups + TIERS[1:] * 2)
        ports = sorted(set(rng.choice([22, 443, 5432, 6379, 8000, 8200, 9000, 9100, rng.randint(1024, 65535)])
                           for unused in range(rng.randint(1, 3))))
        if target.startswith("dmz") or target == "dmz":
            sources = rng.choice([[rng.choice(CDN[:3]), CDN[3]], ["management"], ["management_svc1"]])
        else:
            kinds = []
            for unused in range(rng.randint(1, 3)):
                kind = rng.random()
                if kind < 0.4:
                    kinds.append(rng.choice(non_dmz_services))
                elif kind < 0.7:
                    kinds.append(rng.choice(TIERS[1:]))
                elif kind < 0.85:
                    kinds.append("%s.%s" % (rng.choice(SITES), rng.choice(TIERS[1:])))
                else:
                    s = rng.randint(1, 2)
                    t = rng.randint(1, 5) * 16
                    kinds.append("10.%d.%d.%d/%d" % (s, t + rng.randint(0, 15), 0, 24))
            sources = kinds
        flows.append({"name": "flow%03d" % index, "from": sources, "to": target, "proto": "tcp", "ports": ports})
    return groups, hostvars, segments, flows


def baseline(groups, hostvars, segments, flows):
    """The naive Jinja loop, per host."""
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(BASELINE_TEMPLATE)
    source_addresses = {}
    for flow in flows:
        for src in flow["from"]:
            if src in source_addresses:
                continue
            if "/" in src:
                source_addresses[src] = [src]
            elif "." in src or src in TIERS:
                site, _sep, tier = src.rpartition(".")
                source_addresses[src] = [c for s in ([site] if site else SITES) for c in segments[s][tier]]
            else:
                source_addresses[src] = [hostvars[h]["platform_address"] for h in groups[src]]
    host_groups = {}
    for group, members in groups.items():
        for host in members:
            host_groups.setdefault(host, []).append(group)
    flows_j = [dict(f, to=[f["to"]]) for f in flows]
    out = {}
    for host in groups["all"]:
        out[host] = template.render(flows=flows_j, host_groups=host_groups[host], source_addresses=source_addresses)
    return out


def compiler(groups, hostvars, segments, flows):
    hosts = flow_policy_hosts(groups, hostvars)
    options = {"segments": segments, "tiers": TIERS, "sites": SITES, "cdn_ranges": CDN, "known_groups": list(groups),
               "public_tier": "dmz", "public_admin_tiers": ["management"]}
    built = flow_policy_build(flows, hosts, options)
    if built["problems"]:
        raise SystemExit("generated policy invalid: %s" % built["problems"][:5])
    return {host: nftables_render(ruleset) for host, ruleset in built["rulesets"].items()}


def measure(name, func, *args):
    start = time.perf_counter()
    result = func(*args)
    elapsed = time.perf_counter() - start
    texts = list(result.values())
    size = sum(len(t.encode()) for t in texts)
    rules = sum(t.count(" accept comment ") for t in texts)
    elements = sum(t.count(",") for t in texts)
    print("%-9s %8.2f s  %8.1f MB  %8d flow rules  %10d hosts" % (name, elapsed, size / 1e6, rules, len(texts)))
    return {"seconds": round(elapsed, 3), "bytes_total": size, "bytes_per_host_avg": size // max(1, len(texts)),
            "flow_rules_total": rules, "list_separators_total": elements, "hosts": len(texts),
            "distinct_rulesets": len(set(texts))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--flows", type=int, default=500)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--layout", choices=["blocks", "interleaved"], default="blocks",
                        help="address plan: one block per service (default) or services interleaved")
    parser.add_argument("--output", default=os.path.join(HERE, "results.json"))
    args = parser.parse_args()
    groups, hostvars, segments, flows = build(args.hosts, args.flows, args.seed, args.layout)
    print("inventory: %d hosts, %d groups, %d flows" % (len(groups["all"]), len(groups), len(flows)))
    ours = measure("compiler", compiler, groups, hostvars, segments, flows)
    naive = measure("baseline", baseline, groups, hostvars, segments, flows)
    ratio = naive["seconds"] / ours["seconds"]
    size_ratio = ours["bytes_total"] / float(naive["bytes_total"])
    print("speed-up: %.1fx   size compiler/baseline: %.3f" % (ratio, size_ratio))
    result = {
        "hosts": args.hosts, "flows": args.flows, "seed": args.seed, "layout": args.layout,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "compiler": ours, "baseline_jinja": naive,
        "speedup": round(ratio, 1), "size_ratio_compiler_over_baseline": round(size_ratio, 4),
        "goal": {"speedup_at_least": 20, "size_ratio_at_most": 1.0},
        "goal_met": ratio >= 20 and size_ratio <= 1.0,
    }
    with open(args.output, "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
        handle.write("\n")
    print("written: %s" % args.output)
    return 0 if result["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
