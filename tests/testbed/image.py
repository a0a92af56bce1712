"""Build the test-bed node images offline from Debian packages, cached by recipe.

``base``: Debian 12 minbase with systemd as PID 1, python3 and an SSH server (Ansible reaches
the nodes over SSH, exactly as it reaches real machines).  ``full``: base plus the packages the
roles install (WireGuard userspace, GlusterFS, the FL service's Python deps), so scenarios don't
reinstall them on every run; the roles still declare them, and find them present.
``ubuntu``: Ubuntu 22.04 (jammy) minbase from archive.ubuntu.com with systemd, python3 and SSH like
``base`` (the Ubuntu node of the nvidia tests); its archive key is pinned in ubuntu-archive-2018.asc
(fingerprint checked before debootstrap trusts it; Debian 12 ships no ubuntu-keyring package).
``pristine``: ``debootstrap --variant=minbase bookworm`` with nothing added and nothing set up (no
python3, no SSH, no Podman): the stand-in for a freshly installed Debian 12 host in the fresh-host
check (tests/testbed/fresh-host.sh).

The image tag is a hash of the recipe below: change the recipe and the next run rebuilds;
otherwise the cached image is reused (``podman image exists``).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from .engine import STATE_ROOT, image_exists, podman

MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"

BASE_PACKAGES = [
    "python3", "python3-apt", "iproute2", "iputils-ping", "systemd", "systemd-sysv", "dbus",
    "ca-certificates", "openssh-server", "sudo", "procps", "less", "kmod", "gnupg",
]

# Node set-up run once inside the base image (after debootstrap).
BASE_SETUP = r"""
set -e
rm -f /etc/ssh/ssh_host_*
mkdir -p /etc/systemd/system/ssh.service.d /root/.ssh
chmod 700 /root/.ssh
# Host keys are removed above so nodes don't share them; Debian won't regenerate them by itself.
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
  > /etc/systemd/system/ssh.service.d/fedmesh-hostkeys.conf
printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' \
  > /etc/ssh/sshd_config.d/fedmesh.conf
systemctl enable ssh
# Units that make no sense in a container and only slow boot down.
systemctl mask systemd-udevd.service systemd-udevd-kernel.socket systemd-udevd-control.socket \
  getty@tty1.service console-getty.service 2>/dev/null || true
# systemd-logind stays: rootless Podman needs `loginctl enable-linger` and user@UID.service.
: > /etc/machine-id
printf 'deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian bookworm-updates main\n' \
  > /etc/apt/sources.list
apt-get clean; rm -rf /var/lib/apt/lists/*
"""

FULL_PACKAGES = [
    "wireguard-tools", "wireguard-go", "glusterfs-server", "glusterfs-client", "python3-numpy",
    "python3-aiohttp", "python3-prometheus-client", "python3-cryptography", "systemd-timesyncd",
    "fuse3", "attr", "pciutils",
    # Ceph (pacific, the only one Debian 12 has; ceph-volume is inside ceph-osd)
    "ceph-mon", "ceph-mgr", "ceph-osd", "ceph-mds", "ceph-common", "ceph-fuse", "python3-rados", "python3-rbd",
    # Monitoring (Debian's own Prometheus 2.42, node exporter 1.5, Alertmanager 0.25)
    "prometheus", "prometheus-node-exporter", "prometheus-alertmanager",
    # Rootless Podman inside a node
    "podman", "crun", "uidmap", "slirp4netns", "fuse-overlayfs", "dbus-user-session", "catatonit",
]

FULL_SETUP = r"""
set -e
systemctl disable glusterd || true
# Installed so scenarios need not download them, but nothing runs until a role configures it:
# every node of every test bed would otherwise start Prometheus, exporters and their timers.
for unit in prometheus prometheus-node-exporter prometheus-alertmanager \
            prometheus-node-exporter-apt.timer prometheus-node-exporter-ipmitool-sensor.timer \
            prometheus-node-exporter-mellanox-hca-temp.timer prometheus-node-exporter-nvme.timer \
            prometheus-node-exporter-smartmon.timer podman-restart podman-auto-update.timer \
            ceph.target ceph-mon.target ceph-mgr.target ceph-osd.target ceph-mds.target ceph-crash; do
  systemctl disable "$unit" 2>/dev/null || true
done
# Each node must get its own glusterd UUID.
rm -f /var/lib/glusterd/glusterd.info
apt-get clean; rm -rf /var/lib/apt/lists/*
"""

# Only what debootstrap itself leaves behind that a real install would not have: downloaded .debs.
PRISTINE_SETUP = r"""
set -e
apt-get clean
"""

# The same names exist on Ubuntu: one list, so the two node kinds cannot drift apart.
UBUNTU_PACKAGES = BASE_PACKAGES

# BASE_SETUP, less what is Debian's, plus: systemd-resolved would replace the resolv.conf Podman writes.
UBUNTU_SETUP = r"""
set -e
rm -f /etc/ssh/ssh_host_*
mkdir -p /etc/systemd/system/ssh.service.d /root/.ssh
chmod 700 /root/.ssh
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
  > /etc/systemd/system/ssh.service.d/fedmesh-hostkeys.conf
printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' \
  > /etc/ssh/sshd_config.d/fedmesh.conf
systemctl enable ssh
systemctl mask systemd-udevd.service systemd-udevd-kernel.socket systemd-udevd-control.socket \
  getty@tty1.service console-getty.service systemd-resolved.service systemd-networkd.service \
  systemd-networkd.socket 2>/dev/null || true
rm -f /etc/resolv.conf && : > /etc/resolv.conf
: > /etc/machine-id
printf 'deb http://archive.ubuntu.com/ubuntu %s main universe\n' jammy jammy-updates > /etc/apt/sources.list
apt-get clean; rm -rf /var/lib/apt/lists/*
"""
UBUNTU_KEY = "F6ECB3762474EDA9D21B7022871920D1991BC93C"  # Ubuntu Archive Automatic Signing Key (2018)

LAYERS: dict[str, dict[str, Any]] = {
    "pristine": {"packages": [], "setup": PRISTINE_SETUP, "parent": None, "cmd": "/bin/bash"},
    "base": {"packages": BASE_PACKAGES, "setup": BASE_SETUP, "parent": None},
    "full": {"packages": FULL_PACKAGES, "setup": FULL_SETUP, "parent": "base"},
    "ubuntu": {"packages": UBUNTU_PACKAGES, "setup": UBUNTU_SETUP, "parent": None, "suite": "jammy",
               "mirror": "http://archive.ubuntu.com/ubuntu", "keyring": "ubuntu-archive-2018.asc",
               "key": UBUNTU_KEY},
}


def recipe_hash(layer: str) -> str:
    spec = LAYERS[layer]
    parent = spec["parent"]
    recipe = {"suite": spec.get("suite", SUITE), "packages": spec["packages"], "setup": spec["setup"],
              "parent": recipe_hash(parent) if parent else None}
    recipe.update({k: spec[k] for k in ("mirror", "key") if k in spec})  # absent from the Debian layers
    blob = json.dumps(recipe, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def image_ref(layer: str) -> str:
    return f"localhost/fedmesh-node-{layer}:{recipe_hash(layer)}"


def _log(msg: str) -> None:
    print(f"[testbed:image] {msg}", file=sys.stderr, flush=True)


def _keyring(spec: dict[str, Any], rootfs: Any) -> str:
    """The layer's pinned archive key as a binary keyring beside the build root, after checking its fingerprint."""
    armored = Path(__file__).with_name(spec["keyring"])
    shown = subprocess.run(["gpg", "--show-keys", "--with-colons", str(armored)], check=True,
                           capture_output=True, text=True).stdout
    fingerprints = [line.split(":")[9] for line in shown.splitlines() if line.startswith("fpr:")]
    if fingerprints[:1] != [spec["key"]]:
        raise RuntimeError(f"{armored}: expected key {spec['key']}, found {fingerprints}")
    out = Path(f"{rootfs}.keyring.gpg")
    subprocess.run(["gpg", "--batch", "--yes", "--dearmor", "-o", str(out), str(armored)], check=True)
    return str(out)


def _build_root(layer: str, ref: str) -> None:
    """A root layer: debootstrap (+ the layer's packages), its set-up script in a chroot, podman import."""
    spec = LAYERS[layer]
    rootfs = STATE_ROOT / f"rootfs-build-{layer}-{uuid.uuid4().hex[:8]}"
    rootfs.mkdir(parents=True)
    try:
        suite = spec.get("suite", SUITE)
        _log(f"debootstrap {suite} (about a minute)")
        include = [f"--include={','.join(spec['packages'])}"] if spec["packages"] else []
        keyring = [f"--keyring={_keyring(spec, rootfs)}"] if "keyring" in spec else []
        subprocess.run(["debootstrap", "--variant=minbase", *keyring, *include, suite, str(rootfs),
                        spec.get("mirror", MIRROR)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["chroot", str(rootfs), "/bin/bash", "-c", spec["setup"]], check=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        assert tar.stdout is not None
        cmd = spec.get("cmd", "/sbin/init")
        podman("import", "--change", f'CMD ["{cmd}"]', "--change", "STOPSIGNAL=SIGRTMIN+3",
               "-", ref, input_data=tar.stdout.read())
        tar.wait()
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
        Path(f"{rootfs}.keyring.gpg").unlink(missing_ok=True)


def _build_layer(layer: str, ref: str) -> None:
    spec = LAYERS[layer]
    parent_ref = ensure_image(spec["parent"])
    name = f"fedmesh-imagebuild-{uuid.uuid4().hex[:8]}"
    script = ("set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; "
              f"apt-get install -y -qq --no-install-recommends {' '.join(spec['packages'])} >/dev/null; "
              + spec["setup"])
    try:
        podman("run", "--name", name, "--privileged", parent_ref, "/bin/bash", "-c", script, timeout=1200)
        podman("commit", "-q", "--change", 'CMD ["/sbin/init"]', name, ref)
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)


def ensure_image(layer: str = "full") -> str:
    """Return the image reference for ``layer``, building it (and its parents) only if missing."""
    ref = image_ref(layer)
    if image_exists(ref):
        return ref
    started = time.monotonic()
    _log(f"building {ref}")
    if LAYERS[layer]["parent"] is None:
        _build_root(layer, ref)
    else:
        _build_layer(layer, ref)
    _log(f"built {ref} in {time.monotonic() - started:.0f}s")
    return ref
