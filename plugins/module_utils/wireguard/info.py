# Copyright: fedmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Implementation of the ``wireguard_info`` module. Returns no secret: the dump parser drops them."""
from __future__ import annotations

import glob
import os
from typing import Any

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


def run(module: Any) -> None:
    backend = Backend(module)
    p = module.params
    interfaces = gather(backend, p["interface"], p["config_dir"])
    module.exit_json(changed=False, wg_installed=backend.has("wg"), interfaces=interfaces)
