"""tree_digest: one digest of a directory's file names and contents, stable, and changed by any edit or rename."""
import pytest
from ansible.errors import AnsibleLookupError

from ansible_collections.sovereign.datacenter.plugins.lookup.tree_digest import tree_digest


def test_stable_and_sensitive_to_content_and_names(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "main.yml").write_text("---\n")
    (tmp_path / "defaults.yml").write_text("a: 1\n")
    first = tree_digest(str(tmp_path))
    assert tree_digest(str(tmp_path)) == first and len(first) == 64
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (tmp_path / ".swp").write_text("editor")
    assert tree_digest(str(tmp_path)) == first
    (tmp_path / "defaults.yml").write_text("a: 2\n")
    changed = tree_digest(str(tmp_path))
    assert changed != first
    (tmp_path / "defaults.yml").rename(tmp_path / "vars.yml")
    assert tree_digest(str(tmp_path)) not in (first, changed)


def test_not_a_directory(tmp_path):
    with pytest.raises(AnsibleLookupError):
        tree_digest(str(tmp_path / "missing"))
