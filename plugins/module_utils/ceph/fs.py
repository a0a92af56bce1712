# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of ``ceph_fs``: ``ceph fs dump`` + ``ceph osd dump`` (pool names), the plan, the steps."""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Dict, Optional

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError

from .parse import parse_fs_dump
from .plan import plan_fs
from .steps import StepBackend


def named(fs: Optional[dict], pools: Dict[str, dict]) -> Optional[dict]:
    if fs is None:
        return None
    by_id = {p["id"]: name for name, p in pools.items()}
    out = dict(fs)
    out["metadata_pool_name"] = by_id.get(fs["metadata_pool"], str(fs["metadata_pool"]))
    out["data_pool_names"] = [by_id.get(i, str(i)) for i in fs["data_pools"]]
    return out


class FsBackend(StepBackend):
    value_key = "fs"

    def snapshot(self) -> Any:
        pools = self.ceph.osd_dump()["pools"]
        fss = parse_fs_dump(self.ceph.json(["fs", "dump"]))
        return {"pools": pools, "current": named(fss.get(self.params["name"]), pools), "others": sorted(fss)}

    def planned(self, snap: Any) -> dict:
        p = self.params
        if p["state"] == "absent" and snap["current"] is not None and not p.get("allow_delete"):
            raise FedmeshError(f"deleting filesystem {p['name']!r} makes its data unreachable", field="allow_delete",
                               fix="set allow_delete=true to confirm")
        if p["state"] == "present" and (not p.get("metadata_pool") or not p.get("data_pool")):
            raise FedmeshError("metadata_pool and data_pool are required with state=present", field="data_pool")
        if p.get("max_mds") is not None and p["max_mds"] < 1:
            raise FedmeshError("max_mds must be at least 1", field="max_mds")
        return plan_fs(p, snap["current"], snap["pools"])

    def final(self) -> Any:
        snap = self.snapshot()
        fs = snap["current"]
        return None if fs is None else {"metadata_pool": fs["metadata_pool_name"], "data_pools": fs["data_pool_names"],
                                        "max_mds": fs["max_mds"], "active": fs["active"], "standby": fs["standby"]}
