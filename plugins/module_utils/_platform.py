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

This is the one parse of the model: :class:`PlatformModel` (placement of every host, its addresses,
the segments' networks, group members, and the problems found, as structured records) is what the
preflight (:func:`inventory_errors`), the flow policy compiler (``_flow_policy``) and the lab
(``lab/lab.py``, through :func:`model_from_inventory_json`) read. :func:`parse_cidr` is the one CIDR
parser and :func:`placement` the one membership check.
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
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


class CidrError(ValueError):
    """A value that is not a network: ``kind`` is notation, invalid or host_bits; ``network`` the
    network the value meant when only host bits are wrong."""

    def __init__(self, value, kind, detail="", network=None):
        self.value = value
        self.kind = kind
        self.network = network
        if kind == "notation":
            text = "%r is not in CIDR notation (address/prefix)" % (value,)
        elif kind == "host_bits":
            text = "%r has host bits set; did you mean %s?" % (value, network)
        else:
            text = "%r is not a valid CIDR (%s)" % (value, detail)
        super(CidrError, self).__init__(text)


def parse_cidr(value, allow_address=False):
    """Return a netaddr.IPNetwork for a strict CIDR (no host bits set) or raise :class:`CidrError`.

    ``allow_address``: a bare address is its own /32 (or /128) network (flow sources, egress targets).
    """
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or ("/" not in text and not allow_address):
        raise CidrError(value, "notation")
    try:
        net = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise CidrError(value, "invalid", exc)
    if "/" not in text:
        net = netaddr.IPNetwork("%s/%d" % (net.ip, 32 if net.version == 4 else 128))
    if net.ip != net.network:
        raise CidrError(value, "host_bits", network=net.cidr)
    return net


def placement(groups, tiers, sites):
    """The one membership check: ``(tiers, sites)`` of a host from its group names, each sorted.
    A well-placed host has exactly one of each."""
    names = set(_as_list(groups))
    return sorted(names.intersection(tiers or ())), sorted(names.intersection(sites or ()))


def segment_networks(segments, tiers, sites):
    """Parse ``platform_segments``; return ({(site, tier): [IPNetwork]}, [errors])."""
    model = PlatformModel({}, tiers, sites, segments)
    return model.segment_nets, model.messages()


class PlatformModel(object):
    """The platform model of one inventory, parsed once.

    ``hosts``: ``{host: {"groups" or "group_names": [...], "platform_address": ...,
    "platform_address6": ...}}``. Unknown sites and tiers in ``platform_segments`` are refused
    when ``tiers``/``sites`` are given. ``problems`` lists structured records ``(kind, details)``;
    :meth:`messages` words them for the inventory preflight, and every caller can word them its way.
    """

    def __init__(self, hosts, tiers, sites, segments):
        self.tiers = list(tiers or [])
        self.sites = list(sites or [])
        self.segments = segments
        self.problems = []
        self.segment_nets = {}
        self.members = {"all": set()}
        self.tier_of = {}
        self.site_of = {}
        self.address = {}
        self.address6 = {}
        self.groups_of = {}
        for group in self.tiers + self.sites:
            self.members.setdefault(group, set())
        self._parse_segments()
        seen = {}
        for host in sorted(hosts or {}):
            info = hosts[host] or {}
            host_groups = _as_list(info.get("groups", info.get("group_names")))
            self.groups_of[host] = host_groups
            self.members["all"].add(host)
            for group in host_groups:
                self.members.setdefault(group, set()).add(host)
            host_tiers, host_sites = placement(host_groups, self.tiers, self.sites)
            for kind, found in (("tier", host_tiers), ("site", host_sites)):
                if len(found) != 1:
                    self.problems.append(("placement", {"host": host, "kind": kind, "found": found,
                                                        "groups": host_groups}))
            self.tier_of[host] = host_tiers[0] if host_tiers else None
            self.site_of[host] = host_sites[0] if host_sites else None
            ip = self._address(host, info.get("platform_address"), "")
            self._address(host, info.get("platform_address6"), "6")
            if ip is None:
                continue
            if ip in seen:
                self.problems.append(("duplicate", {"host": host, "address": ip, "other": seen[ip]}))
            else:
                seen[ip] = host
            if len(host_tiers) == 1 and len(host_sites) == 1:
                key = (host_sites[0], host_tiers[0])
                nets = [n for n in self.segment_nets.get(key, []) if n.version == ip.version]
                if key not in self.segment_nets:
                    self.problems.append(("no_segment", {"host": host, "key": key}))
                elif not any(ip in n for n in nets):
                    # same_version: the segment has networks of the address's family at all
                    self.problems.append(("outside", {"host": host, "address": ip, "key": key,
                                                      "nets": self.segment_nets[key], "same_version": nets}))

    def _address(self, host, value, suffix):
        if value in (None, ""):
            if not suffix:
                self.problems.append(("no_address", {"host": host}))
            return None
        try:
            ip = netaddr.IPAddress(str(value))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            self.problems.append(("bad_address", {"host": host, "value": value, "suffix": suffix}))
            return None
        (self.address6 if ip.version == 6 else self.address)[host] = ip
        return ip if not suffix else None

    def _parse_segments(self):
        segments = self.segments
        if not isinstance(segments, dict):
            self.problems.append(("segments_type", {"type": type(segments).__name__}))
            return
        for site in sorted(segments):
            per_tier = segments[site]
            if self.sites and site not in self.sites:
                self.problems.append(("unknown_site", {"site": site}))
                continue
            if not isinstance(per_tier, dict):
                self.problems.append(("site_type", {"site": site}))
                continue
            for tier in sorted(per_tier):
                if self.tiers and tier not in self.tiers:
                    self.problems.append(("unknown_tier", {"site": site, "tier": tier}))
                    continue
                nets = []
                for index, cidr in enumerate(_as_list(per_tier[tier])):
                    try:
                        nets.append(parse_cidr(cidr))
                    except CidrError as exc:
                        self.problems.append(("bad_cidr", {"site": site, "tier": tier, "index": index, "error": exc}))
                self.segment_nets[(site, tier)] = nets
        # Two segments must never share addresses: a flow policy could not tell them apart.
        keys = sorted(self.segment_nets)
        for i, first in enumerate(keys):
            for second in keys[i + 1:]:
                for net_a in self.segment_nets[first]:
                    for net_b in self.segment_nets[second]:
                        if net_a.version == net_b.version and net_a.first <= net_b.last and net_b.first <= net_a.last:
                            self.problems.append(("overlap", {"first": first, "second": second,
                                                              "nets": (net_a, net_b)}))

    def messages(self):
        """The problems worded for the inventory preflight: host and variable named."""
        out = []
        tiers, sites = self.tiers, self.sites
        for kind, d in self.problems:
            if kind == "segments_type":
                out.append("platform_segments: must be a mapping site -> tier -> list of CIDRs, got %s" % d["type"])
            elif kind == "unknown_site":
                out.append("platform_segments.%s: unknown site %r (platform_sites: %s)"
                           % (d["site"], d["site"], ", ".join(sites)))
            elif kind == "site_type":
                out.append("platform_segments.%s: must be a mapping tier -> list of CIDRs" % d["site"])
            elif kind == "unknown_tier":
                out.append("platform_segments.%s.%s: unknown tier %r (platform_tiers: %s)"
                           % (d["site"], d["tier"], d["tier"], ", ".join(tiers)))
            elif kind == "bad_cidr":
                out.append("platform_segments.%s.%s[%d]: %s" % (d["site"], d["tier"], d["index"], d["error"]))
            elif kind == "overlap":
                out.append("platform_segments.%s.%s (%s) overlaps platform_segments.%s.%s (%s)"
                           % (d["first"][0], d["first"][1], d["nets"][0], d["second"][0], d["second"][1], d["nets"][1]))
            elif kind == "placement":
                listed = tiers if d["kind"] == "tier" else sites
                other = sorted(set(d["groups"]) - set(tiers) - set(sites) - {"tiers", "sites"})
                out.append(
                    "host %r: group_names must contain exactly one %s of platform_%ss (%s); found %s"
                    " (its other groups: %s; a %s group not listed in platform_%ss is an unknown %s)"
                    % (d["host"], d["kind"], d["kind"], ", ".join(listed), d["found"] or "none",
                       ", ".join(other) or "none", d["kind"], d["kind"], d["kind"]))
            elif kind == "no_address":
                out.append("host %r: platform_address is not set" % d["host"])
            elif kind == "bad_address":
                out.append("host %r: platform_address%s %r is not an IP address" % (d["host"], d["suffix"], d["value"]))
            elif kind == "duplicate":
                out.append("host %r: platform_address %s is already used by host %r"
                           % (d["host"], d["address"], d["other"]))
            elif kind == "no_segment":
                out.append("host %r: no segment platform_segments.%s.%s is defined for its site and tier"
                           % (d["host"], d["key"][0], d["key"][1]))
            elif kind == "outside":
                out.append("host %r: platform_address %s is outside its segment platform_segments.%s.%s (%s)"
                           % (d["host"], d["address"], d["key"][0], d["key"][1],
                              ", ".join(str(n) for n in d["nets"]) or "empty"))
        return out


def group_members(inventory, group):
    """Hosts of ``group`` and of its child groups, recursively, in ``ansible-inventory --list`` JSON."""
    entry = inventory.get(group) or {}
    found = set(entry.get("hosts") or [])
    for child in entry.get("children") or []:
        found |= group_members(inventory, child)
    return found


PLATFORM_WIDE = ("platform_tiers", "platform_sites", "platform_segments")


def model_from_inventory_json(data, shared=()):
    """The model of an ``ansible-inventory --list`` document, and the platform-wide settings.

    Returns ``(model, settings, errors)``: ``settings`` are the platform-wide variables
    (:data:`PLATFORM_WIDE`, required, and the optional ``shared`` ones), which every host must share
    (a host with its own value is an error, never "the last host wins").
    """
    hostvars = (data.get("_meta") or {}).get("hostvars") or {}
    groups_of = dict((host, []) for host in hostvars)
    for group in data:
        if group in ("_meta", "all", "ungrouped"):
            continue
        for host in group_members(data, group):
            groups_of.setdefault(host, []).append(group)
    errors = []
    settings = {}
    for name in PLATFORM_WIDE + tuple(n for n in shared if n not in PLATFORM_WIDE):
        values = {}
        for host in sorted(hostvars):
            if name in hostvars[host]:
                values.setdefault(repr(hostvars[host][name]), (hostvars[host][name], []))[1].append(host)
        if not values:
            if name in PLATFORM_WIDE:
                errors.append("%s is not set for any host" % name)
            continue
        ranked = sorted(values.values(), key=lambda item: (-len(item[1]), item[1][0]))
        settings[name] = ranked[0][0]
        for _value, hosts in ranked[1:]:
            errors.append("hosts %s: %s differs from the value the other hosts share (a platform-wide setting)"
                          % (", ".join(sorted(hosts)), name))
    hosts = dict((host, {"groups": sorted(groups_of[host]),
                         "platform_address": hostvars[host].get("platform_address"),
                         "platform_address6": hostvars[host].get("platform_address6")}) for host in hostvars)
    model = PlatformModel(hosts, settings.get("platform_tiers"), settings.get("platform_sites"),
                          settings.get("platform_segments") or {})
    return model, settings, errors + model.messages()


def inventory_errors(hosts, tiers, sites, segments):
    """Validate the inventory.

    ``hosts`` maps inventory hostname -> {"group_names": [...], "platform_address": "..."}.
    Returns a list of human-readable error strings (empty when the inventory is valid).
    """
    if not HAS_NETADDR:
        return ["the Python library netaddr is required on the controller (pip install netaddr)"]
    return PlatformModel(hosts, tiers, sites, segments).messages()
