# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: tree_digest
author: Sovereign Platform Team (@sovereign-datacenter)
version_added: 0.9.0
short_description: SHA-256 of a directory tree on the controller (names and contents)
description:
  - One digest per directory given, over the relative path and the content of every regular file below it, in
    sorted order. Hidden files and directories (a leading C(.)) and C(__pycache__) are left out.
  - Roles use it with M(sovereign.datacenter.state_fingerprint), so that a new version of a role's tasks, templates
    or files is a changed input and the role runs in full.
options:
  _terms:
    description: Directories on the controller.
    required: true
    type: list
    elements: path
"""

EXAMPLES = r"""
- name: The role's own files as one digest
  ansible.builtin.debug:
    msg: "{{ lookup('sovereign.datacenter.tree_digest', role_path) }}"
"""

RETURN = r"""
_raw:
  description: One hexadecimal SHA-256 digest per directory.
  type: list
  elements: str
"""

import hashlib
import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase


def tree_digest(top):
    """Digest of the relative paths and contents of the regular files below ``top``."""
    if not os.path.isdir(top):
        raise AnsibleLookupError("tree_digest: not a directory: %s" % top)
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            if not os.path.isfile(path):
                continue
            digest.update(os.path.relpath(path, top).encode() + b"\0")
            with open(path, "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [tree_digest(str(term)) for term in terms]
