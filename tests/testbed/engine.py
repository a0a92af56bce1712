"""The only code in the project that talks to the container engine (Podman's CLI).

Every call goes through :func:`podman`, which points Podman at the project's own
``containers.conf`` via ``CONTAINERS_CONF`` so the host's Podman settings are never rewritten.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import netfix

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CONTAINERS_CONF = HERE / "containers.conf"
STATE_ROOT = REPO / ".testbed"
LABEL = "io.fedmesh.testbed"


class EngineError(RuntimeError):
    """A Podman command failed; the message carries the command and its stderr."""


def checkout_prefix() -> str:
    """A short prefix unique to this checkout, so two clones on one host never collide."""
    override = os.environ.get("FEDMESH_TESTBED_PREFIX")
    if override:
        return override
    digest = hashlib.sha1(str(REPO).encode()).hexdigest()[:6]
    return f"fm{digest}"


def engine_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return env


def podman(*args: str, check: bool = True, input_data: bytes | None = None,
           timeout: float | None = 600, capture: bool = True) -> subprocess.CompletedProcess[bytes]:
    cmd = ["podman", *args]
    if netfix.needs_lock(args):
        with netfix.network_lock():
            return _run(cmd, args, check, input_data, timeout, capture)
    return _run(cmd, args, check, input_data, timeout, capture)


def _run(cmd: list[str], args: tuple[str, ...], check: bool, input_data: bytes | None, timeout: float | None,
         capture: bool) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(cmd, input=input_data, env=engine_env(), timeout=timeout,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None, check=False)
    if check and proc.returncode != 0:
        err = (proc.stderr or b"").decode(errors="replace").strip()
        raise EngineError(f"podman {' '.join(args[:4])}... failed (rc={proc.returncode}): {err}")
    return proc


def podman_json(*args: str) -> Any:
    out = podman(*args).stdout.decode()
    return json.loads(out) if out.strip() else []


def image_exists(ref: str) -> bool:
    return podman("image", "exists", ref, check=False).returncode == 0


INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_WANTED = 1024


def ensure_inotify_instances() -> None:
    """Raise the host's inotify instance limit for root to 1,024 if it is lower (the kernel default is 128).

    Every systemd node container takes about eight of root's instances (systemd, journald, logind, dbus ...),
    so some fifteen nodes on the host exhaust the default, and then wireguard-go or systemd in a node fails with
    "too many open files" (seen with three test beds plus benchmarks at once).  This is what kind and other
    container-node tools tell users to do; it lasts until the host reboots."""
    try:
        current = int(INOTIFY_INSTANCES.read_text())
    except (OSError, ValueError):
        return
    if current >= INOTIFY_WANTED or os.geteuid() != 0:
        return
    try:
        INOTIFY_INSTANCES.write_text(str(INOTIFY_WANTED))
        print(f"test bed: raised fs.inotify.max_user_instances from {current} to {INOTIFY_WANTED} "
              "(every node container takes ~8)", file=sys.stderr)
    except OSError as exc:
        print(f"test bed: fs.inotify.max_user_instances is {current} and cannot be raised ({exc}); more than "
              "~15 node containers at once will fail with 'too many open files'", file=sys.stderr)


def _owned(label: str, owner: str) -> bool:
    """A test bed owns exactly its own label; a checkout prefix (gc) owns every test bed below it.

    Prefix matching alone let test bed ``it-ceph`` remove (and adopt) the nodes of ``it-ceph-mesh``."""
    return label == owner or (owner == checkout_prefix() and label.startswith(owner + "-"))


def containers_with_label(owner: str) -> list[str]:
    """Names of containers (any state) that ``owner`` (a test bed's prefix, or the checkout prefix) owns."""
    rows = podman_json("ps", "-a", "--format", "json", "--filter", f"label={LABEL}")
    names: list[str] = []
    for row in rows:
        if _owned((row.get("Labels") or {}).get(LABEL, ""), owner):
            names.extend(row.get("Names") or [])
    return names


def networks_with_label(owner: str) -> list[str]:
    rows = podman_json("network", "ls", "--format", "json")
    return [r["name"] for r in rows if _owned((r.get("labels") or {}).get(LABEL, ""), owner)]


def network_subnets(exclude: str = "", only: str = "") -> set[str]:
    """Subnets of every live Podman network except ``exclude`` (by name), or of network ``only``."""
    rows = podman_json("network", "ls", "--format", "json")
    return {str(sub["subnet"]) for r in rows if r["name"] != exclude and (not only or r["name"] == only)
            for sub in (r.get("subnets") or [])}


def sweep_stale_nat(exclude: str = "") -> list[str]:
    """Delete netavark NAT chains that would masquerade traffic inside their own, now unused, subnet."""
    with netfix.network_lock():
        return [f"{j.chain} ({j.subnet})" for j in netfix.sweep(network_subnets(exclude))]


def volumes_with_label(owner: str) -> list[str]:
    rows = podman_json("volume", "ls", "--format", "json")
    return [r["Name"] for r in rows if _owned((r.get("Labels") or {}).get(LABEL, ""), owner)]


def remove_everything(owner: str) -> list[str]:
    """Remove the containers, networks and volumes ``owner`` owns (see :func:`_owned`); returns what went."""
    removed: list[str] = []
    names = containers_with_label(owner)
    for name in names:  # one at a time: Podman tears several down in parallel, which races in netavark
        podman("rm", "-f", "-t", "0", name, check=False)
        removed.append(name)
    for vol in volumes_with_label(owner):
        podman("volume", "rm", "-f", vol, check=False)
        removed.append(vol)
    for net in networks_with_label(owner):
        podman("network", "rm", "-f", net, check=False)
        removed.append(net)
    sweep_stale_nat()
    return removed
