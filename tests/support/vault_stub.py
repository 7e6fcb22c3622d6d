"""An in-memory stand-in for the HashiCorp Vault HTTP API (v1), for contract tests.

No Vault or OpenBao server can be installed on these machines (TESTING-HERE.md), so the modules,
the secret lookup and the runbooks are tested against this stub. It is written from Vault's
documented HTTP API (https://developer.hashicorp.com/vault/api-docs): the paths, methods, payload
fields, status codes and error strings the collection relies on. It is not Vault: it implements
only those endpoints, a simplified ACL (path globs ``*`` and ``+``, capabilities), and one node.

Every request is recorded in ``requests`` as (method, path) so tests can count them. Listens on
127.0.0.1 only, on a free port.
"""
import base64
import copy
import json
import re
import secrets
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

_POLICY_BLOCK = re.compile(r'path\s+"([^"]+)"\s*\{[^}]*?capabilities\s*=\s*\[([^\]]*)\][^}]*\}', re.S)
_UNAUTHENTICATED = {"sys/health", "sys/seal-status", "sys/init", "sys/unseal", "sys/leader", "sys/wrapping/unwrap"}
_WHEN_SEALED = {"sys/health", "sys/seal-status", "sys/init", "sys/unseal", "sys/leader"}


class VaultError(Exception):
    def __init__(self, status, *errors):
        super().__init__(status)
        self.status, self.errors = status, list(errors)


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def _seconds(value):
    """Vault durations: an integer of seconds or a string such as 90s, 30m, 1h, 2160h, 90d."""
    if value in (None, ""):
        return 0
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"(\d+)([smhd]?)", str(value))
    if not match:
        raise VaultError(400, "invalid duration %r" % value)
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def _capability_allows(pattern, path):
    """Vault's policy path matching: ``+`` is one path segment, a trailing ``*`` any suffix."""
    glob = pattern.endswith("*")
    regex = re.escape(pattern[:-1] if glob else pattern).replace(r"\+", "[^/]+")
    return re.fullmatch(regex + (".*" if glob else ""), path) is not None


class VaultState:
    """The server's data: mounts, auth methods, policies, tokens, and each engine's objects."""

    def __init__(self, root_token=None, initialized=True):
        self.lock = threading.Lock()
        self.requests = []
        self.sealed = False
        self.initialized = initialized
        self.unseal_progress = []
        self.init_result = None
        self.shares, self.threshold = 0, 0
        self.root_token = root_token or "hvs.stub-root-" + secrets.token_hex(8)
        self.tokens = {}
        if initialized:
            self.tokens[self.root_token] = {"policies": ["root"], "accessor": secrets.token_hex(8)}
        self.mounts = {
            "sys/": {"type": "system", "description": "system endpoints", "options": None},
            "secret/": {"type": "kv", "description": "key/value secret storage", "options": {"version": "2"}},
        }
        for mount in self.mounts.values():
            mount["config"] = {"default_lease_ttl": 0, "max_lease_ttl": 0}
            mount["store"] = {}
        self.auth = {"token/": {"type": "token", "description": "token based credentials", "options": None,
                                "config": {"default_lease_ttl": 0, "max_lease_ttl": 0}, "store": {}}}
        self.policies = {"default": 'path "auth/token/lookup-self" { capabilities = ["read"] }\n'}
        self.wrapped = {}
        self.audit = {}
        # Test hook: called with (method, path) before each authenticated request is handled.
        self.before_request = None
        self.raft_servers = [
            {"node_id": "vault1", "address": "vault1.internal:8201", "leader": True, "voter": True,
             "protocol_version": "3"},
            {"node_id": "vault2", "address": "vault2.internal:8201", "leader": False, "voter": True,
             "protocol_version": "3"},
            {"node_id": "vault3", "address": "vault3.internal:8201", "leader": False, "voter": True,
             "protocol_version": "3"},
        ]

    def new_token(self, policies, ttl=3600):
        token = "hvs." + secrets.token_urlsafe(24)
        self.tokens[token] = {"policies": list(policies), "accessor": secrets.token_hex(8), "ttl": ttl}
        return token

    def allowed(self, token, path, capability):
        info = self.tokens.get(token)
        if info is None:
            return False
        if "root" in info["policies"]:
            return True
        for name in info["policies"] + ["default"]:
            for pattern, caps in _POLICY_BLOCK.findall(self.policies.get(name, "")):
                granted = {c.strip().strip('"') for c in caps.split(",")}
                if "deny" in granted and _capability_allows(pattern, path):
                    return False
                if capability in granted and _capability_allows(pattern, path):
                    return True
        return False


def _mount_of(table, path):
    best = None
    for prefix in table:
        if (path + "/").startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return best


def _respond(data=None, **extra):
    body = {"request_id": secrets.token_hex(8), "lease_id": "", "renewable": False, "lease_duration": 0,
            "data": data, "wrap_info": None, "warnings": None, "auth": None}
    body.update(extra)
    return 200, body


class Api:
    """Routes one request to its handler; handlers return (status, body) or raise VaultError."""

    def __init__(self, state):
        self.s = state

    def handle(self, method, path, query, body, headers):
        s = self.s
        if path in _WHEN_SEALED:
            return getattr(self, "sys_" + path[4:].replace("-", "_"))(method, body)
        if not s.initialized:
            raise VaultError(503, "Vault is not initialized")
        if s.sealed:
            raise VaultError(503, "Vault is sealed")
        token = headers.get("X-Vault-Token", "")
        if path == "sys/wrapping/unwrap":
            return self.unwrap(token or body.get("token", ""))
        if path.startswith("auth/") and path.endswith("/login"):
            return self.approle_login(path[5:-6], body)
        # PKI's CA certificate, chain and CRL are readable without a token (Vault's unauthenticated paths).
        public = method == "GET" and re.fullmatch(r"[^/]+/(ca_chain|ca(/pem)?|crl(/pem)?|cert/ca)", path)
        if token not in s.tokens and not public:
            raise VaultError(403, "permission denied")
        if s.before_request is not None:
            s.before_request(method, path)
        capability = {"GET": "read", "DELETE": "delete", "LIST": "list"}.get(method)
        if method in ("POST", "PUT"):
            capability = "update"
        if method == "GET" and query.get("list") == ["true"]:
            capability, method = "list", "LIST"
        self_service = path in ("auth/token/lookup-self", "auth/token/revoke-self")
        if not public and not self_service and not s.allowed(token, path, capability) and not (
                capability == "update" and s.allowed(token, path, "create")):
            raise VaultError(403, "1 error occurred:\n\t* permission denied\n\n")
        if path.startswith("sys/"):
            return self.sys(method, path[4:], body)
        if path.startswith("auth/token/"):
            return self.token(method, path[len("auth/token/"):], body, token)
        if path.startswith("auth/"):
            prefix = _mount_of(s.auth, path[5:])
            if prefix is None:
                raise VaultError(404)
            return self.approle(method, prefix, path[5 + len(prefix):], body, headers)
        prefix = _mount_of(s.mounts, path)
        if prefix is None:
            raise VaultError(404, "no handler for route %r" % path)
        mount = s.mounts[prefix]
        handler = getattr(self, "engine_" + mount["type"], None)
        if handler is None:
            raise VaultError(404)
        return handler(method, mount, path[len(prefix):], body, query)

    # ---- unauthenticated sys endpoints
    def sys_health(self, method, body):
        s = self.s
        status = 501 if not s.initialized else 503 if s.sealed else 200
        return status, {"initialized": s.initialized, "sealed": s.sealed, "standby": False,
                        "version": "1.15.0-stub", "cluster_name": "vault-stub"}

    def sys_seal_status(self, method, body):
        s = self.s
        return 200, {"type": "shamir", "initialized": s.initialized, "sealed": s.sealed, "t": s.threshold,
                     "n": s.shares, "progress": len(s.unseal_progress), "version": "1.15.0-stub"}

    def sys_leader(self, method, body):
        return 200, {"ha_enabled": True, "is_self": True, "leader_address": "https://vault1.internal:8200",
                     "leader_cluster_address": "https://vault1.internal:8201", "raft_committed_index": 42}

    def sys_init(self, method, body):
        s = self.s
        if method == "GET":
            return 200, {"initialized": s.initialized}
        if s.initialized:
            raise VaultError(400, "Vault is already initialized")
        shares, threshold = int(body.get("secret_shares", 0)), int(body.get("secret_threshold", 0))
        pgp_keys = body.get("pgp_keys") or []
        if threshold < 1 or threshold > shares or (pgp_keys and len(pgp_keys) != shares):
            raise VaultError(400, "invalid seal configuration")
        keys = [secrets.token_hex(32) for unused in range(shares)]
        s.shares, s.threshold, s.initialized, s.sealed = shares, threshold, True, True
        s.tokens[s.root_token] = {"policies": ["root"], "accessor": secrets.token_hex(8)}
        s.init_result = {"keys": keys, "root_token": s.root_token}
        out_keys = [_pgp_encrypt(k, key) for k, key in zip(keys, pgp_keys)] if pgp_keys else keys
        root = _pgp_encrypt(s.root_token, body["root_token_pgp_key"]) if body.get("root_token_pgp_key") \
            else s.root_token
        return 200, {"keys": out_keys, "keys_base64": out_keys, "root_token": root}

    def sys_unseal(self, method, body):
        s = self.s
        if body.get("reset"):
            s.unseal_progress = []
        elif body.get("key"):
            if s.init_result and body["key"] not in s.init_result["keys"]:
                raise VaultError(400, "invalid key")
            if body["key"] not in s.unseal_progress:
                s.unseal_progress.append(body["key"])
            if len(s.unseal_progress) >= s.threshold:
                s.sealed, s.unseal_progress = False, []
        return self.sys_seal_status(method, body)

    # ---- authenticated sys endpoints
    def sys(self, method, path, body):
        s = self.s
        if path == "seal" and method in ("POST", "PUT"):
            s.sealed = True
            return 204, None
        for table_name, table in (("mounts", s.mounts), ("auth", s.auth)):
            if path == table_name and method == "GET":
                public = {k: {f: copy.deepcopy(v[f]) for f in ("type", "description", "options", "config")}
                          for k, v in table.items()}
                return _respond(public, **public)
            if path.startswith(table_name + "/"):
                return self.sys_mount(method, table, path[len(table_name) + 1:], body)
        if path.startswith("policies/acl"):
            name = path[len("policies/acl/"):]
            if method == "LIST":
                return _respond({"keys": sorted(s.policies)})
            if method == "GET":
                if name not in s.policies:
                    raise VaultError(404)
                return _respond({"name": name, "policy": s.policies[name]})
            if method in ("POST", "PUT"):
                if not isinstance(body.get("policy"), str) or not body["policy"].strip():
                    raise VaultError(400, "'policy' parameter not supplied or empty")
                s.policies[name] = body["policy"]
                return 204, None
            s.policies.pop(name, None)
            return 204, None
        if path == "audit" and method == "GET":
            return _respond(copy.deepcopy(s.audit), **copy.deepcopy(s.audit))
        if path.startswith("audit/"):
            name = path[len("audit/"):].strip("/") + "/"
            if method == "DELETE":
                s.audit.pop(name, None)
                return 204, None
            if name in s.audit:
                raise VaultError(400, "path already in use")
            s.audit[name] = {"type": body["type"], "description": body.get("description", ""),
                             "options": body.get("options") or {}, "path": name}
            return 204, None
        if path == "storage/raft/configuration" and method == "GET":
            return _respond({"config": {"servers": copy.deepcopy(s.raft_servers), "index": 42}})
        if path == "storage/raft/autopilot/state" and method == "GET":
            servers = {srv["node_id"]: {"id": srv["node_id"], "name": srv["node_id"], "address": srv["address"],
                                        "node_status": "alive", "healthy": True, "last_index": 42,
                                        "status": "leader" if srv["leader"] else "voter"}
                       for srv in s.raft_servers}
            return _respond({"healthy": True, "failure_tolerance": 1, "leader": "vault1",
                             "voters": sorted(servers), "servers": servers})
        if path == "storage/raft/snapshot" and method == "GET":
            return 200, b"stub-raft-snapshot"
        raise VaultError(404)

    def sys_mount(self, method, table, rest, body):
        tune = rest.endswith("/tune")
        prefix = (rest[:-5] if tune else rest).strip("/") + "/"
        if method == "DELETE":
            table.pop(prefix, None)
            return 204, None
        if tune:
            if prefix not in table:
                raise VaultError(400, "no mount at %r" % prefix)
            config = table[prefix]["config"]
            if method == "GET":
                out = dict(config, description=table[prefix]["description"])
                out["default_lease_ttl"] = config["default_lease_ttl"] or 2764800
                out["max_lease_ttl"] = config["max_lease_ttl"] or 2764800
                if table[prefix]["options"]:
                    out["options"] = table[prefix]["options"]
                return _respond(out, **out)
            for key in ("default_lease_ttl", "max_lease_ttl"):
                if key in body:
                    config[key] = _seconds(body[key])
            for key in ("audit_non_hmac_request_keys", "audit_non_hmac_response_keys", "listing_visibility"):
                if key in body:
                    config[key] = body[key]
            if "description" in body:
                table[prefix]["description"] = body["description"]
            if "options" in body and body["options"]:
                table[prefix]["options"] = dict(table[prefix]["options"] or {}, **body["options"])
            return 204, None
        if method not in ("POST", "PUT"):
            raise VaultError(405)
        if prefix in table:
            raise VaultError(400, "path is already in use at %s" % prefix)
        config = body.get("config") or {}
        table[prefix] = {"type": body["type"], "description": body.get("description", ""),
                         "options": body.get("options") or ({"version": "1"} if body["type"] == "kv" else None),
                         "config": {"default_lease_ttl": _seconds(config.get("default_lease_ttl")),
                                    "max_lease_ttl": _seconds(config.get("max_lease_ttl"))},
                         "store": {}}
        return 204, None

    # ---- token and AppRole auth
    def token(self, method, path, body, token):
        s = self.s
        if path == "lookup-self":
            return _respond({"policies": s.tokens[token]["policies"], "accessor": s.tokens[token]["accessor"]})
        if path == "revoke-self":
            s.tokens.pop(token, None)
            return 204, None
        if path == "create":
            policies = body.get("policies") or ["default"]
            new = s.new_token(policies, _seconds(body.get("ttl")))
            return _respond(None, auth={"client_token": new, "policies": policies, "accessor": s.tokens[new]["accessor"],
                                        "lease_duration": _seconds(body.get("ttl")), "renewable": True})
        raise VaultError(404)

    def approle(self, method, prefix, rest, body, headers):
        store = self.s.auth[prefix]["store"]
        match = re.fullmatch(r"role/([^/]+)(/role-id|/secret-id)?", rest)
        if not match:
            raise VaultError(404)
        name, sub = match.groups()
        role = store.get(name)
        if sub is None:
            if method == "GET":
                if role is None:
                    raise VaultError(404)
                return _respond({k: v for k, v in role.items() if not k.startswith("_")})
            if method == "DELETE":
                store.pop(name, None)
                return 204, None
            role = store.setdefault(name, {"bind_secret_id": True, "secret_id_bound_cidrs": [], "secret_id_num_uses": 0,
                                           "secret_id_ttl": 0, "token_ttl": 0, "token_max_ttl": 0,
                                           "token_policies": [], "token_bound_cidrs": [], "token_type": "default",
                                           "token_num_uses": 0, "token_period": 0,
                                           "_role_id": secrets.token_hex(16), "_secret_ids": {}})
            for key, value in body.items():
                if key.endswith("_ttl") or key == "token_period":
                    value = _seconds(value)
                elif key in ("token_policies", "policies", "secret_id_bound_cidrs", "token_bound_cidrs") \
                        and isinstance(value, str):
                    value = [v for v in value.split(",") if v]
                role["token_policies" if key == "policies" else key] = value
            return 204, None
        if role is None:
            raise VaultError(400, "invalid role name %r" % name)
        if sub == "/role-id":
            return _respond({"role_id": role["_role_id"]})
        secret_id = secrets.token_hex(16)
        role["_secret_ids"][secret_id] = body.get("metadata")
        data = {"secret_id": secret_id, "secret_id_accessor": secrets.token_hex(8),
                "secret_id_ttl": role["secret_id_ttl"], "secret_id_num_uses": role["secret_id_num_uses"]}
        wrap_ttl = headers.get("X-Vault-Wrap-TTL")
        if wrap_ttl:
            wrapping_token = "hvs." + secrets.token_urlsafe(24)
            self.s.wrapped[wrapping_token] = data
            return _respond(None, wrap_info={"token": wrapping_token, "accessor": secrets.token_hex(8),
                                             "ttl": _seconds(wrap_ttl), "creation_time": _now(),
                                             "creation_path": "auth/%s%s" % (prefix, rest)})
        return _respond(data)

    def approle_login(self, mount, body):
        s = self.s
        prefix = mount.strip("/") + "/"
        store = s.auth.get(prefix, {}).get("store", {})
        for role in store.values():
            if role["_role_id"] == body.get("role_id") and body.get("secret_id") in role["_secret_ids"]:
                token = s.new_token(role["token_policies"], role["token_ttl"])
                return _respond(None, auth={"client_token": token, "policies": role["token_policies"],
                                            "accessor": s.tokens[token]["accessor"],
                                            "lease_duration": role["token_ttl"], "renewable": True})
        raise VaultError(400, "invalid role or secret ID")

    def unwrap(self, token):
        data = self.s.wrapped.pop(token, None)
        if data is None:
            raise VaultError(400, "wrapping token is not valid or does not exist")
        return _respond(data)

    # ---- secrets engines
    def engine_kv(self, method, mount, rest, body, query):
        store = mount["store"]
        kind, unused, key = rest.partition("/")
        if kind == "config":
            return 204, None
        if kind not in ("data", "metadata") or not key and method != "LIST":
            raise VaultError(404)
        entry = store.get(key)
        if kind == "metadata":
            if method == "LIST":
                keys = sorted({k[len(key):].split("/")[0] + ("/" if "/" in k[len(key):] else "")
                               for k in store if k.startswith(key)})
                if not keys:
                    raise VaultError(404)
                return _respond({"keys": keys})
            if method == "GET":
                if entry is None:
                    raise VaultError(404)
                return _respond({k: v for k, v in entry.items() if k != "data"})
            if method == "DELETE":
                store.pop(key, None)
                return 204, None
            entry = store.setdefault(key, _kv_entry())
            for field in ("max_versions", "cas_required", "delete_version_after", "custom_metadata"):
                if field in body:
                    entry[field] = body[field]
            return 204, None
        if method == "GET":
            if entry is None or not entry["current_version"]:
                raise VaultError(404)
            version = int(query.get("version", [entry["current_version"]])[0])
            if str(version) not in entry["versions"]:
                raise VaultError(404)
            meta = dict(entry["versions"][str(version)], version=version, custom_metadata=entry["custom_metadata"])
            return _respond({"data": entry["data"].get(str(version)), "metadata": meta})
        if method in ("POST", "PUT"):
            if not isinstance(body.get("data"), dict):
                raise VaultError(400, "no data provided")
            current = entry["current_version"] if entry else 0
            cas = (body.get("options") or {}).get("cas")
            if cas is None and entry and entry["cas_required"]:
                raise VaultError(400, "check-and-set parameter required for this call")
            if cas is not None and int(cas) != current:
                raise VaultError(400, "check-and-set parameter did not match the current version")
            entry = store.setdefault(key, _kv_entry())
            version = current + 1
            entry["current_version"] = version
            entry["versions"][str(version)] = {"created_time": _now(), "deletion_time": "", "destroyed": False}
            entry["data"][str(version)] = copy.deepcopy(body["data"])
            entry["oldest_version"] = entry["oldest_version"] or 1
            entry["updated_time"] = _now()
            return _respond(dict(entry["versions"][str(version)], version=version))
        raise VaultError(405)

    def engine_pki(self, method, mount, rest, body, query):
        store = mount["store"]
        if rest in ("root/generate/internal", "root/generate/exported"):
            if "ca" in store:  # Vault 1.11+ keeps issuers; one issuer is enough for the contract
                return _respond({"certificate": store["ca"], "issuing_ca": store["ca"], "serial_number": "01"},
                                warnings=["an issuer already exists"])
            store["ca"] = _pem("CERTIFICATE", body.get("common_name", "root"))
            store["ca_params"] = dict(body)
            return _respond({"certificate": store["ca"], "issuing_ca": store["ca"], "serial_number": "01"})
        if rest == "cert/ca" and method == "GET":
            return _respond({"certificate": store.get("ca", "")})
        if rest == "intermediate/generate/internal":
            store["csr"] = _pem("CERTIFICATE REQUEST", body.get("common_name", "intermediate"))
            return _respond({"csr": store["csr"]})
        if rest == "root/sign-intermediate":
            if "ca" not in store:
                raise VaultError(400, "no default issuer")
            return _respond({"certificate": _pem("CERTIFICATE", body.get("common_name", "intermediate")),
                             "issuing_ca": store["ca"]})
        if rest == "intermediate/set-signed":
            store["ca"] = body["certificate"]
            return _respond({"imported_issuers": ["stub"]})
        if rest == "ca_chain" and method == "GET":
            return 200, _signer(store)["pem"].encode()
        if rest.startswith("sign/") and method in ("POST", "PUT"):
            return self._pki_sign(store, rest[len("sign/"):], body)
        if rest == "config/urls":
            if method == "GET":
                return _respond(store.get("urls", {"issuing_certificates": [], "crl_distribution_points": [],
                                                   "ocsp_servers": []}))
            fields = ("issuing_certificates", "crl_distribution_points", "ocsp_servers")
            store["urls"] = {k: body.get(k, []) for k in fields}
            return 204, None
        return self._named_objects(method, store.setdefault("roles", {}), rest, "roles/", body, _PKI_ROLE)

    def engine_transit(self, method, mount, rest, body, query):
        keys = mount["store"]
        match = re.fullmatch(r"keys/([^/]+)(/config)?", rest)
        if not match:
            raise VaultError(404)
        name, config = match.groups()
        key = keys.get(name)
        if method == "GET":
            if key is None:
                raise VaultError(404)
            return _respond(copy.deepcopy(key))
        if config:
            if key is None:
                raise VaultError(400, "no existing key named %s could be found" % name)
            for field in ("min_decryption_version", "min_encryption_version", "deletion_allowed", "exportable",
                          "allow_plaintext_backup"):
                if field in body:
                    key[field] = body[field]
            if "auto_rotate_period" in body:
                key["auto_rotate_period"] = _seconds(body["auto_rotate_period"])
            return _respond(copy.deepcopy(key))
        if key is None:
            keys[name] = {"name": name, "type": body.get("type", "aes256-gcm96"), "latest_version": 1,
                          "min_decryption_version": 1, "min_encryption_version": 0, "deletion_allowed": False,
                          "exportable": bool(body.get("exportable")), "derived": bool(body.get("derived")),
                          "allow_plaintext_backup": False, "supports_encryption": True,
                          "auto_rotate_period": _seconds(body.get("auto_rotate_period")),
                          "keys": {"1": int(time.time())}}
        return 204, None

    def engine_database(self, method, mount, rest, body, query):
        store = mount["store"]
        if rest.startswith("config/"):
            connections = store.setdefault("config", {})
            name = rest[len("config/"):]
            if method == "GET":
                if name not in connections:
                    raise VaultError(404)
                public = copy.deepcopy(connections[name])
                public["connection_details"].pop("password", None)  # Vault never returns it
                return _respond(public)
            if method == "DELETE":
                connections.pop(name, None)
                return 204, None
            current = connections.get(name, {"connection_details": {}, "allowed_roles": [],
                                             "root_credentials_rotate_statements": [], "password_policy": "",
                                             "verify_connection": True})
            for field in ("plugin_name", "allowed_roles", "root_rotation_statements", "password_policy",
                          "verify_connection"):
                if field in body:
                    current["root_credentials_rotate_statements" if field == "root_rotation_statements" else field] = \
                        body[field] if field != "allowed_roles" or isinstance(body[field], list) else \
                        [r for r in str(body[field]).split(",") if r]
            for field in ("connection_url", "username", "password", "max_open_connections",
                          "max_idle_connections", "max_connection_lifetime", "username_template"):
                if field in body:
                    current["connection_details"][field] = body[field]
            if "plugin_name" not in current:
                raise VaultError(400, "plugin_name is required")
            connections[name] = current
            return 204, None
        return self._named_objects(method, store.setdefault("roles", {}), rest, "roles/", body, _DB_ROLE)

    @staticmethod
    def _pki_sign(store, role_name, body):
        """What <mount>/sign/<role> does: check the names against the role, sign the CSR."""
        from cryptography import x509  # pylint: disable=import-outside-toplevel
        from cryptography.hazmat.primitives import hashes, serialization  # pylint: disable=import-outside-toplevel
        import datetime  # pylint: disable=import-outside-toplevel
        import ipaddress  # pylint: disable=import-outside-toplevel
        role = store.get("roles", {}).get(role_name)
        if role is None:
            raise VaultError(400, "unknown role: %s" % role_name)
        # Vault puts the common name among the SANs too, once.
        names = list(dict.fromkeys([body["common_name"]] + [n for n in str(body.get("alt_names", "")).split(",") if n]))
        for name in names:
            if not any(name == d and role["allow_bare_domains"] or role["allow_subdomains"] and name.endswith("." + d)
                       for d in role["allowed_domains"]):
                raise VaultError(400, "subject alternate name %s not allowed by this role" % name)
        ttl = min(_seconds(body.get("ttl")) or role["ttl"] or 2592000, role["max_ttl"] or 2592000)
        csr = x509.load_pem_x509_csr(body["csr"].encode())
        signer = _signer(store)
        now = datetime.datetime.now(datetime.timezone.utc)
        sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(a))
                                                   for a in str(body.get("ip_sans", "")).split(",") if a]
        subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, body["common_name"])])
        cert = (x509.CertificateBuilder().subject_name(subject)
                .issuer_name(signer["cert"].subject).public_key(csr.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(seconds=ttl))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .sign(signer["key"], hashes.SHA256()))
        pem = cert.public_bytes(serialization.Encoding.PEM).decode().strip()
        return _respond({"certificate": pem, "issuing_ca": signer["pem"], "ca_chain": [signer["pem"]],
                         "serial_number": format(cert.serial_number, "x"), "expiration": int(cert.not_valid_after_utc.timestamp())})

    @staticmethod
    def _named_objects(method, objects, rest, prefix, body, defaults):
        if not rest.startswith(prefix):
            raise VaultError(404)
        name = rest[len(prefix):]
        if method == "GET":
            if name not in objects:
                raise VaultError(404)
            return _respond(copy.deepcopy(objects[name]))
        if method == "DELETE":
            objects.pop(name, None)
            return 204, None
        current = objects.get(name, copy.deepcopy(defaults))
        for key, value in body.items():
            if key.endswith("ttl"):
                value = _seconds(value)
            elif isinstance(defaults.get(key), list) and isinstance(value, str):
                value = [value]
            current[key] = value
        objects[name] = current
        return 204, None


_PKI_ROLE = {"allowed_domains": [], "allow_subdomains": False, "allow_bare_domains": False,
             "allow_glob_domains": False, "allow_any_name": False, "allow_ip_sans": True, "enforce_hostnames": True,
             "server_flag": True, "client_flag": True, "key_type": "rsa", "key_bits": 2048, "ttl": 0, "max_ttl": 0,
             "no_store": False, "require_cn": True}
_DB_ROLE = {"db_name": "", "creation_statements": [], "revocation_statements": [], "rollback_statements": [],
            "renew_statements": [], "default_ttl": 0, "max_ttl": 0}


def _signer(store):
    """The mount's issuing CA (a real EC key and certificate, made on first use)."""
    if "signer" not in store:
        from cryptography import x509  # pylint: disable=import-outside-toplevel
        from cryptography.hazmat.primitives import hashes, serialization  # pylint: disable=import-outside-toplevel
        from cryptography.hazmat.primitives.asymmetric import ec  # pylint: disable=import-outside-toplevel
        import datetime  # pylint: disable=import-outside-toplevel
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "stub intermediate CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .sign(key, hashes.SHA256()))
        store["signer"] = {"key": key, "cert": cert,
                           "pem": cert.public_bytes(serialization.Encoding.PEM).decode().strip()}
    return store["signer"]


def _kv_entry():
    return {"cas_required": False, "created_time": _now(), "current_version": 0, "custom_metadata": None,
            "delete_version_after": "0s", "max_versions": 0, "oldest_version": 0, "updated_time": _now(),
            "versions": {}, "data": {}}


def _pem(kind, subject):
    payload = base64.b64encode(("stub %s for %s" % (kind, subject)).encode()).decode()
    return "-----BEGIN %s-----\n%s\n-----END %s-----" % (kind, payload, kind)


def _pgp_encrypt(plaintext, public_key_b64):
    """What Vault does with pgp_keys: the value encrypted to the key, base64 of the binary message."""
    with tempfile.TemporaryDirectory(prefix="stub-gpg-") as home:
        key_file = "%s/key.gpg" % home
        with open(key_file, "wb") as handle:
            handle.write(base64.b64decode(public_key_b64))
        subprocess.run(["gpg", "--homedir", home, "--batch", "--quiet", "--import", key_file], check=True,
                       capture_output=True)
        out = subprocess.run(["gpg", "--homedir", home, "--batch", "--quiet", "--trust-model", "always",
                              "--encrypt", "--recipient-file", key_file, "--output", "-"],
                             input=plaintext.encode(), check=True, capture_output=True).stdout
    return base64.b64encode(out).decode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def _serve(self):
        state = self.server.state
        url = urlparse(self.path)
        path = url.path[len("/v1/"):] if url.path.startswith("/v1/") else None
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
            if path is None:
                raise VaultError(404)
            with state.lock:
                state.requests.append((self.command, path))
                status, payload = Api(state).handle(self.command, path.rstrip("/"), parse_qs(url.query), body,
                                                    self.headers)
        except VaultError as err:
            status, payload = err.status, {"errors": err.errors}
        except (ValueError, KeyError, TypeError) as err:
            status, payload = 400, {"errors": ["stub: bad request: %s" % err]}
        if isinstance(payload, bytes):
            data, ctype = payload, "application/octet-stream"
        else:
            data, ctype = (b"" if payload is None else json.dumps(payload).encode()), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_LIST = _serve


class VaultStub:
    """``with VaultStub() as vault: vault.url, vault.root_token, vault.state``."""

    def __init__(self, initialized=True):
        self.state = VaultState(initialized=initialized)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.state = self.state
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def root_token(self):
        return self.state.root_token

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
