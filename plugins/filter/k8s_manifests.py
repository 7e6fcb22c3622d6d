# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline validation of Kubernetes manifests on the controller with kubernetes-validate.

Runs before any manifest is applied: every resource is checked against the bundled OpenAPI
schemas of the pinned Kubernetes version, strictly (unknown fields are errors).
"""

from __future__ import annotations

import traceback

from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.datacenter.plugins.module_utils._platform import parse_cidr, segment_networks


def _kubernetes_validate():
    """kubernetes-validate, imported on first use: Ansible loads every filter file of the collection in every
    task worker that resolves one of its filters, and this import (jsonschema, the schemas' index) cost ~0.15
    CPU-s each time, 6% of the controller's samples in a --check run of the lab's site.yml (py-spy, 2026-12-07)."""
    try:
        import kubernetes_validate  # pylint: disable=import-outside-toplevel
    except ImportError as exc:  # pragma: no cover - reported by the filter
        raise AnsibleFilterError("k8s_manifest_errors needs the Python package kubernetes-validate on the controller: %s"
                                 % traceback.format_exc()) from exc
    return kubernetes_validate


def _label(resource, index):
    if not isinstance(resource, dict):
        return "manifest #%d" % index
    meta = resource.get("metadata") or {}
    name = "%s/%s" % (meta.get("namespace"), meta.get("name")) if meta.get("namespace") else meta.get("name")
    return "%s %s" % (resource.get("kind", "?"), name or "#%d" % index)


def k8s_manifest_errors(manifests, kubernetes_version, strict=True):
    """One message per invalid manifest (kind, name, field path, schema message); empty when all are valid."""
    kubernetes_validate = _kubernetes_validate()
    if not isinstance(manifests, list):
        raise AnsibleFilterError("k8s_manifest_errors: expected a list of manifests, got %s" % type(manifests).__name__)
    version = str(kubernetes_version).lstrip("v")
    errors = []
    for index, resource in enumerate(manifests):
        label = _label(resource, index)
        if not isinstance(resource, dict) or not resource.get("apiVersion") or not resource.get("kind"):
            errors.append("%s: not a Kubernetes resource (apiVersion and kind needed)" % label)
            continue
        try:
            kubernetes_validate.validate(resource, version, strict=strict)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path) or "(top level)"
            errors.append("%s: %s: %s" % (label, path, exc.message))
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
            errors.append("%s: no schema for Kubernetes %s: %s" % (label, version, exc))
    return errors


def k8s_network_errors(networks, segments, tiers, sites):
    """Problems of the cluster's own networks ({variable: CIDR}): invalid, overlapping each other,
    or overlapping a platform segment (pods and services must not shadow real hosts)."""
    errors = []
    parsed = {}
    for name in sorted(networks or {}):
        try:
            parsed[name] = parse_cidr(networks[name])
        except ValueError as exc:
            errors.append("%s: %s" % (name, exc))
    names = sorted(parsed)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            if _overlap(parsed[first], parsed[second]):
                errors.append("%s (%s) overlaps %s (%s)" % (first, parsed[first], second, parsed[second]))
    segment_nets, _errors = segment_networks(segments, tiers, sites)
    for name in names:
        for (site, tier), nets in sorted(segment_nets.items()):
            for net in nets:
                if _overlap(parsed[name], net):
                    errors.append("%s (%s) overlaps platform_segments.%s.%s (%s)" % (name, parsed[name], site, tier, net))
    return errors


def _overlap(net_a, net_b):
    return net_a.version == net_b.version and net_a.first <= net_b.last and net_b.first <= net_a.last


class FilterModule(object):
    """sovereign.datacenter Kubernetes filters."""

    def filters(self):
        return {"k8s_manifest_errors": k8s_manifest_errors, "k8s_network_errors": k8s_network_errors}
