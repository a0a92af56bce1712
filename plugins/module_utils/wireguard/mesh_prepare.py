# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Backend of the ``wireguard_mesh_prepare`` module: ``wireguard_mesh_read`` plus what ``wireguard_key`` and
``wireguard_psk`` would do before the plan - the node's private key ensured (created, rotated, or its mode
fixed, with the same rules) and the pair keys it owns created when missing - in one call, so a fresh converge
makes two calls per node (this one and ``wireguard_mesh_apply``). Its return is the read's, of the state after
the changes (in check mode: of the state now, with the key's ``ensure`` still true and the keys it would create
absent, so the role's key and pair-key tasks report them as before). Keys appear only in ``preshared_keys``.
"""
from __future__ import annotations

from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Plan, Result
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import Runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.keyfile import KeyFileBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.mesh_read import MeshReadBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.psk import PskBackend


class MeshPreparePlan(Plan):
    """The parts' plans (kept out of the returned values)."""

    parts: dict[str, Any]


class MeshPrepareBackend:
    def __init__(self, params: dict[str, Any], runner: Runner) -> None:
        self.p = params
        self.reader = MeshReadBackend(params, runner)
        self.key = None
        if params["key_file"]:
            self.key = KeyFileBackend({"path": params["key_file"], "type": "private", "state": "present",
                                       "regenerate": params["regenerate"], "max_age_days": params["max_age_days"],
                                       "content": None}, runner)
        self.psk = None
        if params["psk_dir"] and params["psk_create"]:
            self.psk = PskBackend({"dir": params["psk_dir"], "create": list(params["psk_create"]), "keys": {},
                                   "keep": [], "purge": False}, runner)

    def read(self) -> dict[str, Any]:
        state = self.reader.read()  # validates the read's options first
        return {"state": state, "key": self.key.read() if self.key else None,
                "psk": self.psk.read() if self.psk else None}

    def plan(self, snap: dict[str, Any]) -> MeshPreparePlan:
        key = self.key.plan(snap["key"]) if self.key else None
        psk = self.psk.plan(snap["psk"]) if self.psk else None
        parts = [p for p in (key, psk) if p is not None]
        plan = MeshPreparePlan(before="".join(str(p.before or "") for p in parts),
                               after="".join(str(p.after or "") for p in parts),
                               commands=[c for p in parts for c in p.commands], values=dict(snap["state"]),
                               warnings=[w for p in parts for w in p.warnings])
        plan.parts = {"key": key, "psk": psk}
        return plan

    def apply(self, plan: MeshPreparePlan) -> Result:
        key, psk = plan.parts["key"], plan.parts["psk"]
        done = None
        if key is not None and key.changed and self.key is not None:
            done = self.key.apply(key)
        if psk is not None and psk.changed and self.psk is not None:
            self.psk.apply(psk)
        state = self.reader.read()
        if done is not None:  # done now: the key task has nothing left to do (regenerate=always would again)
            state["key"] = dict(state["key"], ensure=False, public_key=done.values.get("public_key"), commands=[])
        return plan.result(values=state)
