"""Command line for the test bed (used by the Makefile, Molecule's create/destroy, and people).

    python -m testbed image [--layer full]          build or reuse the node image (pristine: bare Debian 12)
    python -m testbed up --name NAME --nodes 3      start nodes, print {node: address}
    python -m testbed down --name NAME              remove that test bed
    python -m testbed gc                            remove everything this checkout left behind
    python -m testbed exec --name NAME NODE CMD     run a shell command on a node
    python -m testbed logs --name NAME [--dest D]   print or save each node's journal
    python -m testbed stop --name NAME NODE         stop a node (its container), e.g. to test alerts
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from .image import ensure_image
from .nodes import Testbed, gc


def _molecule_instances(tb: Testbed) -> list[dict]:
    return [{"instance": n.name, "address": n.address, "user": "root", "port": 22,
             "identity_file": str(tb.key_file)} for n in tb.nodes.values()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("image")
    p.add_argument("--layer", default="full", choices=["pristine", "base", "full"])
    sub.add_parser("workload-image", help="the FL client image archive for rootless Podman workloads")
    p = sub.add_parser("up")
    p.add_argument("--name", default="default")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--layer", default="full", choices=["base", "full"])
    p.add_argument("--inventory", type=Path, help="write the Ansible inventory here (default: .testbed/NAME/)")
    p.add_argument("--groups", type=json.loads, default={},
                   help='inventory groups as JSON, e.g. {"aggregator": ["node1"], "fl_clients": ["node2"]}')
    p.add_argument("--molecule-instance-config", type=Path,
                   help="also write Molecule's instance_config.yml (address/user/identity per node)")
    p = sub.add_parser("down")
    p.add_argument("--name", default="default")
    sub.add_parser("gc")
    p = sub.add_parser("exec")
    p.add_argument("--name", default="default")
    p.add_argument("node")
    p.add_argument("command")
    p = sub.add_parser("stop")
    p.add_argument("--name", default="default")
    p.add_argument("node")
    p = sub.add_parser("restart", help="stop and start one node (its containers' restart policy applies)")
    p.add_argument("--name", default="default")
    p.add_argument("node")
    p = sub.add_parser("logs")
    p.add_argument("--name", default="default")
    p.add_argument("--dest", type=Path)
    args = ap.parse_args(argv)

    if args.cmd == "image":
        print(ensure_image(args.layer))
        return 0
    if args.cmd == "workload-image":
        from .workload_image import ensure_fl_client_archive
        print(ensure_fl_client_archive())
        return 0
    if args.cmd == "gc":
        print(json.dumps({"removed": gc()}))
        return 0
    tb = Testbed(args.name, nodes=getattr(args, "nodes", 0), layer=getattr(args, "layer", "full"),
                 groups=getattr(args, "groups", None), inventory=getattr(args, "inventory", None))
    if args.cmd == "up":
        tb.up()
        if args.molecule_instance_config:
            args.molecule_instance_config.parent.mkdir(parents=True, exist_ok=True)
            args.molecule_instance_config.write_text(yaml.safe_dump(_molecule_instances(tb)))
        print(json.dumps({"inventory": str(tb.inventory), "nodes": {n.name: n.address for n in tb.nodes.values()}}))
        return 0
    if args.cmd == "down":
        print(json.dumps({"removed": tb.down()}))
        return 0
    tb._discover()
    if args.cmd == "exec":
        res = tb.exec(args.node, args.command, check=False)
        sys.stdout.write(res.stdout)
        sys.stderr.write(res.stderr)
        return res.returncode
    if args.cmd == "stop":
        tb.stop(args.node)
        return 0
    if args.cmd == "restart":
        tb.stop(args.node)
        tb.start(args.node)
        return 0
    if args.cmd == "logs":
        if args.dest:
            print("\n".join(str(p) for p in tb.save_logs(args.dest)))
        else:
            for name in tb.nodes:
                print(f"===== {name}\n{tb.logs(name)}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
