# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the platform flow policy.

Documentation lives next to this file, one ``<filter>.yml`` per filter
(flow_policy_merge, flow_policy_hosts, flow_policy_build, flow_policy_validate,
flow_policy_compile, nftables_render, ufw_render, firewalld_render, flow_policy_audit_plan,
flow_policy_audit_report),
which is how ``ansible-doc -t filter``
finds filters that share one Python file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.sovereign.datacenter.plugins.module_utils._firewall_audit import audit_plan, audit_report
from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_policy import (
    DEFAULT_TABLE,
    FlowPolicyError,
    HAS_NETADDR,
    NETADDR_IMPORT_ERROR,
    Policy,
    hosts_from_groups,
    merge_flows,
    public_ruleset,
)
from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_render_firewalld import render_firewalld
from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_render_nftables import render_nftables
from ansible_collections.sovereign.datacenter.plugins.module_utils._flow_render_ufw import render_ufw

_POLICY_OPTIONS = ("tiers", "sites", "ports_map", "cdn_ranges", "known_groups",
                   "public_tier", "public_admin_tiers")


def _require_netaddr():
    if not HAS_NETADDR:
        raise AnsibleFilterError("the flow policy filters need the netaddr Python library "
                                 "on the controller: %s" % to_native(NETADDR_IMPORT_ERROR))


def _policy(flows, hosts, segments, options):
    _require_netaddr()
    unknown = sorted(set(options) - set(_POLICY_OPTIONS))
    if unknown:
        raise AnsibleFilterError("unknown option(s) %s; allowed: %s" % (unknown, list(_POLICY_OPTIONS)))
    if "ports" in options:  # pragma: no cover - friendly alias
        options["ports_map"] = options.pop("ports")
    return Policy(hosts, segments, flows, **options)


def flow_policy_merge(flows, *layers):
    """Merge flow lists by name; later layers win key by key, ``state: absent`` removes."""
    return merge_flows(flows, *layers)


def flow_policy_hosts(groups, hostvars, address_var="platform_address", address6_var="platform_address6"):
    """Build the compiler's host map from ``groups`` and ``hostvars`` (reads two variables per host)."""
    addresses = {}
    addresses6 = {}
    for host in groups.get("all", []):
        hvars = hostvars[host]
        addresses[host] = hvars.get(address_var)
        if address6_var in hvars:
            addresses6[host] = hvars.get(address6_var)
    return hosts_from_groups(groups, addresses, addresses6)


def _public_rulesets(compiled):
    """Per host the public form of its ruleset; hosts that share a compiled object share the result."""
    shared = {}
    result = {}
    for host, ruleset in compiled.items():
        if id(ruleset) not in shared:
            shared[id(ruleset)] = public_ruleset(ruleset)
        result[host] = shared[id(ruleset)]
    return result


def _compile(name, flows, hosts, segments, options, only_hosts, egress):
    """Validate and compile (raises FlowPolicyError naming every problem): the one path of
    flow_policy_build and flow_policy_compile."""
    if egress is not None and not isinstance(egress, dict):
        raise AnsibleFilterError("%s: egress must map host -> list of outbound allowances" % name)
    return _policy(flows, hosts, segments, options).compile(only_hosts=only_hosts, egress=egress)


def flow_policy_build(flows, hosts, options, only_hosts=None, egress=None):
    """Validate and compile in one call, the options in one mapping (``segments`` and the policy options).

    Returns ``{'problems': [...], 'rulesets': {host: ruleset}}``: the problems of an invalid policy (then no
    ruleset), or the rulesets of the hosts (``only_hosts``, default every host). One ``Policy`` is built."""
    if not isinstance(options, dict) or "segments" not in options:
        raise AnsibleFilterError("flow_policy_build: options must be a mapping with 'segments' and any of %s"
                                 % list(_POLICY_OPTIONS))
    options = dict(options)
    segments = options.pop("segments")
    try:
        compiled = _compile("flow_policy_build", flows, hosts, segments, options, only_hosts, egress)
    except FlowPolicyError as exc:
        return {"problems": exc.errors, "rulesets": {}}
    return {"problems": [], "rulesets": _public_rulesets(compiled)}


def flow_policy_validate(flows, hosts, segments, **options):
    """Return the list of problems, each naming its flow (empty when the policy is valid)."""
    try:
        _policy(flows, hosts, segments, options)
    except FlowPolicyError as exc:
        return exc.errors
    return []


def flow_policy_compile(flows, hosts, segments, output="rulesets", only_hosts=None,
                        table=DEFAULT_TABLE, icmp_echo=True, log_drops=False, egress=None, **options):
    """Validate and compile; per host the ruleset (``output=rulesets``) or nftables text (``output=nftables``)."""
    if output not in ("rulesets", "nftables"):
        raise AnsibleFilterError("flow_policy_compile: output must be 'rulesets' or 'nftables', got %r" % output)
    try:
        compiled = _compile("flow_policy_compile", flows, hosts, segments, options, only_hosts, egress)
    except FlowPolicyError as exc:
        raise AnsibleFilterError(to_native(exc))
    if output == "rulesets":
        return _public_rulesets(compiled)
    rendered = {}
    result = {}
    for host, ruleset in compiled.items():
        key = id(ruleset)  # hosts with the same flows share one compiled object: render it once
        if key not in rendered:
            rendered[key] = render_nftables(ruleset, table=table, icmp_echo=icmp_echo, log_drops=log_drops)
        result[host] = rendered[key]
    return result


def nftables_render(ruleset, table=DEFAULT_TABLE, icmp_echo=True, log_drops=False):
    """Render one host's compiled ruleset as an atomic nftables file."""
    _one_ruleset("nftables_render", ruleset)
    return render_nftables(ruleset, table=table, icmp_echo=icmp_echo, log_drops=log_drops)


def _one_ruleset(name, ruleset):
    if not isinstance(ruleset, dict) or not isinstance(ruleset.get("flows"), list):
        raise AnsibleFilterError("%s expects one host's ruleset (a dict with 'flows'), "
                                 "e.g. compiled[inventory_hostname]" % name)


def ufw_render(ruleset, log_drops=False):
    """Render one host's compiled ruleset as ufw's rule files: ``{'user.rules': ..., 'user6.rules': ...}``."""
    _one_ruleset("ufw_render", ruleset)
    return {"user.rules": render_ufw(ruleset, 4, log_drops=log_drops),
            "user6.rules": render_ufw(ruleset, 6, log_drops=log_drops)}


def firewalld_render(ruleset, zone="sovereign", icmp_echo=True, policy="sovereign_egress", egress_target="DROP"):
    """Render one host's compiled ruleset as firewalld XML: ``{path under /etc/firewalld: content}``.

    A ruleset with an egress policy also gets the policy object ``policies/<policy>.xml``
    (ingress zone HOST, egress zone ANY, target ``egress_target``)."""
    _one_ruleset("firewalld_render", ruleset)
    try:
        return render_firewalld(ruleset, zone=zone, icmp_echo=icmp_echo, policy=policy, egress_target=egress_target)
    except ValueError as exc:
        raise AnsibleFilterError("firewalld_render: %s" % to_native(exc))


def flow_policy_audit_plan(rulesets, hosts, sample_ports=None, proto="tcp"):
    """Per source host the probes that prove the compiled policy (declared ports pass, samples are dropped)."""
    _require_netaddr()
    return audit_plan(rulesets, hosts, sample_ports or [], proto=proto)


def flow_policy_audit_report(results):
    """The audit's probe results summed up per host pair (counts, passed ports, failures)."""
    if not isinstance(results, list):
        raise AnsibleFilterError("flow_policy_audit_report expects the list of probe results, got %s"
                                 % type(results).__name__)
    return audit_report(results)


class FilterModule(object):
    """Flow policy filters."""

    def filters(self):
        return {
            "flow_policy_merge": flow_policy_merge,
            "flow_policy_hosts": flow_policy_hosts,
            "flow_policy_build": flow_policy_build,
            "flow_policy_validate": flow_policy_validate,
            "flow_policy_compile": flow_policy_compile,
            "nftables_render": nftables_render,
            "ufw_render": ufw_render,
            "firewalld_render": firewalld_render,
            "flow_policy_audit_plan": flow_policy_audit_plan,
            "flow_policy_audit_report": flow_policy_audit_report,
        }
