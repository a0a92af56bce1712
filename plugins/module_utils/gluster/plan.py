# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What differs between the wanted volume and the current one: the ordered gluster commands and a diff.

Pure functions, no I/O.  :func:`plan_volume` refuses unsafe requests with :class:`PlanError` *before* any
command is planned, so a refused request never changes anything.  A step is a dict: ``args`` (after
``gluster --mode=script --xml``), ``wait`` (``None``, ``rebalance`` or ``remove-brick``: poll that task's
status until it completes, bounded) and ``ok`` (error texts that mean "already done").
"""

# Module utils run on managed nodes with Python 3.8+: keep typing.Optional/List/Dict, not X | None.
# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import difflib
from typing import Dict, List, Optional

from .layout import PlanError, check_count, check_sets, chunks, set_size, split_brick, validate, volume_type
from .parse import normalise_value

__all__ = ["PlanError", "command_text", "plan_peers", "plan_volume", "set_size", "snapshot", "status_args", "step"]


def refuse(field: str, text: str) -> PlanError:
    """A refusal of ``field``: ``text`` is "<problem>; <fix>" (the message convention adds the rest)."""
    problem, _sep, fix = text.partition("; ")
    return PlanError(problem, field=field, fix=fix or None)


def step(*args: str, wait: Optional[str] = None, ok: tuple = (), plain: bool = False) -> dict:
    """``plain``: the command prints text even with --xml (``volume heal NAME full``); success is its exit code."""
    return {"args": list(args), "wait": wait, "ok": list(ok), "plain": plain}


def command_text(st: dict) -> str:
    text = "gluster " + " ".join(st["args"])
    if st["wait"]:
        text += " && wait for: gluster " + " ".join(status_args(st)) + " (until completed)"
    return text


def status_args(st: dict) -> List[str]:
    """The status command a waiting step polls: its ``... start`` with ``status`` instead."""
    return st["args"][:-1] + ["status"]


# ---------------------------------------------------------------- checks that need the node's state
def _check_hosts_and_root(bricks: list, ctx: dict, force: bool) -> None:
    hosts = {split_brick(b)[0] for b in bricks}
    unresolved = sorted(hosts & set(ctx.get("unresolved_hosts") or []))
    if unresolved:
        raise refuse("bricks", f"host(s) {unresolved} do not resolve, so they are not in the trusted storage pool "
                     "either; fix the name (DNS or /etc/hosts on every server) or give the address")
    missing = sorted(hosts & set(ctx.get("missing_hosts") or []))
    if missing:
        raise refuse("bricks", f"host(s) {missing} are not in the trusted storage pool; probe them first "
                     "(fedmesh.cluster.gluster_peer) or name them as the pool knows them")
    on_root = [b for b in bricks if b in (ctx.get("root_bricks") or [])]
    if on_root and not force:
        raise refuse("bricks", f"{on_root} are on the root filesystem; put bricks on a dedicated filesystem "
                     "(or force: true to accept it)")


def _check_options(options: dict, ctx: dict, current: Optional[dict], warnings: List[str]) -> None:
    """Refuse unknown option names before anything runs.

    ``volume set help-xml`` misses some valid options (nfs.disable, features.quota, ...) that
    ``volume get VOL all`` lists, so names are checked against both; with no volume to ask
    (``ctx["options_complete"]`` false) a name outside help-xml is only warned about.
    """
    known = set(ctx.get("known_options") or ())
    complete = bool(ctx.get("options_complete"))
    if current:
        known |= set(current.get("effective_options") or {}) | set(current.get("options") or {})
        complete = complete or bool(current.get("effective_options"))
    if not known:
        return  # nothing to check against (glusterd not reachable in check mode)
    unknown = sorted(k for k in options if k not in known and not k.startswith("user."))
    if unknown and not complete:
        warnings.append(f"options: {unknown} are not in `gluster volume set help`; gluster checks them when set")
        return
    if unknown:
        hints = {k: difflib.get_close_matches(k, sorted(known), n=2) for k in unknown}
        text = "; ".join(f"{k!r}" + (f" (did you mean {', '.join(v)}?)" if v else "") for k, v in hints.items())
        raise refuse("options", f"gluster has no option {text}; use the full name as "
                     "`gluster volume get VOLUME all` lists it (custom keys start with 'user.')")


# ---------------------------------------------------------------- snapshots for the diff
def snapshot(vol: Optional[dict], option_keys: List[str]) -> dict:
    if vol is None:
        return {"state": "absent"}
    effective = vol.get("effective_options") or {}
    opts = {}
    for key in option_keys:
        if key in vol.get("options", {}):
            opts[key] = vol["options"][key]
        elif key in effective:
            opts[key] = effective[key]["value"] + (" (default)" if effective[key].get("default") else "")
    return {"state": "present", "type": vol["type"], "status": vol["status"], "replica": vol.get("replica", 1),
            "arbiter": vol.get("arbiter", 0), "disperse": vol.get("disperse", 0), "bricks": list(vol["bricks"]),
            "options": opts}


# ---------------------------------------------------------------- the plan
def plan_volume(desired: dict, current: Optional[dict], ctx: Optional[dict] = None) -> dict:
    """Return ``{"steps": [...], "commands": [...], "diff": {"before", "after"}, "warnings": [...]}``."""
    ctx = ctx or {}
    validate(desired)
    name = desired["name"]
    options: Dict[str, object] = dict(desired.get("options") or {})
    keys = sorted(options)
    steps: List[dict] = []
    warnings: List[str] = []
    before = snapshot(current, keys)
    if desired.get("state") == "absent":
        if current is not None:
            if current["status"] == "started":
                steps.append(step("volume", "stop", name, ok=("is not in the started state", "not started")))
            steps.append(step("volume", "delete", name, ok=("does not exist",)))
        return _result(steps, before, {"state": "absent"}, warnings)
    want_started = desired.get("status", "started") == "started"
    _check_options(options, ctx, current, warnings)
    if current is None:
        after = _plan_create(desired, options, ctx, steps)
    else:
        after = dict(before)
        if want_started and current["status"] != "started":
            steps.append(step("volume", "start", name, ok=("already started",)))
            after["status"] = "started"
        if desired.get("bricks"):
            after.update(_plan_bricks(desired, current, ctx, steps, warnings, started=want_started))
        after["options"] = _plan_options(name, options, current, steps)
    if not want_started and after["status"] == "started":
        steps.append(step("volume", "stop", name, ok=("is not in the started state", "not started")))
        after["status"] = "stopped"
    return _result(steps, before, after, warnings)


def _result(steps: List[dict], before: dict, after: dict, warnings: List[str]) -> dict:
    return {"steps": steps, "commands": [command_text(s) for s in steps],
            "diff": {"before": before, "after": after}, "warnings": warnings}


def _plan_create(desired: dict, options: dict, ctx: dict, steps: List[dict]) -> dict:
    name, force, bricks = desired["name"], bool(desired.get("force")), list(desired.get("bricks") or [])
    if not bricks:
        raise refuse("bricks", f"volume {name!r} does not exist; give its bricks (HOST:/path) to create it")
    replica, disperse = desired.get("replica") or 1, desired.get("disperse")
    layout: List[str] = []
    if disperse:
        check_count("bricks", len(bricks), disperse, "dispersed")
        layout = ["disperse", str(disperse)]
        if desired.get("redundancy"):
            layout += ["redundancy", str(desired["redundancy"])]
        size = disperse
    else:
        check_count("replica", len(bricks), replica, "replica")
        if replica > 1:
            layout = ["replica", str(replica)] + (["arbiter", "1"] if desired.get("arbiter") else [])
        size = replica
    check_sets(chunks(bricks, size), force)
    _check_hosts_and_root(bricks, ctx, force)
    steps.append(step("volume", "create", name, *layout, *bricks, *(["force"] if force else [])))
    for key in sorted(options):
        if options[key] is not None:
            steps.append(step("volume", "set", name, key, _cli_value(options[key])))
    started = desired.get("status", "started") == "started"
    if started:
        steps.append(step("volume", "start", name, ok=("already started",)))
    return {"state": "present", "type": volume_type(size, len(bricks), bool(disperse)),
            "status": "started" if started else "created", "replica": 1 if disperse else replica,
            "arbiter": 1 if desired.get("arbiter") else 0, "disperse": disperse or 0, "bricks": bricks,
            "options": {k: _cli_value(v) if v is not None else "(default)" for k, v in options.items()}}


def _cli_value(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _plan_options(name: str, options: dict, current: dict, steps: List[dict]) -> dict:
    effective = current.get("effective_options") or {}
    reconfigured = current.get("options") or {}
    after = {}
    for key in sorted(options):
        want = options[key]
        have = reconfigured.get(key, effective.get(key, {}).get("value"))
        if want is None:
            if key in reconfigured:
                steps.append(step("volume", "reset", name, key))
                after[key] = "(default)"
            else:
                after[key] = snapshot(current, [key])["options"].get(key, "(default)")
        elif have is None or normalise_value(have) != normalise_value(want):
            steps.append(step("volume", "set", name, key, _cli_value(want)))
            after[key] = _cli_value(want)
        else:
            after[key] = snapshot(current, [key])["options"][key]
    return after


def _plan_bricks(desired: dict, current: dict, ctx: dict, steps: List[dict], warnings: List[str],
                 started: bool) -> dict:
    name, force = desired["name"], bool(desired.get("force"))
    want = list(desired["bricks"])
    have = list(current["bricks"])
    added = [b for b in want if b not in have]
    removed = [b for b in have if b not in want]
    if current.get("disperse"):
        if desired.get("replica") is not None:
            raise refuse("replica", f"volume {name!r} is dispersed; a dispersed volume has no replica count")
        if desired.get("disperse") not in (None, current["disperse"]):
            raise refuse("disperse", f"gluster cannot change the disperse count of {name!r} "
                         f"({current['disperse']}); create a new volume and copy the data")
    elif desired.get("disperse") is not None:
        raise refuse("disperse", f"volume {name!r} is {current['type']}; gluster cannot convert it to dispersed")
    cur_r = current.get("replica", 1) if not current.get("disperse") else 1
    new_r = desired.get("replica") or cur_r
    want_arbiter = int(desired["arbiter"] if desired.get("arbiter") is not None else current.get("arbiter", 0))
    if desired.get("arbiter") is None and new_r < cur_r:
        want_arbiter = 0
    adding_arbiter = cur_r == 2 and new_r == 3 and want_arbiter == 1
    dropping_arbiter = cur_r == 3 and new_r == 2 and want_arbiter == 0
    if want_arbiter != current.get("arbiter", 0) and not (adding_arbiter or dropping_arbiter):
        raise refuse("arbiter", f"volume {name!r} has arbiter {current.get('arbiter', 0)}; an arbiter is only added "
                     "while growing replica 2 to 3 (replica: 3, arbiter: 1) or dropped with it (replica: 2)")
    size = current.get("disperse") or cur_r
    if not added and not removed:
        return {}
    if added and removed and new_r == cur_r:
        raise refuse("bricks", f"adding {added} and removing {removed} in one run is a brick replacement; "
                     "add the new bricks in one run and remove the old ones in the next")
    _check_hosts_and_root(added, ctx, force)
    sets = chunks(have, size)
    disperse = bool(current.get("disperse"))
    if new_r > cur_r:
        _plan_replica_up(name, want, have, sets, cur_r, new_r, want_arbiter, force, removed, steps, started, ctx)
    elif new_r < cur_r:
        _plan_replica_down(name, want, sets, cur_r, new_r, force, added, removed, steps, ctx)
    else:
        if added:
            check_count("bricks", len(added), size, "replica" if not disperse else "dispersed")
            check_sets(chunks(added, size), force)
            steps.append(step("volume", "add-brick", name, *added, *(["force"] if force else [])))
        if removed:
            _plan_shrink(name, removed, sets, force, started, steps)
        if added and desired.get("rebalance", True):
            if started:
                steps.append(step("volume", "rebalance", name, "start", wait="rebalance"))
            else:
                warnings.append(f"volume {name!r} is not started: no rebalance after add-brick; start it and "
                                "run `gluster volume rebalance NAME start`")
    return {"bricks": want, "replica": 1 if disperse else new_r, "arbiter": want_arbiter,
            "type": volume_type(size if disperse else new_r, len(want), disperse)}


def _plan_replica_up(name: str, want: list, have: list, sets: List[list], cur_r: int, new_r: int,
                     arbiter: int, force: bool, removed: list, steps: List[dict], started: bool, ctx: dict) -> None:
    if removed:
        raise refuse("bricks", f"raising replica {cur_r} → {new_r} cannot also remove {removed}; do it in two runs")
    check_count("replica", len(want), new_r, "replica")
    per_set: Dict[int, list] = {}
    expansion: List[str] = []
    for members in chunks(want, new_r):
        old = [b for b in members if b in have]
        new = [b for b in members if b not in have]
        if not old:
            expansion += new
            continue
        idx = next(i for i, s in enumerate(sets) if old[0] in s)
        if sorted(old) != sorted(sets[idx]) or len(new) != new_r - cur_r:
            raise refuse("bricks", f"for replica {new_r} list each existing set {sets[idx]} followed by its "
                         f"{new_r - cur_r} new brick(s), in the existing order; got {members}")
        per_set[idx] = new
    if len(per_set) != len(sets):
        raise refuse("bricks", f"every existing replica set must get {new_r - cur_r} new brick(s) for replica {new_r}")
    check_sets(chunks(want, new_r), force)
    grow = [b for i in range(len(sets)) for b in per_set[i]]
    steps.append(step("volume", "add-brick", name, "replica", str(new_r), *(["arbiter", "1"] if arbiter else []),
                      *grow, *(["force"] if force else [])))
    if started:
        steps.append(step("volume", "heal", name, "full", plain=True))
    if expansion:
        steps.append(step("volume", "add-brick", name, *expansion, *(["force"] if force else [])))
        if started:
            steps.append(step("volume", "rebalance", name, "start", wait="rebalance"))


def _plan_replica_down(name: str, want: list, sets: List[list], cur_r: int, new_r: int, force: bool,
                       added: list, removed: list, steps: List[dict], ctx: dict) -> None:
    if added:
        raise refuse("bricks", f"lowering replica {cur_r} → {new_r} cannot also add {added}; do it in two runs")
    for members in sets:
        kept = [b for b in members if b in want]
        if not kept:
            raise refuse("bricks", f"removing all of {members} would delete the last copy of their data; "
                         f"keep {new_r} brick(s) of every replica set")
        if len(kept) != new_r:
            raise refuse("bricks", f"replica {new_r} keeps {new_r} brick(s) of each set; set {members} "
                         f"would keep {kept}")
    offline = sorted(b for b in want if b in (ctx.get("offline_bricks") or []))
    pending = ctx.get("heal_pending") or 0
    if (offline or pending) and not force:
        why = [f"bricks {offline} are offline"] if offline else []
        why += [f"{pending} entries await heal"] if pending else []
        raise refuse("bricks", f"lowering replica while {' and '.join(why)} could remove the last good copy; "
                     "bring the bricks back and wait for heal info to reach 0 (or force: true)")
    steps.append(step("volume", "remove-brick", name, "replica", str(new_r), *removed, "force"))


def _plan_shrink(name: str, removed: list, sets: List[list], force: bool, started: bool, steps: List[dict]) -> None:
    for members in sets:
        gone = [b for b in members if b in removed]
        if gone and len(gone) != len(members):
            raise refuse("bricks", f"removing {gone} from set {members} without lowering replica would leave it "
                         "short; remove whole sets (their data migrates first) or lower replica")
    if all(all(b in removed for b in members) for members in sets):
        raise refuse("bricks", f"removing every brick of {name!r} removes its data; use state: absent to delete it")
    if not started:
        if not force:
            raise refuse("bricks", f"volume {name!r} is stopped, so the data on {removed} cannot migrate; start it "
                         "(status: started) or force: true to drop that data")
        steps.append(step("volume", "remove-brick", name, *removed, "force"))
        return
    steps.append(step("volume", "remove-brick", name, *removed, "start", wait="remove-brick"))
    steps.append(step("volume", "remove-brick", name, *removed, "commit"))


# ---------------------------------------------------------------- peers
def plan_peers(state: str, missing: List[str], present: List[str]) -> dict:
    """Probe the wanted peers the pool lacks (state present) or detach those it has (state absent)."""
    steps = ([step("peer", "probe", p, ok=("already in peer list",)) for p in missing] if state == "present"
             else [step("peer", "detach", p, ok=("is not part of cluster",)) for p in present])
    return {"steps": steps, "commands": [command_text(s) for s in steps]}
