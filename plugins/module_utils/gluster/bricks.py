# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What gluster leaves on brick directories, and undoing it after a failed ``volume create``.

``gluster volume create`` creates each brick's directory (its last level) and marks it with the extended
attribute ``trusted.glusterfs.volume-id`` while *staging*, on every node, before it knows that the command
will succeed.  When a later phase fails ("Failed to create volume files", "Staging failed on <peer>"), the
marks stay, and every later create on those paths fails with "is already part of a volume".

:func:`snapshot` records this node's bricks before the create; :func:`undo` removes what the failed create
added on this node.  Bricks of other hosts cannot be reached from here: :func:`cleanup_hint` says how.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import os
import shutil
from typing import Callable, Dict, List

from .layout import split_brick

MARKS = ("trusted.glusterfs.volume-id", "trusted.gfid")


def _marked(path: str) -> bool:
    try:
        return MARKS[0] in os.listxattr(path)
    except OSError:
        return False


def snapshot(bricks: List[str], is_local: Callable[[str], bool]) -> Dict[str, dict]:
    """This node's bricks (by brick name): whether the directory, its mark and ``.glusterfs`` exist."""
    state = {}
    for brick in bricks:
        host, path = split_brick(brick)
        if is_local(host):
            state[brick] = {"path": path, "exists": os.path.isdir(path), "marked": _marked(path),
                            "dotglusterfs": os.path.isdir(os.path.join(path, ".glusterfs"))}
    return state


def undo(before: Dict[str, dict]) -> tuple:
    """Undo on this node what a failed create did: ``(undone, touched, failed)`` brick names.

    A directory the create made is removed (it holds only gluster's own ``.glusterfs``); on one that existed,
    the marks (and a ``.glusterfs`` it added) are removed.  ``touched``: bricks the create had marked, i.e.
    gluster got past staging on this node (so peers may have been marked too).
    """
    undone, touched, failed = [], [], []
    for brick, old in before.items():
        path = old["path"]
        if old["marked"] or not _marked(path):
            continue
        touched.append(brick)
        try:
            if not old["exists"]:
                shutil.rmtree(path)
            else:
                for mark in MARKS:
                    if mark in os.listxattr(path):
                        os.removexattr(path, mark)
                if not old["dotglusterfs"] and os.path.isdir(os.path.join(path, ".glusterfs")):
                    shutil.rmtree(os.path.join(path, ".glusterfs"))
            undone.append(brick)
        except OSError:
            failed.append(brick)
    return undone, touched, failed


def cleanup_hint(bricks: List[str]) -> str:
    paths = ", ".join(bricks)
    return (f"gluster may have created and marked (trusted.glusterfs.volume-id) brick directories on other hosts: "
            f"{paths}; before a new create on those paths run on each host `setfattr -x trusted.glusterfs.volume-id "
            "PATH; setfattr -x trusted.gfid PATH; rm -rf PATH/.glusterfs` (or remove PATH if it is new and empty)")
