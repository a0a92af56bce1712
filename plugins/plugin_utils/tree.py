# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A directory tree on the controller, for the ``tree_checksums`` lookup (SHA-1 sums, as ``ansible.builtin.find``
and ``stat`` report them) and the ``tree_files`` lookup (the folders and text files, as options of
``fedmesh.cluster.files``); kept here so they are testable without loading Ansible's plugin machinery."""
from __future__ import annotations

import fnmatch
import hashlib
import os


def tree_checksums(root: str, patterns: list[str], exclude_dirs: list[str]) -> dict[str, str]:
    """Relative path -> SHA-1 of every file under *root* whose name matches one of *patterns*."""
    if not os.path.isdir(root):
        raise ValueError(f"tree_checksums: {root} is not a directory on the controller")
    out: dict[str, str] = {}
    for rel in _walk(root, patterns, exclude_dirs)[1]:
        with open(os.path.join(root, rel), "rb") as fh:
            out[rel] = hashlib.sha1(fh.read()).hexdigest()  # noqa: S324 - as find's
    return out


def _walk(root: str, patterns: list[str], exclude_dirs: list[str]) -> tuple[list[str], list[str]]:
    """The sub-folders (parents first) and matching files under *root*, as paths relative to it, sorted."""
    dirs: list[str] = []
    files: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in exclude_dirs)
        dirs += [os.path.relpath(os.path.join(dirpath, d), root) for d in dirnames]
        files += [os.path.relpath(os.path.join(dirpath, n), root) for n in sorted(filenames)
                  if any(fnmatch.fnmatch(n, p) for p in patterns)]
    return sorted(dirs), files


def tree_files(root: str, dest: str, *, patterns: list[str], exclude_dirs: list[str], owner: str, group: str,
               mode: str, directory_mode: str, diff: bool) -> dict[str, list[dict]]:
    """The ``directories`` and ``files`` options of ``fedmesh.cluster.files`` that install the tree *root* (on
    the controller) as *dest* (on the node): *dest* and every sub-folder, then every text file whose name
    matches one of *patterns*, with its whole content.  One module call instead of one per file."""
    if not os.path.isdir(root):
        raise ValueError(f"tree_files: {root} is not a directory on the controller")
    if not os.path.isabs(dest) or ".." in dest.split("/") or os.path.normpath(dest) == "/":
        raise ValueError(f"tree_files: dest {dest!r} is not an absolute path without '..' (other than /)")
    dest = os.path.normpath(dest)
    sub, names = _walk(root, patterns, exclude_dirs)
    meta = {"owner": owner, "group": group}
    directories = [{"path": dest, **meta, "mode": directory_mode}]
    directories += [{"path": f"{dest}/{d}", **meta, "mode": directory_mode} for d in sub]
    files = []
    for name in names:
        with open(os.path.join(root, name), "rb") as fh:
            data = fh.read()
        try:
            content = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"tree_files: {os.path.join(root, name)} is not UTF-8 text (binary files cannot be "
                             "installed this way; narrow patterns or use ansible.builtin.copy)") from None
        files.append({"path": f"{dest}/{name}", "content": content, **meta, "mode": mode, "diff": diff})
    return {"directories": directories, "files": files}
