#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_pki
short_description: Set up a Vault PKI engine as a root or intermediate CA with its URLs and roles
version_added: 0.2.0
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - On a mounted PKI engine (M(sovereign.datacenter.vault_secrets_engine)), makes sure there is a CA,
    a root generated inside Vault (C(root/generate/internal)), or an intermediate whose key is
    generated inside Vault and signed by the root of another PKI mount of the same Vault
    (C(intermediate/generate/internal), C(root/sign-intermediate), C(intermediate/set-signed)).
    An existing CA is never replaced.
  - Keeps the URLs written into issued certificates (C(config/urls)), issuing CA and CRL
    distribution points (and OCSP servers), and the roles (C(roles/<name>)) services issue from.
  - Keys never leave Vault (the C(internal) type); nothing secret is returned.
extends_documentation_fragment:
  - sovereign.datacenter.vault
  - sovereign.datacenter.vault.attributes
options:
  mount_point:
    description: Mount path of the PKI engine.
    type: str
    default: pki
  ca_type:
    description: C(root) or C(intermediate).
    type: str
    default: root
    choices: [root, intermediate]
  common_name:
    description: Common name of the CA certificate.
    type: str
    required: true
  ttl:
    description: Validity of the CA certificate (root 10 years by default).
    type: str
    default: 87600h
  key_type:
    description: Key type of the CA.
    type: str
    default: ec
    choices: [rsa, ec, ed25519]
  key_bits:
    description: Key size (C(0) is the type's default; 256 or 384 for C(ec)).
    type: int
    default: 0
  root_mount_point:
    description: PKI mount of the root that signs an intermediate. Required with O(ca_type=intermediate).
    type: str
  issuing_certificates:
    description: URLs of the CA certificate written into issued certificates (AIA).
    type: list
    elements: str
  crl_distribution_points:
    description: CRL URLs written into issued certificates.
    type: list
    elements: str
  ocsp_servers:
    description: OCSP URLs written into issued certificates.
    type: list
    elements: str
  roles:
    description:
      - Roles to issue from, each a dict with C(name) and any role parameter of Vault's PKI API
        (C(allowed_domains), C(allow_subdomains), C(allow_bare_domains), C(max_ttl), C(ttl),
        C(key_type), C(key_bits), C(server_flag), C(client_flag), ...). TTLs may be durations.
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Intermediate CA for *.internal service certificates (720 h at most)
  sovereign.datacenter.vault_pki:
    mount_point: pki_int
    ca_type: intermediate
    root_mount_point: pki
    common_name: sovereign production intermediate CA
    ttl: 43800h
    issuing_certificates: [https://vault.internal:8200/v1/pki_int/ca]
    crl_distribution_points: [https://vault.internal:8200/v1/pki_int/crl]
    roles:
      - name: internal
        allowed_domains: [internal]
        allow_subdomains: true
        max_ttl: 720h
        ttl: 720h
"""

RETURN = r"""
ca_certificate:
  description: The CA certificate (PEM); empty in check mode when the CA is still to be made.
  returned: always
  type: str
created_ca:
  description: Whether this run made the CA.
  returned: always
  type: bool
changed_roles:
  description: Roles created or updated.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.sovereign.datacenter.plugins.module_utils._vault import (
    VaultModule, changed_fields, duration_seconds)

_URLS = ("issuing_certificates", "crl_distribution_points", "ocsp_servers")


def _make_ca(module, mount):
    params = module.params
    ca = {"common_name": params["common_name"], "ttl": module.durations("ttl")["ttl"], "key_type": params["key_type"],
          "key_bits": params["key_bits"]}
    if params["ca_type"] == "root":
        response = module.write("%s/root/generate/internal" % mount, ca, what="generate root CA of " + mount)
        return ((response or {}).get("data") or {}).get("certificate", "")
    root = (params["root_mount_point"] or "").strip("/")
    if not root:
        module.fail_json(msg="%s: an intermediate needs root_mount_point (the PKI mount of its root)" % mount)
    csr = module.write("%s/intermediate/generate/internal" % mount, ca, what="generate intermediate key of " + mount)
    if module.check_mode:
        return ""
    signed = module.write("%s/root/sign-intermediate" % root,
                          {"csr": csr["data"]["csr"], "common_name": ca["common_name"], "ttl": ca["ttl"],
                           "format": "pem_bundle"}, what="sign the intermediate of %s with %s" % (mount, root))
    certificate = signed["data"]["certificate"]
    module.write("%s/intermediate/set-signed" % mount, {"certificate": certificate},
                 what="install the signed intermediate of " + mount)
    return certificate


def main():
    urls = dict(type="list", elements="str")
    module = VaultModule(
        argument_spec=dict(
            mount_point=dict(type="str", default="pki"),
            ca_type=dict(type="str", default="root", choices=["root", "intermediate"]),
            common_name=dict(type="str", required=True),
            ttl=dict(type="str", default="87600h"),
            key_type=dict(type="str", default="ec", choices=["rsa", "ec", "ed25519"]),
            key_bits=dict(type="int", default=0),
            root_mount_point=dict(type="str"),
            issuing_certificates=urls,
            crl_distribution_points=urls,
            ocsp_servers=urls,
            roles=dict(type="list", elements="dict", default=[]),
        ),
        required_if=[("ca_type", "intermediate", ("root_mount_point",))],
        supports_check_mode=True,
    )
    params = module.params
    mount = params["mount_point"].strip("/")
    for index, role in enumerate(params["roles"]):
        if not role.get("name"):
            module.fail_json(msg="%s: roles[%d] has no name" % (mount, index))
    ca = (module.read("%s/cert/ca" % mount, what="read the CA of " + mount, absent_on_400=True) or {}).get("certificate")
    before, after = {"ca": bool(ca)}, {"ca": True}
    created = not ca
    if created:
        ca = _make_ca(module, mount)
    current_urls = module.read("%s/config/urls" % mount, what="read the URLs of " + mount, absent_on_400=True) or {}
    want_urls = {key: params[key] for key in _URLS}
    url_changes = changed_fields(want_urls, current_urls)
    before["urls"] = {key: current_urls.get(key) or [] for key in _URLS}
    after["urls"] = dict(before["urls"], **{key: want_urls[key] for key in url_changes})
    if url_changes:
        module.write("%s/config/urls" % mount, after["urls"], what="write the URLs of " + mount)
    changed_roles, before["roles"], after["roles"] = [], {}, {}
    for role in params["roles"]:
        name = role["name"]
        try:
            want = {key: duration_seconds(value, key) if key.endswith("ttl") else value
                    for key, value in role.items() if key != "name"}
        except ValueError as err:
            module.fail_json(msg="%s: role %s: %s" % (mount, name, err))
        path = "%s/roles/%s" % (mount, name)
        have = module.read(path, what="read PKI role " + name)
        if have is None or changed_fields(want, have):
            changed_roles.append(name)
            module.write(path, want, what="write PKI role " + name)
            before["roles"][name] = {key: have.get(key) for key in want} if have else None
            after["roles"][name] = want
    changed = created or bool(url_changes) or bool(changed_roles)
    module.finish(changed, before, after, ca_certificate=ca or "", created_ca=created, changed_roles=changed_roles)


if __name__ == "__main__":
    main()
