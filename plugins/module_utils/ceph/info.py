# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of ``ceph_info``: health with its checks, mons and quorum, mgr, OSDs, pools, PGs, filesystems.

A constant number of ceph calls whatever the cluster's size: ``status``, ``health detail``,
``quorum_status``, ``mgr dump``, ``osd dump``, ``fs dump`` (and ``ceph --version``); only mon commands, so
it answers while no mgr is active (``ceph pg stat`` would block then).
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Dict, Optional

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Plan, Result

from .backend import Ceph
from .fs import named
from .parse import CephError, parse_fs_dump, parse_health, parse_mgr, parse_pg_stat, parse_quorum, parse_status


def describe(ceph: Ceph) -> Dict[str, Any]:
    raw_status = ceph.json(["status"])
    status = parse_status(raw_status)
    osd_dump = ceph.osd_dump()
    pools = osd_dump["pools"]
    filesystems = {}
    for name, fs in parse_fs_dump(ceph.json(["fs", "dump"])).items():
        fs = named(fs, pools) or {}
        filesystems[name] = {"metadata_pool": fs["metadata_pool_name"], "data_pools": fs["data_pool_names"],
                             "max_mds": fs["max_mds"], "active": fs["active"], "standby": fs["standby"],
                             "failed": fs["failed"], "damaged": fs["damaged"]}
    health = parse_health(ceph.json(["health", "detail"]))
    pgs = parse_pg_stat(raw_status.get("pgmap", {}))  # not `ceph pg stat`: it blocks while no mgr is active
    osds = osd_dump["osds"]
    return {
        "fsid": status["fsid"],
        "health": health,
        "healthy": health["status"] == "HEALTH_OK" and pgs["all_active_clean"],
        "mons": parse_quorum(ceph.json(["quorum_status"])),
        "mgr": parse_mgr(ceph.json(["mgr", "dump"])),
        "osds": {"total": len(osds), "up": sum(o["up"] for o in osds), "in": sum(o["in"] for o in osds),
                 "down": [o["id"] for o in osds if not o["up"]], "out": [o["id"] for o in osds if not o["in"]],
                 "list": osds},
        "pools": {name: {k: v for k, v in p.items() if k != "crush_rule"} for name, p in sorted(pools.items())},
        "pgs": pgs,
        "filesystems": filesystems,
        "flags": osd_dump["flags"],
    }


class InfoBackend:
    def __init__(self, params: Dict[str, Any], run: Any, ceph: Optional[Ceph] = None) -> None:
        self.params = dict(params)
        self.ceph = ceph or Ceph(run, self.params)

    def read(self) -> dict:
        try:
            version = self.ceph.version()
        except (CephError, OSError) as exc:
            return {"available": False, "reason": f"no ceph command here ({exc})", "version": None}
        reason = self.ceph.reachable()
        if reason:
            return {"available": False, "reason": reason, "version": version}
        try:
            facts = describe(self.ceph)
        except CephError as exc:
            return {"available": False, "reason": f"`{exc.command}` failed: {exc.problem}", "version": version}
        facts.update(available=True, version=version, calls=len(self.ceph.calls))
        return facts

    def plan(self, facts: dict) -> Plan:
        return Plan(changed=False, values=facts)

    def apply(self, plan: Plan) -> Result:  # never called: the plan has no changes
        return plan.result()
