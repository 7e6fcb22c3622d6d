"""Firewall probes for the Molecule verifiers (firewall, firewall_ufw, firewall_firewalld) and the lab tests.

One probe implementation for the tests and the audit: the probe script the audit playbook runs on
every source host (roles/firewall/files/firewall_probe.py), run here for one target at a time.
"""
import json
import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBE_SCRIPT = os.path.join(REPO, "roles", "firewall", "files", "firewall_probe.py")

with open(PROBE_SCRIPT, encoding="utf-8") as _handle:
    _PROBE_SOURCE = _handle.read()


def probe(host, address, port, proto="tcp", timeout=1.5):
    """Connect (TCP) or send a datagram (UDP) from testinfra ``host`` to ``address``:``port``.

    Returns ``open`` (a service answered), ``closed`` (reset or ICMP port unreachable: the firewall let
    it through, nothing listens) or ``filtered``: it did not get through, dropped by the target's
    firewall or refused locally by the source's own egress policy (the probe script's ``error``).
    """
    return probe_many(host, [(address, port, proto)], timeout)[0]


def probe_many(host, targets, timeout=1.5):
    """Probe every ``(address, port, proto)`` of ``targets`` from testinfra ``host`` in one run of the
    probe script, all at once (one timeout for every dropped port, instead of one per probe).

    Returns their states in order, as :func:`probe` names them. Each probe is a separate socket and a
    separate connection, so a probe's result does not depend on the others."""
    plan = {"source": "", "timeout": timeout, "parallel": max(1, len(targets)),
            "probes": [{"address": address, "port": int(port), "proto": proto, "expect": "deny"}
                       for address, port, proto in targets]}
    out = host.check_output("python3 -c %s %s", _PROBE_SOURCE, json.dumps(plan))
    return ["filtered" if r["state"] == "error" else r["state"] for r in json.loads(out)["results"]]


def probe_matrix(hosts, rows, addresses, timeout=1.5):
    """Probe a whole matrix of ``(source, target, port, proto, ...)`` rows: one :func:`probe_many` per
    source host. ``hosts`` maps names to testinfra hosts, ``addresses`` names to addresses (a target
    missing from it is an address). Returns ``{row[:4]: state}``."""
    by_source = {}
    for row in rows:
        by_source.setdefault(row[0], []).append(tuple(row[:4]))
    states = {}
    for source, keys in sorted(by_source.items()):
        found = probe_many(hosts[source], [(addresses.get(t, t), port, proto) for _s, t, port, proto in keys], timeout)
        states.update(zip(keys, found))
    return states


def molecule_playbook(args, check=False, timeout=600):
    """ansible-playbook against the running Molecule scenario's inventory (from a verifier).

    JSON results (messages unwrapped, quotes as written), no colours. With ``check``, a failed run fails
    the test with the end of its output."""
    eph = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", os.path.join(eph, "ansible.cfg"))
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".ansible", "collections"))
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_CALLBACK_RESULT_FORMAT"] = "json"
    cmd = ["ansible-playbook", "-i", os.path.join(eph, "inventory")] + list(args)
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if check:
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    return res


def molecule_audit():
    """Run playbooks/firewall_audit.yml on the running Molecule scenario; returns its JSON report."""
    report = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "firewall_audit.json")
    molecule_playbook([os.path.join(REPO, "playbooks", "firewall_audit.yml"),
                       "-e", "firewall_audit_report=%s" % report], check=True)
    with open(report, encoding="utf-8") as handle:
        return json.load(handle)
