# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure plans: desired input + current snapshot -> (steps, diff).  No commands run here.

A step is ``{"args": [...ceph arguments...], "field": <the input it serves>}``; its text (``ceph ...``) is
what check mode reports.  Every refusal is a :class:`FedmeshError` raised before any step exists.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Dict, List, Optional

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError

from .parse import ENTITY, caps_problems

POOL_SETTINGS = ("size", "min_size", "pg_num", "pg_autoscale_mode")
QUOTAS = ("quota_max_bytes", "quota_max_objects")


def step(field: str, *args: Any) -> dict:
    return {"field": field, "args": [str(a) for a in args]}


def text(steps: List[dict]) -> List[str]:
    return ["ceph " + " ".join(s["args"]) for s in steps]


# ---------------------------------------------------------------- pools
def pool_view(pool: Optional[dict], desired: dict) -> Optional[dict]:
    """What the diff shows of a pool: the fields the module manages."""
    if pool is None:
        return None
    keys = ("type", "size", "min_size", "pg_num", "pg_autoscale_mode", "erasure_profile", "applications") + QUOTAS
    view = {k: pool[k] for k in keys}
    if desired.get("pg_num") is None:
        view.pop("pg_num")  # autoscaled: not ours to compare
    return view


def check_pool(desired: dict, osds: List[dict], profiles: Dict[str, dict], current: Optional[dict]) -> None:
    osds_in = sum(1 for o in osds if o["in"])
    size, min_size = desired.get("size"), desired.get("min_size")
    if desired["type"] == "erasure":
        if size is not None:
            raise FedmeshError("an erasure-coded pool's size is k+m of its profile", field="size",
                               fix="leave size unset for type=erasure")
        prof = desired.get("erasure_profile") or "default"
        settings = desired.get("erasure_profile_settings") or {}
        if prof not in profiles and not settings:
            raise FedmeshError(f"erasure-code profile {prof!r} does not exist", field="erasure_profile",
                               fix=f"set erasure_profile_settings (k, m, crush-failure-domain) or use one of "
                                   f"{sorted(profiles)}")
        if prof in profiles and settings:
            have = profiles[prof]
            differs = {k: v for k, v in settings.items() if str(have.get(k)) != str(v)}
            if differs:
                raise FedmeshError(f"profile {prof!r} exists with other settings {differs} (Ceph never changes "
                                   "a profile in use)", field="erasure_profile_settings",
                                   fix="use a new profile name or drop erasure_profile_settings")
        k_m = int(settings.get("k", profiles.get(prof, {}).get("k", 2))) + \
            int(settings.get("m", profiles.get(prof, {}).get("m", 1)))
        size = k_m
    if size is not None and size > max(osds_in, 0):
        raise FedmeshError(f"size {size} is more than the {osds_in} OSD(s) in the cluster; the pool could never be "
                           "active+clean", field="size" if desired["type"] == "replicated" else "erasure_profile",
                           fix=f"use at most {osds_in} or add OSDs first")
    effective_size = size if size is not None else (current or {}).get("size")
    if min_size is not None and effective_size is not None and not 1 <= min_size <= effective_size:
        raise FedmeshError(f"min_size {min_size} must be between 1 and the size {effective_size}", field="min_size")
    if current is not None and current["type"] != desired["type"]:
        raise FedmeshError(f"pool {desired['name']!r} is {current['type']}, not {desired['type']} (Ceph cannot "
                           "convert a pool)", field="type", fix="create a new pool and migrate the data")
    if current is not None and desired["type"] == "erasure" and desired.get("erasure_profile") and \
            current["erasure_profile"] != desired["erasure_profile"]:
        raise FedmeshError(f"pool uses profile {current['erasure_profile']!r}; a pool's profile cannot change",
                           field="erasure_profile")
    pg_num = desired.get("pg_num")
    if pg_num is not None and (pg_num < 1 or pg_num & (pg_num - 1)):
        raise FedmeshError(f"pg_num {pg_num} is not a power of two", field="pg_num", fix="use 8, 16, 32, ...")


def plan_pool_create(desired: dict, profiles: Dict[str, dict]) -> List[dict]:
    name, steps = desired["name"], []
    args: List[Any] = ["osd", "pool", "create", name]
    if desired.get("pg_num"):
        args += [desired["pg_num"], desired["pg_num"]]
    if desired["type"] == "erasure":
        prof = desired.get("erasure_profile") or "default"
        if prof not in profiles:
            kv = [f"{k}={v}" for k, v in sorted((desired.get("erasure_profile_settings") or {}).items())]
            steps.append(step("erasure_profile_settings", "osd", "erasure-code-profile", "set", prof, *kv))
        args += ["erasure", prof]
    else:
        args += ["replicated"]
    steps.append(step("name", *args))
    return steps


def plan_pool(desired: dict, current: Optional[dict], osd_dump: dict) -> dict:
    """Steps and diff for ``ceph_pool``; ``current`` is the pool's snapshot or None."""
    name = desired["name"]
    if desired["state"] == "absent":
        if current is None:
            return {"steps": [], "before": None, "after": None}
        return {"steps": [step("state", "osd", "pool", "rm", name, name, "--yes-i-really-really-mean-it")],
                "before": pool_view(current, desired), "after": None}
    check_pool(desired, osd_dump["osds"], osd_dump["erasure_profiles"], current)
    steps: List[dict] = [] if current else plan_pool_create(desired, osd_dump["erasure_profiles"])
    base = current or {"type": desired["type"], "size": None, "min_size": None, "pg_num": desired.get("pg_num"),
                       "pg_autoscale_mode": None, "erasure_profile": desired.get("erasure_profile"),
                       "applications": [], "quota_max_bytes": 0, "quota_max_objects": 0}
    after = dict(base)
    for key in POOL_SETTINGS:
        want = desired.get(key)
        if want is None or (key == "size" and desired["type"] == "erasure"):
            continue
        if base.get(key) != want or current is None:
            if current is not None or key != "pg_num":
                steps.append(step(key, "osd", "pool", "set", name, key, want))
            after[key] = want
    app = desired.get("application")
    if app and app not in base["applications"]:
        if base["applications"]:
            raise FedmeshError(f"pool {name!r} already has application(s) {base['applications']}", field="application",
                               fix="a pool serves one application; use another pool")
        steps.append(step("application", "osd", "pool", "application", "enable", name, app))
        after["applications"] = sorted(base["applications"] + [app])
    for key in QUOTAS:
        want = desired.get(key)
        if want is not None and base.get(key) != want:
            steps.append(step(key, "osd", "pool", "set-quota", name, key[len("quota_"):], want))
            after[key] = want
    view_after = pool_view(after, desired)
    if current is None and view_after is not None:
        for key in ("size", "min_size", "pg_autoscale_mode"):
            if view_after.get(key) is None:
                view_after.pop(key)
    return {"steps": steps, "before": pool_view(current, desired), "after": view_after}


# ---------------------------------------------------------------- auth
def check_auth(desired: dict) -> None:
    if not ENTITY.match(desired["name"]):
        raise FedmeshError(f"{desired['name']!r} is not a Ceph entity name", field="name",
                           fix="use TYPE.ID, e.g. client.fedmesh-aggregator")
    problems = caps_problems(desired.get("caps") or {})
    if problems:
        raise FedmeshError("; ".join(problems), field="caps")


def caps_args(caps: Dict[str, str]) -> List[str]:
    return [x for daemon, value in sorted(caps.items()) for x in (daemon, value)]


def plan_auth(desired: dict, current: Optional[dict]) -> dict:
    """Steps and diff for ``ceph_auth`` (the keyring file is handled by the backend)."""
    name = desired["name"]
    if desired["state"] == "absent":
        steps = [step("state", "auth", "rm", name)] if current else []
        return {"steps": steps, "before": current, "after": None}
    check_auth(desired)
    caps = dict(sorted((desired.get("caps") or {}).items()))
    if current is None:
        return {"steps": [step("name", "auth", "get-or-create", name, *caps_args(caps))], "before": None,
                "after": {"entity": name, "caps": caps}}
    if desired.get("caps") is None or current["caps"] == caps:
        return {"steps": [], "before": current, "after": current}
    return {"steps": [step("caps", "auth", "caps", name, *caps_args(caps))], "before": current,
            "after": {"entity": name, "caps": caps}}


# ---------------------------------------------------------------- config
def plan_config(desired: dict, current: Optional[str], wanted: Optional[str]) -> dict:
    """``current``: the value in ``ceph config dump`` (None when unset); ``wanted`` the normalised input."""
    who, option = desired["who"], desired["option"]
    before = None if current is None else {who: {option: current}}
    if desired["state"] == "absent":
        steps = [step("state", "config", "rm", who, option)] if current is not None else []
        return {"steps": steps, "before": before, "after": None}
    if current == wanted:
        return {"steps": [], "before": before, "after": before}
    return {"steps": [step("value", "config", "set", who, option, desired["value"])], "before": before,
            "after": {who: {option: wanted}}}


# ---------------------------------------------------------------- filesystems
def plan_fs(desired: dict, current: Optional[dict], pools: Dict[str, dict]) -> dict:
    name = desired["name"]
    meta, data = desired["metadata_pool"], desired["data_pool"]
    view = None if current is None else {"metadata_pool": current["metadata_pool_name"],
                                         "data_pools": current["data_pool_names"], "max_mds": current["max_mds"]}
    if desired["state"] == "absent":
        if current is None:
            return {"steps": [], "before": None, "after": None}
        return {"steps": [step("state", "fs", "fail", name),
                          step("state", "fs", "rm", name, "--yes-i-really-mean-it")], "before": view, "after": None}
    steps: List[dict] = []
    if current is None:
        for pool in (meta, data):
            if pool not in pools:
                steps.append(step("metadata_pool" if pool == meta else "data_pool", "osd", "pool", "create", pool))
        steps.append(step("name", "fs", "new", name, meta, data))
        after = {"metadata_pool": meta, "data_pools": [data], "max_mds": 1}
    else:
        if current["metadata_pool_name"] != meta:
            raise FedmeshError(f"filesystem {name!r} uses metadata pool {current['metadata_pool_name']!r}; it "
                               "cannot change", field="metadata_pool")
        if data not in current["data_pool_names"]:
            raise FedmeshError(f"filesystem {name!r} has data pools {current['data_pool_names']}", field="data_pool",
                               fix="name its first data pool (adding data pools is not supported by this module)")
        after = dict(view or {})
    if desired.get("max_mds") is not None and after["max_mds"] != desired["max_mds"]:
        steps.append(step("max_mds", "fs", "set", name, "max_mds", desired["max_mds"]))
        after["max_mds"] = desired["max_mds"]
    return {"steps": steps, "before": view, "after": after}
