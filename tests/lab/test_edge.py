"""Issue 11 on the lab: the traffic path CDN -> the site's virtual address (keepalived on lb1/lb2) -> HAProxy
(TLS, headers, rate limits) -> the sample app service on app1/app2, built by site.yml (tier_dmz.yml, tier_app.yml).

Every request comes from cdn1 (lab/lab.py): a container outside the platform holding the CDN's address
(inside platform_cdn_ranges) and an internet client's address (outside them). The clients are the
controller's Python and sslyze run inside cdn1's network namespace (nsenter -n), so HAProxy and the
firewalls see exactly the source a CDN edge or an internet client would have."""
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from conftest import REPO, Lab, inventory, recap, secrets_dir
from support.measurements import append_measurement
from support.waiting import wait_for, wait_until

CDN_HOST = "cdn1"
CLIENT = os.path.join(REPO, "tests", "support", "edge_client.py")
RESULTS = os.path.join(REPO, "tests", "output", "edge.txt")
HEADERS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains; preload",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "permissions-policy": "geolocation=(), microphone=(), camera=()",
    "x-permitted-cross-domain-policies": "none",
    "content-security-policy": "default-src 'self'; object-src 'none'; frame-src 'none'",
}
REMOVED = ("server", "x-powered-by")


def _note(text):
    append_measurement(RESULTS, text)


@pytest.fixture(scope="module")
def edge(lab_up):
    listing = inventory()
    hostvars = listing["_meta"]["hostvars"]
    lbs = sorted(listing["loadbalancers"]["hosts"])
    apps = sorted(listing["app_servers"]["hosts"])
    any_lb = hostvars[lbs[0]]
    cdn_address, internet_address = any_lb["lab_cdn_address"], any_lb["lab_internet_address"]
    vip = any_lb["platform_edge_vips"]["dc1"]
    ca = os.path.join(secrets_dir(), "pki", "ca.crt")
    assert os.path.exists(ca), ca
    pid = subprocess.run(["podman", "inspect", "-f", "{{.State.Pid}}", "sovlab-" + CDN_HOST], capture_output=True,
                         text=True, check=True).stdout.strip()
    return {"lbs": lbs, "apps": apps, "hostvars": hostvars, "vip": vip, "ca": ca, "pid": pid,
            "cdn": cdn_address, "internet": internet_address}


def in_cdn(edge, argv, timeout=120):
    """argv in cdn1's network namespace (the controller's files and Python)."""
    return subprocess.run(["nsenter", "-t", edge["pid"], "-n"] + list(argv), capture_output=True, text=True,
                          timeout=timeout, check=False)


def client(edge, *args, timeout=300):
    res = in_cdn(edge, [sys.executable, CLIENT] + list(args), timeout=timeout)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def get(edge, path, count=1, client_ip=None, source=None, scheme="https", host=None):
    """count GETs of path through the VIP on one keep-alive connection, from the CDN's address (or source),
    for the client client_ip (CF-Connecting-IP)."""
    args = ["requests", "--url", "%s://%s%s" % (scheme, host or edge["vip"], path), "--count", str(count),
            "--cafile", edge["ca"], "--source", source or edge["cdn"]]
    if client_ip:
        args += ["--header", "CF-Connecting-IP: " + client_ip]
    return client(edge, *args)


def fresh_client():
    """A client address no earlier request used (the rate-limit tables remember clients for an hour)."""
    raw = uuid.uuid4().int
    return "198.18.%d.%d" % ((raw >> 8) % 256, raw % 254 + 1)


def vip_holder(edge):
    holders = [lb for lb in edge["lbs"]
               if Lab.exec(lb, "ip", "-o", "-4", "addr", "show", "to", edge["vip"] + "/32", check=False).stdout.strip()]
    return holders


def _client_loop(edge, seconds=900, path="/api/deploy", interval=0.1, timeout=5):
    """A client loop through the VIP from the CDN's address, one new connection per request, each request
    another client (so no per-client rate limit applies); its records go to a file (a pipe nobody reads
    would fill and stall it); stop it and read them with _stop."""
    out = tempfile.NamedTemporaryFile("w+", prefix="edge-loop-", suffix=".jsonl", delete=False)  # pylint: disable=consider-using-with
    loop = subprocess.Popen(["nsenter", "-t", edge["pid"], "-n", sys.executable, CLIENT, "loop", "--url",  # pylint: disable=consider-using-with
                             "https://%s%s" % (edge["vip"], path), "--seconds", str(seconds), "--interval",
                             str(interval), "--timeout", str(timeout), "--cafile", edge["ca"], "--source", edge["cdn"],
                             "--rotate-clients"], stdout=out, text=True)
    loop.records_file = out
    return loop


def _stop(loop):
    """End the loop (when it has not ended by itself) and return its records."""
    if loop.poll() is None:
        loop.terminate()
    loop.wait(timeout=60)
    with open(loop.records_file.name, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    loop.records_file.close()
    os.unlink(loop.records_file.name)
    return [json.loads(l) for l in lines if l.strip().endswith("}")]


def assert_security_headers(response):
    headers = response["headers"]
    for name, value in HEADERS.items():
        assert headers.get(name) == value, (response["status"], name, headers.get(name))
    for name in REMOVED:
        assert name not in headers, (response["status"], name, headers)


def test_one_load_balancer_holds_the_site_address(edge):
    holders = wait_until(lambda: vip_holder(edge), 30, 1)
    assert len(holders) == 1, holders


def _sslyze_compliant(edge, profile, tmp_path, context=""):
    """sslyze's Mozilla check of one profile against the VIP from the CDN's address: noted, asserted compliant,
    the scan result returned."""
    out = tmp_path / ("sslyze-%s.json" % profile)
    res = in_cdn(edge, [sys.executable, "-m", "sslyze", "--mozilla_config=" + profile, "--certinfo_ca_file", edge["ca"],
                        "--json_out", str(out), "%s:443" % edge["vip"]], timeout=300)
    _note("sslyze --mozilla_config=%s %s%s: exit %d; %s" % (
        profile, edge["vip"], context, res.returncode,
        " | ".join(l.strip() for l in res.stdout.splitlines() if "ompliant" in l)))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "%s:443: OK - Compliant." % edge["vip"] in res.stdout, res.stdout[-3000:]
    return json.loads(out.read_text())["server_scan_results"][0]["scan_result"]


def test_tls_scanner_finds_the_vip_compliant_with_mozilla_intermediate(edge, tmp_path):
    """sslyze (PyPI, Mozilla's guideline 5.7 built in) from the CDN's address: compliant with the intermediate
    profile, TLS 1.0/1.1 refused, only ECDHE + AEAD suites in TLS 1.2, the chain valid against the lab CA."""
    scan = _sslyze_compliant(edge, "intermediate", tmp_path)
    for old in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites"):
        assert scan[old]["result"]["accepted_cipher_suites"] == [], old
    tls12 = [s["cipher_suite"]["name"] for s in scan["tls_1_2_cipher_suites"]["result"]["accepted_cipher_suites"]]
    tls13 = [s["cipher_suite"]["name"] for s in scan["tls_1_3_cipher_suites"]["result"]["accepted_cipher_suites"]]
    assert tls12 and tls13, (tls12, tls13)
    for suite in tls12:  # ECDHE key exchange, AEAD: no CBC, no static RSA
        assert "_ECDHE_" in suite and ("_GCM_" in suite or "CHACHA20_POLY1305" in suite), suite
    assert set(tls13) <= {"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"}, tls13
    deployment = scan["certificate_info"]["result"]["certificate_deployments"][0]
    trusted = [r for r in deployment["path_validation_results"] if r["was_validation_successful"]]
    assert any(r["trust_store"]["path"] == edge["ca"] for r in trusted), deployment["path_validation_results"]
    _note("sslyze: TLS 1.2 suites %s; TLS 1.3 suites %s" % (tls12, tls13))


def _haproxy_playbook(*extra):
    return subprocess.run(["ansible-playbook", "-i", "inventories/lab", "playbooks/haproxy.yml"] + list(extra),
                          capture_output=True, text=True, cwd=REPO, timeout=600, check=False)


def test_modern_profile_when_selected_is_tls13_only_and_mozilla_modern_compliant(edge, tmp_path):
    """The edge with the modern profile (haproxy_tls_min_version TLS13, as an environment that follows seeds
    001/004 selects it): sslyze's modern check passes and TLS 1.2 is refused; then the lab's profile again."""
    res = _haproxy_playbook("-e", "haproxy_tls_min_version=TLS13")
    try:
        assert res.returncode == 0, res.stdout[-3000:]
        result = _sslyze_compliant(edge, "modern", tmp_path, " (haproxy_tls_min_version TLS13)")
        assert result["tls_1_2_cipher_suites"]["result"]["accepted_cipher_suites"] == []
        assert result["tls_1_3_cipher_suites"]["result"]["accepted_cipher_suites"]
    finally:
        back = _haproxy_playbook()
        assert back.returncode == 0, back.stdout[-3000:]
    # the lab's profile again: a TLS 1.2 client is served
    tls12 = ("import socket, ssl\n"
             "ctx = ssl.create_default_context(cafile=%r)\n"
             "ctx.check_hostname = False\n"
             "ctx.maximum_version = ssl.TLSVersion.TLSv1_2\n"
             "with socket.create_connection((%r, 443), timeout=5, source_address=(%r, 0)) as raw:\n"
             "    with ctx.wrap_socket(raw) as tls:\n"
             "        print(tls.version())\n") % (edge["ca"], edge["vip"], edge["cdn"])
    again = in_cdn(edge, [sys.executable, "-c", tls12])
    assert again.stdout.strip() == "TLSv1.2", again.stdout + again.stderr


def test_security_headers_exact_on_200_404_and_429_and_http_answers_301(edge):
    ok = get(edge, "/", client_ip=fresh_client())[0]
    assert ok["status"] == 200, ok
    assert_security_headers(ok)
    missing = get(edge, "/no-such-page-%s" % uuid.uuid4().hex[:8], client_ip=fresh_client())[0]
    assert missing["status"] == 404, missing
    assert_security_headers(missing)
    limited = get(edge, "/auth/login", count=6, client_ip=fresh_client())[-1]
    assert limited["status"] == 429, limited
    assert_security_headers(limited)
    plain = get(edge, "/some/page?x=1", scheme="http", client_ip=fresh_client())[0]
    assert plain["status"] == 301, plain
    assert plain["headers"]["location"] == "https://%s/some/page?x=1" % edge["vip"], plain
    assert_security_headers(plain)


def test_general_limit_counts_each_client_per_request_and_spares_another(edge):
    """100 requests a minute per client (seed 000), counted per request on one CDN connection: the 101st of
    one client is refused with Retry-After, while another client on the same CDN edge goes through."""
    first, second = fresh_client(), fresh_client()
    answers = get(edge, "/api/items", count=101, client_ip=first)
    statuses = [a["status"] for a in answers]
    assert statuses[:100] == [200] * 100, statuses
    assert statuses[100] == 429 and answers[100]["headers"]["retry-after"] == "60", answers[100]
    other = get(edge, "/api/items", count=1, client_ip=second)[0]
    assert other["status"] == 200, other


def test_auth_and_ai_classes_have_their_own_limits(edge):
    auth = [a["status"] for a in get(edge, "/auth/login", count=6, client_ip=fresh_client())]
    assert auth == [200] * 5 + [429], auth
    ai = get(edge, "/ai/generate", count=21, client_ip=fresh_client())
    assert [a["status"] for a in ai] == [200] * 20 + [429], [a["status"] for a in ai]
    assert ai[-1]["headers"]["retry-after"] == "60"


def test_repeat_offender_is_blocked_for_an_hour(edge):
    offender = fresh_client()
    answers = get(edge, "/api/items", count=160, client_ip=offender)
    assert answers[-1]["status"] == 429 and answers[-1]["headers"]["retry-after"] == "3600", answers[-1]
    # blocked on every path, the other classes included
    again = get(edge, "/", count=1, client_ip=offender)[0]
    assert again["status"] == 429 and again["headers"]["retry-after"] == "3600", again


def test_forged_client_header_from_outside_the_cdn_is_counted_under_the_real_source(edge):
    """A source outside platform_cdn_ranges that sends CF-Connecting-IP is counted under its own address.
    Outside sources cannot reach 443 through the firewall at all (next test), so this client sits on the
    load balancer that holds the address (its own address is outside the CDN ranges)."""
    holder = vip_holder(edge)[0]
    script = ("import http.client, ssl, json\n"
              "c = http.client.HTTPSConnection(%r, 443, context=ssl._create_unverified_context(), timeout=5)\n"
              "out = []\n"
              "for i in range(101):\n"
              "    c.request('GET', '/api/forged', headers={'CF-Connecting-IP': '198.18.%%d.1' %% (i %% 250)})\n"
              "    r = c.getresponse(); r.read(); out.append(r.status)\n"
              "print(json.dumps(out))\n") % edge["vip"]
    statuses = json.loads(Lab.exec(holder, "python3", "-c", script).stdout)
    # 101 different forged clients, one real source: the 101st request is over that source's limit
    assert statuses[:100] == [200] * 100 and statuses[100] == 429, statuses


def test_sources_outside_the_cdn_ranges_cannot_open_443_or_80(edge):
    for port in (443, 80):
        outside = client(edge, "connect", "--host", edge["vip"], "--port", str(port), "--source", edge["internet"])[0]
        assert outside["open"] is False, (port, outside)
        inside = client(edge, "connect", "--host", edge["vip"], "--port", str(port), "--source", edge["cdn"])[0]
        assert inside["open"] is True, (port, inside)


def test_access_log_reaches_the_central_store_as_json_with_the_real_client(edge):
    listing = inventory()
    collector = sorted(listing["log_collectors"]["hosts"])[0]
    token = "edge-log-%s" % uuid.uuid4().hex[:12]
    who = fresh_client()
    assert get(edge, "/" + token, client_ip=who)[0]["status"] in (200, 404)

    def arrived():
        res = Lab.exec(collector, "sh", "-c", "grep -rh -- %s /var/log/sovereign/ 2>/dev/null" % token, check=False)
        return [l for l in res.stdout.splitlines() if l.strip()]
    lines = wait_until(arrived, 60, 1)
    assert lines, "no access-log line with %s on %s" % (token, collector)
    record = json.loads(lines[0])
    access = json.loads(record["message"][record["message"].index("{"):])
    assert access["client"] == who and access["src"] == edge["cdn"] and access["path"].startswith("/" + token), access
    assert record["program"] == "haproxy", record


def test_a_killed_app_service_leaves_the_rotation_and_requests_keep_succeeding(edge):
    """The service on one backend is killed (and kept down): HAProxy's checks take it out, and a client loop
    through the VIP keeps getting 200s from the other backend."""
    victim = edge["apps"][0]
    dropin = "/run/systemd/system/app.service.d/zz-lab-no-restart.conf"
    Lab.exec(victim, "sh", "-c", "mkdir -p %s && printf '[Service]\\nRestart=no\\n' > %s && systemctl daemon-reload"
             % (os.path.dirname(dropin), dropin))
    try:
        loop = _client_loop(edge, seconds=20, path="/api/items")
        time.sleep(3)
        killed_at = time.time()
        Lab.exec(victim, "systemctl", "kill", "--signal=SIGKILL", "app.service")
        holder = vip_holder(edge)[0]
        down = wait_for(lambda: _server_state(holder, victim).startswith("DOWN"), 30, 0.2)
        detected = time.time() - killed_at
        loop.wait(timeout=60)
        records = _stop(loop)
        failed = [r for r in records if r.get("status") != 200]
        _note("app kill on %s: out of rotation after %.1f s; %d requests through the VIP, %d failed"
              % (victim, detected, len(records), len(failed)))
        assert down, _server_state(holder, victim)
        assert records and not failed, failed[:5]
    finally:
        Lab.exec(victim, "sh", "-c", "rm -f %s && systemctl daemon-reload && systemctl start app.service" % dropin,
                 check=False)
    holder = vip_holder(edge)[0]
    assert wait_for(lambda: _server_state(holder, victim).startswith("UP"), 60, 0.5), _server_state(holder, victim)


def _server_state(lb, server, backend="be_app"):
    """The check status of one backend server on one load balancer (runtime API `show stat`)."""
    res = Lab.exec(lb, "sh", "-c", "echo 'show stat' | socat stdio /run/haproxy/admin.sock", check=False)
    for line in res.stdout.splitlines():
        cols = line.split(",")
        if len(cols) > 17 and cols[0] == backend and cols[1] == server:
            return cols[17]
    return "absent"


def test_killing_the_address_holder_moves_the_address_and_service_resumes(edge, lab_up):
    """lb1's container is killed (a crashed host) under a client loop: the address moves to the other load
    balancer and requests succeed again; the gap is the time between the last success before and the first
    after. The killed host comes back (scripts/lab up) and stays backup (nopreempt)."""
    holder = wait_until(lambda: vip_holder(edge), 30, 1)
    assert len(holder) == 1, holder
    holder = holder[0]
    loop = _client_loop(edge, seconds=25, path="/", interval=0.05, timeout=1)
    time.sleep(4)
    subprocess.run(["podman", "kill", "-s", "KILL", "sovlab-" + holder], check=True, capture_output=True)
    killed_at = time.time()
    try:
        loop.wait(timeout=90)
        records = _stop(loop)
        ok_before = [r["t"] for r in records if r.get("status") == 200 and r["t"] < killed_at]
        ok_after = [r["t"] + r["ms"] / 1000 for r in records if r.get("status") == 200 and r["t"] >= killed_at]
        new_holder = vip_holder({**edge, "lbs": [lb for lb in edge["lbs"] if lb != holder]})
        gap = (min(ok_after) - max(ok_before)) if ok_before and ok_after else None
        failed = len([r for r in records if r.get("status") != 200])
        _note("VIP failover: %s killed, address on %s, service gap %s s (%d requests, %d failed in the gap)"
              % (holder, new_holder, "%.2f" % gap if gap is not None else "none", len(records), failed))
        assert new_holder, "no load balancer took the address"
        assert ok_after, "service did not resume within 20 s of the kill"
        assert gap < 10, gap
    finally:
        res = lab_up.run("up")
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    # the killed host's services are enabled: it rejoins as backup, HAProxy healthy again
    assert wait_for(lambda: Lab.exec(holder, "systemctl", "is-active", "haproxy", "keepalived",
                                     check=False).stdout.split() == ["active", "active"], 90, 1)
    assert len(wait_until(lambda: vip_holder(edge), 30, 1)) == 1


def test_a_config_haproxy_rejects_never_replaces_the_running_one(edge):
    lb = edge["lbs"][0]
    before = Lab.exec(lb, "sha256sum", "/etc/haproxy/haproxy.cfg").stdout
    res = subprocess.run(["ansible-playbook", "-i", "inventories/lab", "playbooks/haproxy.yml", "--limit", lb,
                          "-e", "haproxy_rate_limit_table_size=12qq"], capture_output=True, text=True, cwd=REPO,
                         timeout=600, check=False)
    assert res.returncode != 0, res.stdout[-2000:]
    assert "haproxy -c" in res.stdout or "failed to validate" in res.stdout, res.stdout[-3000:]
    assert Lab.exec(lb, "sha256sum", "/etc/haproxy/haproxy.cfg").stdout == before
    assert Lab.exec(lb, "systemctl", "is-active", "haproxy", check=False).stdout.strip() == "active"
    rc = recap(res.stdout)
    assert rc[lb]["failed"] == 1, rc


# ---- rolling deploys through the runbook (playbooks/runbooks/app_deploy.yml) -------------------------------
def _release(version, broken=False):
    res = subprocess.run([os.path.join(REPO, "lab", "build-sample-app"), version] + (["--broken"] if broken else []),
                         capture_output=True, text=True, cwd=REPO, timeout=600, check=False)
    assert res.returncode == 0, res.stderr


def _deploy(version, *extra):
    start = time.time()
    res = subprocess.run(["ansible-playbook", "-i", "inventories/lab", "playbooks/runbooks/app_deploy.yml",
                          "-e", "app_deploy_version=%s" % version] + list(extra), capture_output=True, text=True,
                         cwd=REPO, timeout=900, check=False)
    with open(os.path.join(REPO, "tests", "output", "app-deploy-%s.log" % version), "w", encoding="utf-8") as handle:
        handle.write(res.stdout + "\n--- stderr ---\n" + res.stderr)
    return res, time.time() - start


def _current(host):
    return os.path.basename(Lab.exec(host, "readlink", "/opt/app/current").stdout.strip())


def test_canary_deploy_under_load_fails_no_request(edge):
    _release("1.1.0")
    loop = _client_loop(edge)
    try:
        time.sleep(3)
        res, took = _deploy("1.1.0", "-e", "app_deploy_canary_watch_s=10")
        time.sleep(3)
    finally:
        records = _stop(loop)
    failed = [r for r in records if r.get("status") != 200]
    served = sorted({r.get("version") for r in records if r.get("status") == 200}, key=str)
    _note("app_deploy 1.1.0 (canary, 10 s watch) under load: %.0f s, %d requests through the VIP, %d failed, "
          "versions served %s" % (took, len(records), len(failed), served))
    assert res.returncode == 0, res.stdout[-4000:]
    assert {h: _current(h) for h in edge["apps"]} == {h: "1.1.0" for h in edge["apps"]}
    assert records and not failed, failed[:5]
    assert served == ["1.0.0", "1.1.0"], served
    assert records[-1].get("version") == "1.1.0", records[-1]


def test_broken_release_is_rolled_back_before_any_request_reaches_it(edge):
    _release("1.2.0", broken=True)
    loop = _client_loop(edge)
    try:
        time.sleep(3)
        res, took = _deploy("1.2.0", "-e", "app_deploy_ready_timeout_s=20", "-e", "app_deploy_canary_watch_s=10")
        time.sleep(3)
    finally:
        records = _stop(loop)
    bad = [r for r in records if r.get("status") != 200]
    served = sorted({r.get("version") for r in records if r.get("status") == 200}, key=str)
    _note("app_deploy 1.2.0 (broken: /ready 503) under load: failed and rolled back in %.0f s; %d requests, %d not 200, "
          "versions served %s" % (took, len(records), len(bad), served))
    assert res.returncode != 0, res.stdout[-4000:]
    assert "1.2.0" in res.stdout and "roll" in res.stdout.lower(), res.stdout[-4000:]
    assert {h: _current(h) for h in edge["apps"]} == {h: "1.1.0" for h in edge["apps"]}
    assert records and not bad, bad[:5]
    assert served == ["1.1.0"], served
    # every server back in rotation at full weight
    holder = vip_holder(edge)[0]
    assert all(_server_state(holder, h).startswith("UP") for h in edge["apps"])


def test_rolling_deploy_back_to_the_inventory_release(edge):
    """The lab's release again (what the inventory says: test_site's second converge then changes nothing)."""
    release = edge["hostvars"][edge["apps"][0]]["app_service_version"]
    res, took = _deploy(str(release), "-e", "app_deploy_mode=rolling")
    _note("app_deploy %s (rolling): %.0f s" % (release, took))
    assert res.returncode == 0, res.stdout[-4000:]
    assert {h: _current(h) for h in edge["apps"]} == {h: str(release) for h in edge["apps"]}
