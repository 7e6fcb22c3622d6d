# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the MinIO role (roles/minio): the erasure layout MinIO derives from the inventory, the
reasons it would refuse one, the Prometheus bearer token, and the site replication decision.

The computation lives in module_utils/_minio.py (tests/unit/test_minio_layout.py).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.datacenter.plugins.module_utils._minio import (
    LayoutError, erasure_layout, prometheus_token, replication_plan, validate)


def _nodes(nodes, domain=""):
    """A list of {host, address, drives}; a dict host -> drives (or -> {address, drives}) works too. Without an
    address, the host name followed by ``.<domain>`` (the name the platform's DNS and certificates know)."""
    if isinstance(nodes, dict):
        nodes = [dict(value, host=key) if isinstance(value, dict) else {"host": key, "drives": value}
                 for key, value in nodes.items()]
    if not isinstance(nodes, (list, tuple)) or not all(isinstance(n, dict) for n in nodes):
        raise AnsibleFilterError("minio: expected a list of {host, address, drives} (or host -> drives), got %r" % (nodes,))
    out = []
    for node in nodes:
        node = dict(node)
        if not node.get("address") and domain:
            node["address"] = "%s.%s" % (node.get("host"), domain)
        out.append(node)
    return out


def minio_erasure_layout(nodes, parity=None, port=9000, scheme="https", drive_subdir="", domain=""):
    """The erasure layout of one MinIO deployment (one server pool); fails naming host, variable and value."""
    try:
        return erasure_layout(_nodes(nodes, domain), parity, int(port), scheme, drive_subdir)
    except LayoutError as err:
        raise AnsibleFilterError("minio_erasure_layout: %s" % err) from None
    except (TypeError, ValueError) as err:
        raise AnsibleFilterError("minio_erasure_layout: %s" % err) from None


def minio_layout_problems(nodes, parity=None, port=9000, domain=""):
    """Every reason MinIO would refuse the deployment (empty when it is sound), for an assert's message."""
    try:
        port = int(port)
    except (TypeError, ValueError):
        return ["port %r is not a TCP port" % (port,)]
    return validate(_nodes(nodes, domain), parity, port)


def minio_prometheus_token(secret_key, access_key, expires_at):
    """The bearer token of `mc admin prometheus generate` (HS512 JWT: exp, iss=prometheus, sub=access key)."""
    try:
        return prometheus_token(secret_key, access_key, expires_at)
    except (TypeError, ValueError) as err:
        raise AnsibleFilterError("minio_prometheus_token: %s" % err) from None


def minio_replication_plan(local_info, peer_endpoint, peer_info=None):
    """none, add or refuse, from `mc admin replicate info --json` of both sites."""
    if not isinstance(local_info, dict) or (peer_info is not None and not isinstance(peer_info, dict)):
        raise AnsibleFilterError("minio_replication_plan: expected the parsed JSON of `mc admin replicate info --json`")
    return replication_plan(local_info, str(peer_endpoint), peer_info)


class FilterModule(object):
    """sovereign.datacenter MinIO filters."""

    def filters(self):
        return {
            "minio_erasure_layout": minio_erasure_layout,
            "minio_layout_problems": minio_layout_problems,
            "minio_prometheus_token": minio_prometheus_token,
            "minio_replication_plan": minio_replication_plan,
        }
