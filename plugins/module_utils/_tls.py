# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers: the platform's TLS policy, one place for every service that terminates TLS.

``platform_tls_profile`` (group_vars/all/platform.yml) names a profile:

* ``default``: TLS 1.2 minimum, TLS 1.3 preferred; TLS 1.2 only with ECDHE key exchange and AEAD
  ciphers (AES-GCM, ChaCha20-Poly1305), ECDSA and RSA variants; no CBC, no static RSA, no SHA-1 MAC.
* ``modern``: TLS 1.3 only.

Both: curves X25519, P-256, P-384 and no session tickets (a ticket key shared across restarts would
undo forward secrecy; sessions resume from the server's cache).

TLS 1.3 suites are all AEAD and not configurable in Go's crypto/tls, so only the 1.2 list is given to
the Prometheus exporter toolkit (``cipher_suites`` takes Go's names, which are the IANA names).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Go / IANA names, strongest first (ECDSA before RSA: the platform PKI issues ECDSA by default).
TLS12_AEAD_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
)
# Go's names of the curves X25519, P-256 and P-384.
GO_CURVES = ("X25519", "CurveP256", "CurveP384")
# The same TLS 1.2 suites under OpenSSL's names (Redis, RabbitMQ's Erlang ssl, HAProxy), in the same order,
# the TLS 1.3 suites (all AEAD) in the platform's order, and the curves as OpenSSL groups.
OPENSSL_TLS12_AEAD_SUITES = (
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES128-GCM-SHA256",
)
TLS13_SUITES = ("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256")
OPENSSL_GROUPS = ("X25519", "P-256", "P-384")

PROFILES = {
    "default": {"min_version": "TLS12"},
    "modern": {"min_version": "TLS13"},
}
MIN_VERSIONS = tuple(sorted(set(p["min_version"] for p in PROFILES.values())))


def min_version(profile):
    """The minimum version (``TLS12`` or ``TLS13``) of a profile name; ValueError for an unknown one."""
    if profile not in PROFILES:
        raise ValueError("unknown TLS profile %r; known: %s" % (profile, sorted(PROFILES)))
    return PROFILES[profile]["min_version"]


def openssl_settings(min_version_name):
    """The policy for a server built on OpenSSL: ``protocols`` (``TLSv1.2``/``TLSv1.3`` names), ``ciphers``
    (the TLS 1.2 list, empty for TLS 1.3 only), ``ciphersuites`` (TLS 1.3), ``groups`` and
    ``session_tickets`` (false: servers that can turn tickets off do, HAProxy with ``no-tls-tickets``)."""
    if min_version_name not in MIN_VERSIONS:
        raise ValueError("min_version must be one of %s, got %r" % (list(MIN_VERSIONS), min_version_name))
    tls12 = min_version_name == "TLS12"
    return {
        "protocols": ["TLSv1.2", "TLSv1.3"] if tls12 else ["TLSv1.3"],
        "ciphers": list(OPENSSL_TLS12_AEAD_SUITES) if tls12 else [],
        "ciphersuites": list(TLS13_SUITES),
        "groups": list(OPENSSL_GROUPS),
        "session_tickets": False,
    }


def exporter_web_config(tls=None, users=None):
    """The web configuration of a Prometheus exporter-toolkit server (Prometheus, Alertmanager and the
    exporters), as a mapping.

    ``tls``: None for plain HTTP, or ``{'cert_file', 'key_file', 'min_version'}`` (``TLS12`` or ``TLS13``).
    ``users``: user name -> bcrypt hash for basic authentication (none: no authentication).
    """
    config = {}
    if tls:
        missing = sorted(k for k in ("cert_file", "key_file", "min_version") if not tls.get(k))
        if missing:
            raise ValueError("tls needs %s" % ", ".join(missing))
        if tls["min_version"] not in MIN_VERSIONS:
            raise ValueError("min_version must be one of %s, got %r" % (list(MIN_VERSIONS), tls["min_version"]))
        server = {
            "cert_file": tls["cert_file"],
            "key_file": tls["key_file"],
            "min_version": tls["min_version"],
            "curve_preferences": list(GO_CURVES),
        }
        if tls["min_version"] == "TLS12":
            server["cipher_suites"] = list(TLS12_AEAD_SUITES)
        config["tls_server_config"] = server
    if users:
        config["basic_auth_users"] = dict(users)
    return config
