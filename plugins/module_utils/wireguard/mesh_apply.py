# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Backend of the ``wireguard_mesh_apply`` module: one mesh node in one call, in the collection's one shape
(``common.module``) - the preshared key files (``psk.PskBackend``: copies of the keys peers own written, files of
former peers removed), the interface with every peer (``interface.InterfaceBackend``; the copies' keys go in
inline, so the config never waits for a file written in the same call) and the IP-forwarding sysctl drop-in of
hubs. ``read()`` of every part runs before anything changes; keys never appear in commands, diffs or values.
"""
from __future__ import annotations

import os
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Plan, Result
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import Runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.backend import (
    Backend,
    read_file,
    write_private_file,
)
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.interface import InterfaceBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.psk import PskBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.view import forwarding_text

INTERFACE_PARAMS = ("name", "addresses", "listen_port", "private_key_file", "mtu", "fwmark", "implementation",
                    "enabled", "config_dir")


class MeshApplyPlan(Plan):
    """The three parts' plans (kept out of the returned values)."""

    parts: dict[str, Any]


class MeshApplyBackend:
    def __init__(self, params: dict[str, Any], runner: Runner, check_mode: bool = False) -> None:
        self.p = params
        self.node = Backend(runner)
        copies = dict(params["preshared_keys"] or {})
        self.psk = None
        if params["psk_dir"]:
            self.psk = PskBackend({"dir": params["psk_dir"], "create": [], "keys": copies,
                                   "keep": list(params["psk_keep"] or []), "purge": params["psk_purge"]}, runner)
        iface = {k: params[k] for k in INTERFACE_PARAMS}
        iface.update(state="present", peers=[_inline(peer, copies) for peer in params["peers"]])
        self.iface = InterfaceBackend(iface, runner, check_mode=check_mode)

    def read(self) -> dict[str, Any]:
        snap: dict[str, Any] = {"psk": self.psk.read() if self.psk else None, "iface": self.iface.read()}
        path = self.p["forwarding_file"]
        snap["forwarding"] = read_file(path) if path else None
        return snap

    def plan(self, snap: dict[str, Any]) -> MeshApplyPlan:
        psk = self.psk.plan(snap["psk"]) if self.psk else None
        iface = self.iface.plan(snap["iface"])
        fwd = self._plan_forwarding(snap["forwarding"])
        parts = [p for p in (psk, iface) if p is not None]
        values = dict(iface.values)
        if psk is not None:
            values.update({f"psk_{k}": psk.values[k] for k in ("created", "written", "removed")})
        values["forwarding_changed"] = bool(fwd)
        commands = [c for p in parts for c in p.commands] + fwd
        plan = MeshApplyPlan(before="".join(str(p.before or "") for p in parts) + (snap["forwarding"] or ""),
                             after="".join(str(p.after or "") for p in parts) + self._forwarding_after(
                                 snap["forwarding"]),
                             commands=commands, values=values,
                             warnings=[w for p in parts for w in p.warnings])
        plan.parts = {"psk": psk, "iface": iface, "forwarding": bool(fwd)}
        return plan

    def _plan_forwarding(self, current: str | None) -> list[str]:
        path, want = self.p["forwarding_file"], self.p["forwarding"]
        if not path or want is None:
            return []
        if want:
            text = forwarding_text(self.p["forwarding_family"])
            return [] if current == text else [f"write {path} (0644)", f"sysctl -p {path}"]
        return [f"rm {path}"] if current is not None else []

    def _forwarding_after(self, current: str | None) -> str:
        want = self.p["forwarding"]
        if not self.p["forwarding_file"] or want is None:
            return current or ""
        return forwarding_text(self.p["forwarding_family"]) if want else ""

    def apply(self, plan: MeshApplyPlan) -> Result:
        psk, iface = plan.parts["psk"], plan.parts["iface"]
        if psk is not None and psk.changed and self.psk is not None:
            self.psk.apply(psk)
        if iface.changed:
            self.iface.apply(iface)
        if plan.parts["forwarding"]:
            path = self.p["forwarding_file"]
            if self.p["forwarding"]:
                write_private_file(path, forwarding_text(self.p["forwarding_family"]), mode=0o644)
                self.node.run(["sysctl", "-p", path], check_rc=True)
            else:
                os.unlink(path)
        return plan.result()


def _inline(peer: dict[str, Any], copies: dict[str, Any]) -> dict[str, Any]:
    """A peer whose pair key is a copy given in this call carries the key itself instead of its file."""
    entry = dict(peer)
    key = copies.get(peer.get("name") or "")
    if key and entry.get("preshared_key_file"):
        entry["preshared_key"] = str(key).strip()
        entry["preshared_key_file"] = None
    return entry
