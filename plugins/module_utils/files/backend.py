# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of ``files``: read every wanted path, plan what differs, write it (read -> plan -> apply).

One module call for what would otherwise be one ``file``/``copy``/``template`` call per path: on these hosts
one module call costs the node about 0.3 CPU-seconds (AnsiballZ start-up), whatever it does.
Files are written whole and atomically (a temporary file in the same folder, then ``rename``); secret files'
content never appears in the result, the diff or the commands.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from typing import Any, Dict, List, Optional

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Plan, Result

from .spec import UNKNOWN_ID, Entry, entries

DIFF_MAX_BYTES = 64 * 1024
HIDDEN = "(secret content, not shown)\n"
HIDDEN_CHANGED = "(secret content, not shown: it changes)\n"


def read_path(entry: Entry) -> Optional[Dict[str, Any]]:
    """What is at ``entry.path`` now (None when nothing is); refuses a path of the wrong kind.

    A directory may be a symbolic link to one (a data folder moved to another disk): its target is managed, as
    ``ansible.builtin.file`` does.  A file must not be a link: writing it would replace the link.
    """
    try:
        st = os.stat(entry.path) if entry.is_dir else os.lstat(entry.path)
    except FileNotFoundError:
        if entry.is_dir and os.path.islink(entry.path):
            raise FedmeshError(f"{entry.path} is a symbolic link to nothing", field=f"{entry.field}.path",
                               fix="remove the dangling link or create its target") from None
        return None
    want = "a directory" if entry.is_dir else "a regular file"
    ok = stat.S_ISDIR(st.st_mode) if entry.is_dir else stat.S_ISREG(st.st_mode)
    if not ok:
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "something else"
        raise FedmeshError(f"{entry.path} is {what}, not {want}", field=f"{entry.field}.path",
                           fix="remove it or choose another path")
    current: Dict[str, Any] = {"mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
    if not entry.is_dir:
        with open(entry.path, "rb") as handle:
            current["data"] = handle.read()
    return current


class Change:
    """What one path needs: created/rewritten (``write``) and/or its owner or mode fixed."""

    def __init__(self, entry: Entry, current: Optional[Dict[str, Any]]) -> None:
        self.entry = entry
        self.current = current
        data = None if entry.is_dir else entry.content.encode("utf-8")  # type: ignore[union-attr]
        self.data = data
        self.create = current is None
        self.write = not entry.is_dir and (current is None or current["data"] != data)
        self.chmod = current is not None and entry.mode is not None and current["mode"] != entry.mode
        self.chown = current is not None and (
            (entry.uid is not None and current["uid"] != entry.uid)
            or (entry.gid is not None and current["gid"] != entry.gid))

    @property
    def needed(self) -> bool:
        return self.create or self.write or self.chmod or self.chown

    def commands(self) -> List[str]:
        e = self.entry
        out = []
        if self.create:
            out.append(f"{'mkdir' if e.is_dir else 'write'} {e.path} (mode {e.new_mode:04o})")
        elif self.write:
            out.append(f"write {e.path}")
        if self.chmod:
            out.append(f"chmod {e.mode:04o} {e.path}")
        if self.chown or (self.create and (e.uid is not None or e.gid is not None)):
            who = (e.owner or "") + (f":{e.group}" if e.group is not None else "")
            out.append(f"chown {who} {e.path}")
        return out

    def diff(self) -> Dict[str, Any]:
        e = self.entry
        header = f"{e.path}{' (directory)' if e.is_dir else ''}"
        before = _describe(self.current, e, self.current["data"] if self.current and not e.is_dir else None)
        # A path this run creates without an owner given belongs to the user the module runs as.
        after_meta = {"mode": e.mode if e.mode is not None else (self.current or {}).get("mode", e.new_mode),
                      "uid": e.uid if e.uid is not None else (self.current or {}).get("uid", os.geteuid()),
                      "gid": e.gid if e.gid is not None else (self.current or {}).get("gid", os.getegid())}
        after = _describe(after_meta, e, self.data)
        if e.secret and self.write and self.current is not None:
            after = after[:-len(HIDDEN)] + HIDDEN_CHANGED  # the diff would otherwise show no change at all
        return {"before_header": header, "after_header": header, "before": before, "after": after}


def _describe(meta: Optional[Dict[str, Any]], entry: Entry, data: Optional[bytes]) -> str:
    if meta is None:
        return ""
    line = f"# mode {meta['mode']:04o}, owner {meta['uid']}, group {meta['gid']}\n"
    if entry.is_dir or data is None:
        return line
    if entry.secret:
        return line + HIDDEN
    if not entry.diff or len(data) > DIFF_MAX_BYTES:
        return line + f"({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}, not shown)\n"
    try:
        return line + data.decode("utf-8")
    except UnicodeDecodeError:
        return line + f"({len(data)} bytes of binary data, not shown)\n"


class FilesPlan(Plan):
    """A plan plus the paths to change, in order."""

    def __init__(self, todo: List[Change], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.todo = todo


class FilesBackend:
    def __init__(self, params: Dict[str, Any], check_mode: bool = False) -> None:
        self.params = dict(params)
        self.check_mode = check_mode

    def read(self) -> List[Change]:
        return [Change(entry, read_path(entry)) for entry in entries(self.params, self.check_mode)]

    def plan(self, changes: List[Change]) -> FilesPlan:
        todo = [c for c in changes if c.needed]
        unknown = sorted({str(name) for c in todo
                          for name, id_ in ((c.entry.owner, c.entry.uid), (c.entry.group, c.entry.gid))
                          if id_ == UNKNOWN_ID})
        warnings = [f"user or group {', '.join(unknown)} does not exist yet: a run outside check mode fails "
                    "unless something before this task creates it"] if unknown else []
        plan = FilesPlan(todo, commands=[cmd for c in todo for cmd in c.commands()],
                         values={"changed_paths": [c.entry.path for c in todo]}, warnings=warnings)
        plan.diffs = [c.diff() for c in todo]
        return plan

    def apply(self, plan: FilesPlan) -> Result:
        done: List[str] = []
        for change in plan.todo:
            try:
                apply_change(change)
            except OSError as exc:
                raise FedmeshError(f"cannot write {change.entry.path}: {exc.strerror or exc}",
                                   field=f"{change.entry.field}.path", changed=bool(done),
                                   remains=f"these paths were written: {done}; fix the cause and run again"
                                   if done else None) from None
            done.append(change.entry.path)
        return plan.result()


def apply_change(change: Change) -> None:
    e = change.entry
    if e.is_dir:
        if change.create:
            os.mkdir(e.path, e.new_mode)
            os.chmod(e.path, e.new_mode)  # mkdir's mode is masked by the umask
        _fix_meta(e.path, change, created=change.create)
        return
    if change.write:
        _write_atomically(change)
    else:
        _fix_meta(e.path, change, created=False)


def _fix_meta(path: str, change: Change, created: bool) -> None:
    e = change.entry
    if (created or change.chown) and (e.uid is not None or e.gid is not None):
        os.chown(path, -1 if e.uid is None else e.uid, -1 if e.gid is None else e.gid)
    if change.chmod:
        os.chmod(path, e.mode)  # type: ignore[arg-type]


def _write_atomically(change: Change) -> None:
    """Write a temporary file beside the target with the final owner and mode, then rename it over."""
    e, current = change.entry, change.current
    mode = e.mode if e.mode is not None else (current["mode"] if current else e.new_mode)
    uid = e.uid if e.uid is not None else (current["uid"] if current else -1)
    gid = e.gid if e.gid is not None else (current["gid"] if current else -1)
    fd, tmp = tempfile.mkstemp(prefix=".fedmesh-", dir=os.path.dirname(e.path))
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # before the content: a secret is never readable by others
            if uid != -1 or gid != -1:
                os.fchown(handle.fileno(), uid, gid)
            handle.write(change.data or b"")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, e.path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
