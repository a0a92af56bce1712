# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checksums of a directory tree, as ``ansible.builtin.find``/``stat`` report them (SHA-1), for the
``tree_checksums`` lookup (kept here so it is testable without loading Ansible's plugin machinery)."""
from __future__ import annotations

import fnmatch
import hashlib
import os


def tree_checksums(root: str, patterns: list[str], exclude_dirs: list[str]) -> dict[str, str]:
    """Relative path -> SHA-1 of every file under *root* whose name matches one of *patterns*."""
    if not os.path.isdir(root):
        raise ValueError(f"tree_checksums: {root} is not a directory on the controller")
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in exclude_dirs)
        for name in sorted(filenames):
            if any(fnmatch.fnmatch(name, p) for p in patterns):
                path = os.path.join(dirpath, name)
                with open(path, "rb") as fh:
                    out[os.path.relpath(path, root)] = hashlib.sha1(fh.read()).hexdigest()  # noqa: S324 - as find's
    return out
