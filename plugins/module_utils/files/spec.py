# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``files`` module's entries, checked before anything is read or written.

An entry is a directory or a file: its absolute path, and optionally its owner, group and mode.  Every
problem names the entry (``files[2].mode``) and the whole request is refused before anything changes.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import grp
import os
import pwd
import re
from typing import Any, Dict, List, Optional

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError

OCTAL = re.compile(r"^0?[0-7]{3,4}$")
DEFAULT_MODES = {"directories": 0o755, "files": 0o644, "secret_files": 0o600}
KINDS = ("directories", "files", "secret_files")


class Entry:
    """One wanted path.  ``content`` is None for a directory; ``secret`` hides the content everywhere."""

    def __init__(self, field: str, kind: str, path: str, content: Optional[str], uid: Optional[int],
                 gid: Optional[int], mode: Optional[int], diff: bool, owner: Optional[str],
                 group: Optional[str]) -> None:
        self.field = field
        self.kind = kind
        self.path = path
        self.content = content
        self.uid = uid
        self.gid = gid
        self.mode = mode
        self.diff = diff
        self.owner = owner
        self.group = group

    @property
    def is_dir(self) -> bool:
        return self.kind == "directories"

    @property
    def secret(self) -> bool:
        return self.kind == "secret_files"

    @property
    def new_mode(self) -> int:
        """The mode a path created by this run gets."""
        return DEFAULT_MODES[self.kind] if self.mode is None else self.mode


def parse_mode(value: Any, field: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool):
        raise FedmeshError(f"{value!r} is not a mode", field=field, fix='give an octal string such as "0644"')
    if isinstance(value, int):
        # YAML reads an unquoted 0644 as the integer 420: that is the mode meant.
        if not 0 <= value <= 0o7777:
            raise FedmeshError(f"{value} is not a file mode", field=field, fix='give an octal string such as "0644"')
        return value
    text = str(value).strip()
    if not OCTAL.match(text):
        raise FedmeshError(f"{text!r} is not an octal mode", field=field,
                           fix='give an octal string such as "0644" (symbolic modes are not supported)')
    return int(text, 8)


# In check mode a user or group that does not exist yet is not an error: a package or task earlier in the same
# run would create it (check mode installs nothing).  The id is then unknown (-2) and the path counts as changing.
UNKNOWN_ID = -2


def resolve_user(name: Optional[str], field: str, check_mode: bool = False) -> Optional[int]:
    if name is None:
        return None
    try:
        return int(name) if str(name).isdigit() else pwd.getpwnam(str(name)).pw_uid
    except KeyError:
        if check_mode:
            return UNKNOWN_ID
        raise FedmeshError(f"no user {name!r} on this host", field=field,
                           fix="create the user first or give an existing one") from None


def resolve_group(name: Optional[str], field: str, check_mode: bool = False) -> Optional[int]:
    if name is None:
        return None
    try:
        return int(name) if str(name).isdigit() else grp.getgrnam(str(name)).gr_gid
    except KeyError:
        if check_mode:
            return UNKNOWN_ID
        raise FedmeshError(f"no group {name!r} on this host", field=field,
                           fix="create the group first or give an existing one") from None


def _entry(kind: str, index: int, raw: Dict[str, Any], check_mode: bool) -> Entry:
    field = f"{kind}[{index}]"
    path = raw.get("path") or ""
    if not os.path.isabs(path) or os.path.normpath(path) != path.rstrip("/") or path == "/":
        raise FedmeshError(f"{path!r} is not a normalised absolute path", field=f"{field}.path",
                           fix="give an absolute path without '..', '.' or repeated slashes")
    content = None
    if kind != "directories":
        content = raw.get("content")
        if content is None:
            raise FedmeshError("content is required for a file", field=f"{field}.content")
    return Entry(field, kind, path.rstrip("/"), content,
                 resolve_user(raw.get("owner"), f"{field}.owner", check_mode),
                 resolve_group(raw.get("group"), f"{field}.group", check_mode),
                 parse_mode(raw.get("mode"), f"{field}.mode"), bool(raw.get("diff", True)),
                 raw.get("owner"), raw.get("group"))


def _missing_parents(path: str, known: set) -> List[str]:
    """The ancestors of ``path`` that neither exist nor are listed, outermost first (``mkdir -p``)."""
    missing: List[str] = []
    parent = os.path.dirname(path)
    while parent not in known and parent != "/" and not os.path.isdir(parent):
        missing.insert(0, parent)
        parent = os.path.dirname(parent)
    return missing


def entries(params: Dict[str, Any], check_mode: bool = False) -> List[Entry]:
    """The wanted paths, directories first (in the order given, a directory's missing ancestors before it, as
    ``mkdir -p`` makes them: root-owned, 0755), then files; refused whole on any problem."""
    out: List[Entry] = []
    known: set = set()
    for kind in KINDS:
        for index, raw in enumerate(params.get(kind) or []):
            entry = _entry(kind, index, raw, check_mode)
            if entry.is_dir:
                for parent in _missing_parents(entry.path, known):
                    out.append(Entry(f"{entry.field} (parent)", kind, parent, None, None, None, None, True,
                                     None, None))
                    known.add(parent)
                known.add(entry.path)
            out.append(entry)
    seen: Dict[str, str] = {}
    for entry in out:
        if entry.path in seen:
            raise FedmeshError(f"{entry.path} is also {seen[entry.path]}", field=f"{entry.field}.path",
                               fix="list each path once")
        seen[entry.path] = entry.field
    listed_dirs = set()
    for entry in out:
        parent = os.path.dirname(entry.path)
        if parent not in listed_dirs and not os.path.isdir(parent):
            raise FedmeshError(f"the parent folder {parent} does not exist", field=f"{entry.field}.path",
                               fix="list it under directories or create it first")
        if entry.is_dir:
            listed_dirs.add(entry.path)
    return out
