# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers of ``ceph ... --format json`` outputs into plain snapshots (unit-tested on recorded outputs).

Nothing here runs a command.  Cephx keys never leave this file: :func:`parse_auth` keeps the key apart
from what may be returned or diffed.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple

POOL_TYPES = {1: "replicated", 3: "erasure"}
CAP_DAEMONS = ("mon", "mgr", "osd", "mds")
# One grant of a cap string: "allow ...", "profile ..." (comma separated, like Ceph's own grammar).
GRANT = re.compile(r"^\s*(allow(\s+\S.*|\s*\*)?|profile\s+\S+(\s+\S.*)?)\s*$")
ENTITY = re.compile(r"^(client|mgr|mds|osd|mon)\.[A-Za-z0-9_.@-]+$")
SIZE_UNITS = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}


class CephError(Exception):
    """A ceph command failed or printed something that is not the JSON asked for."""

    def __init__(self, problem: str, command: str = "", rc: int = 0) -> None:
        self.problem = problem.strip()
        self.command = command
        self.rc = rc
        super().__init__(self.problem)

    @property
    def reason(self) -> str:
        """The last line of the problem: why the cluster did not answer."""
        return self.problem.splitlines()[-1] if self.problem else f"ceph exited {self.rc}"


def loads(out: str, command: str = "") -> Any:
    """JSON of a ceph command (some print a blank line first)."""
    text = (out or "").strip()
    if not text:
        raise CephError("printed nothing (expected JSON)", command=command)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CephError(f"printed something that is not JSON ({exc}): {text[:200]}", command=command) from None


# ---------------------------------------------------------------- pools
def pool_snapshot(raw: dict) -> dict:
    return {
        "id": raw.get("pool_id", raw.get("pool")),
        "name": raw["pool_name"],
        "type": POOL_TYPES.get(raw["type"], str(raw["type"])),
        "size": raw["size"],
        "min_size": raw["min_size"],
        "pg_num": raw.get("pg_num_target", raw["pg_num"]),
        "pg_autoscale_mode": raw.get("pg_autoscale_mode", "off"),
        "crush_rule": raw["crush_rule"],
        "erasure_profile": raw.get("erasure_code_profile") or None,
        "applications": sorted((raw.get("application_metadata") or {}).keys()),
        "quota_max_bytes": raw.get("quota_max_bytes", 0),
        "quota_max_objects": raw.get("quota_max_objects", 0),
    }


def parse_osd_dump(data: dict) -> dict:
    """``ceph osd dump``: pools (by name), erasure-code profiles, OSDs (up/in) in one call."""
    osds = [{"id": o["osd"], "uuid": o["uuid"], "up": bool(o["up"]), "in": bool(o["in"])}
            for o in data.get("osds", [])]
    return {
        "fsid": data.get("fsid"),
        "pools": {p["pool_name"]: pool_snapshot(p) for p in data.get("pools", [])},
        "erasure_profiles": {name: dict(prof) for name, prof in (data.get("erasure_code_profiles") or {}).items()},
        "osds": osds,
        "flags": data.get("flags_set", []),
    }


# ---------------------------------------------------------------- auth
def parse_auth(data: Any) -> Tuple[dict, Optional[str]]:
    """``ceph auth get NAME -f json`` -> ({entity, caps}, key).  The key is returned apart, never in the dict."""
    entry = data[0] if isinstance(data, list) else data
    return {"entity": entry["entity"], "caps": dict(sorted((entry.get("caps") or {}).items()))}, entry.get("key")


def caps_problems(caps: Dict[str, Any]) -> List[str]:
    """What is wrong with a caps dict (empty when Ceph's grammar would accept it, as far as can be told here)."""
    problems = []
    for daemon, value in sorted(caps.items()):
        if daemon not in CAP_DAEMONS:
            problems.append(f"{daemon!r} is not one of {', '.join(CAP_DAEMONS)}")
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{daemon}: must be a non-empty string such as 'allow r'")
            continue
        bad = [g for g in value.split(",") if not GRANT.match(g)]
        if bad or any(c in value for c in "\n\r\0;'\""):
            problems.append(f"{daemon}: {value!r} is not a cap string ('allow r', 'allow rw path=/x', "
                            "'profile rbd pool=x', comma separated)")
    return problems


def keyring_text(entity: str, key: str, caps: Dict[str, str]) -> str:
    """The keyring file ceph-authtool would write for one entity."""
    lines = [f"[{entity}]", f"\tkey = {key}"]
    lines += [f'\tcaps {daemon} = "{value}"' for daemon, value in sorted(caps.items())]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- config
def parse_config_dump(data: List[dict]) -> Dict[str, Dict[str, str]]:
    """``ceph config dump`` -> {who: {option: value}} (``who`` with its mask, e.g. ``osd/host:node1``)."""
    out: Dict[str, Dict[str, str]] = {}
    for entry in data:
        who = entry["section"] + (f"/{entry['mask']}" if entry.get("mask") else "")
        out.setdefault(who, {})[entry["name"]] = str(entry["value"])
    return out


def normalise(value: Any, kind: str) -> str:
    """A config value as Ceph stores it for its type (``ceph config help NAME``'s ``type``).

    Verified on pacific: size ``1G`` -> ``1073741824`` (binary units), float ``0.50`` -> ``0.500000``,
    int ``016`` -> ``16``, bool ``true``/``false``.  Raises ValueError when Ceph would refuse the value.
    """
    text = str(value).strip()
    if isinstance(value, bool):
        text = "true" if value else "false"
    if kind == "size":
        m = re.match(r"^(\d+)\s*([kmgtpe]?)(i?b?)$", text, flags=re.I)
        if not m:
            raise ValueError(f"{text!r} is not a size (a number with an optional K/M/G/T suffix)")
        return str(int(m.group(1)) << SIZE_UNITS[m.group(2).lower()])
    if kind in ("int", "uint", "secs", "millisecs"):
        number = int(text, 10)
        if kind == "uint" and number < 0:
            raise ValueError(f"{text!r} is negative")
        return str(number)
    if kind == "float":
        return f"{float(text):f}"
    if kind == "bool":
        lowered = text.lower()
        if lowered in ("true", "1"):
            return "true"
        if lowered in ("false", "0"):
            return "false"
        raise ValueError(f"{text!r} is not a boolean (true or false)")
    return text


# ---------------------------------------------------------------- filesystems
def parse_fs_dump(data: dict) -> Dict[str, dict]:
    """``ceph fs dump`` -> {name: {id, metadata_pool, data_pools (ids), max_mds, up, standby}}."""
    standbys = len(data.get("standbys", []))
    out = {}
    for fs in data.get("filesystems", []):
        mds = fs["mdsmap"]
        states = [info["state"] for info in (mds.get("info") or {}).values()]
        out[mds["fs_name"]] = {"id": fs["id"], "metadata_pool": mds["metadata_pool"],
                               "data_pools": list(mds["data_pools"]), "max_mds": mds["max_mds"],
                               "active": states.count("up:active"), "states": sorted(states),
                               "standby": standbys, "failed": list(mds.get("failed", [])),
                               "damaged": list(mds.get("damaged", []))}
    return out


# ---------------------------------------------------------------- health, status
def parse_health(data: dict) -> dict:
    checks = {}
    for code, check in (data.get("checks") or {}).items():
        checks[code] = {"severity": check["severity"], "summary": check["summary"]["message"],
                        "count": check["summary"].get("count", 0),
                        "detail": [d["message"] for d in check.get("detail", [])], "muted": check.get("muted", False)}
    return {"status": data["status"], "checks": checks}


def parse_pg_stat(data: dict) -> dict:
    """``ceph pg stat`` (served by the mgr: it blocks while no mgr is active) or the ``pgmap`` of ``ceph status``
    (served by the mons) -> {total, states, active_clean, all_active_clean, degraded_objects}."""
    if "pgs_by_state" in data:  # the pgmap of `ceph status`
        data = {"num_pg_by_state": [{"name": s["state_name"], "num": s["count"]} for s in data["pgs_by_state"]],
                "num_pgs": data.get("num_pgs", 0), "degraded_objects": data.get("degraded_objects", 0)}
    summary = data.get("pg_summary", data)
    states = {s["name"]: s["num"] for s in summary.get("num_pg_by_state", [])}
    total = summary.get("num_pgs", 0)
    clean = states.get("active+clean", 0)
    return {"total": total, "states": states, "active_clean": clean, "all_active_clean": total > 0 and clean == total,
            "degraded_objects": summary.get("degraded_objects", 0)}


def parse_quorum(data: dict) -> dict:
    mons = [m["name"] for m in data["monmap"]["mons"]]
    quorum = list(data.get("quorum_names", []))
    return {"mons": mons, "quorum": quorum, "out_of_quorum": [m for m in mons if m not in quorum],
            "leader": data.get("quorum_leader_name")}


def parse_status(data: dict) -> dict:
    osdmap = data.get("osdmap", {})
    osdmap = osdmap.get("osdmap", osdmap)  # older releases nest it once more
    mgr = data.get("mgrmap", {})
    return {"fsid": data.get("fsid"),
            "osds": {"total": osdmap.get("num_osds", 0), "up": osdmap.get("num_up_osds", 0),
                     "in": osdmap.get("num_in_osds", 0)},
            "mgr": {"available": bool(mgr.get("available")), "standbys": mgr.get("num_standbys", 0)}}


def parse_mgr(data: dict) -> dict:
    return {"active": data.get("active_name") or None, "available": bool(data.get("available")),
            "standbys": sorted(s["name"] for s in data.get("standbys", []))}


def parse_version(text: str) -> dict:
    """``ceph --version`` -> {version: '16.2.15', major: 16, release: 'pacific'}."""
    m = re.search(r"ceph version (\d+)\.(\d+)\.(\d+)\S*\s+\(\w+\)\s+(\w+)", text or "")
    if not m:
        raise CephError(f"cannot read the Ceph version from {text.strip()[:120]!r}")
    return {"version": ".".join(m.group(1, 2, 3)), "major": int(m.group(1)), "release": m.group(4)}
