# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

The only code in this package that touches the node: files, ``wg``, ``wg-quick`` and ``systemctl``.

Secrets never appear in a command line: they are written to 0600 files (created 0600, then renamed into
place) or passed on stdin.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import Runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.node.facts import find_binary, wireguard_kernel_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import config as wgconfig
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys as wgkeys
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.dump import parse_dump

DROPIN_DIR = "/etc/systemd/system/wg-quick@.service.d"
DROPIN_PATH = DROPIN_DIR + "/fedmesh-userspace.conf"
DROPIN_TEXT = (
    "# Managed by fedmesh.cluster.wireguard_interface (implementation=userspace).\n"
    "# wg-quick still prefers the kernel module when it is present.\n"
    "[Service]\n"
    "Environment=WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go\n"
    "Environment=WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1\n"
)


class BackendError(FedmeshError):
    """A command on the node failed."""


def write_private_file(path: str, content: str, mode: int = 0o600) -> None:
    """Atomically replace *path* with *content*; the file is 0600 from its first byte."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".fedmesh-", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_file(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def file_mode(path: str) -> int | None:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


class Backend:
    """The node: commands through a ``Runner`` (``run(argv, data=None) -> (rc, stdout, stderr)``), no shell."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    # --- commands ---------------------------------------------------------------------------------------
    def run(self, argv: list[str], data: str | None = None, check_rc: bool = False) -> tuple[int, str, str]:
        """Run *argv* (its program looked up on PATH and in the sbin directories); rc 127 when it is missing."""
        path = find_binary(argv[0])
        rc, out, err = (127, "", f"{argv[0]} not found") if path is None else self.runner([path, *argv[1:]], data)
        if check_rc and rc != 0:
            raise BackendError(f"`{' '.join(argv)}` failed (rc={rc}): {err.strip() or out.strip()}")
        return rc, out, err

    def has(self, binary: str) -> bool:
        return find_binary(binary) is not None

    # --- keys -------------------------------------------------------------------------------------------
    def public_key_of(self, private_key: str) -> str:
        return wgkeys.public_key(private_key, runner=self.run)

    def generate_private_key(self) -> str:
        return wgkeys.generate_private_key(runner=self.run)

    # --- live state -------------------------------------------------------------------------------------
    def dump(self, interface: str | None = None) -> dict[str, dict[str, Any]] | None:
        """Parsed ``wg show`` dump (secrets stripped), or None when ``wg`` is missing."""
        if not self.has("wg"):
            return None
        argv = ["wg", "show", interface or "all", "dump"]
        rc, out, _err = self.run(argv)
        if rc != 0:
            return {}
        return parse_dump(out, interface=interface)

    def unit_state(self, interface: str) -> dict[str, bool]:
        unit = f"wg-quick@{interface}.service"
        if not self.has("systemctl"):
            return {"active": False, "enabled": False}
        rc_a = self.run(["systemctl", "is-active", "--quiet", unit])[0]
        rc_e, out_e = self.run(["systemctl", "is-enabled", unit])[:2]
        return {"active": rc_a == 0, "enabled": rc_e == 0 and out_e.strip() in ("enabled", "enabled-runtime")}

    def kernel_module_available(self) -> bool:
        """The collection's one kernel-module probe (shared with ``node_info`` and the role)."""

        def run(argv: list) -> str | None:
            rc, out, _err = self.run(argv)
            return out if rc == 0 else None

        return bool(wireguard_kernel_module(os.path.exists, run)["kernel_module"])

    # --- apply ------------------------------------------------------------------------------------------
    def ensure_dropin(self) -> bool:
        if read_file(DROPIN_PATH) == DROPIN_TEXT:
            return False
        os.makedirs(DROPIN_DIR, mode=0o755, exist_ok=True)
        write_private_file(DROPIN_PATH, DROPIN_TEXT, mode=0o644)
        self.run(["systemctl", "daemon-reload"], check_rc=True)
        return True

    def syncconf(self, interface: str) -> None:
        # The stripped config holds secrets: it travels through a pipe, never argv or a world-readable file.
        self.run(["bash", "-c", 'set -o pipefail; wg syncconf "$1" <(wg-quick strip "$1")', "fedmesh", interface],
                 check_rc=True)

    def systemctl(self, *args: str) -> None:
        self.run(["systemctl", *args], check_rc=True)

    def wait_up(self, interface: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.run(["wg", "show", interface, "public-key"])[0] == 0:
                return True
            time.sleep(0.2)
        return False


def pick_implementation(requested: str, kernel_module: bool) -> str:
    """``auto`` -> ``kernel`` when the module is available, else ``userspace``; others as requested."""
    if requested == "auto":
        return "kernel" if kernel_module else "userspace"
    return requested


def resolve_implementation(backend: Backend, requested: str) -> str:
    return pick_implementation(requested, requested == "auto" and backend.kernel_module_available())


def needed_binaries(implementation: str) -> list[str]:
    """The commands an interface of *implementation* needs on the node."""
    return ["wg", "wg-quick"] + (["wireguard-go"] if implementation == "userspace" else [])


def load_current(path: str) -> tuple[dict[str, Any] | None, list[str]]:
    text = read_file(path)
    if text is None:
        return None, []
    return wgconfig.parse_snapshot(text)


def diff_texts(desired: dict[str, Any], current: dict[str, Any] | None, p: dict[str, Any], path: str) -> dict:
    changed = frozenset(p["changed_secrets"])
    return {
        "before_header": path,
        "after_header": path,
        "before": "" if current is None else wgconfig.render(current, redact=True),
        "after": wgconfig.render(desired, redact=True, changed_secrets=changed),
    }
