"""Issue 12 on the lab: Redis on app1-app3 (one primary, two replicas, a Sentinel on each), built by site.yml
(tier_app.yml). TLS only, ACL users, and a Sentinel failover under acknowledged writes (WAIT 1): the primary's
container is killed, a new primary is elected, no acknowledged key is lost, the old primary rejoins as a replica,
and a converge afterwards changes nothing (the role does not undo the failover)."""
import json
import os
import subprocess
import time

from conftest import REPO, Lab, changed_tasks, recap, secrets_dir
from support import redis_writer
from support.measurements import append_measurement
from support.waiting import wait_for, wait_until

MEMBERS = {"app1": "10.210.10.11", "app2": "10.210.10.12", "app3": "10.210.10.13"}
PORT, SENTINEL_PORT = 6379, 26379
RESULTS = os.path.join(REPO, "tests", "output", "redis-failover.txt")


def secret(name):
    with open(os.path.join(secrets_dir(), "secrets", name), encoding="utf-8") as handle:
        return handle.read().strip()


def admin(host, *command, port=PORT):
    """One command as the platform's admin user on a member (TLS, loopback)."""
    res = redis_writer.query(host, "127.0.0.1", port, [list(command)], user="admin", password=secret("redis/admin"))
    assert "results" in res, res
    return res["results"][0]


def role(host):
    reply = admin(host, "ROLE")
    return reply.get("ok", [None])[0] if "ok" in reply else None


def primary():
    found = [h for h in sorted(MEMBERS) if role(h) == "master"]
    assert len(found) == 1, found
    return found[0]


# The primary dies by SIGKILL and stays dead until started again (the unit's Restart=always would bring it back
# within 100 ms, before any Sentinel noticed). The process, not the container: the app hosts also carry the
# RabbitMQ nodes, whose own kill test is tests/lab/test_rabbitmq.py.
NO_RESTART = "/run/systemd/system/redis-server.service.d/zz-lab-no-restart.conf"


def kill_primary(host):
    Lab.exec(host, "sh", "-c", "mkdir -p %s && printf '[Service]\\nRestart=no\\n' > %s && systemctl daemon-reload "
             "&& systemctl kill --signal=SIGKILL redis-server" % (os.path.dirname(NO_RESTART), NO_RESTART))


def start_again(host):
    Lab.exec(host, "sh", "-c", "rm -f %s && systemctl daemon-reload && systemctl start redis-server" % NO_RESTART)


def test_one_primary_two_replicas_and_three_sentinels_over_tls(lab_up):
    current = primary()
    info = admin(current, "INFO", "replication")["ok"]
    assert "connected_slaves:2" in info, info
    for host in sorted(set(MEMBERS) - {current}):
        info = admin(host, "INFO", "replication")["ok"]
        assert "master_link_status:up" in info and "master_host:%s" % MEMBERS[current] in info, info
    for host in MEMBERS:
        assert admin(host, "SENTINEL", "CKQUORUM", "main", port=SENTINEL_PORT)["ok"].startswith("OK 3 usable"), host
        addr = admin(host, "SENTINEL", "get-master-addr-by-name", "main", port=SENTINEL_PORT)["ok"]
        assert addr == [MEMBERS[current], str(PORT)], (host, addr)
    # durable and bounded: AOF on, maxmemory set, writes need a connected replica
    config = admin(current, "CONFIG", "GET", "*")["ok"]
    config = dict(zip(config[::2], config[1::2]))
    assert config["appendonly"] == "yes" and int(config["maxmemory"]) > 0, config
    assert config["min-replicas-to-write"] == "1" and config["port"] == "0" and config["tls-port"] == str(PORT)


def test_plain_text_unknown_users_and_forbidden_commands_are_refused(lab_up):
    target = MEMBERS[primary()]  # writes go to the primary (a replica answers READONLY)
    client = "app3"
    app_pw = secret("redis/users/app")
    # plain text on the TLS port: no Redis reply at all (the server expects a TLS handshake)
    plain = redis_writer.query(client, target, PORT, [["PING"]], tls=False)
    assert "connect_error" in plain or "error" in plain["results"][0], plain
    # TLS without credentials: the default user is disabled
    anonymous = redis_writer.query(client, target, PORT, [["PING"], ["GET", "app:x"]])
    assert all("NOAUTH" in r.get("error", "") for r in anonymous["results"]), anonymous
    wrong = redis_writer.query(client, target, PORT, [["PING"]], user="app", password="not-the-password")
    assert "WRONGPASS" in wrong.get("connect_error", ""), wrong
    # the service user: its own keys only, no dangerous commands
    commands = [["SET", "app:probe", "1"], ["SET", "other:probe", "1"], ["CONFIG", "GET", "maxmemory"], ["FLUSHALL"]]
    app = redis_writer.query(client, target, PORT, commands, user="app", password=app_pw)["results"]
    assert "ok" in app[0] and all("NOPERM" in r.get("error", "") for r in app[1:]), app
    # the exporter's user reads metrics and nothing else
    exporter = redis_writer.query(client, target, PORT, [["INFO", "memory"], ["GET", "app:probe"]],
                                  user="exporter", password=secret("redis/exporter"))["results"]
    assert "ok" in exporter[0] and "NOPERM" in exporter[1].get("error", ""), exporter
    # Sentinel: TLS only too, and a service user may discover the primary but not reconfigure the Sentinels
    sentinel = redis_writer.query(client, target, SENTINEL_PORT, [["SENTINEL", "get-master-addr-by-name", "main"],
                                                                  ["SENTINEL", "FAILOVER", "main"]],
                                  user="app", password=app_pw)["results"]
    assert "ok" in sentinel[0] and "NOPERM" in sentinel[1].get("error", ""), sentinel
    anonymous = redis_writer.query(client, target, SENTINEL_PORT, [["SENTINEL", "masters"]])
    assert "NOAUTH" in anonymous["results"][0].get("error", ""), anonymous


PROMETHEUS_QUERY = ("import json, ssl, sys, urllib.request, urllib.parse; "
                    "ctx = ssl.create_default_context(cafile='/etc/ssl/sovereign/ca.crt'); "
                    "url = 'https://10.210.50.11:9090/api/v1/query?query=' + urllib.parse.quote(sys.argv[1]); "
                    "print(urllib.request.urlopen(url, context=ctx, timeout=10).read().decode())")


def prometheus(promql):
    return json.loads(Lab.exec("mon1", "python3", "-c", PROMETHEUS_QUERY, promql).stdout)["data"]["result"]


def test_prometheus_scrapes_every_member_over_tls(lab_up):
    def scraped():
        up = {r["metric"]["instance"]: r["value"][1] for r in prometheus('redis_up{job="redis"}')}
        return up if up == {h: "1" for h in MEMBERS} else None
    assert wait_until(scraped, 60, step=2.0), prometheus('up{job="redis"}')
    roles = {r["metric"]["instance"]: r["metric"]["role"] for r in prometheus('redis_instance_info{job="redis"}')}
    assert sorted(roles.values()) == ["master", "slave", "slave"], roles


def test_sentinel_failover_under_acknowledged_writes_loses_nothing(lab_up):
    old = primary()
    client = sorted(set(MEMBERS) - {old})[-1]
    app_pw = secret("redis/users/app")
    run = redis_writer.start(client, list(MEMBERS.values()), app_pw)
    try:
        assert wait_until(lambda: sum(e["kind"] == "ack" for e in redis_writer.events(client)) >= 50, 30), \
            redis_writer.events(client)[-5:]
        killed_at = time.time()
        kill_primary(old)

        def acked_after_outage(evts):
            """Acknowledged writes after the first failure that followed the kill (the kill takes a moment)."""
            failures = [e["t"] for e in evts if e["kind"] == "error" and e["t"] >= killed_at]
            return [e for e in evts if failures and e["kind"] == "ack" and e["t"] > failures[0]]
        assert wait_until(lambda: len(acked_after_outage(redis_writer.events(client))) >= 20, 90), \
            redis_writer.events(client)[-10:]
    finally:
        redis_writer.stop(client)
    evts = redis_writer.events(client)
    first_after = acked_after_outage(evts)[0]["t"]
    new = [h for h in sorted(set(MEMBERS) - {old}) if role(h) == "master"]
    assert len(new) == 1, new
    new = new[0]
    acked = sorted(e["seq"] for e in evts if e["kind"] == "ack")
    keys = ["app:%s:%d" % (run, seq) for seq in acked]
    present = redis_writer.query(client, MEMBERS[new], PORT, [["EXISTS"] + keys[i:i + 500] for i in range(0, len(keys), 500)],
                                 user="app", password=app_pw)["results"]
    found = sum(r["ok"] for r in present)
    lost = len(keys) - found
    errors = sum(e["kind"] == "error" for e in evts)
    unacked = sum(e["kind"] == "unacked" for e in evts)
    # The old primary comes back and rejoins as a replica of the new one (its stale config rewritten by the Sentinels).
    start_again(old)
    assert wait_for(lambda: role(old) == "slave" and "master_link_status:up" in admin(old, "INFO", "replication")["ok"],
                    timeout=120, tolerate=(AssertionError, KeyError, subprocess.CalledProcessError)), old
    append_measurement(RESULTS, "failover %s -> %s: first acknowledged write %.1f s after the kill; %d acknowledged, "
                       "%d lost, %d unacknowledged, %d errors while there was no primary; %s rejoined as a replica"
                       % (old, new, first_after - killed_at, len(keys), lost, unacked, errors, old))
    assert lost == 0, "%d of %d acknowledged keys lost" % (lost, len(keys))


def test_a_converge_after_the_failover_keeps_the_new_primary_and_changes_nothing(lab_up):
    before = primary()
    res = subprocess.run(["bash", "-c", "source scripts/env.sh >/dev/null && ansible-playbook -i inventories/lab "
                          "playbooks/redis.yml"], capture_output=True, text=True, cwd=REPO, timeout=900, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    counts = recap(res.stdout)
    assert set(MEMBERS) <= set(counts) and all(counts[h]["changed"] == 0 for h in MEMBERS), (counts, changed_tasks(res.stdout))
    assert primary() == before
