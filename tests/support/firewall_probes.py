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
    plan = {"source": "", "timeout": timeout, "parallel": 1,
            "probes": [{"address": address, "port": int(port), "proto": proto, "expect": "deny"}]}
    out = host.check_output("python3 -c %s %s", _PROBE_SOURCE, json.dumps(plan))
    state = json.loads(out)["results"][0]["state"]
    return "filtered" if state == "error" else state


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
