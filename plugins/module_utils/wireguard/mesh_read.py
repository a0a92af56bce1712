# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Backend of the ``wireguard_mesh_read`` module: everything the ``wireguard_mesh`` role needs to know about one
node, in one call, changing nothing - the interface state (as ``wireguard_info``), the kernel-module probe,
whether the role's packages are installed, what ``wireguard_key`` would do to the private key (and its public
key), and the node's preshared key files (secret: the task must be ``no_log``).
"""
from __future__ import annotations

import os
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Plan, Result
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import Runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.packages.dpkg import QUERY, parse_dpkg_query
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import config as wgconfig
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys as wgkeys
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import view as wgview
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.backend import (
    DROPIN_PATH,
    DROPIN_TEXT,
    Backend,
    file_mode,
    load_current,
    needed_binaries,
    pick_implementation,
    read_file,
)
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.info import gather
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.keyfile import KeyFileBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.psk import SUFFIX

BINARIES = ("wg", "wg-quick", "wireguard-go")


def read_preshared_keys(directory: str | None) -> dict[str, Any]:
    """The ``<peer>.psk`` files of *directory*: peer -> key (null when the file holds no valid key)."""
    out: dict[str, Any] = {}
    if not directory or not os.path.isdir(directory):
        return out
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if entry.endswith(SUFFIX) and os.path.isfile(path):
            key = (read_file(path) or "").strip()
            out[entry[: -len(SUFFIX)]] = key if wgkeys.is_valid_key(key) else None
    return out


class MeshReadBackend:
    """``wireguard_mesh_read``: reads; its plan never has changes."""

    def __init__(self, params: dict[str, Any], runner: Runner) -> None:
        self.p = params
        self.runner = runner
        self.node = Backend(runner)

    def _key(self) -> dict[str, Any]:
        """What ``wireguard_key`` (type private) would do with the same parameters, without doing it."""
        p = self.p
        if not p["key_file"]:
            return {"path": None, "exists": False, "public_key": None, "ensure": False}
        params = {"path": p["key_file"], "type": "private", "state": "present", "regenerate": p["regenerate"],
                  "max_age_days": p["max_age_days"], "content": None}
        backend = KeyFileBackend(params, self.runner)
        out: dict[str, Any] = {"path": p["key_file"], "exists": os.path.exists(p["key_file"])}
        try:
            plan = backend.plan(backend.read())
        except FedmeshError as exc:  # e.g. not a key: wireguard_key fails with this message when it runs
            out.update(public_key=None, ensure=True, problem=exc.problem)
            return out
        out.update(public_key=plan.values.get("public_key"), ensure=plan.changed,
                   age_days=plan.values.get("age_days"), commands=plan.commands)
        return out

    def _packages(self) -> list[str]:
        """The wanted packages dpkg does not list as installed."""
        wanted = [n for n in dict.fromkeys(self.p["packages"] or []) if n]
        if not wanted:
            return []
        if not self.node.has("dpkg-query"):
            return wanted
        _rc, out, _err = self.runner([*QUERY, *wanted])  # rc 1 when some are unknown: still lists the others
        installed = parse_dpkg_query(out)
        return [n for n in wanted if n not in installed]

    def read(self) -> dict[str, Any]:
        p = self.p
        problem = wgconfig.interface_name_problem(p["interface"])
        if problem:
            raise FedmeshError(problem, field="interface")
        if p["max_age_days"] is not None and p["max_age_days"] < 1:
            raise FedmeshError("max_age_days must be 1 or more (days)", field="max_age_days")
        out = {
            "wg_installed": self.node.has("wg"),
            "binaries": {b: self.node.has(b) for b in BINARIES},
            "kernel_module": self.node.kernel_module_available(),
            "interfaces": gather(self.node, p["interface"], p["config_dir"]),
            "packages_missing": self._packages(),
            "key": self._key(),
            "psk_dir_mode": None if not p["psk_dir"] else _mode_text(file_mode(p["psk_dir"])),
            "preshared_keys": read_preshared_keys(p["psk_dir"]),
        }
        out["implementation"] = pick_implementation(p["implementation"], out["kernel_module"])
        out["view"] = self._view(out)
        return out

    def _view(self, out: dict[str, Any]) -> dict[str, Any]:
        """What ``wireguard_mesh_apply`` compares, secret-free (``view.config_view``), and ``local``: what it
        would fix whatever its arguments (the unit, the file's mode and unmanaged settings, the drop-in, live
        drift, missing binaries)."""
        p = self.p
        info = out["interfaces"][p["interface"]]
        path = os.path.join(p["config_dir"], p["interface"] + ".conf")
        local: list[str] = [f"{b} is not installed" for b in needed_binaries(out["implementation"])
                            if not out["binaries"].get(b)]
        if p["implementation"] == "kernel" and not out["kernel_module"]:
            local.append("no kernel module for implementation=kernel")
        try:
            snapshot, unmanaged = load_current(path)
        except wgconfig.ConfigError:
            snapshot, unmanaged = None, ["(the config cannot be parsed)"]
        if snapshot is None:
            local.append("no config")
        if unmanaged:
            local.append("unmanaged settings in the config")
        if snapshot is not None and file_mode(path) != 0o600:
            local.append("config mode is not 0600")
        if not info["enabled"]:
            local.append(f"wg-quick@{p['interface']} is not enabled")
        if not info["active"]:
            local.append(f"wg-quick@{p['interface']} is not active")
        elif snapshot is not None:
            live = {"public_key": info["public_key"], "peers": info["peers"]} if info["exists"] else None
            drift = wgview.live_drift(live, set(snapshot["peers"]), info["config_public_key"])
            if drift:
                local.append(f"the live interface differs from the config ({drift})")
        if out["implementation"] == "userspace" and read_file(DROPIN_PATH) != DROPIN_TEXT:
            local.append("the userspace drop-in is missing")
        fwd = p["forwarding_file"]
        return {"config": wgview.config_view(snapshot, info["config_public_key"]), "local": local,
                "forwarding": wgview.forwarding_state(read_file(fwd)) if fwd else None,
                "psk_sha256": {n: wgview.psk_digest(k) for n, k in out["preshared_keys"].items()}}

    def plan(self, current: dict[str, Any]) -> Plan:
        return Plan(changed=False, values=current)

    def apply(self, plan: Plan) -> Result:  # never called: the plan has no changes
        return plan.result()


def _mode_text(mode: int | None) -> str | None:
    return None if mode is None else f"{mode:04o}"
