"""The exporters' basic-auth hash, rendered by Ansible on this controller as the roles render it.

The roles hash the platform secret with password_hash('bcrypt') and a salt derived from the secret (so a
rerun writes the same file). That needs passlib with a bcrypt backend on the controller: passlib 1.9 has no
os_crypt backend, and without the bcrypt package every first converge failed on a fresh controller with
"bcrypt: no backends available" (tests/requirements.txt, requirements.txt)."""
import json
import os

import bcrypt
import pytest

from ansible_run import REPO, run_playbook_json

ROLES = ["node_exporter", "postgres_exporter", "blackbox_exporter"]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def hashes(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("exporter-auth")
    playbook = os.path.join(str(workdir), "hashes.yml")
    lines = ["- hosts: localhost", "  connection: local", "  gather_facts: false", "  tasks:"]
    for role in ROLES:
        lines += ["    - name: %s" % role, "      ansible.builtin.include_vars:",
                  "        file: %s/roles/%s/vars/main.yml" % (REPO, role), "        name: v_%s" % role,
                  "    - ansible.builtin.debug:", "        msg: \"{{ v_%s.__%s_basic_auth_hash }}\"" % (role, role)]
    with open(playbook, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    extra = {"%s_basic_auth_password" % role: PASSWORD for role in ROLES}
    result = run_playbook_json(playbook, "-e", json.dumps(extra))
    debugs = [t for t in result["plays"][0]["tasks"] if t["task"]["name"] == ""
              or t["task"]["name"].startswith("ansible.builtin.debug")]
    return [t["hosts"]["localhost"]["msg"] for t in debugs]


def test_every_exporter_gets_a_bcrypt_hash_of_the_secret(hashes):
    assert len(hashes) == len(ROLES)
    for value in hashes:
        assert value.startswith("$2b$10$"), value
        assert bcrypt.checkpw(PASSWORD.encode(), value.encode())


def test_the_hash_is_the_same_on_every_run(hashes):
    """The salt comes from the secret: the same secret gives the same file (the roles' idempotence)."""
    assert len(set(hashes)) == 1
