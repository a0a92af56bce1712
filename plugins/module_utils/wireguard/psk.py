# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Backend of the ``wireguard_psk`` module: the directory of per-peer preshared key files of one node, in one
call - keys this node owns (created when missing and returned), copies of keys other nodes own (written when
they differ) and files of hosts that are no longer peers (removed). Keys appear only in the ``preshared_keys``
return (the task that calls it must be ``no_log``), never in commands, diffs or warnings.
"""
from __future__ import annotations

import os
import re
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Plan, Result
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import Runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys as wgkeys
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.backend import (
    file_mode,
    read_file,
    write_private_file,
)

SUFFIX = ".psk"
# A peer name becomes a file name: inventory-name characters only, no path separator, not "." or "..".
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,252}$")


class PskPlan(Plan):
    """A plan plus what to write (never returned)."""

    create: list[str]
    write: dict[str, str]
    remove: list[str]
    unknown: list[str]
    mkdir: bool = False


def _check_name(name: Any, field: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise FedmeshError(f"{field}: {name!r} is not a peer name usable as a file name (letters, digits, "
                           "'_', '-', '.', '@'; no '/' or '..')", field=field)
    return name


class PskBackend:
    def __init__(self, params: dict[str, Any], runner: Runner) -> None:
        self.p = params
        self.dir = params["dir"]
        self.runner = runner

    def _path(self, peer: str) -> str:
        return os.path.join(self.dir, peer + SUFFIX)

    def read(self) -> dict[str, Any]:
        p = self.p
        create = [_check_name(n, f"create[{i}]") for i, n in enumerate(p["create"] or [])]
        copies = dict(p["keys"] or {})
        for name, key in copies.items():
            _check_name(name, "keys")
            if key is not None and not wgkeys.is_valid_key(str(key).strip()):
                raise FedmeshError(f"keys[{name}] is not a base64-encoded 32-byte WireGuard key", field="keys")
        both = sorted(set(create) & set(copies))
        if both:
            raise FedmeshError(f"{', '.join(both)} in both create and keys: a pair's key has one owner",
                               field="keys")
        keep = [_check_name(n, f"keep[{i}]") for i, n in enumerate(p["keep"] or [])]
        if os.path.exists(self.dir) and not os.path.isdir(self.dir):
            raise FedmeshError(f"{self.dir} exists and is not a directory", field="dir")
        present: dict[str, str | None] = {}
        if os.path.isdir(self.dir):
            for entry in sorted(os.listdir(self.dir)):
                if entry.endswith(SUFFIX) and os.path.isfile(os.path.join(self.dir, entry)):
                    text = read_file(os.path.join(self.dir, entry))
                    present[entry[: -len(SUFFIX)]] = text.strip() if text is not None else None
        for name in create:
            if name in present and not wgkeys.is_valid_key(present[name]):
                raise FedmeshError(f"{self._path(name)} exists but does not hold a preshared key", field="create",
                                   fix="remove the file so it is created again (its peer gets the new key)")
        return {"create": create, "copies": copies, "keep": keep, "present": present,
                "dir_mode": file_mode(self.dir)}

    def plan(self, snap: dict[str, Any]) -> PskPlan:
        present, copies = snap["present"], snap["copies"]
        create = [n for n in snap["create"] if n not in present]
        write = {n: str(k).strip() for n, k in copies.items() if k is not None and present.get(n) != str(k).strip()}
        unknown = sorted(n for n, k in copies.items() if k is None)  # the owner creates it in this (check) run
        removed: list[str] = []
        if self.p["purge"]:
            wanted = set(snap["create"]) | set(copies) | set(snap["keep"])
            removed = sorted(n for n in present if n not in wanted)
        mkdir = snap["dir_mode"] != 0o700
        commands = ([f"create {self._path(n)} (0600)" for n in create]
                    + [f"write {self._path(n)} (0600)" for n in sorted(write)]
                    + [f"write {self._path(n)} (0600, key its owner creates)" for n in unknown]
                    + [f"rm {self._path(n)}" for n in removed]
                    + ([f"mkdir/chmod 0700 {self.dir}"] if mkdir else []))
        after = (set(present) | set(create) | set(write) | set(unknown)) - set(removed)
        # A key still to be created is null here (check mode); apply fills it in.
        owned = {n: present.get(n) for n in snap["create"]}
        values = {"dir": self.dir, "created": create, "written": sorted(set(write) | set(unknown)),
                  "removed": removed, "preshared_keys": owned}
        plan = PskPlan(before=_listing(sorted(present)), after=_listing(sorted(after), set(create) | set(write)),
                       commands=commands, values=values)
        # A copy without its key is only possible in check mode (the owner's key does not exist yet); outside it,
        # apply refuses: the pair would run without a preshared key.
        plan.create, plan.write, plan.remove, plan.unknown, plan.mkdir = create, write, removed, unknown, mkdir
        return plan

    def apply(self, plan: PskPlan) -> Result:
        if plan.unknown:
            raise FedmeshError(f"no key given for {', '.join(plan.unknown)}: its owner has not created it",
                               field="keys", fix="run the owner of the pair in the same play")
        if plan.mkdir:
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
            os.chmod(self.dir, 0o700)
        keys = dict(plan.values["preshared_keys"])
        for name in plan.create:
            keys[name] = wgkeys.generate_preshared_key()
            write_private_file(self._path(name), keys[name] + "\n")
        for name, key in plan.write.items():
            write_private_file(self._path(name), key + "\n")
        for name in plan.remove:
            os.unlink(self._path(name))
        return plan.result(values={"preshared_keys": keys})


def _listing(names: list[str], changed: set[str] | None = None) -> str:
    """Diff text: the peers that have a key file, never a key."""
    return "".join(f"{n}{SUFFIX}: <redacted{'; changed' if n in (changed or set()) else ''}>\n" for n in names)
