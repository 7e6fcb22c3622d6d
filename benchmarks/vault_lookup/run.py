"""Requests to Vault of the `secret` lookup (backend vault) for N hosts x M secrets, in real
ansible-playbook runs against the local Vault stub (tests/support/vault_stub.py, 127.0.0.1).

    python benchmarks/vault_lookup/run.py [--hosts 100] [--secrets 5] [--forks 10] [--out results.json]

Three runs of the same play (every host templates the M lookups in one task):
  * cached, first run: the secrets do not exist yet (each is read, then created with cas=0);
  * cached, second run: the secrets exist;
  * per-host pattern (vault_cache=false, what a plain KV lookup does: one read per host per secret).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))

from support.vault_stub import VaultStub  # noqa: E402  pylint: disable=wrong-import-position

PLAY = """- name: Every host reads the platform's secrets
  hosts: all
  gather_facts: false
  tasks:
    - name: The secrets resolve on every host
      ansible.builtin.assert:
        that: __secrets | map('length') | unique == [32]
        quiet: true
      vars:
        __secrets: "{{{{ query('sovereign.datacenter.secret', {names}) }}}}"
      no_log: true
"""


def play(workdir, url, token, mount, cache, forks):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".ansible", "collections"), ANSIBLE_STRATEGY="linear",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    env.pop("ANSIBLE_STRATEGY_PLUGINS", None)
    extra = {"platform_secrets_backend": "vault", "platform_vault_addr": url, "platform_vault_token": token,
             "platform_vault_kv_mount": mount, "platform_vault_lookup_cache": cache}
    start = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", os.path.join(workdir, "hosts.yml"), "-f", str(forks),
                           os.path.join(workdir, "play.yml"), "-e", json.dumps(extra)],
                          capture_output=True, text=True, env=env, cwd=workdir, check=False)
    if proc.returncode:
        sys.exit("ansible-playbook failed:\n" + proc.stdout[-3000:] + proc.stderr[-3000:])
    if token in proc.stdout + proc.stderr:
        sys.exit("the token appeared in the output")
    return round(time.monotonic() - start, 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--secrets", type=int, default=5)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--out")
    args = parser.parse_args()
    names = ["bench/secret-%d" % i for i in range(args.secrets)]
    with tempfile.TemporaryDirectory(prefix="vault-lookup-bench-") as workdir, VaultStub() as vault:
        with open(os.path.join(workdir, "hosts.yml"), "w", encoding="utf-8") as handle:
            hosts = {"host%03d" % i: None for i in range(args.hosts)}
            host_vars = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
            json.dump({"all": {"hosts": hosts, "vars": host_vars}}, handle)
        with open(os.path.join(workdir, "play.yml"), "w", encoding="utf-8") as handle:
            handle.write(PLAY.format(names=", ".join("'%s'" % n for n in names)))
        results = {"hosts": args.hosts, "secrets": args.secrets, "forks": args.forks, "runs": []}
        for label, cache in (("cached, secrets missing (created)", True), ("cached, secrets exist", True),
                             ("per-host pattern (no cache)", False)):
            vault.state.requests.clear()
            seconds = play(workdir, vault.url, vault.root_token, "secret", cache, args.forks)
            kv = [r for r in vault.state.requests if r[1].startswith("secret/")]
            results["runs"].append({"run": label, "requests": len(kv),
                                    "reads": sum(1 for r in kv if r[0] == "GET"),
                                    "writes": sum(1 for r in kv if r[0] in ("POST", "PUT")), "wall_s": seconds})
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
