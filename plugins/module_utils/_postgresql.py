# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers of the collection's PostgreSQL modules (psycopg 3).

Generic database work (roles, databases, queries, settings) belongs to community.postgresql;
this file only holds what the replication modules need: a connection built from the shared
options and read-only queries returning plain Python values.
"""
from __future__ import annotations

import traceback

try:
    import psycopg
    from psycopg.rows import dict_row
    HAS_PSYCOPG = True
    PSYCOPG_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported by the module
    HAS_PSYCOPG = False
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()

CONNECTION_ARGSPEC = dict(
    login_user=dict(type="str", default="postgres"),
    login_password=dict(type="str", default="", no_log=True),
    login_host=dict(type="str", default=""),
    login_unix_socket=dict(type="str", default="/var/run/postgresql"),
    port=dict(type="int", default=5432),
    db=dict(type="str", default="postgres"),
    ssl_mode=dict(type="str", default="prefer",
                  choices=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]),
    ca_cert=dict(type="path"),
    connect_timeout=dict(type="int", default=10),
)


def require_psycopg(module):
    if not HAS_PSYCOPG:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib("psycopg (version 3)"), exception=PSYCOPG_IMPORT_ERROR)


def connection_kwargs(params):
    """libpq keywords from the module parameters (host wins over the unix socket)."""
    kwargs = {
        "user": params["login_user"],
        "dbname": params["db"],
        "port": params["port"],
        "connect_timeout": params["connect_timeout"],
        "application_name": "ansible-sovereign",
        "host": params["login_host"] or params["login_unix_socket"],
    }
    if params["login_host"]:
        kwargs["sslmode"] = params["ssl_mode"]
        if params.get("ca_cert"):
            kwargs["sslrootcert"] = params["ca_cert"]
    if params.get("login_password"):
        kwargs["password"] = params["login_password"]
    return kwargs


def connect(module):
    """Read-only autocommit connection, or fail_json naming the target."""
    require_psycopg(module)
    kwargs = connection_kwargs(module.params)
    try:
        conn = psycopg.connect(autocommit=True, row_factory=dict_row, **kwargs)
        conn.read_only = True
        return conn
    except psycopg.Error as exc:
        module.fail_json(msg="cannot connect to PostgreSQL at %s:%s as %s: %s"
                         % (kwargs["host"], kwargs["port"], kwargs["user"], str(exc).strip()))


def fetch_all(conn, query, params=None):
    with conn.cursor() as cur:
        cur.execute(query, params)
        return [dict(row) for row in cur.fetchall()]


def fetch_one(conn, query, params=None):
    rows = fetch_all(conn, query, params)
    return rows[0] if rows else None


def lsn_to_int(lsn):
    """'16/B374D848' -> byte position (None stays None)."""
    if lsn is None:
        return None
    high, unused_sep, low = str(lsn).partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def timeline_of_walfile(walfile):
    """Timeline id encoded in the first 8 hex digits of a WAL file name."""
    return int(walfile[:8], 16) if walfile else None
