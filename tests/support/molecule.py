"""Molecule verifiers: run a playbook of the scenario against its instances, as Molecule does."""
import os
import subprocess

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_playbook(playbook, *args):
    """ansible-playbook playbook args... with the inventory and ansible.cfg Molecule wrote into the
    scenario's ephemeral directory (MOLECULE_INVENTORY_FILE, MOLECULE_EPHEMERAL_DIRECTORY).

    Returns the CompletedProcess (text output captured) without raising: the callers assert on
    the return code and the output, often that the run failed."""
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(_REPO, ".ansible", "collections"))
    eph = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    if os.path.exists(os.path.join(eph, "ansible.cfg")):
        env["ANSIBLE_CONFIG"] = os.path.join(eph, "ansible.cfg")
    return subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], playbook] + list(args),
                          capture_output=True, text=True, env=env, check=False)
