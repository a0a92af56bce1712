"""Mesh converge benchmark: time to build the WireGuard mesh on fresh test-bed nodes, and the no-change re-run.

    python bench/mesh_converge.py [--sizes 3,6,9] [--quick] [--name bench-mesh]
    python bench/mesh_converge.py --peer-role DIR --peer-collections CDIR [--sizes 3,6] [--rounds 2]
                                  [--connection ssh|podman]

With ``--peer-role`` it compares with githubixx/ansible-role-wireguard instead (``bench/mesh_peer.py``: fresh
nodes per round, interleaved, converge and no-change seconds, medians and peer/ours ratios).

For each size N (default 3, 6 and 9; ``--quick``: 3 and 6) a fresh test bed of N nodes comes up, all in
group ``mesh``; ``playbooks/mesh.yml`` (the installed collection in ``collection/``) runs twice with the
test-bed vars of ``molecule/wireguard`` (userspace WireGuard, 10.99.0.0/24): ``fresh`` (nothing there yet)
and ``rerun`` (nothing to change).  The test bed is removed after each size, also on ^C or an error.

Columns, one line per (nodes, run):

* ``seconds``        -- wall time of ``ansible-playbook`` (test-bed start-up not included);
* ``tasks_per_host`` -- tasks executed per host from the PLAY RECAP (ok + failed; ``ok`` already counts the
                        changed ones), the highest of the hosts; a loop counts once, whatever its length;
* ``skipped``        -- skipped tasks per host from the recap (highest of the hosts);
* ``changed``        -- changed tasks summed over the hosts (``rerun`` should show 0);
* ``calls_per_host`` -- module executions on the node side, the highest of the hosts: every node runs modules
                        through a tiny interpreter wrapper that appends one line to a counter file, so each loop
                        item, delegated call and module an action plugin runs is counted on the node that ran it;
* ``calls_total``    -- the same summed over the nodes;
* ``reach``          -- after the run, every node pings every other node's mesh address, all at once, until the
                        first reply, one probe a second for at most 5 s (``ping -c1 -w5``); pairs that needed more
                        than one probe (both ends starting a handshake together) are counted and reported.

Then, between the smallest and the largest size: the ratios of tasks/host, calls/host and seconds, and the
verdict ``tasks/host growth: O(1)|O(N)|worse`` from the growth exponent k (value ~ N**k) of the worse of
tasks/host and calls/host over both runs: k < 0.4 is O(1), k <= 1.25 O(N), above that worse.  Ratios are
printed, never asserted; the exit status is 1 only when a playbook fails or a node cannot reach another.
"""
from __future__ import annotations

import argparse
import math
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from testbed import Testbed, run_playbook  # noqa: E402

PLAYBOOK = ROOT / "playbooks" / "mesh.yml"
# The vars molecule/wireguard/converge.yml uses on the test bed (its kernel has no wireguard module).
MESH_VARS = {"fedmesh_wireguard_mesh_implementation": "userspace", "fedmesh_wireguard_mesh_cidr": "10.99.0.0/24"}
INTERFACE = "wg0"
COUNTER = "/run/fedmesh-bench-module-calls"
WRAPPER = "/usr/local/bin/fedmesh-bench-python3"
# Counts one line per module execution, then runs the module exactly as Ansible would have (stdin included).
WRAPPER_SCRIPT = f"#!/bin/sh\necho >> {COUNTER}\nexec /usr/bin/python3 \"$@\"\n"
PING_WAIT_S = 5


@dataclass
class Row:
    nodes: int
    run: str
    seconds: float
    tasks_per_host: int
    skipped: int
    changed: int
    calls_per_host: int
    calls_total: int
    unreachable: list[str] = field(default_factory=list)  # "nodeA->address" that did not answer
    reprobed: int = 0  # pairs whose first probe got no reply (a later one did)

    @property
    def reach(self) -> str:
        return "FAIL" if self.unreachable else "ok"


class BenchError(RuntimeError):
    pass


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parallel(tb: Testbed, commands: dict[str, str], timeout: float = 60) -> dict[str, str]:
    """Run one shell command per node (through the engine), a few at a time; returns each node's stdout."""
    def one(name: str) -> tuple[str, str]:
        return name, tb.exec(name, commands[name], timeout=timeout).stdout

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(one, sorted(commands)))


def install_counter(tb: Testbed, names: list[str]) -> None:
    script = WRAPPER_SCRIPT.replace("'", "'\\''")
    parallel(tb, {n: f"printf '%s' '{script}' > {WRAPPER} && chmod 0755 {WRAPPER} && : > {COUNTER}"
                  for n in names})


def read_and_reset(tb: Testbed, names: list[str]) -> tuple[dict[str, int], dict[str, str]]:
    """Module calls per node since the last reset, and each node's mesh address ('' when it has none)."""
    out = parallel(tb, {n: f"wc -l < {COUNTER}; : > {COUNTER}; "
                           f"ip -o addr show dev {INTERFACE} scope global 2>/dev/null || true" for n in names})
    calls: dict[str, int] = {}
    addresses: dict[str, str] = {}
    for name, text in out.items():
        lines = text.splitlines()
        calls[name] = int(lines[0].strip()) if lines and lines[0].strip().isdigit() else 0
        addresses[name] = ""
        for line in lines[1:]:
            words = line.split()
            if len(words) > 3 and words[2] in ("inet", "inet6"):
                addresses[name] = words[3].split("/")[0]
                break
    return calls, addresses


def reachability(tb: Testbed, addresses: dict[str, str]) -> tuple[list[str], int]:
    """Every node pings every other node's mesh address, all at the same time.

    Returns the pairs without a reply, and how many pairs needed more than one probe.
    """
    failures = [f"{n}: no {INTERFACE} address" for n, a in sorted(addresses.items()) if not a]
    commands = {}
    for name in addresses:
        targets = [a for other, a in sorted(addresses.items()) if other != name and a]
        # -c1 -w: stop at the first reply, at most one probe a second for PING_WAIT_S seconds.  All nodes ping at
        # once, so both ends of a pair often start a handshake together and the first probe can be lost.
        commands[name] = ("for a in " + " ".join(targets) + "; do "
                          f"( out=$(ping -n -q -c1 -w{PING_WAIT_S} $a 2>&1) "
                          "&& echo ok $a $(echo \"$out\" | sed -n 's/^\\([0-9]*\\) packets transmitted.*/\\1/p') "
                          "|| echo FAIL $a ) & done; wait")
    probes = 0
    for name, text in sorted(parallel(tb, commands, timeout=PING_WAIT_S + 30).items()):
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["FAIL"]:
                failures.append(f"{name}->{words[1]}")
            elif words[:1] == ["ok"] and len(words) > 2 and words[2].isdigit() and int(words[2]) > 1:
                probes += 1
    return failures, probes


def snapshot_collection(dest: Path) -> Path:
    """Copy the installed collection, so a `make collection` elsewhere in the tree cannot swap it mid-run.

    (The Makefile replaces collection/ansible_collections atomically, but a playbook that is running resolves the
    role's path again on include_tasks and then fails on the new one.)
    """
    source = (ROOT / "collection" / "ansible_collections").resolve()
    shutil.copytree(source, dest / "ansible_collections", ignore=shutil.ignore_patterns(".venv*", "__pycache__"))
    return source


def converge(tb: Testbed, names: list[str], run: str, collections: Path) -> Row:
    start = time.monotonic()
    result = run_playbook(PLAYBOOK, tb.inventory, extra_vars=MESH_VARS, timeout=1800,
                          env={"ANSIBLE_COLLECTIONS_PATH": str(collections)})
    seconds = time.monotonic() - start
    if result.rc != 0 or result.failed_hosts() or set(result.stats) != set(names):
        raise BenchError(f"{len(names)} nodes, {run}: playbook failed rc={result.rc}\n{result.output[-6000:]}")
    calls, addresses = read_and_reset(tb, names)
    stats = result.stats.values()
    unreachable, reprobed = reachability(tb, addresses)
    return Row(nodes=len(names), run=run, seconds=seconds,
               tasks_per_host=max(s.get("ok", 0) + s.get("failed", 0) for s in stats),
               skipped=max(s.get("skipped", 0) for s in stats),
               changed=sum(s.get("changed", 0) for s in stats),
               calls_per_host=max(calls.values()), calls_total=sum(calls.values()),
               unreachable=unreachable, reprobed=reprobed)


def bench_size(name: str, size: int, collections: Path, emit: list[Row]) -> None:
    names = [f"node{i}" for i in range(1, size + 1)]
    tb = Testbed(name, nodes=size, groups={"mesh": names},
                 group_vars={"ansible_python_interpreter": WRAPPER})
    try:
        tb.down()  # fresh nodes: nothing left from an earlier, interrupted run
        tb.up()
        install_counter(tb, names)
        for run in ("fresh", "rerun"):
            row = converge(tb, names, run, collections)
            emit.append(row)
            print_row(row)
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second ^C must not leave nodes behind
        try:
            tb.down()
        finally:
            signal.signal(signal.SIGINT, previous)


HEADER = f"{'nodes':>5}  {'run':<5}  {'seconds':>7}  {'tasks_per_host':>14}  {'skipped':>7}  {'changed':>7}  " \
         f"{'calls_per_host':>14}  {'calls_total':>11}  reach"


def print_row(row: Row) -> None:
    print(f"{row.nodes:>5}  {row.run:<5}  {row.seconds:>7.1f}  {row.tasks_per_host:>14}  {row.skipped:>7}  "
          f"{row.changed:>7}  {row.calls_per_host:>14}  {row.calls_total:>11}  {row.reach}", flush=True)


def exponent(small: float, large: float, n_small: int, n_large: int) -> float:
    """k in value ~ N**k between two sizes."""
    if small <= 0 or large <= 0:
        return 0.0 if small == large else math.inf
    return math.log(large / small) / math.log(n_large / n_small)


def verdict(k: float) -> str:
    return "O(1)" if k < 0.4 else "O(N)" if k <= 1.25 else "worse"


def summarize(rows: list[Row]) -> None:
    sizes = sorted({r.nodes for r in rows})
    if len(sizes) < 2:
        print("growth: needs two sizes")
        print("tasks/host growth: n/a")
        return
    lo, hi = sizes[0], sizes[-1]
    worst = 0.0
    for run in ("fresh", "rerun"):
        a = next(r for r in rows if r.nodes == lo and r.run == run)
        b = next(r for r in rows if r.nodes == hi and r.run == run)
        k_tasks = exponent(a.tasks_per_host, b.tasks_per_host, lo, hi)
        k_calls = exponent(a.calls_per_host, b.calls_per_host, lo, hi)
        worst = max(worst, k_tasks, k_calls)
        print(f"growth {run:<5} {hi}/{lo} nodes (x{hi / lo:.1f}): tasks/host x{b.tasks_per_host / a.tasks_per_host:.2f}"
              f" (k={k_tasks:.2f}), calls/host x{b.calls_per_host / max(a.calls_per_host, 1):.2f} (k={k_calls:.2f}),"
              f" calls total x{b.calls_total / max(a.calls_total, 1):.2f}, seconds x{b.seconds / a.seconds:.2f}")
    print(f"tasks/host growth: {verdict(worst)}  (worst exponent k={worst:.2f} of tasks/host and calls/host; "
          "O(1) k<0.4, O(N) k<=1.25)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0] if __doc__ else None)
    parser.add_argument("--sizes", default="3,6,9", help="comma-separated node counts (default 3,6,9)")
    parser.add_argument("--quick", action="store_true", help="3 and 6 nodes only")
    parser.add_argument("--name", default="bench-mesh", help="test-bed name (default bench-mesh)")
    parser.add_argument("--peer-role", type=Path, metavar="DIR",
                        help="a checkout of githubixx/ansible-role-wireguard: compare with it instead "
                             "(bench/mesh_peer.py; default sizes 3,6)")
    parser.add_argument("--peer-collections", default="",
                        help="collections path holding community.general for the peer role")
    parser.add_argument("--connection", choices=["ssh", "podman"], default="ssh",
                        help="with --peer-role: ssh (pipelining) or the containers.podman connection")
    parser.add_argument("--rounds", type=int, default=2, help="with --peer-role: rounds per size (default 2)")
    args = parser.parse_args(argv)
    if args.peer_role is not None:
        return peer_main(args)
    sizes = [3, 6] if args.quick else sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if not sizes or min(sizes) < 2:
        parser.error("--sizes: node counts of at least 2")
    if not (ROOT / "collection" / "ansible_collections" / "fedmesh" / "cluster").is_dir():
        parser.error("the collection is not installed in collection/: run `make collection` first")
    signal.signal(signal.SIGTERM, _raise_interrupt)

    rows: list[Row] = []
    print(f"mesh converge: {PLAYBOOK.relative_to(ROOT)} with {MESH_VARS}, sizes {sizes}, fresh nodes per size",
          flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="fedmesh-bench-mesh-") as tmp:
            source = snapshot_collection(Path(tmp))
            print(f"collection: a copy of {source} taken at start", flush=True)
            print(HEADER, flush=True)
            for size in sizes:
                bench_size(args.name, size, Path(tmp), rows)
    except KeyboardInterrupt:
        print("interrupted; test bed removed", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    failures = [f"{r.nodes}/{r.run}: {', '.join(r.unreachable)}" for r in rows if r.unreachable]
    pairs = sum(r.nodes * (r.nodes - 1) for r in rows)
    reprobed = sum(r.reprobed for r in rows)
    print(("reachability ok" if not failures else "reachability FAIL: " + "; ".join(failures))
          + f"  ({pairs} node->address pings after the {len(rows)} runs; {reprobed} needed a second probe)")
    summarize(rows)
    return 1 if failures else 0


def peer_main(args: argparse.Namespace) -> int:
    from mesh_peer import compare  # bench/ is on sys.path when this script runs

    if not (args.peer_role / "tasks" / "main.yml").is_file():
        print(f"--peer-role {args.peer_role}: not a checkout of the role (no tasks/main.yml)", file=sys.stderr)
        return 2
    sizes = sorted({int(s) for s in (args.sizes if args.sizes != "3,6,9" else "3,6").split(",") if s.strip()})
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with tempfile.TemporaryDirectory(prefix="fedmesh-bench-mesh-") as tmp:
            snapshot_collection(Path(tmp))
            rows = compare(sizes, args.peer_role, args.connection, args.rounds, Path(tmp), args.peer_collections,
                           PLAYBOOK)
    except KeyboardInterrupt:
        print("interrupted; test beds removed", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    return 1 if any(r.reach != "ok" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
