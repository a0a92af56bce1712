"""tree_checksums (plugin_utils/tree.py, behind the lookup): the controller half of "copy the package if it differs"."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.tree import tree_checksums


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "pkg" / "sub" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("print('a')\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_bytes(b"b = 1\n")
    (tmp_path / "pkg" / "sub" / "notes.txt").write_text("x")
    (tmp_path / "pkg" / "sub" / "__pycache__" / "b.py").write_text("stale")
    return tmp_path / "pkg"


def test_relative_paths_sha1_like_find_and_patterns(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    sums = tree_checksums(str(root), ["*.py"], ["__pycache__"])
    assert sums == {"a.py": hashlib.sha1(b"print('a')\n").hexdigest(), "sub/b.py": hashlib.sha1(b"b = 1\n").hexdigest()}
    assert set(tree_checksums(str(root), ["*"], [])) == {"a.py", "sub/b.py", "sub/notes.txt", "sub/__pycache__/b.py"}


def test_a_changed_file_changes_its_checksum(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    before = tree_checksums(str(root), ["*.py"], [])
    (root / "sub" / "b.py").write_bytes(b"b = 2\n")
    after = tree_checksums(str(root), ["*.py"], [])
    assert before["a.py"] == after["a.py"] and before["sub/b.py"] != after["sub/b.py"]


def test_other_patterns_and_missing_directory(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert list(tree_checksums(str(root), ["*.txt"], ["__pycache__"])) == ["sub/notes.txt"]
    with pytest.raises(ValueError, match="is not a directory on the controller"):
        tree_checksums(str(tmp_path / "nope"), ["*"], [])
