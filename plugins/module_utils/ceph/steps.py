# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared read -> plan -> apply shape of the changing ceph_* backends (one step list per plan)."""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Dict, List, Optional

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Plan, Result

from .backend import Ceph, failed, unreachable
from .parse import CephError

# What the ceph CLI prints when it reaches no mon (no config, no key, a timeout): `[errno N] ... (error
# connecting to the cluster)`.
CONNECT_FAILED = "error connecting to the cluster"
from .plan import text


class StepPlan(Plan):
    def __init__(self, steps: List[dict], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.steps = steps


class StepBackend:
    """Subclasses implement ``snapshot()`` (the reads), ``planned(snap)`` (a plan dict) and ``final()``."""

    value_key = "state"

    def __init__(self, params: Dict[str, Any], run: Any, ceph: Optional[Ceph] = None) -> None:
        self.params = dict(params)
        self.ceph = ceph or Ceph(run, self.params)

    def read(self) -> Any:
        # No `ceph fsid` first to see whether the cluster answers: the first read tells, and a no-change run
        # saves one ceph start-up (~0.4 s on the node) per module call.
        try:
            return self.snapshot()
        except CephError as exc:
            if CONNECT_FAILED in exc.problem:
                raise unreachable(exc.reason) from None
            raise failed(exc, None, self.ceph, []) from None

    def snapshot(self) -> Any:
        raise NotImplementedError

    def planned(self, snap: Any) -> dict:
        raise NotImplementedError

    def final(self) -> Any:
        raise NotImplementedError

    def plan(self, snap: Any) -> StepPlan:
        planned = self.planned(snap)
        return StepPlan(planned["steps"], before=planned["before"], after=planned["after"],
                        commands=text(planned["steps"]), values={self.value_key: planned["after"]},
                        warnings=planned.get("warnings", []))

    def run_step(self, st: dict) -> None:
        self.ceph.change(st["args"], data=st.get("data"))

    def apply(self, plan: StepPlan) -> Result:  # type: ignore[override]
        for st in plan.steps:
            try:
                self.run_step(st)
            except CephError as exc:
                raise failed(exc, st["field"], self.ceph, plan.commands) from None
        return plan.result(values={self.value_key: self.final()})
