"""Issue 4 on the lab: the same flow policy through ufw and firewalld, proven from the outside with real
traffic (playbooks/firewall_audit.yml), then back to nftables.

Two switches, not three: first every other lab host (sorted by name: app1 ufw, app2 firewalld, app3 ufw, ...; each
pair of like hosts gets one of each) is switched to ufw and the rest to firewalld, with playbooks/firewall.yml
-e firewall_backend=<name> --limit <its half> (the role applies that backend and switches the others off); the
audit then proves, with every flow crossing between the two backends, the properties tests/lab/test_firewall.py
proves for nftables (tests/support/firewall_audit.py): every declared flow connects, no sampled port is open, the
DC2 data host accepts 5432 only from the DC1 data hosts, SSH only from the management segment. Then every host goes
back to nftables. One audit for both backends instead of two, and no switch of its own per backend: 4-5 minutes
of the suite (measured on CI: ufw switch 124 s + audit 57 s, firewalld switch 131 s + rerun 77 s + audit 54 s).
A second run of each backend (its idempotence) is the idempotence step of molecule/firewall_ufw and
molecule/firewall_firewalld, on three hosts with the same role. The last step leaves every host with exactly the
nftables table site.yml converged (later lab tests rely on it); if a step fails, the module's teardown still
converges nftables. Times and probe counts: tests/output/firewall_backends-lab.txt and pytest's warnings summary.
"""
import os
import warnings

import pytest

from conftest import REPO, Lab, lab_hosts, recap
from support import firewall_audit

MIXED = "ufw+firewalld"
# nftables last: the lab is handed on as site.yml converged it
BACKENDS = (MIXED, "nftables")
# No switch is run a second time here: ufw's and firewalld's reruns are the idempotence steps of
# molecule/firewall_ufw and molecule/firewall_firewalld; back on nftables, every host's table must equal the one
# site.yml converged (test_only_this_backend_filters), and site.yml's rerun is tests/lab/test_site.py's.


def halves():
    """(ufw hosts, firewalld hosts): every other lab host by name."""
    hosts = sorted(lab_hosts())
    return hosts[0::2], hosts[1::2]


def backend_of(host, step):
    return ("ufw" if host in halves()[0] else "firewalld") if step == MIXED else step


MEASUREMENTS = os.path.join(REPO, "tests", "output", "firewall_backends-lab.txt")


def nft_table(host):
    res = Lab.exec(host, "nft", "list", "table", "inet", "sovereign", check=False)
    return res.stdout if res.returncode == 0 else None


def nft_tables(host):
    return Lab.exec(host, "nft", "list", "tables").stdout.split("\n")


def converge(backend, log, hosts=None):
    """firewall.yml with one backend on hosts (default: every lab host)."""
    limit = ["--limit", ",".join(hosts)] if hosts else []
    res, seconds = firewall_audit.lab_playbook("firewall.yml", "-e", "firewall_backend=%s" % backend, *limit, log=log)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    counts = recap(res.stdout)
    assert set(counts) == set(hosts or lab_hosts()), counts
    return counts, seconds


def switch(step, log):
    """Every host to the backend(s) of step: (recap counts of every host, seconds)."""
    if step != MIXED:
        return converge(step, log + ".log")
    counts, seconds = {}, 0.0
    for name, hosts in zip(("ufw", "firewalld"), halves()):
        part, part_seconds = converge(name, "%s-%s.log" % (log, name), hosts)
        counts.update(part)
        seconds += part_seconds
    return counts, seconds


@pytest.fixture(scope="module")
def lab_firewall(lab_up):
    """The lab's nftables state before the switches, the measurements, and the safety net."""
    state = {"current": "nftables", "lines": [],
             "baseline": dict((host, nft_table(host)) for host in sorted(lab_hosts())),
             "tables": dict((host, nft_tables(host)) for host in sorted(lab_hosts()))}
    assert all(state["baseline"].values()), "the lab is not on the nftables backend: %s" % state["baseline"]
    yield state
    if state["current"] != "nftables":  # a step failed on the way: hand the lab on as site.yml left it
        firewall_audit.lab_playbook("firewall.yml", "-e", "firewall_backend=nftables",
                                    log="firewall_backend-nftables-restore-lab.log")
    with open(MEASUREMENTS, "w", encoding="utf-8") as handle:
        handle.write("\n".join(state["lines"]) + "\n")


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request, lab_firewall):
    """Switch the whole lab to the backend(s) of one step and audit it."""
    name = request.param
    lab_firewall["current"] = "switching to %s" % name  # from here on the lab may be half switched
    switched, switch_seconds = switch(name, "firewall_backend-%s-lab" % name)
    lab_firewall["current"] = name
    # Back on nftables with every host's table byte-identical to the one site.yml converged (which
    # tests/lab/test_firewall.py audited with the same probes), the audit would repeat that one:
    # it runs only when a table differs (the identity is asserted by test_only_this_backend_filters).
    if name == "nftables" and all(nft_table(h) == lab_firewall["baseline"][h] for h in sorted(lab_hosts())):
        audit, audit_seconds = None, 0.0
        result = "audit not repeated (every table identical to the audited site.yml one)"
    else:
        audit, audit_seconds = firewall_audit.run_audit("firewall_audit-lab-%s" % name)
        result = "audit %.1f s: %s probes (%s UDP), %s failed" % (audit_seconds, audit["probes"], audit["udp_probes"],
                                                                  audit["failed"])
    line = ("%s: switch %.1f s (changed on %d/%d hosts), %s"
            % (name, switch_seconds, sum(1 for c in switched.values() if c["changed"]), len(switched), result))
    lab_firewall["lines"].append(line)
    warnings.warn(line)
    return {"name": name, "switched": switched, "audit": audit}


def test_switch_changes_every_hosts_firewall(backend):
    """Every host's firewall changes when its backend does (the others are switched off). Its rerun is not here:
    the idempotence steps of molecule/firewall_ufw and molecule/firewall_firewalld, and tests/lab/test_site.py's."""
    assert all(c["changed"] for c in backend["switched"].values()), backend["switched"]


@pytest.mark.parametrize("check", firewall_audit.LAB_PROPERTIES, ids=lambda f: f.__name__)
def test_audit_proves_the_policy(backend, check):
    if backend["audit"] is None:
        pytest.skip("%s: every host's table is the audited site.yml one (test_firewall.py)" % backend["name"])
    check(backend["audit"])


def test_only_this_backend_filters(backend, lab_firewall):
    for host in sorted(lab_hosts()):
        ufw = Lab.exec(host, "sh", "-c", "command -v ufw >/dev/null && ufw status verbose || echo 'Status: absent'")
        firewalld = Lab.exec(host, "systemctl", "is-active", "firewalld.service", check=False).stdout.strip()
        table = nft_table(host)
        name = backend_of(host, backend["name"])
        if name == "ufw":
            assert "Status: active" in ufw.stdout and "deny (incoming)" in ufw.stdout, (host, ufw.stdout)
            assert firewalld != "active" and table is None, host
        elif name == "firewalld":
            assert firewalld == "active", host
            zone = Lab.exec(host, "firewall-cmd", "--get-default-zone").stdout.strip()
            assert zone == "sovereign", (host, zone)
            assert "target: DROP" in Lab.exec(host, "firewall-cmd", "--zone=sovereign", "--list-all").stdout
            assert "Status: active" not in ufw.stdout and table is None, host
        else:
            # exactly the table site.yml converged, and nothing else filters
            assert table == lab_firewall["baseline"][host], host
            assert "Status: active" not in ufw.stdout and firewalld != "active", host
            assert Lab.exec(host, "systemctl", "is-enabled", "nftables.service").stdout.strip() == "enabled"


def test_back_on_nftables_nothing_else_is_left(backend, lab_firewall):
    """Back on nftables, the live ruleset is the one site.yml converged and nothing else: firewalld
    removes its table when it stops, and the role deletes the empty iptables-nft filter tables ufw
    leaves behind (no rule, policy accept)."""
    if backend["name"] != "nftables":
        pytest.skip("checked once the lab is back on nftables")
    left = {}
    for host in sorted(lab_hosts()):
        extra = sorted(set(nft_tables(host)) - set(lab_firewall["tables"][host]) - {""})
        if extra:
            left[host] = {line: Lab.exec(host, "nft", "list", "table", *line.split()[1:3]).stdout for line in extra}
    assert not left, left
