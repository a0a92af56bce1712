# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of ``gluster_peer``: read the pool, plan probes or detaches (:func:`.plan.plan_peers`), apply, wait.

A peer name that does not resolve is refused before anything runs: gluster would only answer "Transport
endpoint is not connected".
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Dict, List, Optional

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Result
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster import backend as host
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.parse import GlusterError
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.plan import plan_peers
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.volume import StepPlan, unreachable_error


def _names(pool: List[dict]) -> List[str]:
    return sorted(p["hostname"] for p in pool if p["hostname"] != "localhost")


class PeerBackend:
    def __init__(self, params: Dict[str, Any], run: Any, check_mode: bool = False,
                 gluster: Optional[host.Gluster] = None) -> None:
        self.params = dict(params)
        self.check_mode = check_mode
        self.gluster = gluster or host.Gluster(run)
        self.peers = [str(p).strip() for p in self.params["peers"]]
        self.others: List[str] = []

    def _validate(self) -> None:
        bad = [p for p in self.peers if not p or " " in p or "/" in p]
        if bad:
            raise FedmeshError(f"{bad} are not host names or addresses", field="peers",
                               fix="give names or addresses, e.g. node2 or 10.80.0.2")
        if self.params["timeout"] < 0:
            raise FedmeshError(f"{self.params['timeout']} must be 0 or more seconds", field="timeout",
                               fix="give the seconds to wait for the peers")

    def read(self) -> dict:
        self._validate()
        self.others = [p for p in self.peers if not host.is_local(p)]
        warnings: List[str] = []
        reason = self.gluster.reachable()
        if reason and not self.check_mode:
            raise unreachable_error(reason)
        if reason:
            warnings.append(f"glusterd is not reachable ({reason}); check mode assumes an empty pool")
        pool: List[dict] = [] if reason else self.gluster.pool()
        if self.params["state"] == "present":
            unresolved = host.unresolved(self.others, pool)
            if unresolved:
                raise FedmeshError(f"{unresolved} do not resolve on this node, so gluster could not reach them",
                                   field="peers", fix="fix the names (DNS or /etc/hosts on every server) or give "
                                                      "their addresses (e.g. the mesh address)")
        return {"pool": pool, "warnings": warnings}

    def plan(self, snap: dict) -> StepPlan:
        pool = snap["pool"]
        matches = {p: host.match_peers(p, pool) for p in self.others}
        missing = [p for p in self.others if not matches[p]]
        present = [matches[p][0]["hostname"] for p in self.others if matches[p]]
        state = self.params["state"]
        planned = plan_peers(state, missing, present)
        after = (_names(pool) + missing) if state == "present" else [n for n in _names(pool) if n not in present]
        return StepPlan(planned["steps"], before={"peers": _names(pool)}, after={"peers": sorted(after)},
                        commands=planned["commands"], values={"peers": pool}, warnings=snap["warnings"])

    def apply(self, plan: StepPlan) -> Result:  # type: ignore[override]
        timeout = self.params["timeout"]
        try:
            self.gluster.apply(plan.steps, timeout)
            if self.params["state"] == "present" and self.params["wait"] and self.others:
                pool = self.gluster.wait_peers(self.others, timeout)
            else:
                pool = self.gluster.pool()
        except GlusterError as exc:
            applied = list(self.gluster.applied)
            problem = f"`{exc.command}` failed: {exc.problem}" if exc.command else exc.problem
            raise FedmeshError(problem, field="peers", changed=bool(applied), commands=plan.commands, ran=applied,
                               remains=f"these commands ran: {applied}" if applied else None) from None
        return plan.result(values={"peers": pool})
