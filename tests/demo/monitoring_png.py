"""The monitoring part of `make demo`: render the main panels of the shipped Grafana dashboard from Prometheus'
query API into demo-output/monitoring.png, and print where to look.

No Grafana runs here (Debian 12 has no package, no Grafana repository is reachable: docs/monitoring.md), so
the panels' own PromQL (roles/monitoring/files/dashboards/fedmesh-overview.json) is evaluated by the real
Prometheus on the monitoring node and drawn with matplotlib. Prometheus listens on the node's mesh address
only, so the queries run on that node (through the test-bed engine), not from the host.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "src")]

from testbed import Testbed  # noqa: E402

DASHBOARD = REPO / "roles" / "monitoring" / "files" / "dashboards" / "fedmesh-overview.json"
MAIN_PANELS = ["Node exporter up per node", "WireGuard handshake age", "Mesh traffic (bytes/s)",
               "Gluster bricks up", "FL rounds closed", "FL updates accepted / rejected"]
FETCH = ("import json, sys, urllib.parse, urllib.request; "
         "u = sys.argv[1] + '/api/v1/query_range?' + urllib.parse.urlencode("
         "{'query': sys.argv[2], 'start': sys.argv[3], 'end': sys.argv[4], 'step': sys.argv[5]}); "
         "print(urllib.request.urlopen(u, timeout=20).read().decode())")


def query_range(tb: Testbed, node: str, base: str, expr: str, start: float, end: float, step: int) -> list[dict]:
    cmd = " ".join(shlex.quote(a) for a in ["python3", "-c", FETCH, base, expr, str(start), str(end), str(step)])
    res = tb.exec(node, cmd)
    body: dict[str, Any] = json.loads(res.stdout)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return list(body["data"]["result"])


def legend(fmt: str, labels: dict[str, str]) -> str:
    out = fmt
    for key, value in labels.items():
        out = out.replace("{{" + key + "}}", value)
    return out


def render(panels: list[dict], series: dict[str, list[tuple[str, list[dict]]]], out: Path, start: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 2, figsize=(12, 10))
    for ax, panel in zip(axes.flat, panels, strict=False):
        for fmt, results in series[panel["title"]]:
            for r in results:
                xs = [(float(t) - start) / 60 for t, _v in r["values"]]
                ys = [float(v) for _t, v in r["values"]]
                ax.plot(xs, ys, label=legend(fmt, r["metric"]))
        ax.set_title(panel["title"])
        ax.set_xlabel("minutes")
        unit = panel["fieldConfig"]["defaults"].get("unit")
        if unit and unit != "none":
            ax.set_ylabel(unit)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
        else:
            ax.text(0.5, 0.5, "no data in this window", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle("fedmesh cluster overview (dashboard panels, from Prometheus' query API)")
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", default="demo")
    ap.add_argument("--node", default="node1", help="the monitoring host")
    ap.add_argument("--minutes", type=int, default=15)
    ap.add_argument("--out", type=Path, default=REPO / "demo-output" / "monitoring.png")
    args = ap.parse_args(argv)
    tb = Testbed(args.name)
    tb._discover()
    mesh = tb.exec(args.node, "ip -4 -o addr show wg0 | awk '{print $4}' | cut -d/ -f1").stdout.strip()
    base = f"http://{mesh}:9090"
    panels = {p["title"]: p for p in json.loads(DASHBOARD.read_text())["panels"]}
    chosen = [panels[t] for t in MAIN_PANELS]
    end = time.time()
    start = end - args.minutes * 60
    series = {p["title"]: [(t["legendFormat"], query_range(tb, args.node, base, t["expr"], start, end, 15))
                           for t in p["targets"]] for p in chosen}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    render(chosen, series, args.out, start)
    firing = query_range(tb, args.node, base, 'ALERTS{alertstate="firing"}', end - 60, end, 60)
    print(f"  dashboard panels: {args.out}")
    print(f"  firing alerts: {sorted({r['metric']['alertname'] for r in firing}) or 'none'}")
    node = tb.nodes[args.node]
    address = node.address or tb._address(node)
    print(f"  Prometheus listens on {args.node}'s mesh address {base}; from this machine:")
    print(f"    ssh -i {tb.key_file} -o StrictHostKeyChecking=no -L 9090:{mesh}:9090 root@{address}")
    print("    then open http://127.0.0.1:9090/alerts (Alertmanager: the same with 9093)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
