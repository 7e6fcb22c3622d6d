# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of sovereign.datacenter.preflight: validates the whole platform on the controller.

Never reaches a host: it reads ``hostvars`` and ``groups`` (the whole inventory, whatever
``--limit`` says) and the collection's own role files, and returns every problem at once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_policy import (
    FlowPolicyError,
    Policy,
    merge_flows,
)
from ansible_collections.sovereign.datacenter.plugins.module_utils._platform import PlatformModel
from ansible_collections.sovereign.datacenter.plugins.module_utils._preflight import (
    argument_errors,
    consistency_errors,
    tls_profile_errors,
    postgresql_errors,
    role_of,
    ssh_key_errors,
)

ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")
# Settings that make one platform: a host with its own value would split the policy.
PLATFORM_WIDE = ("platform_environment", "platform_tiers", "platform_sites", "platform_segments",
                 "platform_ports", "platform_cdn_ranges", "platform_flows", "platform_tls_profile")
# Values never evaluated here: the secret store lookup would create secrets as a side effect.
NOT_EVALUATED = re.compile(r"sovereign\.datacenter\.secret")
SECTIONS = ("inventory", "platform", "flows", "postgresql", "arguments", "ssh_keys")


def _mentions_secret(value):
    """Whether a raw value (or any string inside it) calls the secret store."""
    if isinstance(value, str):
        return NOT_EVALUATED.search(value) is not None
    if isinstance(value, dict):
        return any(_mentions_secret(k) or _mentions_secret(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_mentions_secret(v) for v in value)
    return False


class ActionModule(ActionBase):
    """Validate the inventory model, flow policy, PostgreSQL topology and role arguments."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("roles_dir", "skip"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        roles_dir = self._task.args.get("roles_dir") or ROLES_DIR
        skip = set(self._task.args.get("skip") or [])
        unknown = sorted(skip - set(SECTIONS))
        if unknown:
            raise AnsibleError("preflight: unknown section(s) in skip: %s (sections: %s)"
                               % (unknown, ", ".join(SECTIONS)))
        hostvars = task_vars.get("hostvars")
        groups = task_vars.get("groups") or {}
        if hostvars is None or "all" not in groups:
            raise AnsibleError("preflight: hostvars and groups are not available")
        hosts = sorted(groups["all"])
        specs = self._role_specs(roles_dir)
        defaults = dict((role, info["defaults"]) for role, info in specs.items())

        raw = dict((host, self._raw(hostvars, host)) for host in hosts)
        values = dict((host, {}) for host in hosts)
        unevaluated = {}

        def value(host, name, role=None):
            """The templated value of ``name`` for ``host`` (role default below it), or KeyError."""
            if name in values[host]:
                return values[host][name]
            if name in raw[host]:
                if _mentions_secret(raw[host][name]):
                    raise KeyError(name)
                try:
                    values[host][name] = hostvars[host][name]
                except Exception as exc:  # pylint: disable=broad-except  # any templating failure
                    unevaluated.setdefault(host, {})[name] = to_native(exc)
                    raise KeyError(name)
                return values[host][name]
            if role and name in defaults.get(role, {}):
                extra = {"inventory_hostname": host, "groups": groups, "hostvars": hostvars}
                return self._template_default(defaults[role][name], raw[host], defaults[role], extra)
            raise KeyError(name)

        def get(host, name, role=None, fallback=None):
            try:
                return value(host, name, role)
            except KeyError:
                return fallback

        sections = {}
        # The platform model, parsed once: its problems are the inventory section, and the flow
        # policy resolves its groups and addresses from it.
        first = hosts[0] if hosts else None
        model = PlatformModel(
            dict((host, {"groups": [g for g in sorted(groups) if g not in ("all", "ungrouped") and host in groups[g]],
                         "platform_address": get(host, "platform_address"),
                         "platform_address6": get(host, "platform_address6")}) for host in hosts),
            get(first, "platform_tiers", fallback=[]), get(first, "platform_sites", fallback=[]),
            get(first, "platform_segments", fallback={}))
        if "inventory" not in skip:
            sections["inventory"] = model.messages()
        if "platform" not in skip:
            wide = dict((host, dict((name, get(host, name)) for name in PLATFORM_WIDE + tuple(
                n for n in raw[host] if n.startswith("platform_flows_")) if name in raw[host])) for host in hosts)
            sections["platform"] = consistency_errors(wide, sorted(set(n for h in wide.values() for n in h)))
            sections["platform"] += tls_profile_errors(dict((h, v["platform_tls_profile"]) for h, v in wide.items()
                                                            if "platform_tls_profile" in v))
        if "flows" not in skip and hosts:
            sections["flows"] = self._flow_errors(hosts, groups, raw, get, model)
        if "postgresql" not in skip:
            sections["postgresql"] = self._postgresql_errors(groups, raw, get)
        if "arguments" not in skip:
            host_values = {}
            for host in hosts:
                host_values[host] = {}
                for name in raw[host]:
                    if name.startswith("_") or role_of(name, specs) is None:
                        continue
                    try:
                        host_values[host][name] = value(host, name)
                    except KeyError:
                        continue
            sections["arguments"] = argument_errors(host_values, specs)
        if "ssh_keys" not in skip:
            users = dict((host, get(host, "base_admin_users", fallback=[])) for host in hosts)
            sections["ssh_keys"] = ssh_key_errors(users)

        problems = ["[%s] %s" % (section, message) for section in SECTIONS for message in sections.get(section, [])]
        result.update({
            "changed": False,
            "problems": problems,
            "sections": sections,
            "hosts": len(hosts),
            "not_evaluated": dict((h, sorted(v)) for h, v in unevaluated.items()),
        })
        if problems:
            result["failed"] = True
            result["msg"] = ("Invalid inventory (%d problem(s)), refused on the controller before any host task; "
                             "no host was touched: %s" % (len(problems), " | ".join(problems)))
        else:
            environment = get(hosts[0], "platform_environment", fallback="?") if hosts else "?"
            result["msg"] = ("inventory %s: %d hosts valid (inventory model, flow policy, PostgreSQL topology, "
                             "role arguments of %d roles)" % (environment, len(hosts), len(specs)))
        return result

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def _raw(hostvars, host):
        try:
            data = hostvars.raw_get(host)
        except Exception:  # pylint: disable=broad-except  # older cores: fall back to the templated view
            data = hostvars[host]
        return dict((k, data[k]) for k in data) if hasattr(data, "keys") else {}

    def _load(self, path):
        if not os.path.isfile(path):
            return {}
        try:
            data = self._loader.load_from_file(path, trusted_as_template=True)
        except TypeError:  # ansible-core < 2.19
            data = self._loader.load_from_file(path)
        return data if isinstance(data, dict) else {}

    def _role_specs(self, roles_dir):
        specs = {}
        if not os.path.isdir(roles_dir):
            raise AnsibleError("preflight: roles directory %s not found" % roles_dir)
        for role in sorted(os.listdir(roles_dir)):
            base = os.path.join(roles_dir, role)
            if not os.path.isdir(base):
                continue
            entry_points = (self._load(os.path.join(base, "meta", "argument_specs.yml")).get("argument_specs") or {})
            known = set()
            for entry in entry_points.values():
                known |= set((entry or {}).get("options") or {})
            defaults = self._load(os.path.join(base, "defaults", "main.yml"))
            known |= set(defaults) | set(self._load(os.path.join(base, "vars", "main.yml")))
            specs[role] = {"main": ((entry_points.get("main") or {}).get("options") or {}),
                           "known": known, "defaults": defaults}
        return specs

    def _template_default(self, default, host_raw, role_defaults, extra):
        """A role default evaluated for one host: the host's variables over the role's defaults."""
        variables = dict(role_defaults)
        variables.update(host_raw)
        variables.update(extra)
        return self._templar.copy_with_new_env(available_variables=variables).template(default)

    # ------------------------------------------------------------------ checks
    def _flow_errors(self, hosts, groups, raw, get, model):
        first = hosts[0]
        pattern = get(first, "firewall_flow_layers_pattern", "firewall", "^platform_flows_.+$")
        try:
            layer_re = re.compile(pattern)
        except (re.error, TypeError) as exc:
            return ["firewall_flow_layers_pattern=%r: not a regular expression (%s)" % (pattern, exc)]
        layer_names = sorted(n for n in raw[first] if layer_re.match(n))
        flows = merge_flows(get(first, "firewall_flows", "firewall", []), *[get(first, n, fallback=[]) for n in layer_names])
        egress = {}
        for host in hosts:
            if get(host, "firewall_egress_policy", "firewall", False) in (True, "true", "yes", "True", 1):
                egress[host] = get(host, "firewall_egress_allow", "firewall", [])
        try:
            segments = get(first, "firewall_segments", "firewall", {})
            if segments != model.segments:  # the firewall compiles other segments than the platform's
                model = PlatformModel(dict((h, {"groups": model.groups_of[h], "platform_address": get(h, "platform_address"),
                                                "platform_address6": get(h, "platform_address6")}) for h in hosts),
                                      model.tiers, model.sites, segments)
            policy = Policy({}, segments, flows, model=model,
                            tiers=get(first, "platform_tiers", fallback=[]), sites=get(first, "platform_sites", fallback=[]),
                            ports_map=get(first, "platform_ports", fallback={}) or {},
                            cdn_ranges=get(first, "firewall_cdn_ranges", "firewall", []),
                            known_groups=sorted(groups),
                            public_tier=get(first, "firewall_public_tier", "firewall", "dmz"),
                            public_admin_tiers=get(first, "firewall_public_admin_tiers", "firewall", ["management"]))
            policy.compile(egress=egress)
        except FlowPolicyError as exc:
            return list(exc.errors)
        return []

    def _postgresql_errors(self, groups, raw, get):
        candidates = sorted(groups["all"])
        group = get(candidates[0], "postgresql_group", "postgresql", "postgresql") if candidates else "postgresql"
        members = sorted(groups.get(group) or [])
        settings = {}
        for host in members:
            hv = {}
            for name in ("postgresql_role", "postgresql_synchronous", "postgresql_sync_site", "postgresql_backup_enabled",
                         "postgresql_backup_group", "postgresql_backup_repo_host"):
                hv[name] = get(host, name, "postgresql")
            password = raw[host].get("postgresql_replication_password")
            hv["postgresql_replication_password_set"] = password not in (None, "") and (
                not isinstance(password, str) or bool(password.strip()))
            settings[host] = dict((k, v) for k, v in hv.items() if v is not None)
        return postgresql_errors(members, settings, groups)
