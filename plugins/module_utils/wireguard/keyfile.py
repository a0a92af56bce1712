# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Backend of the ``wireguard_key`` module: a private or preshared key file kept on the node (read -> plan ->
apply, see ``common.module``). The key itself never leaves the node process: not in values, commands or diffs.
"""
from __future__ import annotations

import os
import time
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Plan, Result
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import Runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys as wgkeys
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.backend import (
    Backend,
    file_mode,
    read_file,
    write_private_file,
)

GENERATE = "generate"


class KeyPlan(Plan):
    """A plan plus the key to write (never returned)."""

    new_key: str | None = None
    chmod: bool = False


class KeyFileBackend:
    def __init__(self, params: dict[str, Any], runner: Runner) -> None:
        self.p = params
        self.path = params["path"]
        self.kind = params["type"]
        self.node = Backend(runner)

    def read(self) -> dict[str, Any]:
        p = self.p
        if p["max_age_days"] is not None and p["max_age_days"] < 1:
            raise FedmeshError("max_age_days must be 1 or more (days)", field="max_age_days")
        if p["content"] is not None and p["regenerate"] != "never":
            raise FedmeshError(f"content and regenerate={p['regenerate']} are mutually exclusive: content pins "
                               "the key", field="content", fix="use regenerate=never with content")
        if p["content"] is not None and not wgkeys.is_valid_key(p["content"].strip()):
            raise FedmeshError("content is not a base64-encoded 32-byte WireGuard key (44 characters ending in '=')",
                               field="content")
        if os.path.isdir(self.path):
            raise FedmeshError(f"{self.path} is a directory", field="path", fix="give the key file's path")
        existing = read_file(self.path)
        key = existing.strip() if existing is not None else None
        snap: dict[str, Any] = {"key": key, "mode": file_mode(self.path), "age_days": None, "public_key": None}
        if existing is not None:
            snap["age_days"] = (time.time() - os.stat(self.path).st_mtime) / 86400.0
        if key is not None and not wgkeys.is_valid_key(key) and p["content"] is None and p["regenerate"] != "always":
            raise FedmeshError(f"{self.path} exists but does not hold a WireGuard key", field="path",
                               fix="remove it or run with regenerate=always to replace it")
        snap["public_key"] = self._pub(key)
        return snap

    def plan(self, snap: dict[str, Any]) -> KeyPlan:
        key, mode, pub = snap["key"], snap["mode"], snap["public_key"]
        values: dict[str, Any] = {"path": self.path, "type": self.kind, "regenerated": False}
        if self.p["state"] == "absent":
            plan = KeyPlan(before=_describe(key, self.kind, mode), after="", values=values,
                           commands=[f"rm {self.path}"] if key is not None else [])
            return plan
        if snap["age_days"] is not None:
            values["age_days"] = round(snap["age_days"], 3)
        new_key = self._new_key(snap)
        chmod = new_key is None and mode != 0o600
        values["regenerated"] = bool(new_key) and key is not None
        if self.kind == "private":
            values["public_key"] = None if new_key else pub
        commands = ([f"generate a {self.kind} key" if new_key == GENERATE else "set the given key",
                     f"write {self.path} (0600)"] if new_key else []) + ([f"chmod 0600 {self.path}"] if chmod else [])
        plan = KeyPlan(before=_describe(key, self.kind, mode, pub), commands=commands, values=values,
                       after=_describe("(new)" if new_key else key, self.kind, 0o600, None if new_key else pub,
                                       changed=bool(new_key)))
        plan.new_key, plan.chmod = new_key, chmod
        return plan

    def _new_key(self, snap: dict[str, Any]) -> str | None:
        p, key = self.p, snap["key"]
        if p["content"] is not None:
            return p["content"].strip() if key != p["content"].strip() else None
        if key is None or p["regenerate"] == "always":
            return GENERATE
        if p["regenerate"] == "max_age" and snap["age_days"] is not None and snap["age_days"] > p["max_age_days"]:
            return GENERATE
        return None

    def apply(self, plan: KeyPlan) -> Result:
        if self.p["state"] == "absent":
            os.unlink(self.path)
            return plan.result()
        if plan.chmod:
            os.chmod(self.path, 0o600)
            return plan.result()
        key = plan.new_key or ""  # apply runs only for a plan with changes: a key to write
        if key == GENERATE:
            key = self.node.generate_private_key() if self.kind == "private" else wgkeys.generate_preshared_key()
        write_private_file(self.path, key + "\n")
        pub = self._pub(key)
        values = {"public_key": pub} if self.kind == "private" else {}
        return plan.result(values=values, after=_describe(key, self.kind, 0o600, pub, changed=True))

    def _pub(self, key: str | None) -> str | None:
        if self.kind != "private" or key is None or not wgkeys.is_valid_key(key):
            return None
        return self.node.public_key_of(key)


def _describe(key: str | None, kind: str, mode: int | None, pub: str | None = None, changed: bool = False) -> str:
    """Diff text: never the key itself."""
    if key is None:
        return ""
    lines = [f"{kind} key: " + ("<redacted; changed>" if changed else "<redacted>")]
    if kind == "private":
        lines.append(f"public key: {pub or '(known after apply)'}")
    lines.append(f"mode: {mode:04o}" if mode is not None else "mode: 0600")
    return "\n".join(lines) + "\n"
