# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private base of the Vault modules: shared connection and auth options, the hvac client, one
failure message per error class, duration and diff helpers. Not a public API."""
from __future__ import annotations

import re
import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

try:
    import hvac
    import hvac.exceptions
    import requests.exceptions
except ImportError:
    HVAC_IMPORT_ERROR = traceback.format_exc()
    hvac = None
else:
    HVAC_IMPORT_ERROR = None

# The options of the doc fragment sovereign.datacenter.vault, merged into every module's spec.
VAULT_ARGSPEC = dict(
    url=dict(type="str", required=True, fallback=(env_fallback, ["VAULT_ADDR", "BAO_ADDR"])),
    auth_method=dict(type="str", default="token", choices=["token", "approle"]),
    token=dict(type="str", no_log=True, fallback=(env_fallback, ["VAULT_TOKEN", "BAO_TOKEN"])),
    role_id=dict(type="str"),
    secret_id=dict(type="str", no_log=True),
    approle_mount_point=dict(type="str", default="approle"),
    namespace=dict(type="str"),
    ca_cert=dict(type="path", fallback=(env_fallback, ["VAULT_CACERT", "BAO_CACERT"])),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="int", default=30),
)

# Shown in place of every secret value in a diff or a result.
REDACTED = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(value, name="duration"):
    """A Vault duration (seconds as an int, or ``90s``, ``30m``, ``1h``, ``90d``) as seconds."""
    if value is None or isinstance(value, int):
        return value
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ValueError("%s: %r is not a duration (an integer of seconds, or a number with s, m, h or d)"
                         % (name, value))
    return int(match.group(1)) * _UNITS[match.group(2)]


def as_list(value):
    """Vault returns some list fields as a comma-separated string and others as a list."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return list(value)


def changed_fields(desired, current, ordered=()):
    """The keys of ``desired`` (None meaning unspecified) whose value differs from ``current``.
    Lists compare as sets (Vault sorts policies and CIDRs) except the keys in ``ordered``."""
    out = []
    for key, want in desired.items():
        if want is None:
            continue
        have = current.get(key)
        if isinstance(want, list) and key in ordered:
            same = [str(item) for item in want] == [str(item) for item in as_list(have)]
        elif isinstance(want, list):
            same = sorted(map(str, want)) == sorted(map(str, as_list(have)))
        elif isinstance(want, dict):
            same = want == (have or {})
        else:
            same = have is not None and str(want) == str(have)
        if not same:
            out.append(key)
    return out


class VaultModule(AnsibleModule):
    """AnsibleModule with the Vault connection options, an authenticated hvac client and helpers
    that turn each hvac error class into one clear failure."""

    def __init__(self, argument_spec, required_if=None, **kwargs):
        spec = dict(VAULT_ARGSPEC)
        spec.update(argument_spec)
        required_if = list(required_if or []) + [("auth_method", "approle", ("role_id", "secret_id")),
                                                 ("auth_method", "token", ("token",))]
        super().__init__(argument_spec=spec, required_if=required_if, **kwargs)
        if hvac is None:
            self.fail_json(msg=missing_required_lib("hvac"), exception=HVAC_IMPORT_ERROR)
        self._client = None

    @property
    def client(self):
        """The hvac client, logged in on first use."""
        if self._client is None:
            params = self.params
            verify = params["ca_cert"] or True if params["validate_certs"] else False
            client = hvac.Client(url=params["url"], verify=verify, timeout=params["timeout"],
                                 namespace=params["namespace"])
            if params["auth_method"] == "approle":
                self.call("AppRole login", client.auth.approle.login, role_id=params["role_id"],
                          secret_id=params["secret_id"], mount_point=params["approle_mount_point"])
            else:
                client.token = params["token"]
            self._client = client
        return self._client

    def call(self, what, func, *args, **kwargs):
        """Run one hvac call; a failure ends the module with a message naming ``what`` and the class.
        InvalidPath (HTTP 404) returns None: the caller decides whether absence is an error; so does
        InvalidRequest (HTTP 400) with ``absent_on_400=True`` (a PKI mount without an issuer)."""
        absent_on_400 = kwargs.pop("absent_on_400", False)
        try:
            return func(*args, **kwargs)
        except hvac.exceptions.InvalidPath:
            return None
        except hvac.exceptions.InvalidRequest as err:
            if absent_on_400:
                return None
            self.fail_json(msg="%s: Vault refused the request: %s" % (what, "; ".join(_errors(err)) or err),
                           error_class=_request_error_class(err), errors=_errors(err))
        except hvac.exceptions.Forbidden as err:
            self.fail_json(msg="%s: permission denied at %s: the token's policies do not grant this "
                               "(or the token is invalid or expired)" % (what, self.params["url"]),
                           error_class="permission_denied", errors=_errors(err))
        except hvac.exceptions.VaultDown as err:
            self.fail_json(msg="%s: Vault at %s is sealed or unavailable (HTTP 503); unseal it first "
                               "(playbooks/runbooks/vault_unseal.yml)" % (what, self.params["url"]),
                           error_class="sealed", errors=_errors(err))
        except hvac.exceptions.VaultNotInitialized as err:
            self.fail_json(msg="%s: Vault at %s is not initialised (playbooks/runbooks/vault_init.yml)"
                               % (what, self.params["url"]), error_class="not_initialized", errors=_errors(err))
        except hvac.exceptions.VaultError as err:
            self.fail_json(msg="%s: Vault error: %s" % (what, err), error_class="vault_error", errors=_errors(err))
        except requests.exceptions.RequestException as err:
            self.fail_json(msg="%s: cannot reach Vault at %s: %s" % (what, self.params["url"], err),
                           error_class="connection")
        return None  # not reached: fail_json exits

    def read(self, path, what=None, absent_on_400=False):
        """GET /v1/<path>: the response's ``data``, or None when the path does not exist."""
        response = self.call(what or "read %s" % path, self.client.adapter.get, "/v1/" + path,
                             absent_on_400=absent_on_400)
        if response is None:
            return None
        return response.get("data") if isinstance(response, dict) else None

    def delete(self, path, what=None):
        """DELETE /v1/<path> unless in check mode."""
        if not self.check_mode:
            self.call(what or "delete %s" % path, self.client.adapter.delete, "/v1/" + path)

    def write(self, path, payload, what=None):
        """POST /v1/<path> unless in check mode; returns the response's JSON or None."""
        if self.check_mode:
            return None
        response = self.call(what or "write %s" % path, self.client.adapter.post, "/v1/" + path, json=payload)
        return response if isinstance(response, dict) else None

    def durations(self, *names):
        """The named options converted to seconds (fails naming the option on a bad value)."""
        out = {}
        for name in names:
            try:
                out[name] = duration_seconds(self.params.get(name), name)
            except ValueError as err:
                self.fail_json(msg=str(err))
        return out

    def finish(self, changed, before, after, **result):
        """exit_json with ``changed`` and, in diff mode, ``diff`` (callers pass redacted views)."""
        if self._diff:
            result["diff"] = {"before": before or {}, "after": after or {}}
        self.exit_json(changed=changed, **result)


def ensure_object(module, path, desired, state="present", redact=(), what=None, ordered=()):
    """Make the object at ``path`` (read with GET, written with POST) carry ``desired`` (None values
    are left as they are), or remove it (``state=absent``). Returns ``(changed, current, before,
    after)``; ``redact`` names the fields shown as REDACTED in before/after."""
    what = what or path
    current = module.read(path, what="read " + what)
    if state == "absent":
        if current is not None:
            module.delete(path, what="delete " + what)
        return current is not None, current, _view(current, desired, redact), {}
    changes = changed_fields(desired, current or {}, ordered)
    changed = current is None or bool(changes)
    after = dict(current or {})
    after.update({k: v for k, v in desired.items() if v is not None})
    if changed:
        module.write(path, {k: v for k, v in desired.items() if v is not None}, what="write " + what)
    return changed, current, _view(current, desired, redact), _view(after, desired, redact)


def run_mount_module(table, type_option):
    """The whole of vault_secrets_engine (``table`` mounts, option ``engine_type``) and vault_auth_method
    (``table`` auth, option ``method_type``): one argument spec, one ensure_mount."""
    module = VaultModule(
        argument_spec=dict(
            path=dict(type="str", required=True),
            description=dict(type="str"),
            default_lease_ttl=dict(type="str"),
            max_lease_ttl=dict(type="str"),
            options=dict(type="dict"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            **{type_option: dict(type="str")}
        ),
        required_if=[("state", "present", (type_option,))],
        supports_check_mode=True,
    )
    ensure_mount(module, table, module.params["path"], module.params[type_option], module.params["state"],
                 description=module.params["description"],
                 config=module.durations("default_lease_ttl", "max_lease_ttl"), options=module.params["options"])


def ensure_mount(module, table, path, mount_type, state, description=None, config=None, options=None):
    """Enable, tune or disable the mount ``path`` of ``table`` (``mounts`` for secrets engines,
    ``auth`` for auth methods); ends the module with the result."""
    path = path.strip("/")
    label = "%s %s" % ("secrets engine" if table == "mounts" else "auth method", path)
    listing = module.read("sys/" + table, what="list %s" % table) or {}
    current = listing.get(path + "/")
    config = {k: v for k, v in (config or {}).items() if v is not None}
    options = {k: str(v) for k, v in (options or {}).items()}
    before = _mount_view(current)
    if state == "absent":
        if current is not None:
            module.delete("sys/%s/%s" % (table, path), what="disable " + label)
        module.finish(current is not None, before, {}, path=path)
    if current is None:
        payload = {"type": mount_type, "description": description or "", "config": config}
        if options:
            payload["options"] = options
        module.write("sys/%s/%s" % (table, path), payload, what="enable " + label)
        after = {"type": mount_type, "description": description or "", "config": config, "options": options}
        module.finish(True, {}, after, path=path, created=True)
    if current.get("type") != mount_type:
        module.fail_json(msg="%s is of type %r, not %r: Vault cannot change the type of a mount; disable it "
                             "first (state=absent), which destroys its data" % (label, current.get("type"), mount_type))
    tune = {k: config[k] for k in changed_fields(config, current.get("config") or {})}
    if description is not None and description != (current.get("description") or ""):
        tune["description"] = description
    if changed_fields(options, current.get("options") or {}):
        tune["options"] = options
    if tune:
        module.write("sys/%s/%s/tune" % (table, path), tune, what="tune " + label)
    after = dict(before, **{k: v for k, v in tune.items() if k in ("description", "options")})
    after["config"] = dict(before["config"], **{k: v for k, v in tune.items() if k in config})
    module.finish(bool(tune), before, after, path=path, created=False, tuned=sorted(tune))


def _mount_view(mount):
    if not mount:
        return {}
    return {"type": mount.get("type"), "description": mount.get("description") or "",
            "config": {k: v for k, v in (mount.get("config") or {}).items()
                       if k in ("default_lease_ttl", "max_lease_ttl", "listing_visibility", "token_type")},
            "options": mount.get("options") or {}}


def _view(obj, desired, redact):
    if not obj:
        return {}
    return {k: (REDACTED if k in redact else obj.get(k)) for k in desired if k in obj}


def _request_error_class(err):
    text = " ".join(_errors(err))
    return "cas_conflict" if "check-and-set" in text else "invalid_request"


def _errors(err):
    errors = getattr(err, "errors", None)
    if isinstance(errors, list):
        return [str(e) for e in errors]
    return [str(errors)] if errors else []
