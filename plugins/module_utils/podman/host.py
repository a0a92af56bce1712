# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Host facts rootless Podman depends on, as pure functions over text the backends read: login.defs, the
storage driver that works here, the cgroup manager, the user's containers.conf/storage.conf, CDI specs.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple

HEADER = "# Managed by fedmesh.cluster.podman_rootless_user; changes are overwritten.\n"
PACKAGES = ["podman", "crun", "uidmap", "slirp4netns", "fuse-overlayfs", "dbus-user-session", "catatonit"]
DRIVERS = ("overlay", "fuse-overlayfs", "vfs")


def login_defs(text: Optional[str]) -> Dict[str, int]:
    out = {"UID_MIN": 1000, "SUB_UID_MIN": 100000, "SUB_UID_MAX": 600100000, "SUB_UID_COUNT": 65536}
    for line in (text or "").splitlines():
        m = re.match(r"^\s*(UID_MIN|SUB_UID_MIN|SUB_UID_MAX|SUB_UID_COUNT)\s+(\d+)\s*$", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def kernel_version(release: str) -> Tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def storage_driver(requested: str, kernel: Tuple[int, int], in_container: bool, fuse_overlayfs: bool,
                   dev_fuse: bool) -> str:
    """The driver that works on this host: native rootless overlay needs kernel >= 5.13 and a root filesystem
    it can stack on (not an overlay, as in a container); else fuse-overlayfs (needs /dev/fuse); else vfs."""
    if requested != "auto":
        return requested
    if kernel >= (5, 13) and not in_container:
        return "overlay"
    if fuse_overlayfs and dev_fuse:
        return "fuse-overlayfs"
    return "vfs"


def cgroup_manager(requested: str, cgroup_version: int) -> str:
    """systemd needs the unified hierarchy for rootless delegation; cgroup v1/hybrid needs cgroupfs."""
    if requested != "auto":
        return requested
    return "systemd" if cgroup_version == 2 else "cgroupfs"


def storage_conf(driver: str, fuse_overlayfs_path: str = "/usr/bin/fuse-overlayfs") -> str:
    text = HEADER + "[storage]\n"
    if driver == "fuse-overlayfs":
        return text + f'driver = "overlay"\n\n[storage.options.overlay]\nmount_program = "{fuse_overlayfs_path}"\n'
    return text + f'driver = "{driver}"\n'


def containers_conf(manager: str, runtime: str) -> str:
    return (HEADER + "[engine]\n"
            f'cgroup_manager = "{manager}"\n'
            f'runtime = "{runtime}"\n'
            # journald needs a user journal; the file logger works everywhere.
            'events_logger = "file"\n')


def cdi_devices(specs: List[Tuple[str, str]]) -> List[str]:
    """``kind=name`` of every device in the CDI spec files (path, text); JSON or the YAML nvidia-ctk writes."""
    found: List[str] = []
    for path, text in specs:
        kind: Optional[str] = None
        names: List[str] = []
        try:
            doc: Any = json.loads(text)
            kind = doc.get("kind")
            names = [str(d.get("name")) for d in doc.get("devices") or [] if isinstance(d, dict)]
        except ValueError:
            m = re.search(r"^kind:\s*['\"]?([^'\"\s]+)", text, flags=re.M)
            kind = m.group(1) if m else None
            # device entries: "- name: X" at the devices list's indentation
            names = re.findall(r"^\s*-\s+name:\s*['\"]?([^'\"\s]+)", text, flags=re.M)
        if kind and path.endswith((".json", ".yaml", ".yml")):
            found += [f"{kind}={n}" for n in names]
    return sorted(set(found))
