# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of ``ceph_auth``: one ``ceph auth get``, caps in place, the keyring file (0600) written here.

The key is read from ceph's stdout and written to the keyring file only; it is never part of a return
value, a diff or a command line.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import grp
import os
import pwd
import tempfile
from typing import Any, Dict, Optional

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError

from .parse import keyring_text, parse_auth
from .plan import plan_auth
from .steps import StepBackend, StepPlan


def file_state(path: str) -> Optional[dict]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    with open(path, encoding="utf-8") as fh:
        content = fh.read()
    return {"content": content, "mode": st.st_mode & 0o7777, "uid": st.st_uid, "gid": st.st_gid}


def ids(owner: Optional[str], group: Optional[str]) -> tuple:
    try:
        uid = pwd.getpwnam(owner).pw_uid if owner else 0
        gid = grp.getgrnam(group).gr_gid if group else (pwd.getpwuid(uid).pw_gid if owner else 0)
    except KeyError as exc:
        raise FedmeshError(f"no such user or group {exc.args[0]!r}", field="owner" if owner else "group") from None
    return uid, gid


def write_keyring(path: str, content: str, mode: int, uid: int, gid: int) -> None:
    """Atomically: a temporary file created 0600 in the same folder, chowned, then renamed."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".keyring.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.chown(tmp, uid, gid)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class AuthBackend(StepBackend):
    value_key = "auth"
    file: Dict[str, Any] = {}

    def snapshot(self) -> Any:
        data = self.ceph.json_or_none(["auth", "get", self.params["name"]])
        if data is None:
            return {"current": None, "key": None}
        current, key = parse_auth(data)
        return {"current": current, "key": key}

    def _file_plan(self, snap: dict, planned: dict) -> Dict[str, Any]:
        path = self.params.get("keyring_path")
        if not path or self.params["state"] == "absent":
            return {}
        uid, gid = ids(self.params.get("owner"), self.params.get("group"))
        mode = int(str(self.params.get("mode") or "0600"), 8)
        have = file_state(path)
        if snap["key"] is None or planned["steps"]:
            return {"path": path, "mode": mode, "uid": uid, "gid": gid, "write": True}
        content = keyring_text(self.params["name"], snap["key"], snap["current"]["caps"])
        same = have is not None and have["content"] == content and (have["mode"], have["uid"], have["gid"]) == \
            (mode, uid, gid)
        return {"path": path, "mode": mode, "uid": uid, "gid": gid, "write": not same}

    def planned(self, snap: Any) -> dict:
        planned = plan_auth(self.params, snap["current"])
        self.file = self._file_plan(snap, planned)
        return planned

    def plan(self, snap: Any) -> StepPlan:
        plan = super().plan(snap)
        if self.file.get("write"):
            plan.commands.append(f"write keyring {self.file['path']} (mode {self.file['mode']:04o})")
            plan.changed = True
            plan.values["keyring_path"] = self.file["path"]
        return plan

    def apply(self, plan: StepPlan) -> Any:  # type: ignore[override]
        result = super().apply(plan)
        if self.file.get("write"):
            snap = self.snapshot()
            content = keyring_text(self.params["name"], snap["key"], snap["current"]["caps"])
            f = self.file
            try:
                write_keyring(f["path"], content, f["mode"], f["uid"], f["gid"])
            except OSError as exc:
                raise FedmeshError(f"cannot write {f['path']}: {exc}", field="keyring_path",
                                   changed=bool(plan.steps), remains=f"ceph ran: {self.ceph.applied}") from None
        return result

    def final(self) -> Any:
        data = self.ceph.json_or_none(["auth", "get", self.params["name"]])
        return None if data is None else parse_auth(data)[0]
