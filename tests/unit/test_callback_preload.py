"""plugins/callback/preload.py: the collection's filter, test and lookup plugins are loaded once in ansible-playbook's
own process, so that the task workers forked from it never load them again."""
import json
import os
import subprocess
import sys

from ansible_run import COLLECTIONS, REPO, ansible_bin, ansible_env

# Runs in a fresh interpreter: the plugin loaders are process-wide state.
SCRIPT = r"""
import importlib.util, json, sys
from ansible.plugins.loader import callback_loader, filter_loader, init_plugin_loader, lookup_loader
init_plugin_loader([sys.argv[1]])
callback = callback_loader.get("sovereign.datacenter.preload")
callback.set_options(direct={"collections": json.loads(sys.argv[2])})
loaded = callback.preload()

# What a forked worker inherits: from here on, loading a plugin file from its source is an error.
def no_load(*args, **kwargs):
    raise AssertionError("a plugin file was loaded again: %r" % (args,))
importlib.util.spec_from_file_location = no_load
platform = filter_loader.get_with_context("sovereign.datacenter.tls_openssl").object
flows = filter_loader.get_with_context("sovereign.datacenter.flow_policy_compile").object
to_json = filter_loader.get_with_context("ansible.builtin.to_json").object
secret = lookup_loader.get("sovereign.datacenter.secret")
print(json.dumps({"loaded": loaded, "resolved": [bool(platform), bool(flows), bool(to_json), bool(secret)],
                  "modules": sorted(m for m in sys.modules if m.startswith("ansible_collections.sovereign.datacenter.plugins."))}))
"""


def preload(collections):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, COLLECTIONS, json.dumps(collections)], capture_output=True,
                          text=True, env=ansible_env(), cwd=REPO, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_after_the_preload_no_plugin_file_is_loaded_again():
    result = preload(["sovereign.datacenter"])
    assert result["resolved"] == [True, True, True, True]
    filters = sorted(f[:-3] for f in os.listdir(os.path.join(REPO, "plugins", "filter")) if f.endswith(".py"))
    for name in filters:
        assert "ansible_collections.sovereign.datacenter.plugins.filter.%s" % name in result["modules"]
    assert "lookup sovereign.datacenter.secret" in result["loaded"]
    assert "filter sovereign.datacenter.*" in result["loaded"]


def test_a_collection_that_is_not_installed_is_skipped():
    result = preload(["no_such.collection", "sovereign.datacenter"])
    assert not any("no_such" in item for item in result["loaded"])
    assert result["resolved"] == [True, True, True, True]


PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: A filter and a test of the collection, and Ansible's own
      ansible.builtin.debug:
        msg: "{{ ('TLS12' | sovereign.datacenter.tls_openssl).ciphers | first }} {{ ['10.0.0.0/8'] | ansible.builtin.to_json }}
          {{ '10.1.2.3' is ansible.utils.ip_address }}"
"""


def run(playbook, callbacks):
    env = {**ansible_env(), "ANSIBLE_CALLBACKS_ENABLED": callbacks}
    proc = subprocess.run([ansible_bin("ansible-playbook"), str(playbook)], capture_output=True, text=True, cwd=REPO,
                          env=env, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]


def test_a_playbook_gives_the_same_result_with_and_without_it(tmp_path):
    playbook = tmp_path / "preload.yml"
    playbook.write_text(PLAYBOOK)
    without = run(playbook, "ansible.posix.json")
    with_it = run(playbook, "ansible.posix.json,sovereign.datacenter.preload")
    assert without == with_it == 'ECDHE-ECDSA-AES256-GCM-SHA384 ["10.0.0.0/8"] True'
