# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules of a volume's shape, once: name, brick syntax, replica / disperse / arbiter arithmetic.

Pure functions, no I/O.  Used on the node by :mod:`.plan` (``gluster_volume``) and on the controller by the
``fedmesh.cluster.gluster_layout`` filter (role ``glusterfs``), so a rule and its message exist once.
Every refusal is a :class:`PlanError` (a ``FedmeshError``) naming the field and the fix.
"""

# Module utils run on managed nodes with Python 3.8+: keep typing.Optional/List/Dict, not X | None.
# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import re
from typing import List, Optional

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError

VOLUME_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
BRICK = re.compile(r"^[A-Za-z0-9_.:\[\]-]+:/\S*$")


class PlanError(FedmeshError):
    """An unsafe or impossible request, refused before any command runs."""


def split_brick(brick: str) -> tuple:
    host, _sep, path = brick.partition(":")
    return host, path


def check_name(name: Optional[str], field: str = "name") -> None:
    if not isinstance(name, str) or not VOLUME_NAME.match(name):
        raise PlanError(f"{name!r} is not a valid volume name", field=field,
                        fix="use letters, digits, '_', '-', '.'; up to 64 characters, not starting with '-' or '.'")


def check_bricks(bricks: List[str], field: str = "bricks") -> None:
    bad = [b for b in bricks if not isinstance(b, str) or not BRICK.match(b)]
    if bad:
        raise PlanError(f"{bad} are not HOST:/absolute/path", field=field, fix="e.g. node1:/data/glusterfs/gv0")
    dups = sorted({b for b in bricks if bricks.count(b) > 1})
    if dups:
        raise PlanError(f"{dups} listed more than once", field=field, fix="list each brick once")


def check_counts(replica: Optional[int], disperse: Optional[int], arbiter: Optional[int],
                 redundancy: Optional[int], prefix: str = "") -> None:
    """replica / disperse / arbiter / redundancy arithmetic; ``prefix`` goes before each field name."""
    if replica is not None and disperse is not None:
        raise PlanError("replica and disperse are mutually exclusive", field=prefix + "disperse",
                        fix="a volume is replicated (replica) or dispersed (disperse), give one of them")
    if replica is not None and replica < 1:
        raise PlanError(f"{replica} must be 1 (distribute) or more", field=prefix + "replica", fix="2 or 3 are usual")
    if (arbiter or 0) not in (0, 1):
        raise PlanError(f"{arbiter} must be 0 or 1", field=prefix + "arbiter", fix="one arbiter brick per replica set")
    if arbiter and replica != 3:
        raise PlanError(f"1 needs replica: 3 (two data bricks + one arbiter), got replica: {replica}",
                        field=prefix + "arbiter", fix="set replica: 3 or drop arbiter")
    if redundancy is not None and disperse is None:
        raise PlanError("redundancy needs disperse", field=prefix + "redundancy",
                        fix="give disperse (the number of bricks per dispersed set)")
    if disperse is not None:
        if disperse < 3:
            raise PlanError(f"{disperse} must be at least 3", field=prefix + "disperse",
                            fix="use 3 or more bricks per set")
        if redundancy is not None and not 0 < redundancy * 2 < disperse:
            raise PlanError(f"{redundancy} must be more than 0 and less than half of disperse ({disperse})",
                            field=prefix + "redundancy", fix="e.g. redundancy 1 for disperse 3")


def validate(desired: dict) -> None:
    """Argument checks that need no state (the module's); messages name the field and the fix."""
    check_name(desired["name"])
    check_bricks(list(desired.get("bricks") or []))
    check_counts(desired.get("replica"), desired.get("disperse"), desired.get("arbiter"), desired.get("redundancy"))


def check_count(field: str, count: int, size: int, what: str) -> None:
    """Gluster needs whole sets; it fails mid-way ("Failed to create volume files") otherwise, even with force."""
    if count and count % size:
        raise PlanError(f"{count} bricks cannot be split into {what} sets of {size}", field=field,
                        fix=f"give a multiple of {size} bricks (force does not change this: gluster cannot "
                            "build such a volume)")


def check_sets(sets: List[list], force: bool, field: str = "bricks") -> None:
    for members in sets:
        hosts = [split_brick(b)[0] for b in members]
        if len(set(hosts)) < len(hosts) and not force:
            raise PlanError(f"the set {members} has two bricks on one host, so losing that host loses more than "
                            "one copy", field=field, fix="spread each set over different hosts (or force: true)")


def set_size(vol: dict) -> int:
    return vol.get("disperse") or vol.get("replica") or 1


def volume_type(size: int, count: int, disperse: bool) -> str:
    if disperse:
        return "disperse" if count == size else "distributed-disperse"
    if size > 1:
        return "replicate" if count == size else "distributed-replicate"
    return "distribute"


def chunks(items: list, size: int) -> List[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]
