"""Controller-side mesh plan at scale: the wg_mesh_layout + wg_mesh_plan filters alone on a synthetic inventory.

    python bench/mesh_plan_scale.py [--sizes 100,1000] [--full-mesh-max 64] [--hubs 3] [--repeat 3]

For each size N, N synthetic hosts (``nodeNNNN``, each with an endpoint, a public key and an address the node
"already has" for half of them, so IPAM takes both paths) are planned the way the ``wireguard_mesh`` role plans
them, once for the play: ``wg_mesh_layout`` (validation, IPAM, hubs, links, ``--limit`` checks against the
nodes' current peers) then ``wg_mesh_plan`` (peer lists, preshared-key owners). Columns:

* ``topology``  -- full-mesh, or hub-and-spoke above ``--full-mesh-max`` reachable hosts;
* ``tunnels``   -- peer pairs in the plan (N*(N-1)/2 for a full mesh, about N*hubs for hub-and-spoke);
* ``seconds``   -- best of ``--repeat`` runs of both filters (the role runs each once per play);
* ``target``    -- seconds / 2 s (the issue's budget for 1,000 hosts); below 1 is within it.

Also a full mesh of the same N for comparison (``--full-mesh-max 0``) at sizes up to 1,000. Nothing is
asserted; the numbers are printed.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".build" / "collections"))

from ansible_collections.fedmesh.cluster.plugins.filter.wg_mesh_layout import wg_mesh_layout  # noqa: E402
from ansible_collections.fedmesh.cluster.plugins.filter.wg_mesh_plan import wg_mesh_plan  # noqa: E402
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.keys import (  # noqa: E402
    placeholder_public_key,
)

TARGET_S = 2.0


def inventory(n: int) -> tuple[list[str], dict, dict, dict]:
    hosts = [f"node{i:04d}" for i in range(n)]
    settings = {h: {"endpoint": f"{h}.example.net", "listen_port": 51820, "hub": False, "state": "present",
                    "address": None} for h in hosts}
    pubs = {h: placeholder_public_key(h) for h in hosts}
    # Half the nodes already have an address and a key (a re-run), the others are new.
    current = {h: {"wg0": {"config_public_key": pubs[h], "addresses": [f"10.80.{i // 250}.{i % 250 + 2}/20"],
                           "listen_port": 51820, "config": {"peers": []}, "peers": []}}
               for i, h in enumerate(hosts) if i % 2 == 0}
    return hosts, settings, current, {h: {"public_key": pubs[h]} for h in hosts}


def run(n: int, full_mesh_max: int, hubs: int, repeat: int) -> tuple[str, int, float]:
    hosts, settings, current, keys = inventory(n)
    best = float("inf")
    plan: dict = {}
    for _attempt in range(repeat):
        t0 = time.perf_counter()
        layout = wg_mesh_layout(hosts, {}, cidr="10.80.0.0/20", settings=settings, current=current,
                                psk_dir="/etc/wireguard/fedmesh-psk", play_hosts=hosts,
                                full_mesh_max=full_mesh_max, hub_count=hubs)
        plan = wg_mesh_plan(layout, keys=keys)
        best = min(best, time.perf_counter() - t0)
    tunnels = sum(len(h["peers"]) for h in plan["hosts"].values()) // 2
    return plan["topology"], tunnels, best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--full-mesh-max", type=int, default=64)
    ap.add_argument("--hubs", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"{'hosts':>6} {'topology':>14} {'tunnels':>8} {'seconds':>8} {'target':>7}")
    for n in (int(s) for s in args.sizes.split(",")):
        for fmm in (args.full_mesh_max, 0):
            topo, tunnels, secs = run(n, fmm, args.hubs, args.repeat)
            print(f"{n:>6} {topo:>14} {tunnels:>8} {secs:>8.3f} {secs / TARGET_S:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
