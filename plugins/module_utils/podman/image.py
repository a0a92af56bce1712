# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Backend of ``podman_image_archive``: an image in a rootless user's storage, idempotent by image ID.
Loaded from an archive on the node (no registry needed), or pulled by name where a registry exists.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Optional

from ..common.errors import FedmeshError
from ..common.result import Plan, Result
from ..common.runner import Runner
from .archive import archive_info
from .node import UserSession, lookup_user

ID_RE = re.compile(r"^(sha256:)?[0-9a-f]{64}$")


class ImageArchiveBackend:
    def __init__(self, params: Dict[str, Any], runner: Runner) -> None:
        self.p = params
        self.runner = runner

    def read(self) -> Dict[str, Any]:
        p = self.p
        if not p["name"] or not re.match(r"^[a-z0-9][a-z0-9._/:@-]*$", p["name"]):
            raise FedmeshError(f"{p['name']!r} is not an image reference (registry/name:tag)", field="name")
        if p["id"] and not ID_RE.match(p["id"]):
            raise FedmeshError("must be a 64-hex image ID (optionally sha256:-prefixed)", field="id")
        if p["path"] and not os.path.isabs(p["path"]):
            raise FedmeshError("must be an absolute path on the node", field="path")
        user = lookup_user(p["user"])
        if user is None:
            raise FedmeshError(f"no user {p['user']} on this node", field="user",
                               fix="prepare it with fedmesh.cluster.podman_rootless_user first")
        session = UserSession(self.runner, user)
        archive = archive_info(p["path"]) if p["path"] and os.path.exists(p["path"]) else None
        want_id = (p["id"] or "").replace("sha256:", "") or (archive or {}).get("id")
        if archive and want_id and archive["id"] != want_id:
            raise FedmeshError(f"{p['path']} holds image {archive['id'][:12]}, not the expected {want_id[:12]}",
                               field="path", fix="ship the matching archive or fix id")
        rc, out, _err = session.run(["podman", "image", "inspect", "--format", "json", p["name"]])
        current: Optional[Dict[str, Any]] = None
        if rc == 0:
            try:
                current = (json.loads(out) or [None])[0]
            except ValueError:
                current = None
        return {"session": session, "archive": archive, "want_id": want_id, "current": current}

    def plan(self, snap: Dict[str, Any]) -> Plan:
        p, current = self.p, snap["current"]
        have_id = (current or {}).get("Id")
        name, want = p["name"], snap["want_id"]
        commands: List[str] = []
        if p["state"] == "absent":
            if current:
                commands.append(f"podman rmi {name}")
        elif current is None or (want and have_id != want):
            if p["path"]:
                commands.append(f"podman load -i {p['path']}")
                commands.append(f"podman tag <loaded image> {name}")
            else:
                commands.append(f"podman pull {name}")
        values = {"name": name, "user": p["user"], "id": have_id, "loaded": bool(commands) and p["state"] == "present",
                  "archive": snap["archive"]}
        warnings = []
        if commands and p["state"] == "present" and p["path"] and snap["archive"] is None:
            warnings.append(f"{p['path']} is not on the node yet (expected to be copied before the real run)")
        return Plan(before=f"{name}: {have_id or '(absent)'}\n", commands=commands, values=values, warnings=warnings,
                    after=f"{name}: {'(absent)' if p['state'] == 'absent' else (want or have_id or '(pulled)')}\n")

    def apply(self, plan: Plan) -> Result:
        p = self.p
        snap_session = UserSession(self.runner, lookup_user(p["user"]) or {})
        done: List[str] = []
        if p["state"] == "absent":
            self._must(snap_session, ["podman", "rmi", p["name"]], done, "name")
            return plan.result(commands=done, values={"id": None})
        if p["path"]:
            if not os.path.exists(p["path"]):
                raise FedmeshError(f"no archive {p['path']} on the node", field="path",
                                   fix="copy it there first (the role does)")
            info = archive_info(p["path"])
            # podman load runs as the user: the archive must be readable by it (the role copies it 0600, owned
            # by the user, under the user's home: not /tmp, which a restart clears).
            self._must(snap_session, ["podman", "load", "-q", "-i", p["path"]], done, "path")
            self._must(snap_session, ["podman", "tag", info["id"], p["name"]], done, "name")
            loaded = info["id"]
        else:
            self._must(snap_session, ["podman", "pull", "-q", p["name"]], done, "name")
            loaded = None
        rc, out, _err = snap_session.run(["podman", "image", "inspect", "--format", "{{.Id}}", p["name"]])
        have = out.strip() if rc == 0 else None
        if loaded and have != loaded:
            raise FedmeshError(f"after loading, {p['name']} is {have}, not {loaded}", field="path", changed=True,
                               remains="the archive's image is loaded", commands=done)
        return plan.result(commands=done, values={"id": have})

    @staticmethod
    def _must(session: UserSession, argv: List[str], done: List[str], field: str) -> str:
        rc, out, err = session.run(argv)
        if rc != 0:
            raise FedmeshError(f"{' '.join(argv)} failed (rc={rc}): {(err or out).strip()[-400:]}", field=field,
                               changed=bool(done), remains="; ".join(done) or None, commands=done)
        done.append(" ".join(argv))
        return out
