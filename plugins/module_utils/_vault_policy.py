# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vault ACL policy documents from structured rules, and KV v2 paths from secret names. Pure
functions shared by the vault_policy module and the vault filters. Not a public API."""
from __future__ import annotations

import json
import re

CAPABILITIES = ("create", "read", "update", "patch", "delete", "list", "sudo", "deny", "subscribe")
_PATH = re.compile(r"^[A-Za-z0-9_.+*{}/-]+$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


def policy_document(rules):
    """HCL policy text from ``[{path: ..., capabilities: [...]}, ...]`` (or ``{path: caps}``).

    Paths are checked (no quotes or spaces) and capabilities must be Vault's; paths are sorted and
    capabilities ordered as Vault lists them, so the same rules always give the same text (and the
    module's comparison is stable)."""
    if isinstance(rules, dict):  # {path: [capabilities]} or {path: "capability"}
        rules = [{"path": path, "capabilities": [caps] if isinstance(caps, str) else caps}
                 for path, caps in rules.items()]
    if not isinstance(rules, list) or not rules:
        raise ValueError("policy rules must be a non-empty list of {path, capabilities}")
    merged = {}
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict) or "path" not in rule or "capabilities" not in rule:
            raise ValueError("policy rule %d: needs path and capabilities, got %r" % (index, rule))
        path, caps = str(rule["path"]), rule["capabilities"]
        if not _PATH.match(path):
            raise ValueError("policy rule %d: path %r has characters Vault paths do not use" % (index, path))
        if isinstance(caps, str) or not caps:
            raise ValueError("policy rule %d (%s): capabilities must be a non-empty list" % (index, path))
        unknown = sorted(set(caps) - set(CAPABILITIES))
        if unknown:
            raise ValueError("policy rule %d (%s): unknown capabilities %s (Vault knows %s)"
                             % (index, path, ", ".join(unknown), ", ".join(CAPABILITIES)))
        merged.setdefault(path, set()).update(caps)
    blocks = []
    for path in sorted(merged):
        caps = [cap for cap in CAPABILITIES if cap in merged[path]]
        if "deny" in caps:
            caps = ["deny"]
        blocks.append('path %s {\n  capabilities = %s\n}\n' % (json.dumps(path), json.dumps(caps)))
    return "\n".join(blocks)


def kv2_paths(names, mount="secret"):
    """The KV v2 API paths of secret names: ``{name: {data: ..., metadata: ...}}``."""
    if isinstance(names, str):
        names = [names]
    out = {}
    for name in names:
        name = str(name)
        if not _NAME.match(name) or any(part in (".", "..") for part in name.split("/")):
            raise ValueError("secret name %r is invalid: use letters, digits, _ - . and / only" % name)
        out[name] = {"data": "%s/data/%s" % (mount.strip("/"), name),
                     "metadata": "%s/metadata/%s" % (mount.strip("/"), name)}
    return out
