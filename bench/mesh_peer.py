"""Side by side with githubixx/ansible-role-wireguard: ``bench/mesh_converge.py --peer-role DIR``.

DIR is a checkout of the peer role the user provides (it is not part of this project). For each size, rounds of
fresh test beds alternate between the two roles (ours, peer, peer, ours, ...): the same node image, the same
connection (``--connection ssh`` with pipelining from ansible.cfg, or ``podman``: the containers.podman
connection, which cannot pipeline), the same forks and controller. Each round times a converge on fresh nodes
and a no-change re-run, then checks that every node reaches every other one over the tunnel.

The peer runs its README playbook (``hosts: vpn`` / ``roles: [githubixx.ansible_role_wireguard]``, with the role
given by path) and the per-host inventory its README shows (``wireguard_address``, ``wireguard_endpoint``), plus
the deviations Debian 12 + ansible-core 2.19 on these nodes need (bench/README.md, "Peer role"):

* ``wireguard_install_kernel_module: false`` - the test-bed kernel has no wireguard module (and the task needs
  community.general, found through ``--peer-collections``);
* wg-quick's userspace drop-in (the same file ours writes) is put on the peer's nodes before its timed runs;
* ``/etc/lsb-release`` is written on its nodes (Debian 12 has no ``lsb_release``; the role reads
  ``ansible_facts['lsb']['id']`` whenever ``ansible_facts['lsb']`` is defined, which ansible-core 2.19 makes ``{}``);
* ``--skip-tags wg-install`` (``ANSIBLE_SKIP_TAGS``): Debian's ``wireguard`` package depends on
  ``wireguard-modules``, which on these kernel-less containers pulls a kernel image and an initramfs build
  (minutes per node); wireguard-tools and wireguard-go are in the image. This spares the peer its apt work
  (``update_cache`` on every run), so the comparison is conservative for ours;
* ``wireguard_address`` (one address) instead of ``wireguard_addresses``: the latter's template filter
  ``ansible.utils.ipv4`` needs ``netaddr`` on the controller.

Printed: one line per (round, role, run) and, per size, the medians and ``peer / ours`` (> 1: ours is faster).
"""
from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from testbed import Testbed, run_playbook
from testbed.engine import CONTAINERS_CONF

OURS_VARS = {"fedmesh_wireguard_mesh_implementation": "userspace", "fedmesh_wireguard_mesh_cidr": "10.99.0.0/24"}
DROPIN = ("[Service]\nEnvironment=WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go\n"
          "Environment=WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1\n")
# The peer installs Debian's `wireguard` package, whose Recommends pull a kernel image (and an initramfs build,
# minutes per node) on these kernel-less containers; real machines already run a kernel with the module.
NO_RECOMMENDS = 'APT::Install-Recommends "false";\n'
LSB = "DISTRIB_ID=Debian\nDISTRIB_RELEASE=12\nDISTRIB_CODENAME=bookworm\nDISTRIB_DESCRIPTION=\"Debian 12\"\n"


@dataclass
class Timing:
    size: int
    round: int
    role: str
    converge: float
    rerun: float
    rerun_changed: int
    reach: str


def _prepare(tb: Testbed, role: str, connection: str) -> None:
    host_vars = Path(tb.inventory).parent / "host_vars"
    host_vars.mkdir(exist_ok=True)
    for i, (name, node) in enumerate(sorted(tb.nodes.items()), start=1):
        hv: dict = {}
        if connection == "podman":
            hv.update(ansible_connection="containers.podman.podman", ansible_host=node.container)
        if role == "peer":
            hv.update(wireguard_address=f"10.99.0.{i}/24", wireguard_endpoint=node.address)
        (host_vars / f"{name}.yml").write_text("---\n" + yaml.safe_dump(hv))
        if role == "peer":  # untimed: what Debian 12 on these nodes needs (module docstring)
            tb.exec(name, "mkdir -p /etc/systemd/system/wg-quick@.service.d && "
                          f"printf '%s' '{DROPIN}' > /etc/systemd/system/wg-quick@.service.d/userspace.conf && "
                          f"systemctl daemon-reload && printf '%s' '{LSB}' > /etc/lsb-release && "
                          f"printf '%s' '{NO_RECOMMENDS}' > /etc/apt/apt.conf.d/99-bench-no-recommends")
    if role == "peer":
        (Path(tb.inventory).parent / "group_vars").mkdir(exist_ok=True)
        (Path(tb.inventory).parent / "group_vars" / "vpn.yml").write_text(
            "---\nwireguard_install_kernel_module: false\n")


def _reach(tb: Testbed) -> str:
    addrs = {n: tb.exec(n, "ip -4 -o addr show dev wg0 | awk '{print $4}' | cut -d/ -f1", check=False).stdout.strip()
             for n in tb.nodes}
    for n in tb.nodes:
        for o, a in addrs.items():
            if o != n and (not a or tb.exec(n, f"ping -n -q -c1 -w5 {a}", check=False).returncode != 0):
                return f"FAIL {n}->{o}"
    return "ok"


def _playbook(tmp: Path, role: str, peer_dir: Path, ours: Path) -> Path:
    if role == "ours":
        return ours
    path = tmp / "peer-readme.yml"  # the README's example playbook, the role given by its path
    path.write_text(yaml.safe_dump([{"hosts": "vpn", "roles": [{"role": str(peer_dir.resolve())}]}], sort_keys=False))
    return path


def one_round(name: str, size: int, rnd: int, role: str, ctx: dict) -> Timing:
    names = [f"node{i}" for i in range(1, size + 1)]
    tb = Testbed(f"{name}-{role}", nodes=size, groups={"mesh": names, "vpn": names})
    env = {"ANSIBLE_COLLECTIONS_PATH": f"{ctx['collections']}:{ctx['peer_collections']}",
           "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    if role == "peer":
        # Its install tasks are skipped (a documented option of the role): Debian's `wireguard` package depends on
        # wireguard-modules, which on these kernel-less containers pulls a kernel image and an initramfs build
        # (minutes per node); the tools are in the image, as ours finds them.
        env["ANSIBLE_SKIP_TAGS"] = "wg-install"
    try:
        tb.down()
        tb.up()
        _prepare(tb, role, ctx["connection"])
        book = _playbook(ctx["tmp"], role, ctx["peer_dir"], ctx["ours"])
        extra = OURS_VARS if role == "ours" else None
        times = []
        results = []
        for _run in ("converge", "rerun"):
            t0 = time.monotonic()
            res = run_playbook(book, tb.inventory, extra_vars=extra, timeout=1800, env=env)
            times.append(time.monotonic() - t0)
            if res.rc != 0:
                raise RuntimeError(f"{role} {size} nodes: rc={res.rc}\n{res.output[-4000:]}")
            results.append(res)
        return Timing(size, rnd, role, times[0], times[1], results[1].changed(), _reach(tb))
    finally:
        tb.down()


# The host's inotify instances (fs.inotify.max_user_instances, 128 per user) run out when many systemd test-bed
# nodes are up at once; then wireguard-go fails ("Failed to listen on uapi socket: too many open files") and
# wg-quick@wg0 does not start, for either role. Such a round is run again on fresh nodes, and says so.
_HOST_LIMIT = "wg-quick@wg0"
RETRIES = 2


def _round_with_retry(name: str, size: int, rnd: int, role: str, ctx: dict) -> Timing:
    for attempt in range(RETRIES + 1):
        try:
            return one_round(name, size, rnd, role, ctx)
        except RuntimeError as exc:
            if _HOST_LIMIT not in str(exc) or attempt == RETRIES:
                raise
            print(f"{size:>5} {rnd:>5} {role:<5} wg-quick@wg0 did not start (host inotify limit?): round run again "
                  "on fresh nodes", flush=True)
    raise AssertionError("unreachable")


def compare(sizes: list[int], peer_dir: Path, connection: str, rounds: int, collections: Path,
            peer_collections: str, ours: Path, name: str = "bench-peer") -> list[Timing]:
    out: list[Timing] = []
    print(f"peer comparison: {peer_dir} vs fedmesh.cluster.wireguard_mesh, connection {connection}, "
          f"{rounds} round(s) per size, fresh nodes per round, interleaved", flush=True)
    print(f"{'nodes':>5} {'round':>5} {'role':<5} {'converge_s':>10} {'rerun_s':>8} {'rerun_changed':>13} reach",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="fedmesh-bench-peer-") as tmp:
        for size in sizes:
            for rnd in range(1, rounds + 1):
                order = ("ours", "peer") if rnd % 2 else ("peer", "ours")
                for role in order:
                    ctx = {"tmp": Path(tmp), "peer_dir": peer_dir, "ours": ours, "connection": connection,
                           "collections": collections, "peer_collections": peer_collections}
                    t = _round_with_retry(name, size, rnd, role, ctx)
                    out.append(t)
                    print(f"{t.size:>5} {t.round:>5} {t.role:<5} {t.converge:>10.1f} {t.rerun:>8.1f} "
                          f"{t.rerun_changed:>13} {t.reach}", flush=True)
            summarize(out, size)
    return out


def summarize(rows: list[Timing], size: int) -> None:
    def med(role: str, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in rows if r.size == size and r.role == role)

    c_ours, c_peer, r_ours, r_peer = med("ours", "converge"), med("peer", "converge"), med("ours", "rerun"), \
        med("peer", "rerun")
    print(f"{size} nodes medians: converge ours {c_ours:.1f} s, peer {c_peer:.1f} s, peer/ours {c_peer / c_ours:.2f}; "
          f"no-change ours {r_ours:.1f} s, peer {r_peer:.1f} s, peer/ours {r_peer / r_ours:.2f}", flush=True)
