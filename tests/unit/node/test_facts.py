"""node_info's pure parsers, on outputs recorded from real machines (Debian 12 VM and test-bed nodes)."""
from __future__ import annotations

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.node import facts

OS_RELEASE = '''PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
'''
UBUNTU = 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\n'

MOUNTS_HYBRID = """sysfs /sys sysfs rw 0 0
tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
"""
MOUNTS_V2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n"
MOUNTS_V1 = "tmpfs /sys/fs/cgroup tmpfs ro 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"

# `lspci -mm -n` on this project's VM, plus two lines from a GPU server (H100 = 10de:2330, 3D controller).
LSPCI = '''00:00.0 "0600" "8086" "0d57" -p00 "1af4" "0001"
00:01.0 "ff00" "1af4" "1045" -r01 "1af4" "0005"
00:1e.0 "0302" "10de" "2330" -ra1 "10de" "16c1"
03:00.0 "0300" "1a03" "2000" -r41 "1a03" "2000"
'''

MEMINFO = "MemTotal:       24587640 kB\nMemFree:        23000000 kB\nMemAvailable:   23900000 kB\n"


def test_os_release() -> None:
    assert facts.parse_os_release(OS_RELEASE) == {
        "id": "debian", "id_like": [], "version_id": "12", "codename": "bookworm",
        "pretty_name": "Debian GNU/Linux 12 (bookworm)"}
    assert facts.parse_os_release(UBUNTU)["id_like"] == ["debian"]


@pytest.mark.parametrize(("mounts", "expected"), [
    (MOUNTS_HYBRID, {"version": 1, "layout": "hybrid"}),
    (MOUNTS_V2, {"version": 2, "layout": "unified"}),
    (MOUNTS_V1, {"version": 1, "layout": "legacy"}),
    ("", {"version": 0, "layout": "none"}),
])
def test_cgroup_layout(mounts: str, expected: dict) -> None:
    assert facts.cgroup_version(mounts) == expected


def test_meminfo() -> None:
    assert facts.parse_meminfo(MEMINFO) == {"total_mb": 24011, "available_mb": 23339}


def test_gpus_from_lspci() -> None:
    gpus = facts.parse_lspci(LSPCI)
    assert [g["slot"] for g in gpus] == ["00:1e.0", "03:00.0"]
    assert gpus[0]["vendor"] == "nvidia" and gpus[0]["device_id"] == "2330"
    assert gpus[1]["vendor"] == "other"


@pytest.mark.parametrize(("detect", "env", "kind", "container"), [
    ("podman\n", None, "podman", True),
    (None, "podman", "podman", True),
    ("kvm\n", None, "kvm", False),
    (None, None, "none", False),
])
def test_virtualization(detect: str | None, env: str | None, kind: str, container: bool) -> None:
    v = facts.virtualization(detect, env)
    assert v["type"] == kind and v["container"] is container and v["guest"] is (kind != "none")


def test_collect_with_a_recorded_node() -> None:
    files = {"/etc/os-release": OS_RELEASE, "/proc/self/mounts": MOUNTS_HYBRID, "/proc/meminfo": MEMINFO,
             "/proc/cpuinfo": "model name\t: Intel Xeon\n", "/proc/1/comm": "systemd\n",
             "/proc/1/environ": "container=podman\0PATH=/usr/bin\0"}
    commands = {"systemctl": "degraded\n", "lspci": LSPCI, "wg": "wireguard-tools v1.0\n"}
    reader = facts.NodeReader(read=files.get, exists=lambda p: p in ("/dev/net/tun",),
                              run=lambda argv: commands.get(argv[0]), cpu_count=lambda: 2,
                              uname=lambda: ("Linux", "6.1.0", "x86_64"))
    got = facts.collect(reader, list(facts.SECTIONS))
    assert got["virtualization"]["type"] == "podman"  # from PID 1's environment when detect-virt is absent
    assert got["wireguard"] == {"kernel_module": False, "module_loaded": False, "tools": True, "userspace": False}
    assert got["devices"] == {"tun": True, "fuse": False}
    assert got["systemd"] == {"pid1": True, "state": "degraded"}
    assert got["cpu"] == {"count": 2, "model": "Intel Xeon"}
    assert len(got["gpus"]) == 2


def test_collect_only_requested_sections() -> None:
    reader = facts.NodeReader(read=lambda p: None, exists=lambda p: False, run=lambda a: None,
                              cpu_count=lambda: 1, uname=lambda: ("Linux", "6", "aarch64"))
    assert set(facts.collect(reader, ["kernel"])) == {"kernel"}
