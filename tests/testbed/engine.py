"""The only code in the project that talks to the container engine (Podman's CLI).

Every call goes through :func:`podman`, which points Podman at the project's own
``containers.conf`` via ``CONTAINERS_CONF`` so the host's Podman settings are never rewritten.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
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


def containers_with_label(value_prefix: str) -> list[str]:
    """Names of containers (any state) whose test-bed label starts with ``value_prefix``."""
    rows = podman_json("ps", "-a", "--format", "json", "--filter", f"label={LABEL}")
    names: list[str] = []
    for row in rows:
        label = (row.get("Labels") or {}).get(LABEL, "")
        if label.startswith(value_prefix):
            names.extend(row.get("Names") or [])
    return names


def networks_with_label(value_prefix: str) -> list[str]:
    rows = podman_json("network", "ls", "--format", "json")
    return [r["name"] for r in rows if (r.get("labels") or {}).get(LABEL, "").startswith(value_prefix)]


def network_subnets(exclude: str = "") -> set[str]:
    """Subnets of every live Podman network except ``exclude`` (by name)."""
    rows = podman_json("network", "ls", "--format", "json")
    return {str(sub["subnet"]) for r in rows if r["name"] != exclude for sub in (r.get("subnets") or [])}


def sweep_stale_nat(exclude: str = "") -> list[str]:
    """Delete netavark NAT chains that would masquerade traffic inside their own, now unused, subnet."""
    with netfix.network_lock():
        return [f"{j.chain} ({j.subnet})" for j in netfix.sweep(network_subnets(exclude))]


def volumes_with_label(value_prefix: str) -> list[str]:
    rows = podman_json("volume", "ls", "--format", "json")
    return [r["Name"] for r in rows if (r.get("Labels") or {}).get(LABEL, "").startswith(value_prefix)]


def remove_everything(value_prefix: str) -> list[str]:
    """Remove containers, networks and volumes labelled with ``value_prefix``; returns what went."""
    removed: list[str] = []
    names = containers_with_label(value_prefix)
    for name in names:  # one at a time: Podman tears several down in parallel, which races in netavark
        podman("rm", "-f", "-t", "0", name, check=False)
        removed.append(name)
    for vol in volumes_with_label(value_prefix):
        podman("volume", "rm", "-f", vol, check=False)
        removed.append(vol)
    for net in networks_with_label(value_prefix):
        podman("network", "rm", "-f", net, check=False)
        removed.append(net)
    sweep_stale_nat()
    return removed
