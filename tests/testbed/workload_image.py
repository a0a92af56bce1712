"""The FL client as a container image archive, for rootless Podman workloads in the test bed.

No registry exists here, so the image is built from the node image's ``base`` layer (Debian 12 with python3)
plus python3-numpy and the ``fedmesh_fl`` package from ``src/``, flattened to one layer (``podman export`` |
``podman import``, docs and apt lists dropped), tagged ``localhost/fedmesh-fl-client:latest`` and written with
``podman save`` to ``.testbed/images/fedmesh-fl-client.tar``.  The role ``podman_workloads`` ships that archive
to the nodes and loads it into the rootless user's storage (only where the image ID differs).  Rebuilt only
when the recipe or the package's files change (a stamp beside the archive holds the hash).
"""
from __future__ import annotations

import hashlib
import sys
import uuid
from pathlib import Path

from .engine import REPO, STATE_ROOT, podman
from .image import ensure_image

NAME = "localhost/fedmesh-fl-client:latest"
ARCHIVE = STATE_ROOT / "images" / "fedmesh-fl-client.tar"
PACKAGE = REPO / "src" / "fedmesh_fl"
LIB = "/opt/fedmesh/lib"
SETUP = r"""
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3-numpy >/dev/null
apt-get purge -y -qq openssh-server openssh-client sudo less gnupg kmod >/dev/null 2>&1 || true
apt-get autoremove -y -qq >/dev/null 2>&1 || true
apt-get clean
rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man /usr/share/locale /usr/share/info /var/log/*
mkdir -p /opt/fedmesh/lib
"""
CHANGES = ["CMD [\"/usr/bin/python3\", \"-m\", \"fedmesh_fl.train\", \"--help\"]",
           f"ENV PYTHONPATH={LIB}", "ENV PYTHONUNBUFFERED=1", "ENV PYTHONDONTWRITEBYTECODE=1",
           "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "WORKDIR /"]


def _log(msg: str) -> None:
    print(f"[testbed:workload-image] {msg}", file=sys.stderr, flush=True)


def recipe_hash(base_ref: str) -> str:
    h = hashlib.sha256(f"{base_ref}\n{SETUP}\n{CHANGES}\n".encode())
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def ensure_fl_client_archive() -> Path:
    """The archive's path, built (and saved) only when its recipe or the package changed."""
    base = ensure_image("base")
    digest = recipe_hash(base)
    stamp = ARCHIVE.with_suffix(".hash")
    if ARCHIVE.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return ARCHIVE
    _log(f"building {NAME} ({digest}) from {base}")
    name = f"fedmesh-flimage-{uuid.uuid4().hex[:8]}"
    try:
        podman("run", "--name", name, base, "/bin/bash", "-c", SETUP, timeout=900)
        podman("cp", str(PACKAGE), f"{name}:{LIB}/fedmesh_fl")
        export = podman("export", name).stdout
        args = [a for change in CHANGES for a in ("--change", change)]
        podman("import", *args, "-", NAME, input_data=export)
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)
    ARCHIVE.parent.mkdir(parents=True, exist_ok=True)
    tmp = ARCHIVE.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    podman("save", "-q", "--format", "docker-archive", "-o", str(tmp), NAME)
    tmp.rename(ARCHIVE)
    stamp.write_text(digest + "\n")
    _log(f"saved {ARCHIVE} ({ARCHIVE.stat().st_size // (1 << 20)} MiB)")
    return ARCHIVE
