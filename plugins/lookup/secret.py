# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: secret
author: Sovereign Platform Team (@sovereign-datacenter)
version_added: 0.1.0
short_description: Read a platform secret, generating it on first use
description:
  - The one interface every role of the collection uses for service secrets (passwords, tokens,
    encryption keys). Roles never read files or Vault paths themselves, so the backend can change
    without touching them.
  - Backend C(local) keeps each secret in a file under O(store) on the controller (directories
    C(0700), files C(0600)), outside the repository, one store per environment. A missing secret is
    generated from the operating system's CSPRNG and written atomically.
  - Backend C(vault) is reserved for the HashiCorp Vault KV v2 backend and not implemented in this
    release; selecting it fails with a clear message rather than silently falling back.
  - The secret value is returned as is; mark every task that uses it with C(no_log).
options:
  _terms:
    description: Secret names, such as C(postgresql/replication). Letters, digits, C(_), C(-), C(.) and C(/) only.
    required: true
    type: list
    elements: str
  length:
    description: Length of a generated secret.
    type: int
    default: 32
  chars:
    description: Alphabet of a generated secret.
    type: str
    default: "ascii_letters,digits"
    choices: ["ascii_letters,digits", "hex"]
  create:
    description: Generate the secret when it does not exist yet; when false a missing secret is an error.
    type: bool
    default: true
  backend:
    description: Where secrets live.
    type: str
    default: local
    choices: [local, vault]
    vars:
      - name: platform_secrets_backend
  store:
    description: Directory of the C(local) backend (the environment's secret store); an absolute path, may be a template.
    type: str
    vars:
      - name: platform_secrets_dir
    env:
      - name: SOVEREIGN_SECRETS_DIR
notes:
  - Generation happens on the controller and also in check mode, as with M(ansible.builtin.password),
    so that check mode can template the configurations that need the secret.
"""

EXAMPLES = r"""
- name: Set the replication password (generated on first use, kept outside git)
  community.postgresql.postgresql_user:
    name: replicator
    password: "{{ lookup('sovereign.datacenter.secret', 'postgresql/replication') }}"
  no_log: true

- name: A 64-character hex key
  ansible.builtin.set_fact:
    __backup_key: "{{ lookup('sovereign.datacenter.secret', 'pgbackrest/cipher', length=64, chars='hex') }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description: The secret values, one per term.
  type: list
  elements: str
"""

import os
import re
import secrets
import string
import tempfile

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_ALPHABETS = {
    "ascii_letters,digits": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
}


def _secret_path(store, name):
    if not _NAME.match(name) or any(part in (".", "..") for part in name.split("/")):
        raise AnsibleLookupError("secret name %r is invalid: use letters, digits, _ - . and / only" % name)
    return os.path.join(store, "secrets", *name.split("/"))


def read_or_create(store, name, length=32, chars="ascii_letters,digits", create=True):
    """Return the secret ``name`` from the local store, generating it when missing."""
    path = _secret_path(store, name)
    if os.path.exists(path):
        with open(path, "r", encoding="utf-8") as handle:
            value = handle.read().rstrip("\n")
        if not value:
            raise AnsibleLookupError("secret %r is empty in the store (%s)" % (name, path))
        return value
    if not create:
        raise AnsibleLookupError("secret %r does not exist in the store and create=false" % name)
    if length < 16:
        raise AnsibleLookupError("secret %r: length must be at least 16, got %d" % (name, length))
    alphabet = _ALPHABETS[chars]
    value = "".join(secrets.choice(alphabet) for unused in range(length))
    directory = os.path.dirname(path)
    # Every directory the store creates is private (makedirs applies the mode to the leaf only).
    missing = []
    probe = directory
    while not os.path.isdir(probe):
        missing.append(probe)
        probe = os.path.dirname(probe)
    for new_dir in reversed(missing):
        os.mkdir(new_dir, 0o700)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
        # Never overwrite a secret another process created meanwhile: link fails if it exists.
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    with open(path, "r", encoding="utf-8") as handle:
        return handle.read().rstrip("\n")


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        backend = self.get_option("backend")
        if backend == "vault":
            raise AnsibleLookupError(
                "sovereign.datacenter.secret: backend 'vault' is not implemented in this release; "
                "set platform_secrets_backend: local")
        store = self.get_option("store")
        if not store:
            raise AnsibleLookupError("sovereign.datacenter.secret: no store; set platform_secrets_dir "
                                     "(or SOVEREIGN_SECRETS_DIR)")
        # Variables reach lookups untemplated; platform_secrets_dir is itself a template.
        store = os.path.expanduser(str(self._templar.template(store)))
        if not os.path.isabs(store):
            raise AnsibleLookupError("sovereign.datacenter.secret: the store must be an absolute path, got %r" % store)
        return [read_or_create(store, str(term), self.get_option("length"), self.get_option("chars"),
                               self.get_option("create")) for term in terms]
