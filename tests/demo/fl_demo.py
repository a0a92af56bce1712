"""The federated-learning part of `make demo`, on a test bed already provisioned by site.yml.

``prepare`` writes the data shards and the demo's tokens; ``run`` runs three experiments (FedAvg; FedAvg with
one poisoned client; the coordinate-wise median with the same poisoned client), prints every round's held-out
accuracy, and writes a PNG plot and results.json to the work dir.  The FL logic itself lives in the test-bed
library (tests/testbed/fl.py), which the integration tests use too.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "src")]

from testbed import Testbed  # noqa: E402
from testbed.fl import Experiment, prepare, run_all  # noqa: E402


def plot(experiments: list[Experiment], out: Path, n_clients: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for exp in experiments:
        ax.plot(range(1, len(exp.accuracy) + 1), exp.accuracy, marker="o", label=exp.name)
    ax.axhline(0.1, color="grey", linestyle=":", label="chance")
    ax.set(xlabel="round", ylabel="held-out accuracy", ylim=(0, 1),
           title=f"fedmesh: digits, {n_clients} non-IID clients")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["prepare", "run"])
    ap.add_argument("--name", default="demo")
    ap.add_argument("--inventory", type=Path, default=REPO / "inventories" / "demo")
    ap.add_argument("--workdir", type=Path, default=REPO / "demo-output")
    ap.add_argument("--rounds", type=int, default=12)
    args = ap.parse_args(argv)
    hosts = yaml.safe_load((args.inventory / "hosts.yml").read_text())
    clients = sorted(hosts["all"]["children"]["fl_clients"]["hosts"])
    args.workdir.mkdir(parents=True, exist_ok=True)
    Xt, yt = prepare(args.workdir, args.inventory, clients)
    if args.command == "prepare":
        return 0
    tb = Testbed(args.name)
    tb._discover()
    experiments = run_all(tb, args.inventory, clients, args.rounds, Xt, yt)
    plot(experiments, args.workdir / "accuracy.png", len(clients))
    (args.workdir / "results.json").write_text(json.dumps(
        [{"name": e.name, "rule": e.rule, "poisoned": e.poisoned, "accuracy": e.accuracy, "models": e.models}
         for e in experiments], indent=1))
    print("\n=== summary (held-out accuracy after the last round; chance is 10%)")
    for e in experiments:
        print(f"  {e.name:<17} {e.accuracy[-1]:6.1%}   (round 1: {e.accuracy[0]:.1%})")
    print(f"  plot: {args.workdir / 'accuracy.png'}   results: {args.workdir / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
