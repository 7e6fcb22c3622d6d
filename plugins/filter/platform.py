# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the platform model: the inventory's validation and the platform-wide TLS policy.

Documentation lives next to this file, one ``<filter>.yml`` per filter (platform_inventory_errors,
tls_min_version, tls_openssl, exporter_web_config).
"""

from __future__ import annotations

import json

import yaml

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.sovereign.datacenter.plugins.module_utils import _tls
from ansible_collections.sovereign.datacenter.plugins.module_utils._platform import inventory_errors


def platform_inventory_errors(hostvars, groups, tiers, sites, segments):
    """Return the list of problems of the inventory model (empty when valid)."""
    if not isinstance(groups, dict) or "all" not in groups:
        raise AnsibleFilterError("platform_inventory_errors: pass the `groups` magic variable as first argument")
    hosts = {}
    for host in groups["all"]:
        try:
            hv = hostvars[host]
        except KeyError:
            continue
        hosts[host] = {
            "group_names": list(hv.get("group_names") or []),
            "platform_address": hv.get("platform_address"),
        }
    return inventory_errors(hosts, tiers, sites, segments)


def tls_min_version(profile):
    """The minimum TLS version (TLS12 or TLS13) of a platform TLS profile (default, modern)."""
    try:
        return _tls.min_version(profile)
    except ValueError as exc:
        raise AnsibleFilterError("tls_min_version: %s" % to_native(exc))


def tls_openssl(min_version):
    """The platform TLS policy for an OpenSSL-based server: protocols, TLS 1.2 ciphers, TLS 1.3 suites, groups."""
    try:
        return _tls.openssl_settings(min_version)
    except ValueError as exc:
        raise AnsibleFilterError("tls_openssl: %s" % to_native(exc))


def exporter_web_config(tls, users=None, managed_by=None):
    """The web configuration file (YAML text) of Prometheus, Alertmanager or an exporter."""
    if tls and not isinstance(tls, dict):
        raise AnsibleFilterError("exporter_web_config: tls must be a mapping (cert_file, key_file, min_version) or none")
    if users and not isinstance(users, dict):
        raise AnsibleFilterError("exporter_web_config: users must map a user name to a bcrypt hash")
    try:
        config = _tls.exporter_web_config(tls or None, users or None)
    except ValueError as exc:
        raise AnsibleFilterError("exporter_web_config: %s" % to_native(exc))
    header = "# Managed by Ansible%s; local changes are overwritten.\n" % (" (%s)" % managed_by if managed_by else "")
    # plain types for the dumper (Ansible hands over tagged strings)
    return header + yaml.safe_dump(json.loads(json.dumps(config)), default_flow_style=False, sort_keys=False)


class FilterModule(object):
    """sovereign.datacenter platform filters."""

    def filters(self):
        return {
            "platform_inventory_errors": platform_inventory_errors,
            "tls_min_version": tls_min_version,
            "tls_openssl": tls_openssl,
            "exporter_web_config": exporter_web_config,
        }
