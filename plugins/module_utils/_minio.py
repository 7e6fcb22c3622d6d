# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers of the MinIO role: the erasure layout MinIO derives from its volumes, and its
Prometheus bearer token.

The layout follows MinIO's own rules for one server pool (``cmd/endpoint-ellipses.go`` and
``internal/config/storageclass`` of minio/minio, re-derived here, not copied):

* erasure set sizes are 2..16 drives; the set size must divide the pool's drive count;
* with ellipses, a set size must also be *symmetric* with the first ellipsis of the URL (the host
  range when there are several nodes, the drive range on one node): it divides that range's length
  or that length divides it;
* among the candidates MinIO takes the largest set size (the fewest sets);
* the ellipsis expansion is drive-major (first drive of every node, then the second, ...), and sets
  are consecutive slices of that order, so every set spreads evenly over the nodes;
* the default parity of the STANDARD class is 0 for 1 drive, 1 for 2-3, 2 for 4-5, 3 for 6-7 and 4
  from 8 drives per set; a parity above half the set size is refused;
* one drive on one node is MinIO's single-drive mode: no erasure coding, no parity.

Pure functions without side effects, used by the ``minio_erasure_layout`` filters and tested in
tests/unit/test_minio_layout.py.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

SET_SIZES = tuple(range(2, 17))
_PARITY_RE = re.compile(r"^(?:EC:)?([0-9]+)$")
# Characters MinIO's ellipsis parser would take for a pattern, and whitespace (MINIO_VOLUMES is
# split on it): never valid in a host name or a drive path here.
_FORBIDDEN = re.compile(r"[{}\s]|\.\.\.")


class LayoutError(ValueError):
    """A layout MinIO would refuse; ``problems`` lists every reason, each naming host, variable and value."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def default_parity(set_size):
    """MinIO's default parity of the STANDARD storage class for ``set_size`` drives per erasure set."""
    if set_size <= 1:
        return 0
    if set_size <= 3:
        return 1
    if set_size <= 5:
        return 2
    if set_size <= 7:
        return 3
    return 4


def parse_parity(value):
    """``EC:4``, ``4`` or 4 -> 4; None or empty -> None (MinIO's default); anything else -> ValueError."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, bool):
        raise ValueError("%r is not a parity (EC:<n> or a number of drives)" % (value,))
    if isinstance(value, int):
        if value < 0:
            raise ValueError("%r is not a parity (EC:<n> or a number of drives)" % (value,))
        return value
    match = _PARITY_RE.match(str(value).strip())
    if not match:
        raise ValueError("%r is not a parity (EC:<n> or a number of drives)" % (value,))
    return int(match.group(1))


def _expand_range(first, last, width):
    return [str(i).zfill(width) if width else str(i) for i in range(first, last + 1)]


def ellipsis(values):
    """One MinIO ellipsis pattern (``prefix{1...4}suffix``) that expands to exactly ``values`` in their
    order, or None. A single value is returned as it is. MinIO pads numbers to the width of the end
    of the range when the range is written with a leading zero (``{01...16}``)."""
    values = list(values)
    if len(values) == 1:
        return values[0]
    if not values or len(set(values)) != len(values):
        return None
    first = values[0]
    for match in re.finditer(r"[0-9]+", first):
        prefix, suffix = first[:match.start()], first[match.end():]
        pattern = re.compile(r"^%s([0-9]+)%s$" % (re.escape(prefix), re.escape(suffix)))
        numbers = [pattern.match(v) for v in values]
        if not all(numbers):
            continue
        digits = [m.group(1) for m in numbers]
        start, end = int(digits[0]), int(digits[-1])
        if end - start + 1 != len(values):
            continue
        padded = len(digits[0]) > 1 and digits[0].startswith("0")
        width = len(digits[-1]) if padded else 0
        if _expand_range(start, end, width) != digits:
            continue
        low = digits[0] if padded else str(start)
        return "%s{%s...%s}%s" % (prefix, low, digits[-1], suffix)
    return None


def _node_name(node):
    return str(node.get("host") or node.get("name") or "?")


def natural_key(text):
    """``minio2`` before ``minio10``: digit runs compare as numbers."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"([0-9]+)", str(text))]


def _ordered(nodes):
    """Nodes by address and every node's drives by path, both in natural order: the layout does not depend on the
    order the inventory lists them in, and numbered names form MinIO ellipses."""
    out = []
    for node in nodes:
        node = dict(node)
        if isinstance(node.get("drives"), (list, tuple)) and all(isinstance(d, str) for d in node["drives"]):
            node["drives"] = sorted(node["drives"], key=natural_key)
        out.append(node)
    return sorted(out, key=lambda n: natural_key(n.get("address") or _node_name(n)))


def validate(nodes, parity=None, port=9000, parity_var="minio_storage_class_standard_parity", drives_var="minio_drives"):
    """Every reason MinIO (or the platform) would refuse this deployment; an empty list when it is sound.

    ``nodes``: [{host: inventory name, address: name in the URLs (default host), drives: [mount paths]}].
    """
    problems = []
    if not nodes:
        return ["the deployment has no nodes (no host of the MinIO group in this site)"]
    seen_addresses = {}
    for node in nodes:
        host = _node_name(node)
        address = str(node.get("address") or host)
        drives = node.get("drives")
        if _FORBIDDEN.search(address) or not address:
            problems.append("host %s: endpoint address %r may not be empty or contain braces, '...' or whitespace"
                            % (host, address))
        key = address.lower()
        if key in seen_addresses:
            problems.append("host %s: endpoint address %s is also host %s's (duplicate endpoints)"
                            % (host, address, seen_addresses[key]))
        seen_addresses.setdefault(key, host)
        if not isinstance(drives, (list, tuple)) or not drives:
            problems.append("host %s: %s=%r must list the drive mount paths of this node (at least one)"
                            % (host, drives_var, drives))
            continue
        paths = []
        for drive in drives:
            if not isinstance(drive, str) or not drive.startswith("/") or _FORBIDDEN.search(drive):
                problems.append("host %s: %s has %r, not an absolute path without braces, '...' or whitespace"
                                % (host, drives_var, drive))
                continue
            paths.append(drive.rstrip("/") or "/")
        if "/" in paths:
            problems.append("host %s: %s has / (MinIO refuses drives on the root file system)" % (host, drives_var))
        duplicates = sorted(set(p for p in paths if paths.count(p) > 1))
        if duplicates:
            problems.append("host %s: %s lists %s more than once (duplicate endpoints)" % (host, drives_var, duplicates))
        for path in sorted(set(paths)):
            for other in sorted(set(paths)):
                if other != path and other.startswith(path.rstrip("/") + "/"):
                    problems.append("host %s: %s has %s inside %s (MinIO refuses nested drives)"
                                    % (host, drives_var, other, path))
    if problems:
        return problems
    counts = {_node_name(n): len(n["drives"]) for n in nodes}
    if len(set(counts.values())) > 1:
        most = max(set(counts.values()), key=lambda c: (list(counts.values()).count(c), c))
        for node in nodes:
            host = _node_name(node)
            if counts[host] != most:
                problems.append("host %s: %s has %d drives %s, the other nodes of the deployment have %d (%s); MinIO needs "
                                "the same number of drives on every node"
                                % (host, drives_var, counts[host], list(node["drives"]), most,
                                   ", ".join("%s: %d" % (h, counts[h]) for h in sorted(counts, key=natural_key))))
        return problems
    try:
        wanted = parse_parity(parity)
    except ValueError as err:
        return ["host %s: %s=%r: %s" % (_node_name(nodes[0]), parity_var, parity, err)]
    total = sum(counts.values())
    hosts = ", ".join(sorted(counts, key=natural_key))
    if total == 1:
        if wanted:
            problems.append("host %s: %s=%r, but one drive on one node is MinIO's single-drive mode without erasure "
                            "coding (parity 0); add drives or nodes, or leave %s empty"
                            % (_node_name(nodes[0]), parity_var, parity, parity_var))
        return problems
    size, reason = _set_size(len(nodes), counts[_node_name(nodes[0])])
    if size is None:
        return ["hosts %s: %s gives %d nodes x %d drives = %d drives: %s"
                % (hosts, drives_var, len(nodes), counts[_node_name(nodes[0])], total, reason)]
    effective = default_parity(size) if wanted is None else wanted
    if effective > size // 2:
        problems.append("hosts %s: %s=%r is parity %d, above half the erasure set size (%d drives per set, at most EC:%d)"
                        % (hosts, parity_var, parity, effective, size, size // 2))
    elif effective < 1:
        problems.append("hosts %s: %s=%r stores no parity: a lost drive loses objects; the platform requires erasure "
                        "coding (EC:1 at least; MinIO's default for %d drives per set is EC:%d)"
                        % (hosts, parity_var, parity, size, default_parity(size)))
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        problems.append("hosts %s: port %r is not a TCP port" % (hosts, port))
    return problems


def _set_size(node_count, drives_per_node):
    """(set size, None) as MinIO picks it for one pool, or (None, why not)."""
    total = node_count * drives_per_node
    divisors = [s for s in SET_SIZES if total % s == 0]
    if not divisors:
        return None, "not divisible into erasure sets of 2 to 16 drives"
    # The first ellipsis of the URL: the host range with several nodes, else the drive range.
    reference = node_count if node_count > 1 else drives_per_node
    symmetric = [s for s in divisors if s % reference == 0 or reference % s == 0]
    if not symmetric:
        return None, ("no erasure set size of 2 to 16 drives divides it and spreads evenly over the %d nodes "
                      "(sizes dividing %d: %s)" % (node_count, total, divisors))
    return max(symmetric), None


def erasure_layout(nodes, parity=None, port=9000, scheme="https", drive_subdir="",
                   parity_var="minio_storage_class_standard_parity", drives_var="minio_drives"):
    """The layout MinIO computes for this deployment (one server pool); LayoutError when it would refuse it.

    Returns mode (erasure or single), nodes, drives_per_node, total_drives, set_size, set_count, parity,
    data_drives, storage_class (EC:<parity>, empty in single mode), usable_ratio, drive_failures_tolerated
    (per set), write_quorum, read_quorum, endpoints (drive-major order), sets (lists of endpoints),
    volumes (the MINIO_VOLUMES value), volumes_form (ellipsis or explicit) and set_drive_count (the
    MINIO_ERASURE_SET_DRIVE_COUNT pin, set only for explicit URLs, where MinIO would skip the symmetry
    rule).
    """
    problems = validate(nodes, parity, port, parity_var, drives_var)
    if problems:
        raise LayoutError(problems)
    nodes = _ordered(nodes)
    subdir = ("/" + drive_subdir.strip("/")) if drive_subdir and drive_subdir.strip("/") else ""
    addresses = [str(n.get("address") or _node_name(n)) for n in nodes]
    drive_lists = [[d.rstrip("/") + subdir for d in n["drives"]] for n in nodes]
    per_node = len(drive_lists[0])
    total = per_node * len(nodes)
    single_node = len(nodes) == 1
    # Drive-major, as MinIO expands host{1...n}/drive{1...m}: drive 1 of every node, then drive 2, ...
    endpoints = []
    for index in range(per_node):
        for address, drives in zip(addresses, drive_lists):
            endpoints.append(drives[index] if single_node else "%s://%s:%d%s" % (scheme, address, port, drives[index]))
    if total == 1:
        return {
            "mode": "single", "nodes": 1, "drives_per_node": 1, "total_drives": 1, "set_size": 1, "set_count": 1,
            "parity": 0, "data_drives": 1, "storage_class": "", "usable_ratio": 1.0, "drive_failures_tolerated": 0,
            "write_quorum": 1, "read_quorum": 1, "endpoints": endpoints, "sets": [endpoints],
            "volumes": endpoints[0], "volumes_form": "explicit", "set_drive_count": None,
        }
    size = _set_size(len(nodes), per_node)[0]
    wanted = parse_parity(parity)
    effective = default_parity(size) if wanted is None else wanted
    data = size - effective
    host_pattern = ellipsis(addresses)
    # One drive list for every node: the same paths everywhere, so one drive range describes them.
    same_paths = all(d == drive_lists[0] for d in drive_lists)
    drive_pattern = ellipsis(drive_lists[0]) if same_paths else None
    uses_ellipsis = host_pattern is not None and drive_pattern is not None and (per_node > 1 or len(nodes) > 1) \
        and ("{" in host_pattern or "{" in drive_pattern)
    if uses_ellipsis:
        volumes = drive_pattern if single_node else "%s://%s:%d%s" % (scheme, host_pattern, port, drive_pattern)
        form, pin = "ellipsis", None
    else:
        volumes, form, pin = " ".join(endpoints), "explicit", size
    return {
        "mode": "erasure",
        "nodes": len(nodes),
        "drives_per_node": per_node,
        "total_drives": total,
        "set_size": size,
        "set_count": total // size,
        "parity": effective,
        "data_drives": data,
        "storage_class": "EC:%d" % effective,
        "usable_ratio": round(float(data) / size, 4),
        "drive_failures_tolerated": effective,
        # MinIO's write quorum is the data drives, one more when parity equals data (half the set).
        "write_quorum": data + 1 if data == effective else data,
        "read_quorum": data,
        "endpoints": endpoints,
        "sets": [endpoints[i:i + size] for i in range(0, total, size)],
        "volumes": volumes,
        "volumes_form": form,
        "set_drive_count": pin,
    }


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def prometheus_token(secret_key, access_key, expires_at):
    """The bearer token ``mc admin prometheus generate`` makes: an HS512 JWT with the claims exp,
    iss=prometheus and sub=<access key>, signed with the secret key. ``expires_at`` (epoch seconds) is
    given, not taken from the clock, so the same inputs always give the same token."""
    if not secret_key or not access_key:
        raise ValueError("the access key and the secret key must not be empty")
    expires_at = int(expires_at)
    if expires_at <= 0:
        raise ValueError("expires_at must be a positive epoch time, got %r" % (expires_at,))
    header = _b64url(json.dumps({"alg": "HS512", "typ": "JWT"}, separators=(",", ":")).encode("utf-8"))
    claims = _b64url(json.dumps({"exp": expires_at, "iss": "prometheus", "sub": str(access_key)},
                                separators=(",", ":")).encode("utf-8"))
    signing_input = ("%s.%s" % (header, claims)).encode("ascii")
    signature = hmac.new(str(secret_key).encode("utf-8"), signing_input, hashlib.sha512).digest()
    return "%s.%s.%s" % (header, claims, _b64url(signature))


def replication_plan(local_info, peer_endpoint, peer_info=None):
    """What ``mc admin replicate add`` would change, from ``mc admin replicate info --json`` of the local
    deployment (and optionally of the peer): ``{"action": "none"|"add"|"refuse", "reason": text}``."""
    def sites(info):
        return [str(s.get("endpoint", "")).rstrip("/") for s in (info or {}).get("sites") or [] if isinstance(s, dict)]

    peer = peer_endpoint.rstrip("/")
    local_sites = sites(local_info) if (local_info or {}).get("enabled") else []
    if peer in local_sites:
        return {"action": "none", "reason": "site replication already includes %s" % peer}
    if local_sites:
        return {"action": "refuse",
                "reason": "site replication is already configured with %s, without %s: adding a site to an existing "
                          "group needs every site named (mc admin replicate add); do it by hand" % (local_sites, peer)}
    peer_sites = sites(peer_info) if (peer_info or {}).get("enabled") else []
    if peer_sites:
        return {"action": "refuse",
                "reason": "%s already replicates with %s: a site belongs to one replication group" % (peer, peer_sites)}
    return {"action": "add", "reason": "no site replication yet"}
