# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The storage roles' shared mount table (facts ``fedmesh_storage_mounts`` and ``fedmesh_storage_path``).

Each storage role (``glusterfs``, ``ceph``) claims its mount points on a host during its validation, before it
changes anything. A path another role already mounts is refused, naming both roles and the variable to change.
``fedmesh_storage_path`` is the first mount of the first storage role that ran on the host: what the aggregator
(and anything else that takes "the storage path") uses; ``aggregator_state_dir`` is the aggregator's choice when
no storage role ran in the run.
"""

from __future__ import annotations

import base64
import json
from typing import Any

ROLE_VARS = {"glusterfs": "fedmesh_glusterfs_volumes[].mount_point / fedmesh_glusterfs_mount_root",
             "ceph": "fedmesh_ceph_mounts[].path"}


def claim(published: Any, role: str, paths: list[str]) -> dict[str, Any]:
    """``{errors, mounts, path}``: ``published`` is the host's ``fedmesh_storage_mounts`` (a list of
    ``{path, role}``, or nothing), ``paths`` the mount points ``role`` wants on this host."""
    table = [dict(m) for m in (published or []) if isinstance(m, dict) and m.get("role") != role]
    taken = {str(m.get("path", "")).rstrip("/") or "/": str(m.get("role")) for m in table}
    errors = []
    for path in paths:
        owner = taken.get(str(path).rstrip("/") or "/")
        if owner:
            errors.append(f"{ROLE_VARS.get(role, role)}: {path} is already the mount point of the {owner} role on "
                          f"this host; give one of them another path ({ROLE_VARS.get(owner, owner)})")
    mounts = table + [{"path": str(p), "role": role} for p in paths]
    return {"errors": errors, "mounts": mounts, "path": mounts[0]["path"] if mounts else ""}


AGGREGATOR_LOCAL_STATE = "/var/lib/fedmesh-aggregator"


def _deployed_state_dir(deployed: Any) -> str:
    """The ``state_dir`` of a deployed aggregator config, from a ``slurp`` result (``""`` when there is none)."""
    if not isinstance(deployed, dict) or deployed.get("failed") or not deployed.get("content"):
        return ""
    try:
        config = json.loads(base64.b64decode(str(deployed["content"])))
    except (ValueError, TypeError):
        return ""
    path = config.get("state_dir") if isinstance(config, dict) else None
    return path if isinstance(path, str) and path.startswith("/") else ""


def aggregator_state_dir(explicit: Any, storage_path: Any, deployed: Any = None) -> dict[str, str]:
    """``{path, source}``: the aggregator's state dir.  ``explicit`` (``fedmesh_aggregator_state_dir``) wins;
    else ``<storage_path>/aggregator`` when a storage role ran in this run; else the state dir the deployed
    service already uses (``deployed``: a ``slurp`` of its config), so that a run of ``playbooks/fl.yml`` alone
    keeps the state on the shared storage instead of moving it to a local folder; else the local folder."""
    if explicit:
        return {"path": str(explicit), "source": "fedmesh_aggregator_state_dir"}
    if storage_path:
        return {"path": str(storage_path).rstrip("/") + "/aggregator", "source": "fedmesh_storage_path"}
    kept = _deployed_state_dir(deployed)
    if kept:
        return {"path": kept, "source": "the deployed service"}
    return {"path": AGGREGATOR_LOCAL_STATE, "source": "local default"}
