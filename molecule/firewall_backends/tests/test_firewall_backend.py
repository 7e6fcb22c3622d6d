"""Behaviour of the firewall role's ufw and firewalld backends with real traffic.

Shared by the Molecule scenarios firewall_ufw and firewall_firewalld (FIREWALL_BACKEND, FIREWALL_PREFIX,
FIREWALL_NET come from the scenario's verifier env). Every host runs TCP listeners on 22, 80, 443, 3306,
5432, 6379, 8000, 8432, 9100 and UDP echo listeners on 53, 123, 161, 514 (prepare.yml), so a probe ends
`open` when the firewall lets it through and `filtered` (no answer) when the policy drops it.
"""
import json
import os
import sys
import time
import warnings

import pytest

BACKEND = os.environ.get("FIREWALL_BACKEND", "ufw")
PREFIX = os.environ.get("FIREWALL_PREFIX", "fwu")
NET = os.environ.get("FIREWALL_NET", "10.246")
MGMT, APP, DB = PREFIX + "-mgmt", PREFIX + "-app", PREFIX + "-db"
ADDR = {MGMT: NET + ".50.10", APP: NET + ".10.11", DB: NET + ".20.11"}
HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(SHARED))
CONVERGE = os.path.join(SHARED, "converge.yml")
sys.path.insert(0, os.path.join(REPO, "tests"))
from support import firewall_probes  # noqa: E402  pylint: disable=wrong-import-position
from support.firewall_probes import molecule_playbook as ansible  # noqa: E402  pylint: disable=wrong-import-position


def probe(hosts, src, dst, port, proto="tcp"):
    return firewall_probes.probe(hosts[src], ADDR.get(dst, dst), port, proto)


def live(host):
    """The backend's own view of its live rules."""
    if BACKEND == "ufw":
        return host.check_output("ufw status verbose; iptables -S ufw-user-input; iptables -S ufw-user-output")
    return host.check_output("firewall-cmd --get-default-zone; firewall-cmd --zone=sovereign --list-all; "
                             "firewall-cmd --get-ipsets; firewall-cmd --list-all-policies")


def config_digest(host):
    paths = "/etc/ufw /etc/default/ufw" if BACKEND == "ufw" else "/etc/firewalld"
    return host.check_output("find %s -type f | sort | xargs sha256sum" % paths)


# Declared flows get through, everything else is dropped. (source, target, port, proto, expected)
MATRIX = [
    (APP, DB, 5432, "tcp", "open"),        # app_to_postgresql
    (MGMT, DB, 5432, "tcp", "filtered"),   # nobody declared management -> postgresql
    (APP, DB, 6379, "tcp", "filtered"),    # undeclared ports, services listening
    (APP, DB, 3306, "tcp", "filtered"),
    (APP, DB, 80, "tcp", "filtered"),
    (APP, DB, 443, "tcp", "filtered"),
    (MGMT, DB, 22, "tcp", "open"),         # management_ssh
    (MGMT, APP, 22, "tcp", "open"),
    (APP, DB, 22, "tcp", "filtered"),      # SSH only from the management segment
    (DB, APP, 22, "tcp", "filtered"),
    (DB, MGMT, 22, "tcp", "filtered"),
    (APP, MGMT, 22, "tcp", "filtered"),
    (MGMT, APP, 9100, "tcp", "open"),      # monitoring_node_exporter
    (DB, APP, 9100, "tcp", "filtered"),
    (MGMT, APP, 8000, "tcp", "open"),      # dmz_to_app, widened to management by the contributed layer
    (DB, APP, 8000, "tcp", "filtered"),
    (APP, MGMT, 53, "udp", "open"),        # dns (UDP)
    (DB, MGMT, 53, "udp", "open"),         # ... from every host; the data host originates it (egress)
    (APP, MGMT, 514, "udp", "open"),       # syslog_udp from the app tier only
    (DB, MGMT, 514, "udp", "filtered"),
    (APP, MGMT, 161, "udp", "filtered"),   # undeclared UDP, service listening
    (MGMT, DB, 53, "udp", "filtered"),
    (DB, MGMT, 8432, "tcp", "open"),       # backup_repository: data -> bastion
    (APP, MGMT, 8432, "tcp", "filtered"),
]


@pytest.fixture(scope="module")
def matrix(hosts):
    """Every probe of MATRIX, made at once from each source host (one timeout per source, not per dropped
    port), before any test below changes a rule."""
    return firewall_probes.probe_matrix(hosts, MATRIX, ADDR)


@pytest.mark.parametrize("src,dst,port,proto,expected", MATRIX)
def test_declared_flows_pass_and_undeclared_ports_are_dropped(matrix, src, dst, port, proto, expected):
    assert matrix[(src, dst, port, proto)] == expected


def test_loopback_passes(hosts):
    assert probe(hosts, DB, "127.0.0.1", 6379) == "open"


def test_backend_shows_one_rule_per_flow_with_its_comment(hosts):
    text = live(hosts[DB])
    if BACKEND == "ufw":
        assert "Status: active" in text
        assert "Default: deny (incoming)" in text
        assert "5432/tcp                   ALLOW IN    %s.10.0/24" % NET in text
        assert "# flow app_to_postgresql: app tier to PostgreSQL" in text
        assert "-A ufw-user-input -p tcp -m multiport --dports" not in text  # single ports stay single
        assert "replication_dc2" not in text
    else:
        lines = text.splitlines()
        assert lines[0] == "sovereign"  # the role's zone is the default zone
        assert "target: DROP" in text
        assert 'rule family="ipv4" source ipset="sv_app_to_postgresql_4" port port="5432" protocol="tcp" accept' in text
        assert "sv_replication_dc2" not in text
        ipset = hosts[DB].check_output("firewall-cmd --info-ipset=sv_app_to_postgresql_4")
        assert "%s.10.0/24" % NET in ipset.split("entries:")[1]


def test_other_backends_are_off(hosts):
    host = hosts[DB]
    assert host.run("nft list table inet sovereign").rc != 0
    if BACKEND == "ufw":
        assert host.service("ufw").is_enabled
        assert not host.service("firewalld").is_running
    else:
        assert host.service("firewalld").is_enabled and host.service("firewalld").is_running
        assert host.run("ufw status").rc != 0 or "inactive" in host.run("ufw status").stdout


def test_no_rollback_left_armed(hosts):
    for host in hosts.values():
        assert host.run("systemctl is-active --quiet sovereign-firewall-rollback.timer").rc != 0


def test_data_host_egress_is_default_deny(hosts):
    db, mgmt = hosts[DB], hosts[MGMT]
    if BACKEND == "ufw":
        assert "deny (incoming), deny (outgoing)" in db.check_output("ufw status verbose")
        ports = ("-p tcp --dport 6379", "-p udp --dport 123", "-p udp --dport 161")
        open_by_hand = "; ".join("iptables -I ufw-user-input %s -j ACCEPT" % p for p in ports)
        close_again = "; ".join("iptables -D ufw-user-input %s -j ACCEPT" % p for p in ports)
    else:
        policy = db.check_output("firewall-cmd --info-policy=sovereign_egress")
        assert "target: DROP" in policy and "ingress-zones: HOST" in policy and "egress-zones: ANY" in policy
        assert "sovereign_egress" not in mgmt.check_output("firewall-cmd --get-policies")  # only the data host
        open_by_hand = "firewall-cmd --zone=sovereign --add-port=6379/tcp --add-port=123/udp --add-port=161/udp"
        close_again = "firewall-cmd --zone=sovereign --remove-port=6379/tcp --remove-port=123/udp --remove-port=161/udp"
    # Open 6379/tcp, 123/udp and 161/udp on the bastion by hand for everybody: the app host gets in, the
    # data host may only send what its egress policy allows (NTP, its declared allowance).
    mgmt.check_output(open_by_hand)
    try:
        states = firewall_probes.probe_matrix(hosts, [
            (APP, MGMT, 6379, "tcp", "open"), (APP, MGMT, 161, "udp", "open"),
            (DB, MGMT, 6379, "tcp", "filtered"), (DB, MGMT, 161, "udp", "filtered"),
            (DB, MGMT, 123, "udp", "open"),  # the NTP allowance
            (DB, APP, 8000, "tcp", "filtered")], ADDR)
    finally:
        mgmt.check_output(close_again)
    assert states == {(APP, MGMT, 6379, "tcp"): "open", (APP, MGMT, 161, "udp"): "open",
                      (DB, MGMT, 6379, "tcp"): "filtered", (DB, MGMT, 161, "udp"): "filtered",
                      (DB, MGMT, 123, "udp"): "open", (DB, APP, 8000, "tcp"): "filtered"}, states
    # what the data host originates, and its declared allowance (NTP), are in its outbound rules
    if BACKEND == "ufw":
        out = db.check_output("ufw status verbose")
        assert any(line.startswith("%s 8432/tcp" % ADDR[MGMT]) and "ALLOW OUT" in line
                   for line in out.splitlines()), out
        assert "# egress ntp: time from the bastion" in out
        assert "# egress backup_repository" in out
    else:
        assert ('rule family="ipv4" destination ipset="sv_backup_repository_o4" port port="8432" protocol="tcp" '
                'accept') in policy
        assert 'destination ipset="sv_ntp_o4" port port="123" protocol="udp" accept' in policy
        assert ADDR[MGMT] in db.check_output("firewall-cmd --info-ipset=sv_ntp_o4").split("entries:")[1]
    assert probe(hosts, DB, MGMT, 8432) == "open"  # backup_repository, originated by the data host
    # replies to what others may open on the data host still leave it (established)
    assert probe(hosts, APP, DB, 5432) == "open"


def test_check_diff_names_the_changed_rule_and_applies_nothing(hosts, tmp_path):
    db = hosts[DB]
    before_cfg, before_live = config_digest(db), live(db)
    extra = tmp_path / "change.json"
    extra.write_text(json.dumps({"platform_flows_zz_change": [{"name": "app_to_postgresql", "ports": [5432, 5434]}]}))
    res = ansible([CONVERGE, "--check", "--diff", "--limit", DB, "-e", "@%s" % extra], check=True)
    if BACKEND == "ufw":
        assert "+-A ufw-user-input -p tcp -m multiport --dports 5432,5434 -s %s.10.0/24 -j ACCEPT" % NET in res.stdout
        assert "--dport 5432 -s %s.10.0/24 -j ACCEPT" % NET in res.stdout  # the old rule, removed
    else:
        assert ('+  <rule family="ipv4"><source ipset="sv_app_to_postgresql_4"/><port port="5434" '
                'protocol="tcp"/><accept/></rule>') in res.stdout
    assert "changed=1" in res.stdout
    assert config_digest(db) == before_cfg
    assert live(db) == before_live
    assert probe(hosts, APP, DB, 5432) == "open"


def test_drift_is_shown_by_check_and_repaired_by_converge(hosts):
    db = hosts[DB]
    if BACKEND == "ufw":
        db.check_output("iptables -I ufw-user-input -p tcp --dport 6379 -j ACCEPT")
    else:
        db.check_output("firewall-cmd --zone=sovereign --add-port=6379/tcp")
    assert probe(hosts, APP, DB, 6379) == "open"
    res = ansible([CONVERGE, "--check", "--diff", "--limit", DB], check=True)
    assert "changed outside this module" in res.stdout and "6379" in res.stdout
    assert probe(hosts, APP, DB, 6379) == "open"  # check mode changed nothing
    ansible([CONVERGE, "--limit", DB], check=True)
    assert probe(hosts, APP, DB, 6379) == "filtered"


# Runs on the app host during a real apply: four threads connect in a loop to a denied port that
# has a listener (any success = the host was unfiltered for that moment) and one to an allowed port
# (the control: the prober does reach what the policy lets through).
WINDOW_PROBER = r"""
import json, os, socket, sys, threading, time
target, denied, allowed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
count = {"attempts": 0, "opened": 0, "control": 0}
def loop(port, key):
    while not os.path.exists("/tmp/window.stop"):
        s = socket.socket()
        s.settimeout(0.05)
        try:
            s.connect((target, port))
            count[key] += 1
        except OSError:
            pass
        finally:
            s.close()
        if key == "opened":
            count["attempts"] += 1
        else:
            time.sleep(0.2)
threads = [threading.Thread(target=loop, args=(denied, "opened")) for _ in range(4)]
threads.append(threading.Thread(target=loop, args=(allowed, "control")))
for t in threads:
    t.start()
for t in threads:
    t.join()
with open("/tmp/window.json", "w") as out:
    json.dump(count, out)
"""


def test_a_rule_change_never_leaves_the_host_unfiltered(hosts, tmp_path):
    """A flow change applied for real (6379 added to app_to_postgresql) while the app host connects in
    a loop to a denied port that listens (3306): no connection gets through during the apply, and the
    new port answers after it. ufw loads a change of its rule files in place (iptables-restore
    --noflush replaces its user chains in one transaction), not with `ufw reload` (stop + start),
    which let the denied port answer. firewalld's `--reload` (nftables backend) passes the same test."""
    db, app = hosts[DB], hosts[APP]
    app.run("rm -f /tmp/window.stop /tmp/window.json")
    app.check_output("cat > /tmp/window.py <<'EOF'\n%s\nEOF" % WINDOW_PROBER)
    app.check_output("systemd-run --unit=sovereign-window-probe --collect python3 /tmp/window.py %s 3306 5432"
                     % ADDR[DB])
    extra = tmp_path / "open6379.json"
    extra.write_text(json.dumps({"platform_flows_zz_change": [{"name": "app_to_postgresql", "ports": [5432, 6379]}]}))
    t0 = time.monotonic()
    try:
        ansible([CONVERGE, "--limit", DB, "-e", "@%s" % extra], check=True)
    finally:
        app.run("touch /tmp/window.stop")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not app.file("/tmp/window.json").exists:
            time.sleep(0.5)
    seconds = time.monotonic() - t0
    count = json.loads(app.check_output("cat /tmp/window.json"))
    try:
        assert count["control"] > 0, count  # the prober reaches an allowed port
        assert probe(hosts, APP, DB, 6379) == "open"  # the change is in force
        assert count["opened"] == 0, count
        warnings.warn("%s: a rule change applied during %d connection attempts to a denied port over %.1f s: "
                      "%d got through" % (BACKEND, count["attempts"], seconds, count["opened"]))
    finally:
        ansible([CONVERGE, "--limit", DB], check=True)  # back to the policy
    assert probe(hosts, APP, DB, 6379) == "filtered"


def test_unconfirmed_change_rolls_back_by_itself(hosts, tmp_path):
    db = hosts[DB]
    before_cfg = config_digest(db)
    if BACKEND == "ufw":
        module = """
      sovereign.datacenter.firewall_files:
        name: ufw
        files:
          - {path: /etc/ufw/user.rules, content: "{{ cut['user.rules'] }}", mode: "0640"}
          - {path: /etc/ufw/user6.rules, content: "{{ cut['user6.rules'] }}", mode: "0640"}
        reload: [[ufw, reload]]
        state_commands: [[iptables, -S, ufw-user-input]]
        rollback_timeout: 15
      vars:
        cut: "{{ {'flows': []} | sovereign.datacenter.ufw_render }}"
"""
    else:
        module = """
      sovereign.datacenter.firewall_files:
        name: firewalld
        files:
          - {path: /etc/firewalld/zones/sovereign.xml, content: "{{ cut['zones/sovereign.xml'] }}"}
        purge: ["/etc/firewalld/ipsets/sv_*.xml", "/etc/firewalld/policies/sovereign_egress.xml"]
        reload: [[firewall-cmd, --reload]]
        state_commands: [[firewall-cmd, --get-default-zone], [firewall-cmd, --zone=sovereign, --list-all]]
        rollback_timeout: 15
      vars:
        cut: "{{ {'flows': []} | sovereign.datacenter.firewalld_render }}"
"""
    playbook = tmp_path / "lockout.yml"
    playbook.write_text("""
- hosts: %s
  gather_facts: false
  tasks:
    - name: A configuration that cuts every flow, applied without confirming it
%s""" % (DB, module))
    ansible([str(playbook)], check=True)
    applied_at = time.monotonic()
    assert probe(hosts, APP, DB, 5432) == "filtered"
    assert db.run("systemctl is-active --quiet sovereign-firewall-rollback.timer").rc == 0
    # Restored = the rollback script has finished (it writes rollback.done after the firewall's reload).
    # Probing for the port alone is not enough: `ufw reload` is `ufw disable` + `ufw enable`, so ufw
    # itself lets everything through (policy ACCEPT, ENABLED=no in ufw.conf) for the moment between
    # the two; the port answers before the reload is over.
    done = "/var/lib/sovereign-firewall/rollback.done"
    while time.monotonic() - applied_at < 120 and not db.file(done).exists:
        time.sleep(0.5)
    restored_after = time.monotonic() - applied_at
    assert db.file(done).exists
    assert restored_after < 75, restored_after  # 15 s + the firewall's reload (slow on a loaded machine)
    assert probe(hosts, APP, DB, 5432) == "open"
    assert probe(hosts, APP, DB, 6379) == "filtered"
    assert config_digest(db) == before_cfg
    warnings.warn("%s: rollback restored the previous configuration %.1f s after the unconfirmed change "
                  "(rollback_timeout 15 s)" % (BACKEND, restored_after))


def test_a_configuration_the_firewall_fails_to_load_is_undone_at_once(hosts, tmp_path):
    """The checker cannot catch everything (firewall-offline-cmd --check-config accepts a rule naming a missing
    ipset; ufw files are not checked here): when the reload fails, the previous files come back and are
    reloaded at once, not only when the rollback timer fires."""
    if BACKEND == "ufw":
        pytest.skip("no known ufw rule file that `ufw reload` refuses: it loaded one with an unknown jump target")
    db = hosts[DB]
    before_cfg = config_digest(db)
    if BACKEND == "ufw":
        # ufw.conf goes along unchanged: `ufw reload` is disable + enable, and a failed one leaves ENABLED=no
        path, mode, reload_cmd = "/etc/ufw/user.rules", "0640", "[[ufw, --force, enable], [ufw, reload]]"
        extra_file = {"path": "/etc/ufw/ufw.conf", "content": db.file("/etc/ufw/ufw.conf").content_string,
                      "mode": "0644"}
        broken = db.file(path).content_string.replace(
            "### RULES ###\n", "### RULES ###\n-A ufw-user-input -p tcp --dport 6379 -j NO_SUCH_TARGET\n", 1)
    else:
        path, mode, reload_cmd = "/etc/firewalld/zones/sovereign.xml", "0644", "[[firewall-cmd, --reload]]"
        extra_file = {"path": "/etc/firewalld/firewalld.conf",
                      "content": db.file("/etc/firewalld/firewalld.conf").content_string, "mode": "0644"}
        broken = db.file(path).content_string.replace(
            "</zone>", '  <rule family="ipv4"><source ipset="sv_no_such_set_4"/><port port="6379" protocol="tcp"/>'
            "<accept/></rule>\n</zone>", 1)
    extra = tmp_path / "broken.json"
    extra.write_text(json.dumps({"files": [{"path": path, "content": broken, "mode": mode}, extra_file]}))
    playbook = tmp_path / "broken.yml"
    playbook.write_text("""
- hosts: %s
  gather_facts: false
  tasks:
    - name: A configuration the firewall fails to load
      sovereign.datacenter.firewall_files:
        name: %s
        files: "{{ files }}"
        reload: %s
        rollback_timeout: 300
""" % (DB, BACKEND, reload_cmd))
    started = time.monotonic()
    res = ansible([str(playbook), "-e", "@%s" % extra])
    seconds = time.monotonic() - started
    assert res.returncode != 0
    assert "the previous configuration was restored and reloaded at once" in res.stdout + res.stderr, res.stdout[-3000:]
    assert config_digest(db) == before_cfg
    assert db.run("systemctl is-active --quiet sovereign-firewall-rollback.timer").rc != 0
    assert probe(hosts, APP, DB, 5432) == "open"
    assert probe(hosts, APP, DB, 6379) == "filtered"
    warnings.warn("%s: a configuration the firewall failed to load was undone within the failing task (%.1f s)"
                  % (BACKEND, seconds))


def test_audit_playbook_proves_the_policy(hosts):
    data = firewall_probes.molecule_audit()
    assert data["failed"] == 0, data
    pair = "%s -> %s"
    assert 5432 in data["pairs"][pair % (APP, DB)]["allowed_ok"]
    assert 5432 in data["pairs"][pair % (MGMT, DB)]["denied_ok"]
    assert 22 in data["pairs"][pair % (APP, DB)]["denied_ok"]
    assert 53 in data["pairs"][pair % (APP, MGMT)]["udp_allowed_ok"]
    assert 161 in data["pairs"][pair % (APP, MGMT)]["udp_denied_ok"]
    assert int(data["udp_probes"]) > 0
    assert len(data["pairs"]) == 6
    warnings.warn("%s: audit ran %s probes (%s UDP), all as the policy says"
                  % (BACKEND, data["probes"], data["udp_probes"]))
