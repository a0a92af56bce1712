# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Backend of the ``wireguard_info`` module. Returns no secret: the dump parser drops them."""
from __future__ import annotations

import glob
import os
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Plan, Result
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import Runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import config as wgconfig
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.backend import Backend, load_current


def gather(backend: Backend, interface: str | None, config_dir: str) -> dict[str, Any]:
    live = backend.dump(interface)
    names: set[str] = set(live or {})
    if interface:
        names = {interface}
    else:
        names |= {os.path.basename(p)[:-5] for p in glob.glob(os.path.join(config_dir, "*.conf"))}
    out: dict[str, Any] = {}
    for name in sorted(names):
        path = os.path.join(config_dir, name + ".conf")
        warnings: list[str] = []
        try:
            snap, unmanaged = load_current(path)
        except (wgconfig.ConfigError, OSError) as exc:
            snap, unmanaged = None, []
            warnings.append(f"{path}: {exc}")
        cfg_pub = None
        if snap and snap.get("private_key"):
            cfg_pub = backend.public_key_of(snap["private_key"])
        dev = (live or {}).get(name)
        names_by_key = {k: v.get("name") for k, v in (snap or {}).get("peers", {}).items()}
        peers = []
        for peer in (dev or {}).get("peers", []):
            peers.append(dict(peer, name=names_by_key.get(peer["public_key"])))
        unit = backend.unit_state(name)
        out[name] = {
            "name": name,
            "exists": dev is not None,
            "active": unit["active"],
            "enabled": unit["enabled"],
            "config_path": path,
            "config_exists": snap is not None,
            "public_key": (dev or {}).get("public_key") or cfg_pub,
            "config_public_key": cfg_pub,
            "listen_port": (dev or {}).get("listen_port") if dev else (snap or {}).get("listen_port"),
            "fwmark": (dev or {}).get("fwmark") if dev else (snap or {}).get("fwmark"),
            "addresses": list((snap or {}).get("addresses", [])),
            "peers": peers,
            "config": wgconfig.public_view(snap, cfg_pub) if snap else None,
            "unmanaged_settings": unmanaged,
            "warnings": warnings,
        }
    return out


class InfoBackend:
    """``wireguard_info``: reads; its plan never has changes."""

    def __init__(self, params: dict[str, Any], runner: Runner) -> None:
        self.p = params
        self.node = Backend(runner)

    def read(self) -> dict[str, Any]:
        problem = self.p["interface"] is not None and wgconfig.interface_name_problem(self.p["interface"])
        if problem:
            raise FedmeshError(problem, field="interface")
        return {"wg_installed": self.node.has("wg"), "kernel_module": self.node.kernel_module_available(),
                "interfaces": gather(self.node, self.p["interface"], self.p["config_dir"])}

    def plan(self, current: dict[str, Any]) -> Plan:
        return Plan(changed=False, values=current)

    def apply(self, plan: Plan) -> Result:  # never called: the plan has no changes
        return plan.result()
