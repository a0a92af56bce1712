"""Helpers of tests/integration/test_ceph.py: read the cluster back, call one module, wait for a state, drive the
aggregator whose state lives on CephFS.  State is read with ``ceph ... --format json`` and the collection's parsers.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph import parse
from conftest import play
from testbed import Testbed, fl

MOUNT = "/mnt/cephfs/fedmesh"  # the role's default mount point (GlusterFS keeps /mnt/fedmesh and /mnt/glusterfs)
STATE = f"{MOUNT}/aggregator"  # the aggregator's default: <fedmesh_storage_path>/aggregator
CLI = "PYTHONPATH=/opt/fedmesh/lib python3 -m fedmesh_fl.client"
POLL_S = 1.0  # ceph_info is one play (~3 s here): polling faster only adds load


def ceph(tb: Testbed, args: str, node: str = "node1"):
    return parse.loads(tb.exec(node, f"ceph {args} --format json").stdout)


def module(tb: Testbed, tmp_path: Path, name: str, args: dict, check: bool = False, diff: bool = True,
           verbosity: int = 0, ok: bool = True) -> tuple[dict, str]:
    """One fedmesh.cluster.ceph_* call on node1 (playbooks/ceph_module.yml): its result and the play's output."""
    out = tmp_path / f"{name}-{time.monotonic_ns()}.json"
    result = play(tb, "ceph_module.yml", check=check, diff=diff, verbosity=verbosity,
                  extra_vars={"cm_module": name, "cm_args": args, "cm_out": str(out)})
    if ok:
        result.assert_ok()
        return json.loads(out.read_text()), result.output
    assert result.rc != 0, result.output[-3000:]
    return {}, result.output


def info(tb: Testbed, tmp_path: Path) -> dict:
    return module(tb, tmp_path, "ceph_info", {}, diff=False, ok=True)[0]


def wait_for(tb: Testbed, tmp_path: Path, predicate: Callable[[dict], bool], timeout: float = 240) -> dict:
    """Poll ceph_info until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while True:
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
        res = tb.exec(node, "timeout 20 ceph quorum_status --format json", check=False)
        if res.returncode == 0:
            status = parse.loads(res.stdout)
            if sorted(status.get("quorum_names", [])) == sorted(want):
                return status
        time.sleep(POLL_S)
    raise AssertionError(f"quorum {want} not reached in {timeout}s: {status}")


def wait_healthy(tb: Testbed, timeout: float = 300) -> str:
    """HEALTH_OK with every PG active+clean (HEALTH_OK alone comes first), read with the plain CLI."""
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        res = tb.exec("node1", "timeout 20 ceph health; timeout 20 ceph pg stat", check=False)
        out = res.stdout
        lines = out.splitlines()
        if res.returncode == 0 and lines and lines[0].startswith("HEALTH_OK") and "active+clean" in out \
                and not any(s in out for s in ("peering", "degraded", "undersized", "stale", "unknown")):
            return out
        time.sleep(POLL_S)
    raise AssertionError(f"not HEALTH_OK with every PG active+clean in {timeout}s: {out}")


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
