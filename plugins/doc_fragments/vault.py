# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # Connection and authentication options shared by every sovereign.datacenter.vault_* module.
    # Set them once per play with module_defaults: group/sovereign.datacenter.vault.
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Address of the Vault (or OpenBao) API, such as C(https://vault1.internal:8200).
      - Falls back to the environment variables E(VAULT_ADDR), then E(BAO_ADDR).
    type: str
    required: true
  auth_method:
    description:
      - How the module authenticates. C(token) uses O(token); C(approle) logs in with O(role_id)
        and O(secret_id) on the AppRole mount O(approle_mount_point).
    type: str
    default: token
    choices: [token, approle]
  token:
    description:
      - Vault token for O(auth_method=token). Falls back to E(VAULT_TOKEN), then E(BAO_TOKEN).
    type: str
  role_id:
    description: AppRole role ID for O(auth_method=approle).
    type: str
  secret_id:
    description: AppRole secret ID for O(auth_method=approle).
    type: str
  approle_mount_point:
    description: Mount path of the AppRole auth method used to log in.
    type: str
    default: approle
  namespace:
    description: Vault Enterprise or OpenBao namespace; unset for the root namespace.
    type: str
  ca_cert:
    description:
      - CA certificate (PEM file) that signs the Vault server certificate, such as the platform
        CA C(/etc/ssl/sovereign/ca.crt). Falls back to E(VAULT_CACERT), then E(BAO_CACERT).
      - Unset, the system trust store is used.
    type: path
  validate_certs:
    description: Verify the server certificate. Only turn this off against a throw-away test server.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each HTTP request.
    type: int
    default: 30
requirements:
  - hvac (Python library) on the host that runs the module (usually the controller, with C(delegate_to)).
notes:
  - Errors are reported by class, each with its own message and an C(error_class) in the result,
    C(permission_denied) (HTTP 403), C(sealed) (HTTP 503), C(not_initialized), C(invalid_request)
    (HTTP 400), C(vault_error) and C(connection).
  - The modules belong to the action group C(sovereign.datacenter.vault), so one C(module_defaults)
    entry for C(group/sovereign.datacenter.vault) (with O(url), O(ca_cert), O(token)) sets the
    connection of every Vault task of a play.
"""

    # Check mode and diff of the modules that read, compare and write one resource.
    ATTRIBUTES = r"""
attributes:
  check_mode:
    support: full
    description: Reads the current state and reports what would change without writing.
  diff_mode:
    support: full
    description: Shows the settings before and after (secret values never).
"""
