# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers: validation of the platform inventory model (tiers, sites, segments, addresses).

The model (group_vars/all/platform.yml and inventories/<env>/group_vars/all/environment.yml):

* every host is in exactly one tier group (one of ``platform_tiers``) and one site group
  (one of ``platform_sites``); tier groups are children of the ``tiers`` group and site groups
  children of the ``sites`` group;
* ``platform_segments[site][tier]`` is a list of CIDRs;
* every host has ``platform_address`` inside the segment of its site and tier, unique in the
  inventory.

All problems are collected and returned at once, each naming the host and the variable, so an
operator fixes a broken inventory in one pass and nothing is touched before that.
"""

from __future__ import annotations

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:  # pragma: no cover - reported by the callers
    HAS_NETADDR = False


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def parse_cidr(text):
    """Return a netaddr.IPNetwork for a strict CIDR (no host bits set) or raise ValueError."""
    if not isinstance(text, str) or "/" not in text:
        raise ValueError("%r is not in CIDR notation (address/prefix)" % (text,))
    try:
        net = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise ValueError("%r is not a valid CIDR (%s)" % (text, exc))
    if net.ip != net.network:
        raise ValueError("%r has host bits set; did you mean %s?" % (text, net.cidr))
    return net


def segment_networks(segments, tiers, sites):
    """Parse ``platform_segments``; return ({(site, tier): [IPNetwork]}, [errors])."""
    errors = []
    parsed = {}
    if not isinstance(segments, dict):
        return parsed, ["platform_segments: must be a mapping site -> tier -> list of CIDRs, got %s"
                        % type(segments).__name__]
    for site in sorted(segments):
        per_tier = segments[site]
        if site not in sites:
            errors.append("platform_segments.%s: unknown site %r (platform_sites: %s)"
                          % (site, site, ", ".join(sites)))
            continue
        if not isinstance(per_tier, dict):
            errors.append("platform_segments.%s: must be a mapping tier -> list of CIDRs" % site)
            continue
        for tier in sorted(per_tier):
            if tier not in tiers:
                errors.append("platform_segments.%s.%s: unknown tier %r (platform_tiers: %s)"
                              % (site, tier, tier, ", ".join(tiers)))
                continue
            nets = []
            for index, cidr in enumerate(_as_list(per_tier[tier])):
                try:
                    nets.append(parse_cidr(cidr))
                except ValueError as exc:
                    errors.append("platform_segments.%s.%s[%d]: %s" % (site, tier, index, exc))
            parsed[(site, tier)] = nets
    # Two segments must never share addresses: a flow policy could not tell them apart.
    keys = sorted(parsed)
    for i, first in enumerate(keys):
        for second in keys[i + 1:]:
            for net_a in parsed[first]:
                for net_b in parsed[second]:
                    if net_a.version == net_b.version and net_a.first <= net_b.last and net_b.first <= net_a.last:
                        errors.append("platform_segments.%s.%s (%s) overlaps platform_segments.%s.%s (%s)"
                                      % (first[0], first[1], net_a, second[0], second[1], net_b))
    return parsed, errors


def group_members(inventory, group):
    """Hosts of ``group`` and of its child groups, recursively, in ``ansible-inventory --list`` JSON."""
    entry = inventory.get(group) or {}
    found = set(entry.get("hosts") or [])
    for child in entry.get("children") or []:
        found |= group_members(inventory, child)
    return found


def inventory_errors(hosts, tiers, sites, segments):
    """Validate the inventory.

    ``hosts`` maps inventory hostname -> {"group_names": [...], "platform_address": "..."}.
    Returns a sorted list of human-readable error strings (empty when the inventory is valid).
    """
    if not HAS_NETADDR:
        return ["the Python library netaddr is required on the controller (pip install netaddr)"]
    tiers = list(tiers or [])
    sites = list(sites or [])
    nets, errors = segment_networks(segments, tiers, sites)
    seen = {}
    for host in sorted(hosts):
        info = hosts[host] or {}
        groups = set(info.get("group_names") or [])
        host_tiers = sorted(groups.intersection(tiers))
        host_sites = sorted(groups.intersection(sites))
        other = sorted(groups - set(tiers) - set(sites) - {"tiers", "sites"})
        for kind, listed, found in (("tier", tiers, host_tiers), ("site", sites, host_sites)):
            if len(found) != 1:
                errors.append(
                    "host %r: group_names must contain exactly one %s of platform_%ss (%s); found %s"
                    " (its other groups: %s; a %s group not listed in platform_%ss is an unknown %s)"
                    % (host, kind, kind, ", ".join(listed), found or "none", ", ".join(other) or "none",
                       kind, kind, kind))
        address = info.get("platform_address")
        if address in (None, ""):
            errors.append("host %r: platform_address is not set" % host)
            continue
        try:
            ip = netaddr.IPAddress(str(address))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            errors.append("host %r: platform_address %r is not an IP address" % (host, address))
            continue
        if ip in seen:
            errors.append("host %r: platform_address %s is already used by host %r"
                          % (host, ip, seen[ip]))
        else:
            seen[ip] = host
        if len(host_tiers) == 1 and len(host_sites) == 1:
            key = (host_sites[0], host_tiers[0])
            if key not in nets:
                errors.append("host %r: no segment platform_segments.%s.%s is defined for its site and tier"
                              % (host, key[0], key[1]))
            elif not any(ip in net for net in nets[key]):
                errors.append("host %r: platform_address %s is outside its segment platform_segments.%s.%s (%s)"
                              % (host, ip, key[0], key[1], ", ".join(str(n) for n in nets[key]) or "empty"))
    return errors
