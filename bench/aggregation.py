"""Aggregation-core benchmark: fedmesh core vs. the memory floor and vs. Flower.

    python bench/aggregation.py [--quick] [--no-service] [--rules fedavg,median,...]

Columns: ``config rule seconds x_floor speedup_vs_flower``.
* seconds  -- fedmesh: make_round + add() of every client's flat float32 update + finalize().
* x_floor  -- seconds / floor, where the floor is reading every client byte once: a streaming
              in-place weighted sum (np.multiply(out=) + np.add(out=) into a float32 vector),
              timed in the same run on the same inputs.
* speedup_vs_flower -- Flower's aggregate_* time on the same inputs / ours, both best of the same
              number of runs when Flower's fit in FLOWER_REPEAT_S (else Flower: one run) (blank without flwr;
              ``~`` marks an extrapolated Flower time for Bulyan configs that would take minutes).
Results are checked against Flower (median exact, means within 1e-6 relative to the layer's
max magnitude, Krum the same pick); a ``MISMATCH`` line is printed otherwise.
Flower is optional: install it with ``pip install flwr==1.42.0`` (a separate venv:
``.venv-bench``) and run the bench with that interpreter.
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fedmesh_fl.core import ModelSpec, make_round, unflatten  # noqa: E402

try:
    from flwr.server.strategy import aggregate as flwr_agg
except Exception:  # pragma: no cover - flwr is optional
    flwr_agg = None

FULL = [(10, 1_000_000), (100, 1_000_000), (10, 10_000_000), (50, 10_000_000)]
QUICK = [(10, 1_000_000), (20, 1_000_000)]
RULES = ["fedavg", "fedadam", "median", "trimmed_mean", "krum", "multi_krum", "bulyan", "clipped_fedavg", "fedbuff"]
FLOWER_BUDGET_S = 90.0  # above this (estimated) a Flower Bulyan run is extrapolated instead
FLOWER_REPEAT_S = 20.0  # Flower gets the same best-of-N as ours while N runs fit in this


def best(fn: Callable[[], Any], reps: int) -> tuple[float, Any]:
    t, out = float("inf"), None
    for _rep in range(reps):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - t0)
    return t, out


def make_inputs(n: int, p: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(p, dtype=np.float32)
    ups = []
    for _i in range(n):
        x = rng.standard_normal(p, dtype=np.float32)
        x *= np.float32(0.05)
        x += g
        ups.append(x)
    samples = [int(s) for s in rng.integers(50, 5000, n)]
    # four layers, like a small network; views of the flat vectors (no copies)
    cuts = [0, p // 2, p // 2 + p // 4, p - 1000, p]
    names = ("conv.w", "conv.b", "fc.w", "fc.b")
    spec = ModelSpec(names, tuple((b - a,) for a, b in zip(cuts[:-1], cuts[1:], strict=True)))
    return spec, g, ups, samples


def floor(ups: list[np.ndarray], samples: list[int]) -> np.ndarray:
    acc = np.zeros_like(ups[0])
    tmp = np.empty_like(ups[0])
    for x, s in zip(ups, samples, strict=True):
        np.multiply(x, np.float32(s), out=tmp)
        np.add(acc, tmp, out=acc)
    return acc


def rule_params(rule: str, n: int) -> dict[str, Any]:
    f = max(1, n // 10)
    table: dict[str, dict[str, Any]] = {
        "krum": {"f": f}, "multi_krum": {"f": f, "m": n - f}, "bulyan": {"f": f},
        "trimmed_mean": {"beta": 0.2}, "clipped_fedavg": {"clip_norm": 50.0, "noise_multiplier": 1.0, "seed": 1},
    }
    return table.get(rule, {})


def aggregate(rule: str, spec: ModelSpec, g: np.ndarray, ups: list[np.ndarray], samples: list[int]
              ) -> dict[str, np.ndarray]:
    agg = make_round(rule, spec, unflatten(spec, g), max_clients=len(ups), **rule_params(rule, len(ups)))
    for i, (x, s) in enumerate(zip(ups, samples, strict=True)):
        agg.add(f"c{i}", x, s)
    return agg.finalize()[0]


def ours(rule: str, spec: ModelSpec, g: np.ndarray, ups: list[np.ndarray], samples: list[int]) -> np.ndarray:
    model = aggregate(rule, spec, g, ups, samples)
    return np.concatenate([model[k].ravel() for k in spec.names])


def flower_call(rule: str, n: int) -> Callable[[list], list] | None:
    if flwr_agg is None:
        return None
    p = rule_params(rule, n)
    return {
        "fedavg": flwr_agg.aggregate,
        "median": flwr_agg.aggregate_median,
        "trimmed_mean": lambda r: flwr_agg.aggregate_trimmed_avg(r, p["beta"]),
        "krum": lambda r: flwr_agg.aggregate_krum(r, p["f"], 0),
        "multi_krum": lambda r: flwr_agg.aggregate_krum(r, p["f"], p["m"]),
        "bulyan": lambda r: flwr_agg.aggregate_bulyan(list(r), p["f"], flwr_agg.aggregate_krum, to_keep=0),
    }.get(rule)


def bulyan_ties(ups: list[np.ndarray], g: np.ndarray, n: int, cols: np.ndarray) -> bool:
    """True if, at every column in ``cols``, two of the Krum-selected values are exactly equally
    far from their median (so "the beta closest" is ambiguous and Flower's argpartition may pick
    differently).  Selection recomputed with the core's own (Flower-equal, checked) Krum picks."""
    from fedmesh_fl.core import kernels

    f = rule_params("bulyan", n)["f"]
    rows = np.stack([u[cols] for u in ups])
    full = kernels.pairwise_sq_distances(np.stack(ups), g)
    sel = kernels.bulyan_select(full, f, n - 2 * f)
    s = np.sort(rows[sel], axis=0)
    k = s.shape[0] // 2
    med = s[k] if s.shape[0] % 2 else (s[k - 1] + s[k]) / np.float32(2)
    d = np.sort(np.abs(s - med), axis=0)
    return bool((d[1:] == d[:-1]).any(axis=0).all())


def compare(rule: str, mine: np.ndarray, theirs: np.ndarray,
            ctx: tuple[list[np.ndarray], np.ndarray, int] | None = None) -> str | None:
    if rule in ("median", "krum"):
        return None if np.array_equal(mine, theirs) else "not bit-identical"
    scale = max(float(np.max(np.abs(theirs))), 1e-30)
    bad = np.nonzero(np.abs(mine - theirs) > 1e-6 * scale)[0]
    if bad.size == 0:
        return None
    rel = float(np.max(np.abs(mine - theirs)) / scale)
    if rule == "bulyan" and ctx is not None and bad.size <= 100 and bulyan_ties(ctx[0], ctx[1], ctx[2], bad):
        print(f"NOTE bulyan: {bad.size} of {mine.size} coordinates differ from Flower (max rel {rel:.1e}); "
              "each has two values exactly equidistant from the median (tie broken differently)", flush=True)
        return None
    return f"{bad.size} coordinates beyond 1e-6 relative (max rel diff {rel:.2e})"


def bulyan_estimate(krum_s: float, n: int, f: int) -> float:
    """Flower's Bulyan reruns a full Krum on the shrinking set theta times: sum of (k/n)^2 * krum."""
    return sum(krum_s * (k / n) ** 2 for k in range(n, 2 * f, -1))


def run_config(n: int, p: int, rules: list[str], reps: int) -> None:
    spec, g, ups, samples = make_inputs(n, p)
    cfg = f"{n}x{p // 1_000_000}M"
    t_floor, _out = best(lambda: floor(ups, samples), reps)
    print(f"{cfg:<10} {'floor':<15} {t_floor:9.4f} {1.0:8.2f}", flush=True)
    flower_results = [([x[a:b] for a, b in zip(spec.offsets[:-1], spec.offsets[1:], strict=True)], s)
                      for x, s in zip(ups, samples, strict=True)]
    krum_flower_s = None
    for rule in rules:
        def run_ours(rule: str = rule) -> dict[str, np.ndarray]:
            return aggregate(rule, spec, g, ups, samples)

        t_ours, _out = best(run_ours, reps)
        mine = ours(rule, spec, g, ups, samples) if flower_call(rule, n) is not None else None
        speed = ""
        call = flower_call(rule, n)
        if call is not None:
            est = None
            if rule == "bulyan" and krum_flower_s is not None:
                est = bulyan_estimate(krum_flower_s, n, rule_params(rule, n)["f"])
            if est is not None and est > FLOWER_BUDGET_S:
                speed = f"~{est / t_ours:.1f}"
            else:
                def run_flower(call: Callable[[list], list] = call) -> list:
                    return call(flower_results)

                t_fl, theirs = best(run_flower, 1)
                more = min(reps - 1, int(FLOWER_REPEAT_S / max(t_fl, 1e-9)))
                if more > 0:  # same best-of-N as ours when Flower is quick enough
                    t_fl = min(t_fl, best(run_flower, more)[0])
                if rule == "krum":
                    krum_flower_s = t_fl
                speed = f"{t_fl / t_ours:.1f}"
                flat_theirs = np.concatenate([np.ravel(a) for a in theirs])
                problem = mine is not None and compare(rule, mine, flat_theirs, (ups, g, n))
                if problem:
                    print(f"MISMATCH {cfg} {rule}: {problem}", flush=True)
        print(f"{cfg:<10} {rule:<15} {t_ours:9.4f} {t_ours / t_floor:8.2f} {speed:>8}", flush=True)
    gc.collect()


def memory_line(n: int, p: int) -> None:
    spec, g, ups, samples = make_inputs(n, p, seed=1)
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    aggregate("fedavg", spec, g, ups, samples)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    print(f"mem {n}x{p // 1_000_000}M fedavg peak_extra={peak / 2**20:.1f}MiB "
          f"model={spec.nbytes / 2**20:.1f}MiB ratio={peak / spec.nbytes:.2f}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small configs only (well under a minute)")
    ap.add_argument("--no-service", action="store_true", help="skip bench/ingest.py")
    ap.add_argument("--rules", default=",".join(RULES), help="comma-separated rules")
    args = ap.parse_args(argv)
    rules = [r for r in args.rules.split(",") if r]
    configs = QUICK if args.quick else FULL
    print(f"# numpy {np.__version__}; flwr {'present' if flwr_agg is not None else 'absent'}")
    print(f"{'config':<10} {'rule':<15} {'seconds':>9} {'x_floor':>8} {'speedup_vs_flower':>8}")
    for n, p in configs:
        run_config(n, p, rules, reps=5 if p <= 1_000_000 else 2)
    for n in (10, 100):
        memory_line(n, 1_000_000)
    ingest = Path(__file__).with_name("ingest.py")
    if not args.no_service and ingest.exists():
        spec = importlib.util.spec_from_file_location("fedmesh_bench_ingest", ingest)
        if spec is not None and spec.loader is not None:
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            if callable(getattr(mod, "run", None)):
                mod.run(args.quick)


if __name__ == "__main__":
    main()
