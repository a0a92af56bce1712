# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of ``ceph_info``: health with its checks, mons and quorum, mgr, OSDs, pools, PGs, filesystems.

A constant number of ceph calls whatever the cluster's size: ``fsid``, ``status``, ``health detail``,
``quorum_status``, ``mgr dump``, ``osd dump``, ``fs dump`` (and ``ceph --version``), fewer with
``gather_subset`` (a wait on quorum reads only ``quorum_status``); only mon commands, so it answers while no mgr
is active (``ceph pg stat`` would block then).
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Dict, List, Optional

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Plan, Result

from .backend import Ceph
from .fs import named
from .parse import CephError, parse_fs_dump, parse_health, parse_mgr, parse_pg_stat, parse_quorum

SUBSETS = ("version", "fsid", "health", "mons", "mgr", "osds", "filesystems")


def subsets(wanted: Optional[List[str]]) -> List[str]:
    """The subsets to read: ``all`` (or nothing given) is every one; ``version`` is always read."""
    chosen = set(wanted or ["all"])
    if "all" in chosen:
        return list(SUBSETS)
    return [s for s in SUBSETS if s in chosen or s == "version"]


def describe(ceph: Ceph, wanted: List[str]) -> Dict[str, Any]:
    """The facts of the ``wanted`` subsets, one ceph call (or two) per subset."""
    facts: Dict[str, Any] = {}
    osd_dump = ceph.osd_dump() if {"osds", "filesystems"} & set(wanted) else None
    if "health" in wanted:
        raw_status = ceph.json(["status"])
        health = parse_health(ceph.json(["health", "detail"]))
        pgs = parse_pg_stat(raw_status.get("pgmap", {}))  # not `ceph pg stat`: it blocks while no mgr is active
        facts.update(health=health, pgs=pgs, healthy=health["status"] == "HEALTH_OK" and pgs["all_active_clean"])
    if "mons" in wanted:
        facts["mons"] = parse_quorum(ceph.json(["quorum_status"]))
    if "mgr" in wanted:
        facts["mgr"] = parse_mgr(ceph.json(["mgr", "dump"]))
    if osd_dump is not None and "osds" in wanted:
        osds = osd_dump["osds"]
        facts["osds"] = {"total": len(osds), "up": sum(o["up"] for o in osds), "in": sum(o["in"] for o in osds),
                         "down": [o["id"] for o in osds if not o["up"]], "out": [o["id"] for o in osds if not o["in"]],
                         "list": osds}
        facts["pools"] = {name: {k: v for k, v in p.items() if k != "crush_rule"}
                          for name, p in sorted(osd_dump["pools"].items())}
        facts["flags"] = osd_dump["flags"]
    if osd_dump is not None and "filesystems" in wanted:
        filesystems = {}
        for name, fs in parse_fs_dump(ceph.json(["fs", "dump"])).items():
            fs = named(fs, osd_dump["pools"]) or {}
            filesystems[name] = {"metadata_pool": fs["metadata_pool_name"], "data_pools": fs["data_pool_names"],
                                 "max_mds": fs["max_mds"], "active": fs["active"], "standby": fs["standby"],
                                 "failed": fs["failed"], "damaged": fs["damaged"]}
        facts["filesystems"] = filesystems
    return facts


class InfoBackend:
    def __init__(self, params: Dict[str, Any], run: Any, ceph: Optional[Ceph] = None) -> None:
        self.params = dict(params)
        self.ceph = ceph or Ceph(run, self.params)

    def read(self) -> dict:
        wanted = subsets(self.params.get("gather_subset"))
        try:
            version = self.ceph.version()
        except (CephError, OSError) as exc:
            return {"available": False, "reason": f"no ceph command here ({exc})", "version": None}
        if wanted == ["version"]:  # the local ceph's version only: the cluster is not asked
            return {"version": version, "gathered": wanted, "calls": 0}
        try:
            fsid = self.ceph.fsid()
        except CephError as exc:
            return {"available": False, "reason": exc.reason, "version": version, "gathered": wanted}
        try:
            facts = describe(self.ceph, wanted)
        except CephError as exc:
            return {"available": False, "reason": f"`{exc.command}` failed: {exc.problem}", "version": version,
                    "gathered": wanted}
        facts.update(available=True, version=version, fsid=fsid, gathered=wanted, calls=len(self.ceph.calls))
        return facts

    def plan(self, facts: dict) -> Plan:
        return Plan(changed=False, values=facts)

    def apply(self, plan: Plan) -> Result:  # never called: the plan has no changes
        return plan.result()
