# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of ``gluster_volume_info``: reads volumes, brick status, heal backlog and the pool; changes nothing."""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Dict, Optional

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Plan, Result
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster import backend as host
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.parse import split_brick


def describe(gluster: host.Gluster, vol: dict, heal: bool) -> dict:
    started = vol["status"] == "started"
    status = gluster.status(vol["name"]) if started else {}
    bricks = []
    for name in vol["bricks"]:
        brick_host, path = split_brick(name)
        live = status.get("bricks", {}).get(name)
        bricks.append({"name": name, "host": brick_host, "path": path, "arbiter": name in vol["arbiter_bricks"],
                       "online": (live["online"] if live else False) if started else None,
                       "port": live["port"] if live else None, "pid": live["pid"] if live else None})
    redundant = vol["replica"] > 1 or vol["disperse"] > 0
    info = {k: vol[k] for k in ("id", "type", "status", "replica", "arbiter", "disperse", "redundancy",
                                "brick_count", "dist_count", "options")}
    info.update(bricks=bricks, tasks=status.get("tasks", []),
                heal=gluster.heal(vol["name"]) if heal and started and redundant else None)
    return info


class InfoBackend:
    def __init__(self, params: Dict[str, Any], run: Any, gluster: Optional[host.Gluster] = None) -> None:
        self.params = dict(params)
        self.gluster = gluster or host.Gluster(run)

    def read(self) -> dict:
        reason = self.gluster.reachable()
        if reason:
            return {"available": False, "reason": reason, "volumes": {}, "peers": []}
        volumes = self.gluster.volumes(self.params["name"])
        described = {name: describe(self.gluster, vol, self.params["heal"]) for name, vol in sorted(volumes.items())}
        return {"available": True, "volumes": described, "peers": self.gluster.pool()}

    def plan(self, facts: dict) -> Plan:
        return Plan(changed=False, values=facts)

    def apply(self, plan: Plan) -> Result:  # never called: the plan has no changes
        return plan.result()
