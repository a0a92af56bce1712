# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Node facts for the cluster provisioner: pure parsers plus one collector.

The parsers take the text of files / command output and return plain dicts, so they are unit
tested without a host.  :func:`collect` reads the node through a small ``NodeReader`` so the
module (and tests) decide how files and commands are reached.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.result import Plan, Result

SECTIONS = ("os", "kernel", "cgroup", "cpu", "memory", "virtualization", "wireguard", "devices",
            "systemd", "gpus")

# PCI display controller classes: 0300 VGA, 0302 3D controller (most datacentre GPUs), 0380 other.
GPU_CLASSES = ("0300", "0302", "0380")
GPU_VENDORS = {"10de": "nvidia", "1002": "amd", "8086": "intel"}
CONTAINER_VIRT = {"podman", "docker", "lxc", "lxc-libvirt", "systemd-nspawn", "openvz", "rkt", "wsl",
                  "proot", "pouch", "container-other"}


def parse_os_release(text: str) -> dict:
    values = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _sep, val = line.partition("=")
            values[key.strip()] = val.strip().strip('"').strip("'")
    return {
        "id": values.get("ID", "unknown"),
        "id_like": values.get("ID_LIKE", "").split(),
        "version_id": values.get("VERSION_ID", ""),
        "codename": values.get("VERSION_CODENAME", ""),
        "pretty_name": values.get("PRETTY_NAME", ""),
    }


def parse_meminfo(text: str) -> dict:
    kib = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+):\s+(\d+)", line)
        if m:
            kib[m.group(1)] = int(m.group(2))
    return {"total_mb": kib.get("MemTotal", 0) // 1024, "available_mb": kib.get("MemAvailable", 0) // 1024}


def parse_cpuinfo(text: str, online_count: int) -> dict:
    model = ""
    for line in text.splitlines():
        key, _sep, val = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model") and val.strip():
            model = val.strip()
            break
    return {"count": online_count, "model": model}


def cgroup_version(mounts_text: str) -> dict:
    """cgroup layout from /proc/self/mounts: v2 (unified), v1, or hybrid (v1 + a v2 mount)."""
    fs_at: dict = {}
    for line in mounts_text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            fs_at.setdefault(parts[1], parts[2])
    if fs_at.get("/sys/fs/cgroup") == "cgroup2":
        return {"version": 2, "layout": "unified"}
    has_v1 = any(fs == "cgroup" for fs in fs_at.values())
    has_v2 = any(fs == "cgroup2" for fs in fs_at.values())
    if has_v1 and has_v2:
        return {"version": 1, "layout": "hybrid"}
    if has_v1:
        return {"version": 1, "layout": "legacy"}
    return {"version": 0, "layout": "none"}


def virtualization(detect_virt_output: str | None, container_env: str | None) -> dict:
    """Interpret ``systemd-detect-virt`` (or the ``container`` variable of PID 1 as a fallback)."""
    kind = (detect_virt_output or "").strip() or (container_env or "").strip() or "none"
    is_container = kind in CONTAINER_VIRT
    return {"type": kind, "container": is_container, "guest": kind != "none"}


def parse_lspci(text: str) -> list:
    """GPUs from ``lspci -mm -n`` (machine readable, numeric): slot "class" "vendor" "device" ..."""
    gpus = []
    for line in text.splitlines():
        fields = re.findall(r'"([^"]*)"|(\S+)', line)
        values = [a or b for a, b in fields]
        if len(values) < 4:
            continue
        slot, pci_class, vendor, device = values[0], values[1], values[2], values[3]
        if pci_class[:4] not in GPU_CLASSES:
            continue
        gpus.append({"slot": slot, "class": pci_class, "vendor_id": vendor, "device_id": device,
                     "vendor": GPU_VENDORS.get(vendor.lower(), "other")})
    return gpus


def wireguard_kernel_module(exists: Callable[[str], bool], run: Callable[[list], str | None]) -> dict:
    """The one WireGuard kernel-module probe of the collection (node_info, wireguard_interface, the role).

    ``kernel_module`` is true when the module is loaded (or built in: ``/sys/module/wireguard``) or
    ``modprobe --dry-run`` can load it; ``module_loaded`` only when it is loaded now. *run* returns a
    command's stdout, or None when it failed or is missing.
    """
    loaded = exists("/sys/module/wireguard")
    loadable = loaded or run(["modprobe", "--dry-run", "--quiet", "wireguard"]) is not None
    return {"kernel_module": loadable, "module_loaded": loaded}


SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def find_binary(name: str) -> str | None:
    """Path of *name* on PATH or in the sbin directories (as ``AnsibleModule.get_bin_path`` looks)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    return shutil.which(name, path=path)


class NodeReader:
    """How the collector reaches the node: file reads, existence checks, and commands."""

    def __init__(self, read: Callable[[str], str | None], exists: Callable[[str], bool],
                 run: Callable[[list], str | None], cpu_count: Callable[[], int],
                 uname: Callable[[], tuple]) -> None:
        self.read = read
        self.exists = exists
        self.run = run
        self.cpu_count = cpu_count
        self.uname = uname


def _read_environ_var(raw: str | None, name: str) -> str | None:
    if not raw:
        return None
    for item in raw.split("\0"):
        if item.startswith(name + "="):
            return item[len(name) + 1:]
    return None


def collect(reader: NodeReader, sections: list) -> dict:
    """Collect the requested sections of node facts."""
    facts: dict = {}
    if "os" in sections:
        facts["os"] = parse_os_release(reader.read("/etc/os-release") or "")
    if "kernel" in sections:
        sysname, release, machine = reader.uname()
        facts["kernel"] = {"name": sysname, "release": release, "machine": machine}
    if "cgroup" in sections:
        facts["cgroup"] = cgroup_version(reader.read("/proc/self/mounts") or "")
    if "cpu" in sections:
        facts["cpu"] = parse_cpuinfo(reader.read("/proc/cpuinfo") or "", reader.cpu_count())
    if "memory" in sections:
        facts["memory"] = parse_meminfo(reader.read("/proc/meminfo") or "")
    if "virtualization" in sections:
        facts["virtualization"] = virtualization(reader.run(["systemd-detect-virt"]),
                                                 _read_environ_var(reader.read("/proc/1/environ"), "container"))
    if "wireguard" in sections:
        facts["wireguard"] = dict(
            wireguard_kernel_module(reader.exists, reader.run),
            tools=reader.run(["wg", "--version"]) is not None,
            userspace=reader.run(["wireguard-go", "--version"]) is not None,
        )
    if "devices" in sections:
        facts["devices"] = {"tun": reader.exists("/dev/net/tun"), "fuse": reader.exists("/dev/fuse")}
    if "systemd" in sections:
        pid1 = (reader.read("/proc/1/comm") or "").strip()
        state = reader.run(["systemctl", "is-system-running"], ) if pid1 == "systemd" else None
        facts["systemd"] = {"pid1": pid1 == "systemd", "state": (state or "offline").strip()}
    if "gpus" in sections:
        out = reader.run(["lspci", "-mm", "-n"])
        facts["gpus"] = parse_lspci(out or "")
        facts["gpus_lspci_available"] = out is not None
    return facts


def local_reader(runner: Callable[..., tuple]) -> NodeReader:
    """A reader for the machine the module runs on; *runner* is a ``Runner`` (argv -> rc, stdout, stderr)."""

    def read(path: str) -> str | None:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return None

    def run(argv: list) -> str | None:
        path = find_binary(argv[0])
        if path is None:
            return None
        rc, out, _err = runner([path, *argv[1:]])
        # systemctl is-system-running exits non-zero for "degraded" but still prints the state.
        if rc != 0 and not (argv[:2] == ["systemctl", "is-system-running"] and out.strip()):
            return None
        return out

    def uname() -> tuple:
        u = os.uname()
        return (u.sysname, u.release, u.machine)

    return NodeReader(read=read, exists=os.path.exists, run=run,
                      cpu_count=lambda: len(os.sched_getaffinity(0)), uname=uname)


class NodeInfo:
    """Backend of ``node_info``: reads the requested sections; never changes anything."""

    def __init__(self, params: dict, runner: Callable[..., tuple]) -> None:
        include = params.get("include") or ["all"]
        self.sections = list(SECTIONS) if "all" in include else list(include)
        self.reader = local_reader(runner)

    def read(self) -> dict:
        return collect(self.reader, self.sections)

    def plan(self, current: dict) -> Plan:
        return Plan(changed=False, values={"node": current})

    def apply(self, plan: Plan) -> Result:  # never called: the plan has no changes
        return plan.result()
