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


def volumes_with_label(value_prefix: str) -> list[str]:
    rows = podman_json("volume", "ls", "--format", "json")
    return [r["Name"] for r in rows if (r.get("Labels") or {}).get(LABEL, "").startswith(value_prefix)]


def remove_everything(value_prefix: str) -> list[str]:
    """Remove containers, networks and volumes labelled with ``value_prefix``; returns what went."""
    removed: list[str] = []
    names = containers_with_label(value_prefix)
    if names:
        podman("rm", "-f", "-t", "0", *names, check=False)
        removed += names
    for vol in volumes_with_label(value_prefix):
        podman("volume", "rm", "-f", vol, check=False)
        removed.append(vol)
    for net in networks_with_label(value_prefix):
        podman("network", "rm", "-f", net, check=False)
        removed.append(net)
    return removed
