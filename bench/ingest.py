"""Ingest benchmark: the aggregation service vs. raw loopback transfer of the same bytes.

    python bench/ingest.py [--quick] [--clients 8] [--floats 10000000]

Everything runs on 127.0.0.1. Three receivers get the same bytes from the same sender threads
(one thread and one TCP connection per client, all concurrent):

* ``raw-socket``  -- a subprocess that ``recv_into``s a reused 1 MiB buffer and acks: the loopback
                     floor (the bytes land in the CPU cache and are dropped);
* ``raw-keep``    -- the same, but each update is received whole into its own 40 MB buffer (allocated
                     and paged in before the clock starts), as any receiver that uses the bytes must;
* ``aiohttp-sink``-- a subprocess aiohttp app that reads each body and discards it (framework floor);
* ``service``     -- ``python -m fedmesh_fl.service`` with a FedAvg round whose quorum is the client
                     count and ``ingest_slots`` as the aggregator role deploys it (4; ``--slots``):
                     full decode, validation, accumulation; every 202 only once the update is durable
                     (a group checkpoint, or the new model version when the quorum closes the round).

Each receiver is measured ``reps`` times, interleaved; the best time of each is reported (the box
is shared, so the best run is the least disturbed one) next to all runs.
Printed: updates/s, MB/s and the ratios service / raw-socket (the issue's target: >= 0.5; printed, never
asserted) and service / raw-keep; the round's own overhead = (new model version published - last update
folded in) - aggregation time,
from the service's round record; and the service's RSS growth while ingesting vs. the model size
(FedAvg should stay O(model): global model + accumulator + at most ``ingest_slots`` bodies).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

from fedmesh_fl import wire  # noqa: E402
from fedmesh_fl.client import Client  # noqa: E402

SINK = r"""
import asyncio, socket, sys, threading
mode = sys.argv[1]
if mode in ("raw", "raw-keep"):
    keep = [memoryview(bytearray(int(sys.argv[3]))) for _ in range(int(sys.argv[2]))] if mode == "raw-keep" else []
    for b in keep:  # page the buffers in now, not while the clock runs
        b[::4096] = bytes(len(b[::4096]))
    srv = socket.create_server(("127.0.0.1", 0), backlog=64)
    print(srv.getsockname()[1], flush=True)
    def serve(conn, buf):
        hdr = b""
        while len(hdr) < 8:
            hdr += conn.recv(8 - len(hdr))
        left = int.from_bytes(hdr, "little")
        pos = 0
        while left:
            n = conn.recv_into(buf[pos:], min(left, len(buf) - pos))
            if not n:
                break
            left -= n
            pos = pos + n if keep else 0
        conn.sendall(b"ok")
        conn.close()
    i = 0
    while True:
        c, _ = srv.accept()
        buf = keep[i % len(keep)] if keep else memoryview(bytearray(1 << 20))
        i += 1
        threading.Thread(target=serve, args=(c, buf), daemon=True).start()
else:
    from aiohttp import web
    async def sink(request):
        n = 0
        async for chunk in request.content.iter_any():
            n += len(chunk)
        return web.json_response({"bytes": n}, status=202)
    async def main():
        app = web.Application(client_max_size=1 << 31)
        app.router.add_post("/v1/rounds/{rid}/updates", sink)
        runner = web.AppRunner(app, access_log=None, read_bufsize=1 << 20)  # same as the service
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()
    asyncio.run(main())
"""


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop_evt = pid, _rss_kib(pid), threading.Event()

    def run(self) -> None:
        while not self.stop_evt.wait(0.01):
            try:
                self.peak = max(self.peak, _rss_kib(self.pid))
            except OSError:
                return


def _concurrent(n: int, fn: Callable[[int], Any]) -> float:
    errors: list[BaseException] = []
    barrier = threading.Barrier(n + 1)

    def go(i: int) -> None:
        barrier.wait()
        try:
            fn(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(300)
    dt = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} sender(s) failed: {errors[0]!r}")
    return dt


def _sink(mode: str, n_clients: int, size: int) -> tuple[subprocess.Popen[str], int]:
    p = subprocess.Popen([sys.executable, "-c", SINK, mode, str(n_clients), str(size)], stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout is not None
    return p, int(p.stdout.readline())


def _raw_send(port: int, payload: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        s.sendall(len(payload).to_bytes(8, "little"))
        s.sendall(payload)
        assert s.recv(2) == b"ok"


def _service(state: Path, n_clients: int, n_floats: int, slots: int
             ) -> tuple[subprocess.Popen[str], int, dict[str, str]]:
    tokens = {f"c{i}": f"bench-token-{i}" for i in range(n_clients)}
    cfg = {"host": "127.0.0.1", "port": 0, "state_dir": str(state / "state"),
           "clients": {c: hashlib.sha256(t.encode()).hexdigest() for c, t in tokens.items()},
           "init_spec": {"layers": {"w": [n_floats]}, "init": "zeros"},
           "round": {"rule": "fedavg", "quorum": n_clients, "deadline_s": 600}, "auto_rounds": 1,
           "ingest_slots": slots}
    (state / "fl.json").write_text(json.dumps(cfg))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    p = subprocess.Popen([sys.executable, "-m", "fedmesh_fl.service", "--config", str(state / "fl.json")],
                         stderr=subprocess.PIPE, text=True, env=env)
    assert p.stderr is not None
    for line in p.stderr:
        rec = json.loads(line)
        if rec["event"] == "listening":
            threading.Thread(target=lambda: [None for _line in p.stderr or ()], daemon=True).start()
            return p, int(rec["port"]), tokens
    raise RuntimeError("service did not start")


def _sink_once(mode: str, n_clients: int, payload: bytes) -> float:
    proc, port = _sink(mode, n_clients, len(payload))
    try:
        c = Client(f"http://127.0.0.1:{port}", "x", timeout=120)

        def send(i: int) -> None:
            if mode.startswith("raw"):
                _raw_send(port, payload)
            else:
                c.submit_payload(1, payload)

        return _concurrent(n_clients, send)
    finally:
        proc.kill()
        proc.wait()


def _service_once(n_clients: int, n: int, payload: bytes, vec: np.ndarray, slots: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fedmesh-ingest-") as tmp:
        proc, port, tokens = _service(Path(tmp), n_clients, n, slots)
        try:
            clients = [Client(f"http://127.0.0.1:{port}", tokens[f"c{i}"], timeout=300) for i in range(n_clients)]
            time.sleep(0.2)
            rss0 = _rss_kib(proc.pid)
            sampler = RssSampler(proc.pid)
            sampler.start()
            dt = _concurrent(n_clients, lambda i: clients[i].submit_payload(1, payload))
            t_acked = time.perf_counter()
            clients[0].wait_for_version(1, timeout=120, poll=0.005)
            seen_ms = 1000 * (time.perf_counter() - t_acked)
            sampler.stop_evt.set()
            sampler.join()
            info = clients[0].round_info()
            _version, model = clients[0].get_model()
        finally:
            proc.terminate()
            proc.wait(30)
    agg_ms = 1000 * float(info["aggregation_s"])
    span_ms = 1000 * (float(info["closed"]) - float(info["last_update_at"]))
    # every client sent the same vector, so the FedAvg result is that vector
    return {"dt": dt, "agg_ms": agg_ms, "overhead_ms": span_ms - agg_ms, "seen_ms": seen_ms, "rss0": rss0,
            "peak": sampler.peak, "ok": bool(np.allclose(model["w"], vec, atol=1e-6))}


def run(quick: bool, n_clients: int = 8, n_floats: int | None = None, reps: int | None = None,
        slots: int = 4) -> None:
    n = n_floats or (1_000_000 if quick else 10_000_000)
    reps = reps or (3 if quick else 2)
    vec = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    payload = bytes(wire.encode_update({"w": vec}, client="", round_id=1, base_version=0, num_samples=10))
    mb = n_clients * len(payload) / 1e6
    print(f"# ingest: {n_clients} concurrent clients x {n} float32 ({len(payload) / 1e6:.1f} MB each, "
          f"{mb:.0f} MB total) over 127.0.0.1; best of {reps} interleaved runs; service ingest_slots={slots}")
    times: dict[str, list[float]] = {"raw-socket": [], "raw-keep": [], "aiohttp-sink": [], "service": []}
    svc: list[dict[str, Any]] = []
    for _rep in range(reps):  # interleaved, so load from other processes hits every receiver alike
        times["raw-socket"].append(_sink_once("raw", n_clients, payload))
        times["raw-keep"].append(_sink_once("raw-keep", n_clients, payload))
        times["aiohttp-sink"].append(_sink_once("aiohttp", n_clients, payload))
        svc.append(_service_once(n_clients, n, payload, vec, slots))
        times["service"].append(svc[-1]["dt"])
    print(f"{'receiver':<14} {'seconds':>8} {'updates/s':>10} {'MB/s':>9}   all runs (s)")
    best = {k: min(v) for k, v in times.items()}
    for k, v in times.items():
        print(f"{k:<14} {best[k]:8.3f} {n_clients / best[k]:10.1f} {mb / best[k]:9.0f}   "
              + " ".join(f"{x:.3f}" for x in v))
    print(f"ratio service/raw-socket = {best['raw-socket'] / best['service']:.2f} (target >= 0.50)   "
          f"service/raw-keep = {best['raw-keep'] / best['service']:.2f}   "
          f"service/aiohttp-sink = {best['aiohttp-sink'] / best['service']:.2f}")
    b = min(svc, key=lambda r: r["dt"])
    print(f"round overhead (last update folded in -> v1 published, minus aggregation) = {b['overhead_ms']:.1f} ms "
          f"(aggregation {b['agg_ms']:.1f} ms; acks go out once v1 is durable, it is visible {b['seen_ms']:.1f} ms "
          "after the last one); "
          f"all runs: " + " ".join(f"{r['overhead_ms']:.0f}" for r in svc) + " ms")
    model_mib = n * 4 / 2**20
    growth = (max(r["peak"] - r["rss0"] for r in svc)) / 1024
    print(f"service RSS: {b['rss0'] / 1024:.0f} MiB before ingest, max growth {growth:.0f} MiB = "
          f"{growth / model_mib:.1f} x model ({model_mib:.0f} MiB; {n_clients} updates = "
          f"{n_clients * model_mib:.0f} MiB received)   FedAvg result {'OK' if all(r['ok'] for r in svc) else 'WRONG'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--floats", type=int)
    ap.add_argument("--reps", type=int, help="interleaved repetitions (default 3 quick, 2 full)")
    ap.add_argument("--slots", type=int, default=4,
                    help="the service's ingest_slots: bodies buffered at once (default 4, the aggregator role's "
                    "default; the service's own default is 2)")
    a = ap.parse_args()
    run(a.quick, a.clients, a.floats, a.reps, a.slots)


if __name__ == "__main__":
    main()
