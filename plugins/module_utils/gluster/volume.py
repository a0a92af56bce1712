# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of ``gluster_volume``: read the volume and its context, plan (:mod:`.plan`), apply, read back.

Every refusal happens in ``read``/``plan``, before any command runs.  A gluster command that fails while
applying becomes a :class:`FedmeshError` naming the field of the failed step; what ran before it is
reported (``changed=True``), and a failed ``volume create`` is undone on this node (:mod:`.bricks`).
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Dict, List, Optional

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Plan, Result
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster import backend as host
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster import bricks as brickdirs
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.parse import GlusterError, split_brick
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.plan import plan_volume, snapshot

# The field a failed step belongs to (by its gluster sub-command).
STEP_FIELD = {"create": "bricks", "add-brick": "bricks", "remove-brick": "bricks", "rebalance": "bricks",
              "heal": "replica", "set": "options", "reset": "options", "start": "status", "stop": "status",
              "delete": "state"}


class StepPlan(Plan):
    """A plan that also carries the gluster steps (``plan.step`` dicts) behind its commands."""

    def __init__(self, steps: List[dict], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.steps = steps


def unreachable_error(reason: str) -> FedmeshError:
    return FedmeshError(f"glusterd is not reachable on this node ({reason})",
                        fix="install and start glusterd first (role fedmesh.cluster.glusterfs)")


class VolumeBackend:
    def __init__(self, params: Dict[str, Any], run: Any, check_mode: bool = False,
                 gluster: Optional[host.Gluster] = None) -> None:
        self.params = dict(params)
        self.check_mode = check_mode
        self.gluster = gluster or host.Gluster(run)
        self.bricks_before: Dict[str, dict] = {}

    # ---------------------------------------------------------------- read
    def read(self) -> dict:
        desired = self.params
        snap: Dict[str, Any] = {"current": None, "ctx": {}, "warnings": []}
        reason = self.gluster.reachable()
        if reason:
            if not self.check_mode:
                raise unreachable_error(reason)
            snap["warnings"].append(f"glusterd is not reachable ({reason}); check mode assumes volume "
                                    f"{desired['name']!r} does not exist yet")
            snap["ctx"]["unresolved_hosts"] = host.unresolved(split_brick(b)[0] for b in desired["bricks"] or [])
            return snap
        snap["current"] = self.gluster.volume(desired["name"])
        if desired["state"] == "present":
            snap["ctx"] = self._context(snap["current"])
        return snap

    def _context(self, current: Optional[dict]) -> dict:
        desired, gluster = self.params, self.gluster
        ctx: dict = {}
        bricks = desired["bricks"] or []
        if bricks:
            pool = gluster.pool()
            ctx["unresolved_hosts"] = host.unresolved((split_brick(b)[0] for b in bricks), pool)
            ctx["missing_hosts"] = host.missing_hosts(bricks, pool)
            new = [b for b in bricks if not current or b not in current["bricks"]]
            ctx["root_bricks"] = host.root_bricks(new)
        if desired["options"]:
            ctx["known_options"], ctx["options_complete"] = gluster.known_options(ask_volume=current is None)
        if current and desired["replica"] is not None and desired["replica"] < current["replica"]:
            status = gluster.status(desired["name"])
            ctx["offline_bricks"] = [b for b in current["bricks"]
                                     if not status.get("bricks", {}).get(b, {}).get("online", False)]
            heal = gluster.heal(desired["name"])
            ctx["heal_pending"] = heal["pending"] if heal else 0
        return ctx

    # ---------------------------------------------------------------- plan
    def plan(self, snap: dict) -> StepPlan:
        planned = plan_volume(self.params, snap["current"], snap["ctx"])
        diff = planned["diff"]
        return StepPlan(planned["steps"], before=diff["before"], after=diff["after"], commands=planned["commands"],
                        values={"volume": diff["after"]}, warnings=snap["warnings"] + planned["warnings"])

    # ---------------------------------------------------------------- apply
    def apply(self, plan: StepPlan) -> Result:  # type: ignore[override]
        name = self.params["name"]
        creating = bool(plan.steps) and plan.steps[0]["args"][:2] == ["volume", "create"]
        if creating:
            self.bricks_before = brickdirs.snapshot(list(self.params["bricks"]), host.is_local)
        try:
            done = self.gluster.apply(plan.steps, self.params["timeout"])
        except GlusterError as exc:
            raise self._failed(exc, plan, creating) from None
        final = self.gluster.volume(name)
        return plan.result(values={"volume": snapshot(final, sorted(self.params["options"] or {})),
                                   "tasks": [d["task"] for d in done if "task" in d]})

    def _failed(self, exc: GlusterError, plan: StepPlan, creating: bool) -> FedmeshError:
        applied = list(self.gluster.applied)
        verb = next((w for w in exc.command.split() if w in STEP_FIELD), None)
        field = STEP_FIELD.get(verb or "")
        problem = f"`{exc.command}` failed: {exc.problem}"
        details = {"commands": plan.commands, "ran": applied, "command": exc.command}
        if applied:
            return FedmeshError(problem, field=field, changed=True, **details,
                                remains=f"these commands ran: {applied}; fix {field or 'the request'} and run "
                                        "again (the module continues from the volume's current state)")
        if creating and self.gluster.volumes(self.params["name"]) == {}:
            return self._failed_create(problem, field, details)
        return FedmeshError(problem, field=field, **details)

    def _failed_create(self, problem: str, field: Optional[str], details: dict) -> FedmeshError:
        undone, touched, failed = brickdirs.undo(self.bricks_before)
        others = [b for b in self.params["bricks"] if b not in self.bricks_before]
        details.update(undone=undone)
        notes = [f"removed what gluster left on this node's bricks {undone}"] if undone else []
        if failed:
            notes.append(f"could not clean this node's bricks {failed}")
        # Gluster stages on this node first: when it marked none of this node's bricks, no peer was touched.
        if failed or (others and (touched or not self.bricks_before)):
            notes.append(brickdirs.cleanup_hint(failed + others))
            return FedmeshError(problem, field=field, changed=True, remains="; ".join(notes), **details)
        return FedmeshError(problem + (" (" + "; ".join(notes) + ")" if notes else ""), field=field, **details)
