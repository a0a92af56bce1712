# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of ``ceph_pool``: one ``ceph osd dump`` (pools, profiles, OSDs), the plan, the steps."""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Dict

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError

from .plan import plan_pool, pool_view
from .steps import StepBackend


class PoolBackend(StepBackend):
    value_key = "pool"

    def snapshot(self) -> Any:
        snap: Dict[str, Any] = {"osd_dump": self.ceph.osd_dump(), "allow_delete": None}
        if self.params["state"] == "absent" and self.params["name"] in snap["osd_dump"]["pools"]:
            value = self.ceph.json(["config", "get", "mon", "mon_allow_pool_delete"])
            snap["allow_delete"] = str(value).lower() == "true"
        return snap

    def planned(self, snap: Any) -> dict:
        desired = self.params
        current = snap["osd_dump"]["pools"].get(desired["name"])
        if desired["state"] == "absent" and current is not None:
            if not desired.get("allow_delete"):
                raise FedmeshError(f"deleting pool {desired['name']!r} destroys its data", field="allow_delete",
                                   fix="set allow_delete=true to confirm")
            if not snap["allow_delete"]:
                raise FedmeshError("the cluster forbids pool deletion (mon_allow_pool_delete is false)",
                                   field="state", fix="set mon_allow_pool_delete=true with ceph_config first "
                                                      "(a deliberate, separate step)")
        return plan_pool(desired, current, snap["osd_dump"])

    def final(self) -> Any:
        pool = self.ceph.osd_dump()["pools"].get(self.params["name"])
        return pool_view(pool, self.params)
