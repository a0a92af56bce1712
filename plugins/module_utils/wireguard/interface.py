# Copyright: fedmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Implementation of the ``wireguard_interface`` module.

Flow: validate every argument and read every file first (fail before touching anything), read the current
config and unit state, plan (``plan.plan``), then apply: write the 0600 config, then start / restart /
``wg syncconf``. If applying fails, the previous config is put back and re-applied.
"""
from __future__ import annotations

import contextlib
import os
import re
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import config as wgconfig
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys as wgkeys
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import plan as wgplan
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.backend import (
    DROPIN_PATH,
    DROPIN_TEXT,
    Backend,
    BackendError,
    diff_texts,
    file_mode,
    load_current,
    read_file,
    resolve_implementation,
    write_private_file,
)

_IFNAME_RE = re.compile(r"^[A-Za-z0-9_=+.-]{1,15}$")


class _Fail(Exception):
    pass


def _read_key_file(module: Any, path: str, field: str, missing: list[str]) -> str | None:
    text = read_file(path) if path else None
    if text is None:
        if module.check_mode:
            missing.append(f"{field}: {path} does not exist yet (check mode assumes an earlier task creates it)")
            return None
        raise _Fail(f"{field}: {path} does not exist; create it first (fedmesh.cluster.wireguard_key) ; "
                    "nothing was changed")
    key = text.strip()
    if not wgkeys.is_valid_key(key):
        raise _Fail(f"{field}: {path} does not hold a base64-encoded 32-byte WireGuard key; regenerate it with "
                    "fedmesh.cluster.wireguard_key; nothing was changed")
    return key


def run(module: Any) -> None:
    try:
        _run(module)
    except (_Fail, wgconfig.ConfigError, wgkeys.KeyError_) as exc:
        module.fail_json(msg=str(exc) if "nothing was changed" in str(exc) else f"{exc}; nothing was changed")


def _run(module: Any) -> None:
    p = module.params
    name = p["name"]
    if not _IFNAME_RE.match(name):
        raise _Fail(f"name: {name!r} is not a valid interface name (1-15 characters of A-Z a-z 0-9 _ = + . -)")
    backend = Backend(module)
    path = os.path.join(p["config_dir"], name + ".conf")
    unit = f"wg-quick@{name}.service"
    state = backend.unit_state(name)
    result: dict[str, Any] = {"changed": False, "interface": name, "config_path": path, "action": "none",
                              "peers_added": [], "peers_removed": [], "peers_changed": []}

    if p["state"] == "absent":
        current = _load(path)[0]
        exists = current is not None
        result["changed"] = exists or state["active"] or state["enabled"]
        if current is not None:
            result["peers_removed"] = [{"public_key": k, "name": v.get("name")} for k, v in current["peers"].items()]
        if module._diff:
            result["diff"] = {"before_header": path, "after_header": path, "after": "",
                              "before": wgconfig.render(current, redact=True) if current else ""}
        if result["changed"]:
            result["action"] = "removed"
        if result["changed"] and not module.check_mode:
            if state["active"] or state["enabled"]:
                backend.systemctl("disable", "--now", unit)
            if exists:
                os.unlink(path)
        module.exit_json(**result)

    # --- validate & read everything before changing anything -------------------------------------------
    warnings: list[str] = []
    private_key = _read_key_file(module, p["private_key_file"], "private_key_file", warnings)
    peers_in = []
    for i, peer in enumerate(p["peers"]):
        entry = dict(peer)
        if peer.get("preshared_key_file"):
            entry["preshared_key"] = _read_key_file(module, peer["preshared_key_file"],
                                                    f"peers[{i}].preshared_key_file", warnings)
        peers_in.append(entry)
    desired = wgconfig.normalize({
        "addresses": p["addresses"], "listen_port": p["listen_port"], "mtu": p["mtu"], "fwmark": p["fwmark"],
        "private_key": private_key, "peers": peers_in,
    })
    if not desired["addresses"]:
        raise _Fail("addresses: give at least one address with prefix, e.g. [10.80.0.1/24]")
    implementation = resolve_implementation(backend, p["implementation"])
    if implementation == "kernel" and p["implementation"] == "kernel" and not backend.kernel_module_available():
        raise _Fail("implementation=kernel but the wireguard kernel module is not available on this node; "
                    "use implementation=userspace (wireguard-go) or auto")
    for binary in ["wg", "wg-quick"] + (["wireguard-go"] if implementation == "userspace" else []):
        if not backend.has(binary):
            msg = (f"{binary} is not installed on the node; install "
                   f"{'wireguard-go' if binary == 'wireguard-go' else 'wireguard-tools'} first")
            if module.check_mode:
                warnings.append(msg)
            else:
                raise _Fail(msg)

    current, unmanaged = _load(path)
    desired_pub = backend.public_key_of(private_key) if private_key else None
    current_pub = backend.public_key_of(current["private_key"]) if current and current["private_key"] else None
    pl = wgplan.plan(desired, current, desired_pub, current_pub)
    if unmanaged:
        pl["file_changed"] = True
        warnings.append("settings not managed by this module are removed from the config: " + ", ".join(unmanaged))

    dropin = implementation == "userspace" and read_file(DROPIN_PATH) != DROPIN_TEXT
    mode_fix = current is not None and file_mode(path) != 0o600
    # Live drift: the interface is up but differs from the file (e.g. someone ran `wg set`).
    drift = False
    if state["active"] and not pl["restart"]:
        live = (backend.dump(name) or {}).get(name)
        if live is None:
            pl["restart"] = True  # unit says active but the device is gone (e.g. wireguard-go died)
        else:
            live_keys = {x["public_key"] for x in live["peers"]}
            drift = live_keys != set(desired["peers"]) or (
                desired_pub is not None and live["public_key"] != desired_pub)
            if drift:
                pl["syncconf"] = True

    if not state["active"]:
        action = "started"
    elif pl["restart"] or (dropin and current is not None):
        action = "restarted"
    elif pl["syncconf"]:
        action = "syncconf"
    else:
        action = "none"
    enable_change = p["enabled"] != state["enabled"]
    changed = bool(pl["file_changed"] or dropin or mode_fix or action != "none" or enable_change)

    result.update({
        "changed": changed,
        "action": action,
        "implementation": implementation,
        "public_key": desired_pub,
        "peers_added": pl["peers_added"],
        "peers_removed": pl["peers_removed"],
        "peers_changed": pl["peers_changed"],
        "interface_changes": pl["interface_changes"],
        "restart_required": pl["restart"],
        "summary": wgplan.summary(pl) + (" (live state drifted from config)" if drift else ""),
        "config": wgconfig.public_view(desired, desired_pub),
    })
    if module._diff:
        result["diff"] = diff_texts(desired, current, pl, path)
    for w in warnings:
        module.warn(w)
    if module.check_mode or not changed:
        module.exit_json(**result)

    # --- apply --------------------------------------------------------------------------------------------
    old_text = read_file(path)
    if dropin:
        backend.ensure_dropin()
    if pl["file_changed"]:
        os.makedirs(p["config_dir"], mode=0o700, exist_ok=True)
        write_private_file(path, wgconfig.render(desired))
    elif mode_fix:
        os.chmod(path, 0o600)
    try:
        if action == "started":
            backend.systemctl("start", unit)
        elif action == "restarted":
            backend.systemctl("restart", unit)
        elif action == "syncconf":
            backend.syncconf(name)
        if action in ("started", "restarted") and not backend.wait_up(name):
            raise BackendError(f"{unit} is active but interface {name} did not come up")
    except BackendError as exc:
        restored = "removed the new config"
        if old_text is not None:
            write_private_file(path, old_text)
            restored = "restored the previous config"
            try:
                if action == "syncconf":
                    backend.syncconf(name)
                elif state["active"]:
                    backend.systemctl("restart", unit)
            except BackendError:
                restored += " (re-applying it failed too; check `systemctl status " + unit + "`)"
        else:
            os.unlink(path)
            with contextlib.suppress(BackendError):
                backend.systemctl("stop", unit)
        module.fail_json(msg=f"applying the new configuration failed ({action}): {exc}; {restored}",
                         **{k: v for k, v in result.items() if k not in ("changed", "diff")})
    if enable_change:
        backend.systemctl("enable" if p["enabled"] else "disable", unit)
    module.exit_json(**result)


def _load(path: str) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        return load_current(path)
    except wgconfig.ConfigError as exc:
        raise _Fail(f"{path} cannot be parsed ({exc}); fix or remove it") from None
