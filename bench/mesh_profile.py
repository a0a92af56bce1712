"""Where the seconds of a WireGuard mesh run go, task by task: ``bench/mesh_profile.py``.

    python bench/mesh_profile.py [--nodes 3] [--connection ssh|podman] [--posix-collections CDIR] [--runs 2]

A fresh test bed of N nodes (group ``mesh``) comes up; ``playbooks/mesh.yml`` (the installed collection, with
the test-bed vars of ``molecule/wireguard``) converges it, then runs ``--runs`` times with nothing to change.
Each run is timed task by task with ``ansible.posix.profile_tasks`` (found through ``--posix-collections``, a
collections path holding ansible.posix; the project does not depend on it) in playbook order, and every
module execution on a node is counted by an interpreter wrapper (as in ``mesh_converge.py``).

Printed per run: the playbook's wall time, the sum of the task times, the start-up/teardown rest, the module
calls of the busiest node, and one line per task - its seconds and whether any host ran it (``ran``) or
every host skipped it (``skipped``, also empty loops). Nothing is asserted.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from mesh_converge import MESH_VARS, PLAYBOOK, WRAPPER, install_counter, read_and_reset, snapshot_collection  # noqa: E402
from testbed import Testbed, run_playbook  # noqa: E402
from testbed.engine import CONTAINERS_CONF  # noqa: E402

# profile_tasks lines: "Role : task name --- 1.23s" (the role prefix is optional)
_LINE = re.compile(r"^(?P<name>.+?)\s-{3,}\s+(?P<s>[0-9.]+)s\s*$")


def task_times(output: str) -> list[tuple[str, float]]:
    """(task, seconds) in playbook order, from profile_tasks' summary at the end of the output."""
    rows = []
    tail = output.split("PLAY RECAP", 1)[-1]
    for line in tail.splitlines():
        m = _LINE.match(line.strip())
        if m and not m["name"].startswith("="):
            rows.append((m["name"].strip(), float(m["s"])))
    return rows


def kinds(output: str) -> dict[str, str]:
    """Task name -> "ran" when some host reported it ok or changed, else "skipped"."""
    out: dict[str, str] = {}
    current = None
    for line in output.splitlines():
        m = re.match(r"^TASK \[(?:[^:\]]+ : )?(?P<name>.+)\] \**$", line)
        if m:
            current = m["name"]
            out.setdefault(current, "skipped")
        elif current and re.match(r"^(ok|changed): \[", line):
            out[current] = "ran"
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0] if __doc__ else None)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--connection", choices=["ssh", "podman"], default="ssh")
    ap.add_argument("--posix-collections", default="", help="collections path holding ansible.posix")
    ap.add_argument("--runs", type=int, default=2, help="no-change runs after the converge (default 2)")
    ap.add_argument("--name", default="bench-prof")
    args = ap.parse_args(argv)
    names = [f"node{i}" for i in range(1, args.nodes + 1)]
    tb = Testbed(args.name, nodes=args.nodes, groups={"mesh": names},
                 group_vars={"ansible_python_interpreter": WRAPPER})
    with tempfile.TemporaryDirectory(prefix="fedmesh-bench-prof-") as tmp:
        snapshot_collection(Path(tmp))
        env = {"ANSIBLE_COLLECTIONS_PATH": f"{tmp}:{args.posix_collections}",
               "CONTAINERS_CONF": str(CONTAINERS_CONF),
               "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
               "PROFILE_TASKS_SORT_ORDER": "none", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all"}
        try:
            tb.down()
            tb.up()
            if args.connection == "podman":
                host_vars = Path(tb.inventory).parent / "host_vars"
                host_vars.mkdir(exist_ok=True)
                for name, node in tb.nodes.items():
                    (host_vars / f"{name}.yml").write_text("---\n" + yaml.safe_dump(
                        {"ansible_connection": "containers.podman.podman", "ansible_host": node.container}))
            install_counter(tb, names)
            for run in ["converge"] + [f"no-change {i}" for i in range(1, args.runs + 1)]:
                t0 = time.monotonic()
                res = run_playbook(PLAYBOOK, tb.inventory, extra_vars=MESH_VARS, timeout=1800, env=env)
                wall = time.monotonic() - t0
                if res.rc != 0:
                    print(res.output[-4000:], file=sys.stderr)
                    return 1
                calls, _addresses = read_and_reset(tb, names)
                rows = task_times(res.output)
                kind = kinds(res.output)
                total = sum(s for _n, s in rows)
                print(f"\n## {args.nodes} nodes, {args.connection}, {run}: {wall:.1f} s wall, tasks {total:.1f} s, "
                      f"start-up/teardown {wall - total:.1f} s, {len(rows)} tasks, changed "
                      f"{res.changed()}, module calls on the busiest node {max(calls.values())} "
                      f"(per node: {dict(sorted(calls.items()))})", flush=True)
                for name, s in rows:
                    short = name.split(" : ", 1)[-1]
                    print(f"  {s:6.2f}  {kind.get(short, '?'):<10}  {short}", flush=True)
        finally:
            tb.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
