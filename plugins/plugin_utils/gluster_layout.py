# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of the ``glusterfs`` role: the volumes' bricks, this host's mounts and brick directories.

Pure computation on plain data (the filter ``fedmesh.cluster.gluster_layout`` extracts it from hostvars).
The rules of a volume's shape are :mod:`module_utils.gluster.layout`'s, the same code ``gluster_volume``
runs on the node, so the role and the module refuse the same input with the same words.
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.layout import (
    PlanError,
    check_bricks,
    check_count,
    check_counts,
    check_name,
    split_brick,
)

VAR = "fedmesh_glusterfs_volumes"
# Mount points the unit template and systemd accept as they are: absolute, plain characters.
MOUNT_POINT = re.compile(r"^(/[A-Za-z0-9_.-]+)+/?$")
STATES = ("present", "absent")


def systemd_escape_path(path: str) -> str:
    """``systemd-escape --path``: '/' separates; bytes outside [A-Za-z0-9:_.], and a leading '.', become
    ``\\xNN`` (checked against systemd 252's own output in the unit tests)."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "-"
    text = "-".join("".join(c if (c.isascii() and (c.isalnum() or c in ":_.")) else
                            "".join(f"\\x{b:02x}" for b in c.encode()) for c in part) for part in parts)
    return "\\x2e" + text[1:] if text.startswith(".") else text


def mount_unit(path: str) -> str:
    return systemd_escape_path(path) + ".mount"


COUNTS = ("replica", "arbiter", "disperse", "redundancy")


def _whole_numbers(vol: dict, label: str) -> dict:
    """The volume with its counts as ints (inventories may give "3"); a count that is no number is refused."""
    out = dict(vol)
    for key in COUNTS:
        value = vol.get(key)
        if value is None:
            continue
        try:
            if isinstance(value, bool) or str(value).strip() != str(int(str(value).strip())):
                raise ValueError(value)
            out[key] = int(str(value).strip())
        except ValueError:
            raise PlanError(f"{value!r} is not a whole number", field=f"{label}.{key}", fix="e.g. 3") from None
    return out


def _check_volume(vol: Any, servers: list[str], server_group: str) -> tuple[str, dict]:
    """Check one entry; return its label for messages (``fedmesh_glusterfs_volumes[name=X]``) and the entry."""
    if not isinstance(vol, dict) or "name" not in vol:
        raise PlanError(f"{vol!r} is not a volume", field=f"{VAR}[]", fix="give a dict with at least a name")
    check_name(vol["name"], field=f"{VAR}[].name")
    label = f"{VAR}[name={vol['name']}]"
    vol = _whole_numbers(vol, label)
    state = vol.get("state", "present")
    if state not in STATES:
        raise PlanError(f"{state!r} is not present or absent", field=f"{label}.state", fix="use present or absent")
    outside = sorted(set(vol.get("hosts") or []) - set(servers))
    if outside:
        raise PlanError(f"{outside} are not in group {server_group!r}", field=f"{label}.hosts",
                        fix=f"add them to the group {server_group} or fix the names")
    check_counts(vol.get("replica"), vol.get("disperse"), vol.get("arbiter"), vol.get("redundancy"),
                 prefix=label + ".")
    mount_point = vol.get("mount_point")
    if mount_point is not None and not (isinstance(mount_point, str) and MOUNT_POINT.match(mount_point)
                                        and not {".", ".."} & set(mount_point.split("/"))):
        raise PlanError(f"{mount_point!r} is not an absolute path of letters, digits and _ . -",
                        field=f"{label}.mount_point", fix="e.g. /mnt/glusterfs/models")
    return label, vol


def _bricks(vol: dict, servers: list[str], addresses: dict[str, str], brick_root: str) -> list[str]:
    if vol.get("state", "present") != "present":
        return []
    if vol.get("bricks"):
        return list(vol["bricks"])
    brick_dir = vol.get("brick_dir") or f"{brick_root}/{vol['name']}"
    return [f"{addresses[h]}:{brick_dir}" for h in vol.get("hosts") or servers]


def _mount(vol: dict, bricks: list[str], servers: list[str], addresses: dict[str, str], me: str | None,
           mount_root: str) -> dict[str, Any]:
    if vol.get("bricks"):
        addrs = list(dict.fromkeys(split_brick(b)[0] for b in vol["bricks"]))
    else:
        addrs = [addresses[h] for h in vol.get("hosts") or servers]
    server = me if me in addrs else addrs[0]
    path = vol.get("mount_point") or f"{mount_root}/{vol['name']}"
    return {"name": vol["name"], "state": vol.get("state", "present"), "path": path, "unit": mount_unit(path),
            "server": server, "backups": [a for a in addrs if a != server]}


def _local_bricks(vol: dict, host: str, me: str | None, servers: list[str], brick_root: str) -> list[str]:
    if vol.get("state", "present") != "present":
        return []
    if vol.get("bricks"):
        return [split_brick(b)[1] for b in vol["bricks"] if split_brick(b)[0] == me]
    if host in (vol.get("hosts") or servers):
        return [vol.get("brick_dir") or f"{brick_root}/{vol['name']}"]
    return []


def plan_layout(volumes: list[Any], servers: list[str], addresses: dict[str, str], host: str, *,
                brick_root: str = "/srv/glusterfs", mount_root: str = "/mnt/glusterfs",
                server_group: str = "storage") -> dict[str, Any]:
    """``errors`` (messages naming the variable; nothing else is computed when there are any), ``volumes``
    (module arguments: each entry with its ``bricks``), ``mounts`` and ``local_bricks`` of ``host``."""
    errors: list[str] = []
    if not isinstance(volumes, list):
        return {"errors": [PlanError(f"{type(volumes).__name__} is not a list", field=VAR,
                                     fix="give a list of volumes").message]}
    if volumes and not servers:
        errors.append(PlanError(f"group {server_group!r} has no hosts, so {VAR} has nowhere to live",
                                field="fedmesh_glusterfs_server_group",
                                fix="add the storage nodes to that group").message)
    names = [v.get("name") for v in volumes if isinstance(v, dict)]
    dups = sorted({str(n) for n in names if names.count(n) > 1})
    if dups:
        errors.append(PlanError(f"names {dups} appear more than once", field=VAR, fix="give each volume once").message)
    planned: list[dict[str, Any]] = []
    for vol in volumes:
        try:
            label, vol = _check_volume(vol, servers, server_group)
            bricks = _bricks(vol, servers, addresses, brick_root) if servers or vol.get("bricks") else []
            field = f"{label}.bricks" if vol.get("bricks") else f"{label}.hosts"
            check_bricks(bricks, field=field)
            size = vol.get("disperse") or vol.get("replica") or 1
            check_count(field, len(bricks), size, "dispersed" if vol.get("disperse") else "replica")
        except PlanError as exc:
            errors.append(exc.message)
            continue
        planned.append({**vol, "state": vol.get("state", "present"), "bricks": bricks})
    if errors:
        return {"errors": errors, "volumes": [], "mounts": [], "local_bricks": [], "addresses": addresses}
    me = addresses.get(host)
    mounts = [_mount(v, v["bricks"], servers, addresses, me, mount_root) for v in planned if v.get("mount", True)]
    local = [p for v in planned for p in _local_bricks(v, host, me, servers, brick_root)]
    return {"errors": [], "volumes": planned, "mounts": mounts, "local_bricks": list(dict.fromkeys(local)),
            "addresses": addresses}
