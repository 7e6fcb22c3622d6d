"""Running this checkout's Ansible from the unit tests (render playbooks, inventories)."""
import json
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(REPO, ".ansible", "collections")


def ansible_bin(name):
    """An Ansible command of the running venv, else from PATH."""
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    return candidate if os.path.exists(candidate) else shutil.which(name)


def ansible_env():
    """Environment of the render playbooks: this checkout's collection, JSON output, linear strategy."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.json",
        "ANSIBLE_STRATEGY": "linear",
    })
    env.pop("ANSIBLE_STRATEGY_PLUGINS", None)
    return env


def run_playbook_json(*args):
    """ansible-playbook ARGS with the JSON callback; the parsed result (asserts success)."""
    proc = subprocess.run([ansible_bin("ansible-playbook")] + [str(a) for a in args], capture_output=True, text=True,
                          env=ansible_env(), cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout)


def inventory_listing(inventory_dir):
    """`ansible-inventory --list` of an inventory directory."""
    return json.loads(subprocess.run(
        [ansible_bin("ansible-inventory"), "-i", inventory_dir, "--list"], capture_output=True, text=True, check=True,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS}, cwd=REPO).stdout)


def render_role_templates(role_dir, templates, workdir, extra_vars=None):
    """Render ``{key: template file name}`` of a role with its defaults and vars (as the role does on
    the host, extra vars winning); returns ``{key: rendered text}``."""
    lines = ["- hosts: localhost", "  connection: local", "  gather_facts: false",
             "  vars_files: [%s/defaults/main.yml, %s/vars/main.yml]" % (role_dir, role_dir), "  tasks:",
             "    - ansible.builtin.debug:", "        msg:"]
    lines += ["          %s: \"{{ lookup('ansible.builtin.template', '%s/templates/%s') }}\"" % (key, role_dir, name)
              for key, name in sorted(templates.items())]
    playbook = os.path.join(str(workdir), "render-%s.yml" % os.path.basename(role_dir))
    with open(playbook, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    args = [playbook] + (["-e", json.dumps(extra_vars)] if extra_vars else [])
    return run_playbook_json(*args)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
