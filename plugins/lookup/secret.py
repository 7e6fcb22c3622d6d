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
  - Backend C(vault) keeps each secret in a KV version 2 engine of Vault or OpenBao, at
    C(<vault_mount>/data/<name>) under the key C(value). A missing secret is generated on the
    controller and written with check-and-set C(cas=0), so two runs that race never overwrite each
    other; the loser reads the winner's value.
  - Reads are cached for the run. Ansible templates a lookup in a separate worker process per host
    and task, so the cache is held by a small broker process that the first lookup of a run starts
    on the controller. It keeps the values in memory only, answers only the same user over a unix
    socket in a private directory, and exits with the C(ansible-playbook) process (or after
    O(vault_cache_idle) seconds idle). N hosts reading M secrets cost M reads of Vault, not N x M
    (C(benchmarks/vault_lookup)). O(vault_cache=false) reads Vault on every call.
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
  vault_url:
    description: Address of the Vault API for O(backend=vault).
    type: str
    vars:
      - name: platform_vault_addr
    env:
      - name: VAULT_ADDR
      - name: BAO_ADDR
  vault_token:
    description: Token for O(backend=vault) (read and create on the KV paths of the platform's secrets).
    type: str
    vars:
      - name: platform_vault_token
    env:
      - name: VAULT_TOKEN
      - name: BAO_TOKEN
  vault_mount:
    description: Mount path of the KV version 2 engine.
    type: str
    default: secret
    vars:
      - name: platform_vault_kv_mount
  vault_ca_cert:
    description: CA certificate (PEM file) of the Vault server certificate.
    type: path
    vars:
      - name: platform_vault_ca_cert
    env:
      - name: VAULT_CACERT
  vault_cache:
    description: Cache values for the run in the broker process (see the description).
    type: bool
    default: true
    vars:
      - name: platform_vault_lookup_cache
  vault_cache_idle:
    description: Seconds without a request after which the broker exits.
    type: int
    default: 600
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

from ansible_collections.sovereign.datacenter.plugins.plugin_utils import _secret_broker

_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_ALPHABETS = {
    "ascii_letters,digits": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
}


def _secret_path(store, name):
    if not _NAME.match(name) or any(part in (".", "..") for part in name.split("/")):
        raise AnsibleLookupError("secret name %r is invalid: use letters, digits, _ - . and / only" % name)
    return os.path.join(store, "secrets", *name.split("/"))


def generate(name, length=32, chars="ascii_letters,digits"):
    """A new secret value from the operating system's CSPRNG."""
    if length < 16:
        raise AnsibleLookupError("secret %r: length must be at least 16, got %d" % (name, length))
    alphabet = _ALPHABETS[chars]
    return "".join(secrets.choice(alphabet) for unused in range(length))


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
    value = generate(name, length, chars)
    directory = os.path.dirname(path)
    # Every directory the store creates is private (makedirs applies the mode to the leaf only).
    missing = []
    probe = directory
    while not os.path.isdir(probe):
        missing.append(probe)
        probe = os.path.dirname(probe)
    for new_dir in reversed(missing):
        # Forks of one run look up secrets at once: another one may create the directory first.
        try:
            os.mkdir(new_dir, 0o700)
        except FileExistsError:
            if not os.path.isdir(new_dir):
                raise
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
        for term in terms:
            _secret_path("/", str(term))  # the same names in both backends; fails on a bad one
        if self.get_option("backend") == "vault":
            return self._run_vault([str(term) for term in terms])
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

    def _run_vault(self, names):
        settings = {}
        for option in ("vault_url", "vault_token", "vault_mount", "vault_ca_cert"):
            value = self.get_option(option)
            settings[option[6:]] = str(self._templar.template(value)) if value else value
        if not settings["url"] or not settings["token"]:
            raise AnsibleLookupError("sovereign.datacenter.secret: backend vault needs platform_vault_addr (or "
                                     "VAULT_ADDR) and platform_vault_token (or VAULT_TOKEN)")
        request = {"length": self.get_option("length"), "chars": self.get_option("chars"),
                   "create": self.get_option("create")}
        try:
            if self.get_option("vault_cache"):
                return [_secret_broker.ask(settings, dict(request, name=name), self.get_option("vault_cache_idle"),
                                           _vault_read_or_create) for name in names]
            return [_vault_read_or_create(_secret_broker.vault_client(settings), settings["mount"],
                                          dict(request, name=name)) for name in names]
        except _secret_broker.BrokerError as err:
            raise AnsibleLookupError("sovereign.datacenter.secret: %s" % err) from None


def _vault_read_or_create(client, mount, request):
    """The value of secret ``request['name']`` in KV v2, created with cas=0 when missing."""
    import hvac.exceptions  # pylint: disable=import-outside-toplevel
    name = request["name"]
    kv = client.secrets.kv.v2
    for unused in range(2):
        try:
            data = kv.read_secret_version(path=name, mount_point=mount, raise_on_deleted_version=True)["data"]["data"]
        except hvac.exceptions.InvalidPath:
            data = None
        except hvac.exceptions.Forbidden:
            raise _secret_broker.BrokerError("permission denied reading %s/data/%s" % (mount, name)) from None
        except hvac.exceptions.VaultDown:
            raise _secret_broker.BrokerError("Vault is sealed or unavailable") from None
        if data is not None:
            if not isinstance(data.get("value"), str) or not data["value"]:
                raise _secret_broker.BrokerError("secret %s/data/%s has no key 'value'" % (mount, name))
            return data["value"]
        if not request["create"]:
            raise _secret_broker.BrokerError("secret %r does not exist in Vault (%s) and create=false" % (name, mount))
        value = generate(name, request["length"], request["chars"])
        try:
            kv.create_or_update_secret(path=name, secret={"value": value}, cas=0, mount_point=mount)
            return value
        except hvac.exceptions.InvalidRequest:
            continue  # created meanwhile by another run (cas=0 failed): read the winner's value
        except hvac.exceptions.Forbidden:
            raise _secret_broker.BrokerError("permission denied creating %s/data/%s" % (mount, name)) from None
    raise _secret_broker.BrokerError("secret %s/data/%s: could neither read nor create it" % (mount, name))
