"""A plain ASGI app (no framework): what a backend of the platform answers behind HAProxy.

GET /live   200 {"status": "live"} while the process serves.
GET /ready  200 when ``SELECT 1`` on the read-write PostgreSQL member succeeds within 2 s, else 503
            with the reason (never the password).
GET /error  500 (lets tests make 5xx on purpose).
GET /, /api/..., /auth/..., /ai/..., /login, /oauth..., /token...
            200 {"service", "version", "host", "path", "client"} (client: the X-Real-IP header HAProxy sets).
GET <other> 404 {"error": "not found", "path"}.

Configuration from the environment (roles/app_service writes it): APP_SERVICE_NAME, APP_DATABASE_HOSTS
(comma list), APP_DATABASE_PORT (5432), APP_DATABASE_NAME, APP_DATABASE_USER, APP_DATABASE_SSLROOTCERT
(sslmode verify-full when set); the password from the systemd credential ``database_password``
(``$CREDENTIALS_DIRECTORY/database_password``), read on every check so a rotated credential counts
after the restart that loads it.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket

import sovereign_sample_app as _package

READY_TIMEOUT_S = 2.0
# The paths the sample serves (the rate-limit classes' prefixes among them); anything else is a 404.
SERVED_PREFIXES = ("/api/", "/auth/", "/ai/", "/login", "/oauth", "/token")


def _broken():
    return bool(getattr(_package, "SOVEREIGN_SAMPLE_APP_BROKEN", False))


class Settings:
    """The app's configuration, read from an environment mapping."""

    def __init__(self, environ=None):
        env = os.environ if environ is None else environ
        self.service = env.get("APP_SERVICE_NAME", "sovereign-sample-app")
        self.hosts = [h.strip() for h in env.get("APP_DATABASE_HOSTS", "").split(",") if h.strip()]
        self.port = str(env.get("APP_DATABASE_PORT", "5432")).strip() or "5432"
        self.dbname = env.get("APP_DATABASE_NAME", "app")
        self.user = env.get("APP_DATABASE_USER", "app")
        self.sslrootcert = env.get("APP_DATABASE_SSLROOTCERT", "")
        self.credentials_dir = env.get("CREDENTIALS_DIRECTORY", "")

    def password(self):
        """The database password from the systemd credential, or None when there is none."""
        if not self.credentials_dir:
            return None
        try:
            with open(os.path.join(self.credentials_dir, "database_password"), encoding="utf-8") as handle:
                return handle.read().rstrip("\n")
        except OSError:
            return None

    def conninfo(self, password):
        """Keyword arguments of psycopg.connect: every host, the read-write member, TLS verify-full."""
        args = {
            "host": ",".join(self.hosts),
            "port": ",".join([self.port] * len(self.hosts)),
            "dbname": self.dbname,
            "user": self.user,
            "target_session_attrs": "read-write",
            "connect_timeout": 2,
            "application_name": self.service,
        }
        if password is not None:
            args["password"] = password
        if self.sslrootcert:
            args.update(sslmode="verify-full", sslrootcert=self.sslrootcert)
        return args


def _redact(text, secret):
    text = str(text).strip().replace("\n", " ")
    if secret:
        text = text.replace(secret, "********")
    return text


async def check_database(settings, timeout=READY_TIMEOUT_S):
    """(ok, reason): ``SELECT 1`` on the read-write member within ``timeout`` seconds."""
    if not settings.hosts:
        return False, "no database host configured (APP_DATABASE_HOSTS)"
    password = settings.password()
    try:
        import psycopg  # pylint: disable=import-outside-toplevel
    except ImportError as exc:  # pragma: no cover - the release always carries psycopg
        return False, "psycopg is not installed: %s" % exc

    async def probe():
        conn = await psycopg.AsyncConnection.connect(**settings.conninfo(password))
        try:
            cur = await conn.execute("SELECT 1")
            row = await cur.fetchone()
            return row is not None and row[0] == 1
        finally:
            await conn.close()

    try:
        ok = await asyncio.wait_for(probe(), timeout)
    except asyncio.TimeoutError:
        return False, "database did not answer SELECT 1 within %.0f s (hosts %s)" % (timeout, ",".join(settings.hosts))
    except Exception as exc:  # pylint: disable=broad-except
        return False, "database unreachable: %s: %s" % (type(exc).__name__, _redact(exc, password))
    if not ok:
        return False, "database answered SELECT 1 with an unexpected row"
    return True, "database answers SELECT 1"


async def _read_body(receive):
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _send_json(send, status, payload, head=False, extra_headers=()):
    body = json.dumps(payload, sort_keys=True).encode() + b"\n"
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")] + list(extra_headers)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def _header(scope, name):
    name = name.lower().encode()
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def make_app(environ=None, database_check=check_database):
    """The ASGI callable, with its settings read from ``environ`` (os.environ when None)."""
    settings = Settings(environ)
    hostname = socket.gethostname()

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        await _read_body(receive)
        method = scope.get("method", "GET")
        head = method == "HEAD"
        path = scope.get("path", "/")
        if method not in ("GET", "HEAD"):
            await _send_json(send, 405, {"error": "method not allowed"}, extra_headers=[(b"allow", b"GET, HEAD")])
            return
        if path == "/live":
            await _send_json(send, 200, {"status": "live"}, head)
        elif path == "/ready":
            if _broken():
                await _send_json(send, 503, {"status": "not ready", "reason": "broken release"}, head)
                return
            ok, reason = await database_check(settings)
            await _send_json(send, 200 if ok else 503, {"status": "ready" if ok else "not ready", "reason": reason}, head)
        elif path == "/error":
            await _send_json(send, 500, {"error": "error requested (/error)"}, head)
        elif _broken():
            await _send_json(send, 500, {"error": "broken release"}, head)
        elif path != "/" and not path.startswith(SERVED_PREFIXES):
            await _send_json(send, 404, {"error": "not found", "path": path}, head)
        else:
            await _send_json(send, 200, {
                "service": settings.service,
                "version": _package.__version__,
                "host": hostname,
                "path": path,
                "client": _header(scope, "x-real-ip"),
            }, head)

    return app


app = make_app()
