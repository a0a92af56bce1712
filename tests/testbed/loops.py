"""Loop devices for storage tests (they belong to the host, so the test bed must detach each one).

Backing files live under ``.testbed/loops/<prefix>-*``; :func:`detach_all` finds every loop device
backed by one of them with ``losetup -j`` and detaches it, also after a crash.
"""
from __future__ import annotations

import subprocess
import uuid

from .engine import STATE_ROOT, checkout_prefix

LOOP_DIR = STATE_ROOT / "loops"


def attach(size_mb: int) -> str:
    """Create a sparse backing file of ``size_mb`` MiB and attach it; returns /dev/loopN."""
    LOOP_DIR.mkdir(parents=True, exist_ok=True)
    backing = LOOP_DIR / f"{checkout_prefix()}-{uuid.uuid4().hex[:8]}.img"
    with open(backing, "wb") as fh:
        fh.truncate(size_mb * 1024 * 1024)
    out = subprocess.run(["losetup", "--find", "--show", str(backing)], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def detach_all() -> list[str]:
    detached: list[str] = []
    if not LOOP_DIR.exists():
        return detached
    for backing in LOOP_DIR.glob(f"{checkout_prefix()}-*.img"):
        out = subprocess.run(["losetup", "-j", str(backing)], capture_output=True, text=True, check=False)
        for line in out.stdout.splitlines():
            dev = line.split(":", 1)[0]
            subprocess.run(["losetup", "-d", dev], check=False)
            detached.append(dev)
        backing.unlink(missing_ok=True)
    return detached
