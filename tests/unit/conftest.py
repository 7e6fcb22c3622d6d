"""Make the collection importable as ansible_collections.sovereign.datacenter in unit tests."""
import os
import sys

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_COLLECTIONS = os.path.join(_REPO, ".ansible", "collections")
_LINK = os.path.join(_COLLECTIONS, "ansible_collections", "sovereign", "datacenter")
if not os.path.exists(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    os.symlink(os.path.relpath(_REPO, os.path.dirname(_LINK)), _LINK)
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
# The helpers shared with the lab tests (tests/support), as `support.<module>`.
_TESTS = os.path.join(_REPO, "tests")
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
# The unit stage runs under pytest-xdist (`-n 2`): every worker gets its own Ansible fact cache, so
# that two playbooks never write the same cache file at once (the playbooks run here inherit it).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    os.environ["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = os.path.join(_REPO, ".cache", "facts-unit-%s" % _WORKER)
