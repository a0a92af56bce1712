# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Cluster metrics no maintained exporter provides, read with the collection's own backends (the ones behind
``wireguard_info``, ``gluster_volume_info`` and ``nvidia_gpu_info``) and written for node exporter's textfile
collector. Run on a systemd timer by ``roles/monitoring/files/fedmesh-metrics`` (``python3 -m`` style entry:
:func:`main`); every section fails alone (``fedmesh_textfile_section_ok{section}`` 0) so one broken
daemon never hides the others' metrics.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import calendar
import functools
import json
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster import backend as gluster_host
from ansible_collections.fedmesh.cluster.plugins.module_utils.metrics.textfile import Registry, write_atomic
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import info as wg_info
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.backend import Backend as WgBackend

Run = Callable[..., Tuple[int, str, str]]
INF = float("inf")


def subprocess_runner(timeout: float = 20.0) -> Run:
    """A Runner (argv, data=None) -> (rc, stdout, stderr) on subprocess, no shell; rc 127 when missing."""

    def run(argv: List[str], data: Optional[str] = None) -> Tuple[int, str, str]:
        try:
            proc = subprocess.run(list(argv), input=data, capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except FileNotFoundError as exc:
            return 127, "", str(exc)
        except subprocess.TimeoutExpired:
            return 124, "", f"{argv[0]} timed out after {timeout:g} s"
        return proc.returncode, proc.stdout, proc.stderr

    return run


# ---------------------------------------------------------------- WireGuard
def wireguard(reg: Registry, run: Run, cfg: Dict[str, Any]) -> None:
    iface = cfg["interface"]
    fresh = float(cfg.get("handshake_fresh_s", 180))
    state = wg_info.gather(WgBackend(run), iface, cfg.get("config_dir", "/etc/wireguard")).get(iface, {})
    peers = state.get("peers", []) if state.get("exists") else []
    up = reg.gauge("fedmesh_wireguard_interface_up", "1 when the mesh interface exists")
    up.add(1 if state.get("exists") else 0, interface=iface)
    reg.gauge("fedmesh_wireguard_peers", "Peers configured on the live interface").add(len(peers), interface=iface)
    reg.gauge("fedmesh_wireguard_peers_planned", "Peers the inventory plans for this node").add(
        int(cfg.get("planned_peers", 0)), interface=iface)
    age = reg.gauge("fedmesh_wireguard_peer_handshake_age_seconds",
                    "Seconds since the latest handshake with the peer (+Inf: never)")
    rx = reg.counter("fedmesh_wireguard_peer_receive_bytes_total", "Bytes received from the peer")
    tx = reg.counter("fedmesh_wireguard_peer_transmit_bytes_total", "Bytes sent to the peer")
    connected = 0
    for peer in peers:
        labels = {"interface": iface, "peer": peer.get("name") or peer["public_key"][:8],
                  "public_key": peer["public_key"]}
        seconds = peer.get("latest_handshake_age")
        value = INF if seconds is None else float(seconds)
        connected += value <= fresh
        age.add(value, **labels)
        rx.add(peer.get("transfer_rx", 0), **labels)
        tx.add(peer.get("transfer_tx", 0), **labels)
    reg.gauge("fedmesh_wireguard_peers_connected",
              f"Peers with a handshake in the last {fresh:g} s").add(connected, interface=iface)


# ---------------------------------------------------------------- GlusterFS
def parse_heal_count(text: str) -> Dict[str, Optional[int]]:
    """``gluster volume heal VOL statistics heal-count``: brick -> entries to heal (None: brick not reachable)."""
    counts: Dict[str, Optional[int]] = {}
    brick: Optional[str] = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Brick "):
            brick = line[len("Brick "):].strip()
            counts[brick] = None
        elif brick and line.startswith("Number of entries:"):
            value = line.split(":", 1)[1].strip()
            counts[brick] = int(value) if value.isdigit() else None
    return counts


# Messages of glusterd's cluster-wide lock: another node's command (or an Ansible run) holds it right now.
LOCK_BUSY = ("Another transaction is in progress", "Locking failed")


def _retry_busy(call: Callable[[], Any], tries: int = 3) -> Any:
    for attempt in range(tries):
        try:
            return call()
        except gluster_host.GlusterError as exc:
            if attempt == tries - 1 or not any(m in exc.message for m in LOCK_BUSY):
                raise
            time.sleep(2.0)
    return None


def gluster(reg: Registry, run: Run, cfg: Dict[str, Any]) -> None:
    """Pool and volumes (local reads) on every server; brick status and heal-count (cluster-wide operations
    that take glusterd's lock) only where ``cfg["cluster_state"]`` is true - one reporter, so the collectors
    never contend with each other for the lock (nor, more than once per interval, with an Ansible run)."""
    gl = gluster_host.Gluster(run)
    reason = gl.reachable()
    reg.gauge("fedmesh_gluster_up", "1 when glusterd answers on this node").add(0 if reason else 1)
    if reason:
        return
    pcon = reg.gauge("fedmesh_gluster_peer_connected", "1 when the pool peer is connected")
    for peer in gl.pool():
        if peer["hostname"] != "localhost":
            pcon.add(1 if peer["connected"] else 0, peer=peer["hostname"])
    started = reg.gauge("fedmesh_gluster_volume_started", "1 when the volume is started")
    brick_up = reg.gauge("fedmesh_gluster_brick_up", "1 when the brick process is online (volume status)")
    heal = reg.gauge("fedmesh_gluster_heal_pending_entries",
                     "Entries waiting for self-heal on the brick (statistics heal-count; absent when unreachable)")
    for name, vol in sorted(gl.volumes().items()):
        is_started = vol["status"] == "started"
        started.add(1 if is_started else 0, volume=name)
        if not is_started or not cfg.get("cluster_state"):
            continue
        live = _retry_busy(functools.partial(gl.status, name)).get("bricks", {})
        for brick in vol["bricks"]:
            host = brick.rsplit(":", 1)[0]
            brick_up.add(1 if (live.get(brick) or {}).get("online") else 0, volume=name, brick=brick, host=host)
        if vol["replica"] > 1 or vol["disperse"] > 0:
            rc, out, _err = run(["gluster", "--mode=script", "volume", "heal", name, "statistics", "heal-count"])
            for brick, count in sorted(parse_heal_count(out if rc == 0 else "").items()):
                if count is not None:
                    heal.add(count, volume=name, brick=brick)


# ---------------------------------------------------------------- GPUs
def gpus(reg: Registry, run: Run, cfg: Dict[str, Any]) -> None:
    from ansible_collections.fedmesh.cluster.plugins.module_utils.nvidia.info import GpuInfo

    facts = GpuInfo({"sysfs_root": cfg.get("sysfs_root")}, run).read()
    reg.gauge("fedmesh_gpu_count", "GPUs found (nvidia-smi, else lspci)").add(facts["gpu_count"])
    reg.gauge("fedmesh_gpu_driver_loaded", "1 when the NVIDIA kernel module is loaded").add(
        1 if facts["driver"]["loaded"] else 0)
    info = reg.gauge("fedmesh_gpu_info", "One series per GPU, its identity in labels")
    mem = reg.gauge("fedmesh_gpu_memory_total_bytes", "GPU memory")
    used = reg.gauge("fedmesh_gpu_memory_used_bytes", "GPU memory in use")
    temp = reg.gauge("fedmesh_gpu_temperature_celsius", "GPU temperature")
    for gpu in facts["gpus"]:
        idx = str(gpu.get("index", ""))
        info.add(1, gpu=idx, name=gpu.get("name") or "", uuid=gpu.get("uuid") or "",
                 driver=gpu.get("driver_version") or "", source=gpu.get("source", "nvidia-smi"))
        for fam, key, scale in ((mem, "memory_total_mib", 1048576), (used, "memory_used_mib", 1048576),
                                (temp, "temperature_c", 1)):
            if gpu.get(key) is not None:
                fam.add(gpu[key] * scale, gpu=idx)
    reg.gauge("fedmesh_gpu_reboot_required", "1 when the installed driver needs a reboot").add(
        1 if facts["reboot_required"] else 0)


# ---------------------------------------------------------------- certificates
def parse_not_after(text: str) -> Optional[float]:
    """``openssl x509 -noout -enddate`` (``notAfter=Jan  1 00:00:00 2030 GMT``) -> UNIX time."""
    for line in text.splitlines():
        if line.startswith("notAfter="):
            stamp = " ".join(line.split("=", 1)[1].split())
            return float(calendar.timegm(time.strptime(stamp, "%b %d %H:%M:%S %Y %Z")))
    return None


def certificates(reg: Registry, run: Run, cfg: Dict[str, Any]) -> None:
    fam = reg.gauge("fedmesh_certificate_not_after_seconds", "Expiry of the certificate (UNIX time)")
    for path in cfg.get("paths", []):
        rc, out, _err = run(["openssl", "x509", "-noout", "-enddate", "-in", path])
        when = parse_not_after(out) if rc == 0 else None
        if when is not None:
            fam.add(when, path=path)


SECTIONS: Dict[str, Callable[[Registry, Run, Dict[str, Any]], None]] = {
    "wireguard": wireguard, "gluster": gluster, "gpu": gpus, "certificates": certificates}


def collect(config: Dict[str, Any], run: Run, now: Callable[[], float] = time.time) -> str:
    """The whole textfile for *config* (``{section: settings or null}``)."""
    reg = Registry()
    ok = reg.gauge("fedmesh_textfile_section_ok", "1 when the section was read without error")
    errors: List[str] = []
    for name, section in SECTIONS.items():
        if config.get(name) is None:
            continue
        try:
            section(reg, run, config[name])
            ok.add(1, section=name)
        except Exception as exc:  # noqa: BLE001 - one section's failure must not hide the others
            ok.add(0, section=name)
            errors.append(f"{name}: {exc}")
    reg.gauge("fedmesh_textfile_timestamp_seconds", "When the collector last ran (UNIX time)").add(float(int(now())))
    text = reg.render()
    for line in errors:
        sys.stderr.write(line + "\n")
    return text


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: fedmesh-metrics CONFIG.json\n")
        return 2
    with open(args[0]) as fh:
        config = json.load(fh)
    write_atomic(config["textfile"], collect(config, subprocess_runner()))
    return 0
