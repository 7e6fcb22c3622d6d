# shellcheck shell=bash
# Source after scripts/bootstrap: puts the tool set on PATH and configures Ansible for this checkout.
SOVEREIGN_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SOVEREIGN_CACHE=${SOVEREIGN_CACHE:-$HOME/.cache/sovereign}
export SOVEREIGN_REPO SOVEREIGN_CACHE
export PATH="$SOVEREIGN_CACHE/venv/bin:$PATH"
export ANSIBLE_CONFIG="$SOVEREIGN_REPO/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$SOVEREIGN_REPO/.ansible/collections"
# mitogen: the fast, sound connection path for podman hosts (TESTING-HERE "Speed"), through
# scripts/strategy/mitogen_linear_unpinned.py: mitogen_linear without Mitogen's CPU pinning, which
# on a 2-core machine put the whole converge (workers, module runs, Molecule's hosts) on one core.
__mitogen=$("$SOVEREIGN_CACHE/venv/bin/python" -c 'import ansible_mitogen, os; print(os.path.dirname(ansible_mitogen.__file__))')
export ANSIBLE_STRATEGY_PLUGINS="$SOVEREIGN_REPO/scripts/strategy:$__mitogen/plugins/strategy"
export ANSIBLE_STRATEGY=${ANSIBLE_STRATEGY:-mitogen_linear_unpinned}
unset __mitogen
# Reaching a freshly started container can take more than the default 10 s on a loaded 2-core CI box
# (Molecule prepare steps failed with "Connection timed out" at load 12-23).
export ANSIBLE_TIMEOUT=${ANSIBLE_TIMEOUT:-60}
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0}
export ANSIBLE_NOCOLOR=${ANSIBLE_NOCOLOR:-1}
