# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

The node as the Podman backends see it: users, files owned by a user, and commands run *as* that user
(``runuser`` with the user's runtime dir and bus, so ``podman`` and ``systemctl --user`` talk to the user's
own storage and systemd instance).  Commands go through the ``Runner``; no shell.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import contextlib
import os
import pwd
import tempfile
from typing import Any, Dict, List, Optional, Tuple

from ..common.errors import FedmeshError
from ..common.runner import Runner


def lookup_user(name: str) -> Optional[Dict[str, Any]]:
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return None
    return {"name": pw.pw_name, "uid": pw.pw_uid, "gid": pw.pw_gid, "home": pw.pw_dir, "shell": pw.pw_shell}


def read_text(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def write_owned(path: str, content: str, uid: int, gid: int, mode: int = 0o644) -> None:
    """Atomically write ``path`` (parents created, owned by uid:gid up from the first missing one)."""
    directory = os.path.dirname(path)
    missing = []
    d = directory
    while d and not os.path.isdir(d):
        missing.append(d)
        d = os.path.dirname(d)
    for d in reversed(missing):
        os.mkdir(d, 0o755)
        os.chown(d, uid, gid)
    fd, tmp = tempfile.mkstemp(prefix=".fedmesh-", dir=directory)
    try:
        os.fchmod(fd, mode)
        os.fchown(fd, uid, gid)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


class UserSession:
    """Commands as ``user`` (a dict from :func:`lookup_user`) through the runner."""

    def __init__(self, runner: Runner, user: Dict[str, Any]) -> None:
        self.runner = runner
        self.user = user
        self.runtime_dir = f"/run/user/{user['uid']}"

    def env(self) -> List[str]:
        return ["env", "-C", self.user["home"], f"HOME={self.user['home']}", f"USER={self.user['name']}",
                f"XDG_RUNTIME_DIR={self.runtime_dir}",
                f"DBUS_SESSION_BUS_ADDRESS=unix:path={self.runtime_dir}/bus"]

    def run(self, argv: List[str], data: Optional[str] = None) -> Tuple[int, str, str]:
        return self.runner(["runuser", "-u", self.user["name"], "--", *self.env(), *argv], data)

    def must(self, argv: List[str], field: Optional[str] = None, what: str = "") -> str:
        rc, out, err = self.run(argv)
        if rc != 0:
            raise FedmeshError(f"{what or ' '.join(argv[:3])} failed as {self.user['name']} (rc={rc}): "
                               f"{(err or out).strip()[-400:]}", field=field, changed=True,
                               remains="see the returned commands")
        return out

    def systemctl(self, *args: str) -> Tuple[int, str, str]:
        return self.run(["systemctl", "--user", *args])

    def unit_state(self, unit: str) -> Dict[str, str]:
        rc, out, _err = self.systemctl("show", unit, "--property=ActiveState,UnitFileState,LoadState,SubState")
        state = dict(line.split("=", 1) for line in out.splitlines() if "=" in line) if rc == 0 else {}
        return {"active": state.get("ActiveState", "unknown"), "enabled": state.get("UnitFileState", ""),
                "load": state.get("LoadState", "unknown"), "sub": state.get("SubState", "")}
