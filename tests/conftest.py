"""Make the collection importable as ``ansible_collections.fedmesh.cluster`` and ``src/`` importable.

Ansible plugins import each other by their collection path, so pytest needs a tree
``.build/collections/ansible_collections/fedmesh/cluster`` that points at this checkout.
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS_ROOT = REPO / ".build" / "collections"


def _ensure_collection_link() -> None:
    ns = COLLECTIONS_ROOT / "ansible_collections" / "fedmesh"
    ns.mkdir(parents=True, exist_ok=True)
    link = ns / "cluster"
    if not link.exists():
        with contextlib.suppress(FileExistsError):  # another xdist worker won the race
            link.symlink_to(REPO, target_is_directory=True)


_ensure_collection_link()
for p in (str(COLLECTIONS_ROOT), str(REPO / "src"), str(REPO / "tests")):
    if p not in sys.path:
        sys.path.insert(0, p)
