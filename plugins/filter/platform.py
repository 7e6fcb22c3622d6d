# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters validating the platform inventory model."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

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


class FilterModule(object):
    """sovereign.datacenter platform filters."""

    def filters(self):
        return {"platform_inventory_errors": platform_inventory_errors}
