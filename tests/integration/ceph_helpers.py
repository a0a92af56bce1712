"""Helpers of tests/integration/test_ceph.py: read the cluster back, call one module, wait for a state, drive the
aggregator whose state lives on CephFS.  State is read with ``ceph ... --format json`` and the collection's parsers.
"""
from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph import parse
from testbed import Testbed, fl
from testbed.ansible import ansible_env
from testbed.engine import REPO

MOUNT = "/mnt/cephfs/fedmesh"  # the role's default mount point (GlusterFS keeps /mnt/fedmesh and /mnt/glusterfs)
STATE = f"{MOUNT}/aggregator"  # the aggregator's default: <fedmesh_storage_path>/aggregator
CLI = "PYTHONPATH=/opt/fedmesh/lib python3 -m fedmesh_fl.client"
POLL_S = 1.0  # between two polls (a `ceph status` is ~0.5 s here): polling faster only adds load
CLI_TIMEOUT_S = 8  # `ceph --connect-timeout` of the waits' CLI reads (the command itself is cut at 10 s)
CALLBACKS = Path(__file__).parent / "callback_plugins"
MARK = "FEDMESH-RESULT "  # the line prefix of callback_plugins/result_json.py


def ceph(tb: Testbed, args: str, node: str = "node1"):
    return parse.loads(tb.exec(node, f"ceph {args} --format json").stdout)


def module(tb: Testbed, tmp_path: Path, name: str, args: dict, check: bool = False, diff: bool = True,
           verbosity: int = 0, ok: bool = True) -> tuple[dict, str]:
    """One fedmesh.cluster.ceph_* call on node1: its result and the run's output (also saved in ``tmp_path``).

    An ad-hoc ``ansible node1 -m fedmesh.cluster.NAME -a JSON`` (collections from collection/ only, as playbooks
    load them), its result printed as one JSON line by callback_plugins/result_json.py: no playbook, no copy of the
    result to the controller (that copy alone cost 0.8-2 s a call)."""
    # `-a '{}'` would be read as a raw parameter: no arguments is an empty -a.
    cmd = ["ansible", "-i", str(tb.inventory), "node1", "-m", f"fedmesh.cluster.{name}",
           "-a", json.dumps(args) if args else ""]
    cmd += ["--check"] * check + ["--diff"] * diff + ["-" + "v" * verbosity] * bool(verbosity)
    env = ansible_env({"ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "ANSIBLE_STDOUT_CALLBACK": "result_json",
                       "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"})
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    (tmp_path / f"{name}-{time.monotonic_ns()}.log").write_text(output)
    results = [json.loads(line[len(MARK):]) for line in proc.stdout.splitlines() if line.startswith(MARK)]
    if ok:
        assert proc.returncode == 0 and [r["status"] for r in results] in (["ok"], ["changed"]), output[-3000:]
        return results[0]["result"], output
    assert proc.returncode != 0 and [r["status"] for r in results] == ["failed"], output[-3000:]
    return {}, output


def info(tb: Testbed, tmp_path: Path) -> dict:
    return module(tb, tmp_path, "ceph_info", {}, diff=False, ok=True)[0]


def status(tb: Testbed, node: str = "node1") -> dict:
    """``ceph status`` (one CLI call, ~0.5 s; a ceph_info run is ~3 s) shaped like ceph_info's answer for the keys
    a wait may test: available, healthy, health{status, checks}, osds{total, up, in}, pgs, mons{quorum}.
    A call that picks a paused or stopped mon can hang ~30 s: it is cut off after 10 s ({"available": False})
    and the next poll hunts again."""
    res = tb.exec(node, f"timeout 10 ceph --connect-timeout {CLI_TIMEOUT_S} status --format json", check=False)
    if res.returncode != 0:
        return {"available": False, "reason": (res.stderr or res.stdout)[-300:]}
    raw = parse.loads(res.stdout)
    health, pgs = parse.parse_health(raw["health"]), parse.parse_pg_stat(raw.get("pgmap", {}))
    return {"available": True, "healthy": health["status"] == "HEALTH_OK" and pgs["all_active_clean"],
            "health": health, "osds": parse.parse_status(raw)["osds"], "pgs": pgs,
            "mons": {"quorum": list(raw.get("quorum_names", []))}}


def wait_for(tb: Testbed, tmp_path: Path, predicate: Callable[[dict], bool], timeout: float = 240) -> dict:
    """Poll the cluster with ``ceph status`` until ``predicate`` holds, then ask ceph_info: its answer, on which
    ``predicate`` holds too, is returned (the tests assert on ceph_info's own answer).  ``predicate`` may only
    read the keys status() has."""
    deadline = time.monotonic() + timeout
    facts: dict = {}
    while True:
        facts = status(tb)
        if facts.get("available") and predicate(facts):
            facts = info(tb, tmp_path)
            if facts.get("available") and predicate(facts):
                return facts
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout}s: {json.dumps(facts)[:3000]}")
        time.sleep(POLL_S)


def mesh_address(tb: Testbed, node: str) -> str:
    return tb.exec(node, "ip -4 -o addr show dev wg0 | awk '{print $4}' | cut -d/ -f1").stdout.strip()


def mon_addresses(tb: Testbed, node: str = "node1") -> dict[str, str]:
    mons = ceph(tb, "mon dump", node)["mons"]
    return {m["name"]: m["public_addrs"]["addrvec"][0]["addr"].rsplit(":", 1)[0] for m in mons}


def wait_quorum(tb: Testbed, want: list[str], node: str = "node1", timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    status: dict = {}
    while time.monotonic() < deadline:
        res = tb.exec(node, f"timeout 10 ceph --connect-timeout {CLI_TIMEOUT_S} quorum_status --format json",
                      check=False)
        if res.returncode == 0:
            status = parse.loads(res.stdout)
            if sorted(status.get("quorum_names", [])) == sorted(want):
                return status
        time.sleep(POLL_S)
    raise AssertionError(f"quorum {want} not reached in {timeout}s: {status}")


def wait_healthy(tb: Testbed, timeout: float = 300) -> dict:
    """HEALTH_OK with every PG active+clean (HEALTH_OK alone comes first), read with the plain CLI (status())."""
    deadline = time.monotonic() + timeout
    facts: dict = {}
    while time.monotonic() < deadline:
        facts = status(tb)
        if facts.get("available") and facts["healthy"]:
            return facts
        time.sleep(POLL_S)
    raise AssertionError(f"not HEALTH_OK with every PG active+clean in {timeout}s: {json.dumps(facts)[:3000]}")


# ---------------------------------------------------------------- the aggregator (state on CephFS)
def fl_round(tb: Testbed) -> dict:
    return fl.round_status(tb, fl.aggregator_url(tb))


def fl_submit(tb: Testbed, client: str, rnd: dict) -> dict:
    cli = f"{CLI} --url {fl.aggregator_url(tb)} --token-file /root/t"
    res = tb.exec("node1", f"umask 077; printf %s it-token-{client} > /root/t; "
                           f"{cli} get-model --out /root/m.npz >/dev/null && {cli} submit --round {rnd['id']} "
                           f"--file /root/m.npz --num-samples 10 --base-version {rnd['base_version']}; "
                           "rc=$?; rm -f /root/t; exit $rc", check=False)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def fl_wait_version(tb: Testbed, at_least: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rnd = fl_round(tb)
        if int(rnd.get("model_version") or 0) >= at_least and rnd.get("status") == "open":
            return rnd
        time.sleep(0.5)
    raise AssertionError(f"model version {at_least} not reached in {timeout}s: {fl_round(tb)}")


def fl_index(tb: Testbed, node: str) -> dict[int, str]:
    """The published model versions, read through ``node``'s CephFS mount."""
    return {int(e["version"]): e["sha256"] for e in json.loads(tb.exec(node, f"cat {STATE}/models/index.json").stdout)}
