# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of ``ceph_osd``: one BlueStore OSD on a file (small and test nodes) or a block device.

Idempotent by OSD fsid: an OSD folder (``/var/lib/ceph/osd/CLUSTER-ID``) whose ``block`` is the wanted
path, and whose ``fsid`` the cluster's ``osd dump`` knows, is the OSD; nothing runs then.  A path that
holds anything else (a filesystem signature, a partition table, another OSD) is refused unless ``zap``.

Creating: a cephx secret made here (never on a command line) goes to ``ceph osd new UUID -i -`` on
stdin; the OSD's keyring file is written 0600 for user ceph; ``ceph-osd --mkfs``; ``ceph-osd@ID``.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import base64
import json
import os
import pwd
import struct
import time
import uuid
from typing import Any, Dict, Optional

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Result

from .auth import write_keyring
from .backend import failed
from .parse import CephError, keyring_text
from .steps import StepBackend, StepPlan

OSD_ROOT = "/var/lib/ceph/osd"
MIN_FILE_SIZE = 5 << 30


def new_secret() -> str:
    """A cephx secret as ``ceph-authtool --gen-print-key`` makes it (type 1 = AES, created, 16 random bytes)."""
    now = time.time()
    header = struct.pack("<HIIH", 1, int(now), int((now % 1) * 1e9), 16)
    return base64.b64encode(header + os.urandom(16)).decode()


def local_osds(root: str, cluster: str) -> Dict[str, dict]:
    """{resolved block path: {id, fsid}} of the OSD folders on this node."""
    out: Dict[str, dict] = {}
    for entry in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        if not entry.startswith(cluster + "-"):
            continue
        folder = os.path.join(root, entry)
        block = os.path.join(folder, "block")
        fsid = ""
        if os.path.exists(os.path.join(folder, "fsid")):
            with open(os.path.join(folder, "fsid"), encoding="utf-8") as fh:
                fsid = fh.read().strip()
        if os.path.lexists(block):
            out[os.path.realpath(block)] = {"id": int(entry[len(cluster) + 1:]), "fsid": fsid, "folder": folder}
    return out


class OsdBackend(StepBackend):
    value_key = "osd"
    root = OSD_ROOT

    def snapshot(self) -> Any:
        p = self.params
        path = p["path"]
        osd_dump = self.ceph.osd_dump()
        mine = local_osds(self.root, self.ceph.cluster).get(os.path.realpath(path))
        known = {o["uuid"]: o for o in osd_dump["osds"]}
        current = None
        if mine and mine["fsid"] in known:
            current = dict(known[mine["fsid"]], path=path)
        signature = None if current or mine else self.signature(path)
        return {"current": current, "stale": mine if mine and not current else None, "signature": signature}

    def signature(self, path: str) -> Optional[str]:
        """What ``blkid -p`` finds on the path (None: nothing, or the file does not exist yet)."""
        if not os.path.exists(path):
            return None
        rc, out = self.ceph.run(["blkid", "-p", "-o", "export", path])[:2]
        if rc == 2:  # nothing found
            return None
        fields = dict(line.split("=", 1) for line in (out or "").splitlines() if "=" in line)
        return fields.get("TYPE") or fields.get("PTTYPE") or (out or "").strip() or f"blkid exited {rc}"

    def planned(self, snap: Any) -> dict:
        p = self.params
        path = p["path"]
        if snap["current"]:
            view = {"path": path, "id": snap["current"]["id"]}
            return {"steps": [], "before": view, "after": view}
        if snap["stale"]:
            raise FedmeshError(f"{path} belongs to OSD folder {snap['stale']['folder']} whose fsid the cluster does "
                               "not know (an OSD of another cluster, or destroyed)", field="path",
                               fix="remove that folder (and zap the path) by hand after checking")
        if snap["signature"] and not p.get("zap"):
            raise FedmeshError(f"{path} holds data ({snap['signature']})", field="path",
                               fix="use an empty device or file, or set zap=true to wipe it")
        is_file = p["kind"] == "file"
        if is_file and (p.get("size") or 0) < MIN_FILE_SIZE:
            raise FedmeshError(f"size {p.get('size')} is below 5 GiB; BlueStore on smaller files fills up",
                               field="size", fix="use size: 5368709120 or more")
        if not is_file and not os.path.exists(path):
            raise FedmeshError(f"device {path} does not exist", field="path")
        steps = [{"field": "path", "args": ["osd", "new", "UUID", "-i", "-"], "kind": "create"}]
        commands = ([f"wipefs --all {path}"] if snap["signature"] else []) + \
            ([f"truncate --size {p['size']} {path}"] if is_file else []) + \
            ["ceph osd new UUID -i - (cephx secret on stdin)", "ceph-osd --mkfs -i ID --osd-uuid UUID",
             "systemctl enable --now ceph-osd@ID"]
        return {"steps": steps, "commands": commands, "before": None, "after": {"path": path, "id": None}}

    def plan(self, snap: Any) -> StepPlan:
        planned = self.planned(snap)
        return StepPlan(planned["steps"], before=planned["before"], after=planned["after"],
                        commands=planned.get("commands", []), values={"osd": planned["after"]})

    def apply(self, plan: StepPlan) -> Result:  # type: ignore[override]
        p = self.params
        path, cluster = p["path"], self.ceph.cluster
        ceph_user = pwd.getpwnam("ceph")
        osd_uuid, secret = str(uuid.uuid4()), new_secret()
        ran = []
        try:
            if p.get("zap") and self.signature(path):
                self.host(["wipefs", "--all", path])
                ran.append(f"wipefs --all {path}")
            if p["kind"] == "file" and not os.path.exists(path):
                os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
                with open(path, "wb") as fh:
                    fh.truncate(p["size"])
            os.chown(path, ceph_user.pw_uid, ceph_user.pw_gid)
            out = self.ceph.change(["osd", "new", osd_uuid, "-i", "-"], data=json.dumps({"cephx_secret": secret}))
            osd_id = int(out.strip())
            ran.append(f"ceph osd new {osd_uuid} -i - (osd.{osd_id})")
            folder = os.path.join(self.root, f"{cluster}-{osd_id}")
            os.makedirs(folder, exist_ok=True)
            os.symlink(path, os.path.join(folder, "block"))
            write_keyring(os.path.join(folder, "keyring"), keyring_text(f"osd.{osd_id}", secret, {}), 0o600,
                          ceph_user.pw_uid, ceph_user.pw_gid)
            os.chown(folder, ceph_user.pw_uid, ceph_user.pw_gid)
            self.host(["ceph-osd", "--cluster", cluster, "-i", str(osd_id), "--mkfs", "--osd-uuid", osd_uuid,
                       "--setuser", "ceph", "--setgroup", "ceph"])
            self.host(["systemctl", "enable", "--now", f"ceph-osd@{osd_id}"])
        except CephError as exc:
            raise failed(exc, "path", self.ceph, plan.commands) from None
        except OSError as exc:
            raise FedmeshError(f"creating the OSD on {path} failed: {exc}", field="path", changed=bool(ran),
                               remains=f"ran: {ran}; remove the OSD with `ceph osd purge ID` and its folder") from None
        view = {"path": path, "id": osd_id, "uuid": osd_uuid}
        return plan.result(values={"osd": view}, after=view)

    def host(self, argv: list) -> str:
        rc, out, err = self.ceph.run(argv)
        if rc != 0:
            raise CephError((err or out or f"exit code {rc}").strip(), command=" ".join(argv), rc=rc)
        self.ceph.applied.append(" ".join(argv))
        return out
