# Copyright: fedmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Implementation of the ``wireguard_key`` module: a private or preshared key file kept on the node."""
from __future__ import annotations

import os
import time
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys as wgkeys
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.backend import (
    Backend,
    file_mode,
    read_file,
    write_private_file,
)


def run(module: Any) -> None:
    p = module.params
    path, kind = p["path"], p["type"]
    backend = Backend(module)
    if p["max_age_days"] is not None and p["max_age_days"] < 1:
        module.fail_json(msg="max_age_days must be 1 or more (days); nothing was changed")
    if p["content"] is not None and p["regenerate"] != "never":
        module.fail_json(msg="content and regenerate={} are mutually exclusive: content pins the key; "
                             "use regenerate=never with content; nothing was changed".format(p["regenerate"]))
    if p["content"] is not None and not wgkeys.is_valid_key(p["content"].strip()):
        module.fail_json(msg="content is not a base64-encoded 32-byte WireGuard key (44 characters ending in '='); "
                             "nothing was changed")
    if os.path.isdir(path):
        module.fail_json(msg=f"path: {path} is a directory; give the key file's path; nothing was changed")

    existing = read_file(path)
    existing_key = existing.strip() if existing is not None else None
    mode = file_mode(path)
    result: dict[str, Any] = {"changed": False, "path": path, "type": kind, "regenerated": False}

    if p["state"] == "absent":
        if existing is not None:
            result["changed"] = True
            if not module.check_mode:
                os.unlink(path)
        if module._diff:
            result["diff"] = {"before": _describe(existing_key, kind, mode), "after": ""}
        module.exit_json(**result)

    age_days = None
    if existing is not None:
        age_days = (time.time() - os.stat(path).st_mtime) / 86400.0
        result["age_days"] = round(age_days, 3)
    if (existing_key is not None and not wgkeys.is_valid_key(existing_key) and p["content"] is None
            and p["regenerate"] != "always"):
        module.fail_json(msg=f"path: {path} exists but does not hold a WireGuard key; remove it or run with "
                             "regenerate=always to replace it; nothing was changed")

    new_key: str | None = None
    if p["content"] is not None:
        if existing_key != p["content"].strip():
            new_key = p["content"].strip()
    elif (existing_key is None or p["regenerate"] == "always"
          or (p["regenerate"] == "max_age" and age_days is not None and age_days > p["max_age_days"])):
        new_key = "generate"
    chmod = new_key is None and mode != 0o600

    result["changed"] = bool(new_key or chmod)
    result["regenerated"] = bool(new_key) and existing_key is not None
    old_pub = _pub(backend, existing_key, kind)
    if module.check_mode:
        result["public_key"] = old_pub if not new_key else None
        if module._diff:
            result["diff"] = {"before": _describe(existing_key, kind, mode, old_pub),
                              "after": _describe("(new)" if new_key else existing_key, kind, 0o600,
                                                 None if new_key else old_pub, changed=bool(new_key))}
        module.exit_json(**result)

    key = existing_key
    if new_key:
        if new_key == "generate":
            key = backend.generate_private_key() if kind == "private" else wgkeys.generate_preshared_key()
        else:
            key = new_key
        write_private_file(path, key + "\n")
    elif chmod:
        os.chmod(path, 0o600)
    new_pub = _pub(backend, key, kind)
    if kind == "private":
        result["public_key"] = new_pub
    if module._diff:
        result["diff"] = {"before": _describe(existing_key, kind, mode, old_pub),
                          "after": _describe(key, kind, 0o600, new_pub, changed=bool(new_key))}
    module.exit_json(**result)


def _pub(backend: Backend, key: str | None, kind: str) -> str | None:
    if kind != "private" or key is None or not wgkeys.is_valid_key(key):
        return None
    return backend.public_key_of(key)


def _describe(key: str | None, kind: str, mode: int | None, pub: str | None = None, changed: bool = False) -> str:
    """Diff text: never the key itself."""
    if key is None:
        return ""
    lines = [f"{kind} key: " + ("<redacted; changed>" if changed else "<redacted>")]
    if kind == "private":
        lines.append(f"public key: {pub or '(known after apply)'}")
    lines.append(f"mode: {mode:04o}" if mode is not None else "mode: 0600")
    return "\n".join(lines) + "\n"
