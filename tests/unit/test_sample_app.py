"""The lab's sample backend (lab/sample_app), driven in-process as an ASGI callable: no server, no network
except one refused connection to 127.0.0.1 (a port nothing listens on) for /ready."""
import asyncio
import json
import os
import socket
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "lab", "sample_app"))

import sovereign_sample_app  # noqa: E402  pylint: disable=wrong-import-position
from sovereign_sample_app import app as app_module  # noqa: E402  pylint: disable=wrong-import-position

SECRET = "not-the-real-password-4f1c"


def _unused_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(app, path, method="GET", headers=()):
    """One HTTP request through the ASGI callable: (status, headers, decoded JSON body)."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "https",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
             "client": ("10.210.1.11", 40000), "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), (json.loads(body) if body else None)


@pytest.fixture(name="environ")
def fixture_environ(tmp_path):
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "database_password").write_text(SECRET + "\n", encoding="utf-8")
    return {"APP_SERVICE_NAME": "app", "APP_DATABASE_HOSTS": "127.0.0.1", "APP_DATABASE_PORT": str(_unused_port()),
            "APP_DATABASE_NAME": "app", "APP_DATABASE_USER": "app", "CREDENTIALS_DIRECTORY": str(creds)}


@pytest.fixture(name="broken")
def fixture_broken(monkeypatch):
    monkeypatch.setattr(sovereign_sample_app, "SOVEREIGN_SAMPLE_APP_BROKEN", True)


def test_live(environ):
    status, headers, body = call(app_module.make_app(environ), "/live")
    assert (status, body) == (200, {"status": "live"})
    assert headers[b"content-type"] == b"application/json"


def test_ready_is_503_with_the_reason_but_never_the_password_when_the_database_is_unreachable(environ):
    status, unused_headers, body = call(app_module.make_app(environ), "/ready")
    assert status == 503
    assert body["status"] == "not ready"
    assert "database unreachable" in body["reason"] and "127.0.0.1" in body["reason"]
    assert SECRET not in json.dumps(body)


def test_ready_without_database_hosts_says_so(environ):
    environ["APP_DATABASE_HOSTS"] = ""
    status, unused_headers, body = call(app_module.make_app(environ), "/ready")
    assert status == 503 and "APP_DATABASE_HOSTS" in body["reason"]


def test_ready_is_200_when_select_1_succeeds(environ):
    async def healthy(settings):
        assert settings.hosts == ["127.0.0.1"]
        return True, "database answers SELECT 1"

    status, unused_headers, body = call(app_module.make_app(environ, database_check=healthy), "/ready")
    assert (status, body["status"]) == (200, "ready")


def test_ready_gives_up_at_its_timeout(monkeypatch):
    import psycopg  # pylint: disable=import-outside-toplevel

    async def hangs(**_kwargs):
        await asyncio.sleep(30)

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", hangs)
    settings = app_module.Settings({"APP_DATABASE_HOSTS": "127.0.0.1"})
    ok, reason, elapsed = asyncio.run(_timed(app_module.check_database(settings, timeout=0.2)))
    assert not ok and "within" in reason and elapsed < 1.5, (reason, elapsed)
    assert app_module.READY_TIMEOUT_S == 2.0


async def _timed(coro):
    loop = asyncio.get_running_loop()
    start = loop.time()
    ok, reason = await coro
    return ok, reason, loop.time() - start


def test_the_connection_asks_for_the_read_write_member_over_verified_tls(environ):
    environ.update(APP_DATABASE_HOSTS="10.210.20.11, 10.210.20.12", APP_DATABASE_PORT="5432",
                   APP_DATABASE_SSLROOTCERT="/etc/ssl/sovereign/ca.crt")
    settings = app_module.Settings(environ)
    args = settings.conninfo(settings.password())
    assert args["host"] == "10.210.20.11,10.210.20.12" and args["port"] == "5432,5432"
    assert args["target_session_attrs"] == "read-write"
    assert (args["sslmode"], args["sslrootcert"]) == ("verify-full", "/etc/ssl/sovereign/ca.crt")
    assert args["password"] == SECRET and args["connect_timeout"] == 2


def test_the_password_is_masked_if_a_driver_message_ever_carried_it():
    assert SECRET not in app_module._redact("password=%s rejected" % SECRET, SECRET)  # pylint: disable=protected-access


@pytest.mark.parametrize("path", ["/", "/api/x", "/auth/login", "/ai/generate"])
def test_served_paths_answer_their_json(environ, path):
    status, unused_headers, body = call(app_module.make_app(environ), path, headers=[("X-Real-IP", "203.0.113.7")])
    assert status == 200
    assert body == {"service": "app", "version": sovereign_sample_app.__version__, "host": socket.gethostname(),
                    "path": path, "client": "203.0.113.7"}


@pytest.mark.parametrize("path", ["/no-such-page", "/apix", "/static/app.js"])
def test_other_paths_are_404(environ, path):
    status, unused_headers, body = call(app_module.make_app(environ), path)
    assert status == 404 and body == {"error": "not found", "path": path}


def test_client_is_null_without_x_real_ip(environ):
    assert call(app_module.make_app(environ), "/")[2]["client"] is None


def test_error_makes_a_500(environ):
    assert call(app_module.make_app(environ), "/error")[0] == 500


def test_other_methods_are_refused(environ):
    status, headers, unused_body = call(app_module.make_app(environ), "/", method="POST")
    assert status == 405 and headers[b"allow"] == b"GET, HEAD"


@pytest.mark.usefixtures("broken")
def test_broken_release_is_never_ready_and_answers_500(environ):
    async def healthy(_settings):
        return True, "database answers SELECT 1"

    app = app_module.make_app(environ, database_check=healthy)
    status, unused_headers, body = call(app, "/ready")
    assert (status, body["reason"]) == (503, "broken release")
    assert call(app, "/")[0] == 500
    assert call(app, "/live")[0] == 200


def test_the_broken_switch_defaults_off_in_the_tree():
    assert sovereign_sample_app.SOVEREIGN_SAMPLE_APP_BROKEN is False


def test_lifespan_is_acknowledged(environ):
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message["type"])

    asyncio.run(app_module.make_app(environ)({"type": "lifespan"}, receive, send))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
