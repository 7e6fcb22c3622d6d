# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers: the controller-side preflight of the whole platform.

Pure checks over plain data (no Ansible runtime, no I/O), called by the action plugin
``sovereign.datacenter.preflight`` before any host task:

* :func:`argument_errors`: every role's argument spec (entry point ``main``) evaluated against the
  variables each host defines (types, choices, elements, sub-option keys), and role-prefixed
  variables no spec knows (a misspelt name is otherwise silently ignored);
* :func:`ssh_key_errors`: the public keys of ``base_admin_users``;
* :func:`postgresql_errors`: the PostgreSQL topology (one primary, roles, synchronous standbys only
  in the synchronous site, a replication password, a backup host);
* :func:`consistency_errors`: platform-wide settings must be the same on every host.

Every message names the host, the variable and the value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import difflib
import re
import struct

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.sovereign.datacenter.plugins.module_utils import _tls

# Variables with a role's prefix that are not role options: play targets (``<role>_hosts``).
NOT_ROLE_OPTIONS = re.compile(r"^[a-z0-9_]+_hosts$")
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                 "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
MASK = "********"
# An unknown variable has no spec to say it is secret: its name does.
SECRET_NAME = re.compile(r"pass|secret|token|key", re.IGNORECASE)


def shown(value, secret=False):
    """The value as a message shows it: masked when secret, at most 80 characters."""
    if secret:
        return MASK
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _secret_options(options, prefix=""):
    """Names (dotted for sub-options) of the options marked ``no_log``."""
    found = set()
    for name, spec in (options or {}).items():
        if not isinstance(spec, dict):
            continue
        if spec.get("no_log"):
            found.add(prefix + name)
        found |= _secret_options(spec.get("options"), prefix + name + ".")
    return found


def _secret_strings(options, values):
    """Every string held by a ``no_log`` option (or sub-option) in ``values``, longest first."""
    found = set()

    def walk(value, secret):
        if isinstance(value, dict):
            for item in value.values():
                walk(item, secret)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, secret)
        elif secret and value not in (None, "", True, False):
            found.add(str(value))

    for name, spec in (options or {}).items():
        if name not in (values or {}) or not isinstance(spec, dict):
            continue
        walk(values[name], bool(spec.get("no_log")))
        if spec.get("options"):
            items = values[name] if isinstance(values[name], list) else [values[name]]
            for item in items:
                if isinstance(item, dict):
                    found.update(_secret_strings(spec["options"], item))
    return sorted(found, key=len, reverse=True)


def _drop_required(options):
    """Top-level options lose ``required``: a role default or a later role fills them, and the
    role's own check runs again on the host. Sub-options keep it (an item without its key is broken)."""
    result = {}
    for name, spec in (options or {}).items():
        spec = dict(spec or {})
        spec.pop("required", None)
        spec.pop("default", None)
        result[name] = spec
    return result


def role_of(variable, roles):
    """The role whose prefix ``<role>_`` is the longest one ``variable`` starts with, or None."""
    best = None
    for role in roles:
        if variable.startswith(role + "_") and (best is None or len(role) > len(best)):
            best = role
    return best


def argument_errors(host_values, specs, collection="sovereign.datacenter"):
    """Validate every host's role variables.

    ``host_values``: ``{host: {variable: value}}``, the role-prefixed variables the host defines,
    templated (variables that could not be evaluated on the controller are left out).
    ``specs``: ``{role: {"main": {options}, "known": set of every variable the role declares
    (all entry points, defaults, vars)}}``. Returns a list of messages; one problem seen on several
    hosts (a group_vars value) is reported once with every host.
    """
    roles = sorted(r for r in specs if not r.startswith("_"))
    problems = {}
    for host in sorted(host_values):
        values = host_values[host]
        per_role = {}
        for variable in sorted(values):
            role = role_of(variable, roles)
            if role is None or NOT_ROLE_OPTIONS.match(variable):
                continue
            options = specs[role].get("main") or {}
            if variable in options:
                per_role.setdefault(role, {})[variable] = values[variable]
            elif variable not in specs[role].get("known", ()):
                # another role may own a longer prefix (vault_snapshot_ vs vault_): that was tried first
                close = difflib.get_close_matches(variable, sorted(options), n=1)
                hint = "; did you mean %s?" % close[0] if close else ""
                problems.setdefault(
                    "%s=%s: unknown variable, not an option of role %s.%s%s"
                    % (variable, shown(values[variable], SECRET_NAME.search(variable) is not None),
                       collection, role, hint), []).append(host)
        for role, provided in sorted(per_role.items()):
            options = specs[role]["main"]
            secrets = _secret_options(options)
            wanted = dict((name, options[name]) for name in provided)
            result = ArgumentSpecValidator(_drop_required(wanted)).validate(provided)
            hidden = _secret_strings(wanted, provided)
            for error in result.errors:
                message = _error_text(error)
                variable = _variable_of(message, provided)
                value = shown(provided.get(variable), variable in secrets) if variable else ""
                text = ("%s%s: %s (argument spec of role %s.%s)"
                        % (variable or "", ("=" + value) if variable else "", message, collection, role))
                for secret in hidden:
                    text = text.replace(secret, MASK)
                problems.setdefault(text, []).append(host)
    return ["host%s %s: %s" % ("s" if len(hosts) > 1 else "", ", ".join("%r" % h for h in hosts), message)
            for message, hosts in sorted(problems.items(), key=lambda item: (item[1][0], item[0]))]


def _error_text(error):
    text = str(getattr(error, "msg", error))
    # ArgumentSpecValidator speaks of modules and parameters; these are role variables and their keys.
    text = re.sub(r"^Unsupported parameters for \(.*?\) module: ", "", text)
    match = re.match(r"^(.*?)\. Supported parameters include: (.*?)\.?$", text)
    if match:
        return "unsupported key(s) %s (supported: %s)" % (match.group(1), match.group(2))
    return text.replace("missing required arguments", "missing required keys")


def _variable_of(message, provided):
    """The top-level variable an error message is about (the longest one named in it)."""
    named = [name for name in provided if re.search(r"(^|[^A-Za-z0-9_])%s([^A-Za-z0-9_]|$)" % re.escape(name), message)]
    return max(named, key=len) if named else None


# --------------------------------------------------------------------------- SSH keys


def ssh_key_problem(line):
    """None when ``line`` is one OpenSSH public key (``type base64 [comment]``), else the reason."""
    if not isinstance(line, str):
        return "is not a string"
    parts = line.split()
    if not parts:
        return "is empty"
    index = next((i for i, part in enumerate(parts) if part in SSH_KEY_TYPES), None)
    if index is None:
        return "has no key type (one of %s)" % ", ".join(SSH_KEY_TYPES)
    if index + 1 >= len(parts):
        return "has no key data after %s" % parts[index]
    try:
        blob = base64.b64decode(parts[index + 1].encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return "key data is not base64"
    if len(blob) < 4:
        return "key data is truncated"
    length = struct.unpack(">I", blob[:4])[0]
    if blob[4:4 + length].decode("ascii", "replace") != parts[index]:
        return "key data does not encode a %s key" % parts[index]
    return None


def ssh_key_errors(host_users):
    """``host_users``: ``{host: base_admin_users}``. Every key of every present admin is checked."""
    problems = {}
    for host in sorted(host_users):
        users = host_users[host]
        if not isinstance(users, list):
            continue  # the argument spec reports the type
        for index, user in enumerate(users):
            if not isinstance(user, dict) or user.get("state", "present") == "absent":
                continue
            keys = user.get("ssh_public_keys") or []
            if not isinstance(keys, list):
                continue
            for number, key in enumerate(keys):
                problem = ssh_key_problem(key)
                if problem:
                    problems.setdefault(
                        "base_admin_users[%d] (%s).ssh_public_keys[%d]=%s: not an OpenSSH public key: %s"
                        % (index, user.get("name"), number, shown(key), problem), []).append(host)
    return ["host%s %s: %s" % ("s" if len(hosts) > 1 else "", ", ".join("%r" % h for h in hosts), message)
            for message, hosts in sorted(problems.items(), key=lambda item: (item[1][0], item[0]))]


# --------------------------------------------------------------------------- PostgreSQL


def postgresql_errors(members, settings, groups):
    """The PostgreSQL topology, as the role checks it on its first task.

    ``members``: hosts of ``postgresql_group``. ``settings``: ``{host: {variable: value}}`` with
    the role defaults filled in (``postgresql_role``, ``postgresql_synchronous``,
    ``postgresql_sync_site``, ``postgresql_backup_enabled``, ``postgresql_backup_group``,
    ``postgresql_backup_repo_host``) and ``postgresql_replication_password_set`` (bool; the secret
    itself is never read). ``groups``: the inventory's groups.
    """
    errors = []
    if not members:
        return errors
    primaries = []
    for host in sorted(members):
        hv = settings.get(host, {})
        role = hv.get("postgresql_role", "standby")
        if role not in ("primary", "standby"):
            errors.append("host %r: postgresql_role=%s: must be primary or standby" % (host, shown(role)))
        elif role == "primary":
            primaries.append(host)
        sync_site = hv.get("postgresql_sync_site", "dc1")
        if _truthy(hv.get("postgresql_synchronous", False)) and host not in (groups.get(sync_site) or []):
            errors.append("host %r: postgresql_synchronous=%s but the host is not in site %s "
                          "(postgresql_sync_site); standbys in other sites replicate asynchronously"
                          % (host, shown(hv.get("postgresql_synchronous")), sync_site))
        if not hv.get("postgresql_replication_password_set"):
            errors.append("host %r: postgresql_replication_password is undefined or empty" % host)
        if _truthy(hv.get("postgresql_backup_enabled", False)):
            repo = hv.get("postgresql_backup_repo_host") or ""
            group = hv.get("postgresql_backup_group", "backup_servers")
            if not repo and not groups.get(group):
                errors.append("host %r: postgresql_backup_enabled=true but there is no backup host (group %s "
                              "is empty and postgresql_backup_repo_host is not set)" % (host, group))
            elif repo and repo not in (groups.get("all") or []):
                errors.append("host %r: postgresql_backup_repo_host=%s names a host that is not in the inventory"
                              % (host, shown(repo)))
    if not primaries:
        errors.append("hosts %s: postgresql_role=standby on every member; exactly one host of the PostgreSQL "
                      "group must set postgresql_role: primary" % ", ".join("%r" % h for h in sorted(members)))
    elif len(primaries) > 1:
        errors.append("hosts %s: postgresql_role='primary' on %d hosts; exactly one primary is allowed"
                      % (", ".join("%r" % h for h in primaries), len(primaries)))
    return errors


def _truthy(value):
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return bool(value)


# --------------------------------------------------------------------------- platform-wide settings


def consistency_errors(host_settings, names):
    """Platform-wide settings (``names``) must have one value on every host that defines them.

    ``host_settings``: ``{host: {name: value}}``. The value most hosts share is taken as the
    platform's; every host that differs is named.
    """
    errors = []
    for name in names:
        seen = {}
        for host in sorted(host_settings):
            if name in host_settings[host]:
                key = repr(host_settings[host][name])
                seen.setdefault(key, []).append(host)
        if len(seen) <= 1:
            continue
        ranked = sorted(seen.items(), key=lambda item: (-len(item[1]), item[1][0]))
        common = ranked[0][0]
        for value, hosts in ranked[1:]:
            errors.append("host%s %s: %s=%s differs from the value the other hosts share (%s); it is a "
                          "platform-wide setting, set it for group all only"
                          % ("s" if len(hosts) > 1 else "", ", ".join("%r" % h for h in hosts), name,
                             value if len(value) <= 80 else value[:77] + "...",
                             common if len(common) <= 80 else common[:77] + "..."))
    return errors


def tls_profile_errors(host_profiles):
    """``platform_tls_profile`` must name a profile of the platform TLS policy (``_tls.PROFILES``).

    ``host_profiles``: ``{host: value}`` of the hosts that set it; one message per wrong value.
    """
    errors = []
    wrong = {}
    for host in sorted(host_profiles):
        if host_profiles[host] not in _tls.PROFILES:
            wrong.setdefault(repr(host_profiles[host]), []).append(host)
    for value, hosts in sorted(wrong.items()):
        errors.append("host%s %s: platform_tls_profile=%s is not a TLS profile of the platform; one of: %s"
                      % ("s" if len(hosts) > 1 else "", ", ".join("%r" % h for h in hosts[:5])
                         + (" and %d more" % (len(hosts) - 5) if len(hosts) > 5 else ""), value,
                         ", ".join(sorted(_tls.PROFILES))))
    return errors
