"""The one web configuration renderer of Prometheus, Alertmanager and the exporters
(sovereign.datacenter.exporter_web_config) and the platform TLS profiles (tls_min_version).

Beyond the structure, the rendered files are checked by the real checker (promtool check web-config)
and served by a real exporter-toolkit server (Debian's prometheus-blackbox-exporter, on 127.0.0.1):
a client offering only a CBC suite is refused under the default profile (and accepted by the same
server on Go's default list, the baseline that shows the probe can tell), TLS 1.2 is refused under
the modern profile. Both binaries come with scripts/bootstrap; without them those tests skip and say so.
"""
import shutil
import socket
import ssl
import subprocess
import time

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.sovereign.datacenter.plugins.filter.platform import (
    exporter_web_config, tls_min_version)
from ansible_collections.sovereign.datacenter.plugins.module_utils import _tls

PROMTOOL = shutil.which("promtool")
BLACKBOX = shutil.which("prometheus-blackbox-exporter")
OPENSSL = shutil.which("openssl")


def tls(min_version="TLS12", cert="/c.pem", key="/k.pem"):
    return {"cert_file": cert, "key_file": key, "min_version": min_version}


def parsed(text):
    assert text.startswith("# Managed by Ansible")
    return yaml.safe_load(text)


def test_profiles():
    assert tls_min_version("default") == "TLS12"
    assert tls_min_version("modern") == "TLS13"
    with pytest.raises(AnsibleFilterError, match="unknown TLS profile 'legacy'"):
        tls_min_version("legacy")


def test_default_profile_aead_suites_and_curves_only():
    conf = parsed(exporter_web_config(tls(), users={"prometheus": "$2b$12$x"}, managed_by="r"))["tls_server_config"]
    assert conf["min_version"] == "TLS12"
    assert conf["curve_preferences"] == ["X25519", "CurveP256", "CurveP384"]
    assert conf["cipher_suites"] == list(_tls.TLS12_AEAD_SUITES)
    assert all("ECDHE" in s and ("GCM" in s or "CHACHA20" in s) for s in conf["cipher_suites"])
    assert not any("CBC" in s or s.endswith("_SHA") for s in conf["cipher_suites"])


def test_modern_profile_has_no_tls12_list_and_users_and_plain():
    conf = parsed(exporter_web_config(tls("TLS13"), users={"prometheus": "$2b$12$x"}))
    assert conf["tls_server_config"]["min_version"] == "TLS13" and "cipher_suites" not in conf["tls_server_config"]
    assert conf["basic_auth_users"] == {"prometheus": "$2b$12$x"}
    assert parsed(exporter_web_config(None, users={})) == {}


@pytest.mark.parametrize("bad, match", [
    ({"cert_file": "/c", "key_file": "/k", "min_version": "TLS11"}, "min_version must be one of"),
    ({"cert_file": "/c", "min_version": "TLS12"}, "tls needs key_file"),
    ("yes", "tls must be a mapping"),
])
def test_bad_input_is_refused(bad, match):
    with pytest.raises(AnsibleFilterError, match=match):
        exporter_web_config(bad)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if not OPENSSL:
        pytest.skip("openssl is not installed (scripts/bootstrap installs it)")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(d / "k.pem"), "-out", str(d / "c.pem")], check=True, capture_output=True)
    return str(d / "c.pem"), str(d / "k.pem")


@pytest.mark.parametrize("min_version", ["TLS12", "TLS13"])
def test_promtool_accepts_both_profiles(tmp_path, certificate, min_version):
    if not PROMTOOL:
        pytest.skip("promtool is not installed (scripts/bootstrap installs Debian's prometheus)")
    path = tmp_path / "web.yml"
    path.write_text(exporter_web_config(tls(min_version, *certificate), users={"prometheus": "$2b$12$" + "a" * 53}))
    run = subprocess.run([PROMTOOL, "check", "web-config", str(path)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve(tmp_path, certificate):
    """Start the blackbox exporter with a web config; yields a handshake function."""
    if not BLACKBOX:
        pytest.skip("prometheus-blackbox-exporter is not installed (scripts/bootstrap installs it)")
    procs = []

    def start(web_text):
        (tmp_path / "blackbox.yml").write_text("modules:\n  tcp:\n    prober: tcp\n")
        (tmp_path / "web.yml").write_text(web_text)
        port = free_port()
        proc = subprocess.Popen([BLACKBOX, "--config.file=%s" % (tmp_path / "blackbox.yml"),
                                 "--web.listen-address=127.0.0.1:%d" % port,
                                 "--web.config.file=%s" % (tmp_path / "web.yml")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the blackbox exporter did not listen on 127.0.0.1:%d" % port)

        def handshake(max_version, ciphers=None):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(certificate[0])
            ctx.maximum_version = max_version
            if ciphers:
                ctx.set_ciphers(ciphers)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
                        return conn.version(), conn.cipher()[0]
            except (ssl.SSLError, ConnectionResetError) as exc:
                return None, str(exc)
        return handshake

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def test_default_profile_refuses_cbc_and_serves_aead(serve, certificate):
    handshake = serve(exporter_web_config(tls("TLS12", *certificate)))
    assert handshake(ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3"
    assert handshake(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256") == ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert handshake(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-CHACHA20-POLY1305")[0] == "TLSv1.2"
    refused = handshake(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA")
    assert refused[0] is None, refused


def test_baseline_go_default_list_accepts_cbc(serve, certificate):
    """The old web-config.yml.j2 (min_version only, Go's default suites): the same CBC-only client gets in."""
    old = "tls_server_config:\n  cert_file: %s\n  key_file: %s\n  min_version: TLS12\n" % certificate
    assert serve(old)(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA") == ("TLSv1.2", "ECDHE-ECDSA-AES128-SHA")


def test_modern_profile_refuses_tls12(serve, certificate):
    handshake = serve(exporter_web_config(tls("TLS13", *certificate)))
    assert handshake(ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3"
    assert handshake(ssl.TLSVersion.TLSv1_2)[0] is None
