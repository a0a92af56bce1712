# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Backend of the ``wireguard_interface`` module, in the collection's one shape (``common.module``):

* ``read()`` validates every argument and reads every file (key files, the current config, the unit, the live
  interface) and fails before anything is touched;
* ``plan(current)`` decides what differs (``plan.plan``) and how to apply it (start, restart, ``wg syncconf``);
* ``apply(plan)`` writes the 0600 config, then starts / restarts / syncs. If applying fails, the previous
  config is put back and re-applied, and the error says so.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Plan, Result
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import Runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import config as wgconfig
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys as wgkeys
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import plan as wgplan
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import view as wgview
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.backend import (
    DROPIN_PATH,
    DROPIN_TEXT,
    Backend,
    BackendError,
    diff_texts,
    file_mode,
    load_current,
    needed_binaries,
    read_file,
    resolve_implementation,
    write_private_file,
)


class InterfacePlan(Plan):
    """A plan plus the steps ``apply`` carries out (kept out of the returned values)."""

    steps: dict[str, Any]


class InterfaceBackend:
    """``wireguard_interface``: plain params + a runner; ``check_mode`` only softens files not created yet."""

    def __init__(self, params: dict[str, Any], runner: Runner, check_mode: bool = False) -> None:
        self.p = params
        self.check_mode = check_mode
        self.node = Backend(runner)
        self.name = params["name"]
        self.path = os.path.join(params["config_dir"], self.name + ".conf")
        self.unit = f"wg-quick@{self.name}.service"

    # --- read ---------------------------------------------------------------------------------------------
    def read(self) -> dict[str, Any]:
        problem = wgconfig.interface_name_problem(self.name)
        if problem:
            raise FedmeshError(problem, field="name")
        snap: dict[str, Any] = {"unit": self.node.unit_state(self.name), "warnings": []}
        snap["current"], snap["unmanaged"] = self._load()
        if self.p["state"] == "absent":
            return snap
        snap["desired"] = self._desired(snap["warnings"])
        snap["implementation"] = self._implementation(snap["warnings"])
        desired_key = snap["desired"]["private_key"]
        current_key = (snap["current"] or {}).get("private_key")
        snap["desired_pub"] = self.node.public_key_of(desired_key) if desired_key else None
        snap["current_pub"] = self.node.public_key_of(current_key) if current_key else None
        snap["mode"] = file_mode(self.path)
        snap["dropin_ok"] = read_file(DROPIN_PATH) == DROPIN_TEXT
        snap["live"] = (self.node.dump(self.name) or {}).get(self.name) if snap["unit"]["active"] else None
        return snap

    def _load(self) -> tuple[dict[str, Any] | None, list[str]]:
        try:
            return load_current(self.path)
        except wgconfig.ConfigError as exc:
            raise FedmeshError(f"{self.path} cannot be parsed ({exc.problem})", field="config_dir",
                               fix="fix or remove the file") from None

    def _key_file(self, path: str, field: str, warnings: list[str]) -> str | None:
        text = read_file(path) if path else None
        if text is None:
            if self.check_mode:
                warnings.append(f"{field}: {path} does not exist yet (check mode assumes an earlier task creates it)")
                return None
            raise FedmeshError(f"{path} does not exist", field=field,
                               fix="create it first (fedmesh.cluster.wireguard_key)")
        key = text.strip()
        if not wgkeys.is_valid_key(key):
            raise FedmeshError(f"{path} does not hold a base64-encoded 32-byte WireGuard key", field=field,
                               fix="regenerate it with fedmesh.cluster.wireguard_key")
        return key

    def _desired(self, warnings: list[str]) -> dict[str, Any]:
        p = self.p
        private_key = self._key_file(p["private_key_file"], "private_key_file", warnings)
        desired = wgview.desired_snapshot(p, private_key, lambda i, peer: self._key_file(
            peer["preshared_key_file"], f"peers[{i}].preshared_key_file", warnings))
        if not desired["addresses"]:
            raise FedmeshError("no address given", field="addresses",
                               fix="give at least one address with prefix, e.g. [10.80.0.1/24]")
        return desired

    def _implementation(self, warnings: list[str]) -> str:
        requested = self.p["implementation"]
        implementation = resolve_implementation(self.node, requested)
        if requested == "kernel" and not self.node.kernel_module_available():
            raise FedmeshError("implementation=kernel but the wireguard kernel module is not available on this node",
                               field="implementation", fix="use implementation=userspace (wireguard-go) or auto")
        for binary in needed_binaries(implementation):
            if not self.node.has(binary):
                package = "wireguard-go" if binary == "wireguard-go" else "wireguard-tools"
                if not self.check_mode:
                    raise FedmeshError(f"{binary} is not installed on the node", field="implementation",
                                       fix=f"install {package} first")
                warnings.append(f"{binary} is not installed on the node; install {package} first")
        return implementation

    # --- plan ---------------------------------------------------------------------------------------------
    def plan(self, snap: dict[str, Any]) -> InterfacePlan:
        if self.p["state"] == "absent":
            return self._plan_absent(snap)
        desired, current, unit = snap["desired"], snap["current"], snap["unit"]
        pl = wgplan.plan(desired, current, snap["desired_pub"], snap["current_pub"])
        warnings = list(snap["warnings"])
        if snap["unmanaged"]:
            pl["file_changed"] = True
            warnings.append("settings not managed by this module are removed from the config: "
                            + ", ".join(snap["unmanaged"]))
        dropin = snap["implementation"] == "userspace" and not snap["dropin_ok"]
        mode_fix = current is not None and snap["mode"] != 0o600
        drift = self._drift(snap, pl)
        if not unit["active"]:
            action = "started"
        elif pl["restart"] or (dropin and current is not None):
            action = "restarted"
        elif pl["syncconf"]:
            action = "syncconf"
        else:
            action = "none"
        enable = self.p["enabled"] != unit["enabled"]
        commands = (["write " + DROPIN_PATH + " and systemctl daemon-reload"] if dropin else []) + \
            (["write " + self.path + " (0600)"] if pl["file_changed"] else
             (["chmod 0600 " + self.path] if mode_fix else []))
        commands += {"started": ["systemctl start " + self.unit], "restarted": ["systemctl restart " + self.unit],
                     "syncconf": [f"wg syncconf {self.name} <(wg-quick strip {self.name})"]}.get(action, [])
        if enable:
            commands.append(f"systemctl {'enable' if self.p['enabled'] else 'disable'} {self.unit}")
        diff = diff_texts(desired, current, pl, self.path)
        values = {
            "interface": self.name, "config_path": self.path, "action": action,
            "implementation": snap["implementation"], "public_key": snap["desired_pub"],
            "peers_added": pl["peers_added"], "peers_removed": pl["peers_removed"],
            "peers_changed": pl["peers_changed"], "interface_changes": pl["interface_changes"],
            "restart_required": pl["restart"],
            "summary": wgplan.summary(pl) + (" (live state drifted from config)" if drift else ""),
            "config": wgconfig.public_view(desired, snap["desired_pub"]),
        }
        plan = InterfacePlan(before=diff["before"], after=diff["after"], commands=commands, values=values,
                             warnings=warnings)
        plan.steps = {"dropin": dropin, "write": pl["file_changed"], "chmod": mode_fix, "action": action,
                      "enable": enable, "was_active": unit["active"], "desired": desired}
        return plan

    def _drift(self, snap: dict[str, Any], pl: dict[str, Any]) -> bool:
        """Live drift: the interface is up but differs from the file (e.g. someone ran ``wg set``)."""
        if not snap["unit"]["active"] or pl["restart"]:
            return False
        how = wgview.live_drift(snap["live"], set(snap["desired"]["peers"]), snap["desired_pub"])
        if how == "restart":
            pl["restart"] = True  # the unit says active but the device is gone (e.g. wireguard-go died)
            return False
        if how == "syncconf":
            pl["syncconf"] = True
        return how is not None

    def _plan_absent(self, snap: dict[str, Any]) -> InterfacePlan:
        current, unit = snap["current"], snap["unit"]
        commands = ([f"systemctl disable --now {self.unit}"] if unit["active"] or unit["enabled"] else []) + \
            ([f"rm {self.path}"] if current is not None else [])
        removed = [{"public_key": k, "name": v.get("name")} for k, v in (current or {"peers": {}})["peers"].items()]
        values = {"interface": self.name, "config_path": self.path, "peers_added": [], "peers_changed": [],
                  "peers_removed": removed, "action": "removed" if commands else "none"}
        plan = InterfacePlan(before=wgconfig.render(current, redact=True) if current else "", after="",
                             commands=commands, values=values)
        plan.steps = {"stop": bool(unit["active"] or unit["enabled"]), "remove": current is not None}
        return plan

    # --- apply --------------------------------------------------------------------------------------------
    def apply(self, plan: InterfacePlan) -> Result:
        steps = plan.steps
        if self.p["state"] == "absent":
            if steps["stop"]:
                self.node.systemctl("disable", "--now", self.unit)
            if steps["remove"]:
                os.unlink(self.path)
            return plan.result()
        old_text = read_file(self.path)
        if steps["dropin"]:
            self.node.ensure_dropin()
        if steps["write"]:
            os.makedirs(self.p["config_dir"], mode=0o700, exist_ok=True)
            write_private_file(self.path, wgconfig.render(steps["desired"]))
        elif steps["chmod"]:
            os.chmod(self.path, 0o600)
        try:
            self._activate(steps["action"])
        except BackendError as exc:
            restored = self._restore(old_text, steps)
            raise FedmeshError(f"applying the new configuration failed ({steps['action']}): {exc.problem}",
                               field="name", changed=True, remains=restored,
                               **{k: v for k, v in plan.values.items() if k != "config"}) from None
        if steps["enable"]:
            self.node.systemctl("enable" if self.p["enabled"] else "disable", self.unit)
        return plan.result()

    def _activate(self, action: str) -> None:
        if action == "started":
            self.node.systemctl("start", self.unit)
        elif action == "restarted":
            self.node.systemctl("restart", self.unit)
        elif action == "syncconf":
            self.node.syncconf(self.name)
        if action in ("started", "restarted") and not self.node.wait_up(self.name):
            raise BackendError(f"{self.unit} is active but interface {self.name} did not come up")

    def _restore(self, old_text: str | None, steps: dict[str, Any]) -> str:
        """Put the previous config back (and re-apply it); say what is left."""
        if old_text is None:
            os.unlink(self.path)
            with contextlib.suppress(BackendError):
                self.node.systemctl("stop", self.unit)
            return "removed the new config"
        write_private_file(self.path, old_text)
        restored = "restored the previous config"
        try:
            if steps["action"] == "syncconf":
                self.node.syncconf(self.name)
            elif steps["was_active"]:
                self.node.systemctl("restart", self.unit)
        except BackendError:
            restored += f" (re-applying it failed too; check `systemctl status {self.unit}`)"
        return restored
