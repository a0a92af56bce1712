"""Ceph modules and role on real Ceph 16.2 daemons in three test-bed nodes.

Order matters (one cluster for the module): role bootstrap → pool and config changes with their diff →
bad input → no key in a -vvv run → one node frozen (degraded, I/O continues) and thawed (HEALTH_OK) → a fourth
node added (its OSD joins, no fourth mon beyond ``fedmesh_ceph_mon_count``, a re-run changes nothing).
State is read back from the nodes with ``ceph ... --format json`` and the collection's own parsers.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph import parse
from conftest import play
from testbed import Testbed
from testbed.engine import podman

pytestmark = pytest.mark.testbed

NODES = ["node1", "node2", "node3"]
ROLE_VARS = {
    "fedmesh_ceph_client_groups": ["ceph"],
    "fedmesh_ceph_osds": [{"path": "/var/lib/ceph/osd-files/osd.img", "kind": "file", "size": 5368709120}],
    "fedmesh_ceph_pools": [{"name": "models", "size": 3, "min_size": 2, "application": "rbd"}],
    "fedmesh_ceph_config": [{"who": "mon", "option": "auth_allow_insecure_global_id_reclaim", "value": "false"},
                            {"who": "mon", "option": "mon_data_avail_warn", "value": "5"},
                            {"who": "osd", "option": "osd_memory_target", "value": 939524096}],
}
KEY = re.compile(r"AQ[A-Za-z0-9+/]{36}==")


@pytest.fixture(scope="module")
def tb(testbed_factory) -> Testbed:
    # node4 is in the group from the start so that the node added last joins it (the inventory lists only nodes
    # that exist).
    tb = testbed_factory("ceph", nodes=3, groups={"ceph": [*NODES, "node4"]}, group_vars=ROLE_VARS)
    started = time.monotonic()
    play(tb, "ceph_role.yml").assert_ok()
    print(f"ceph role: bootstrap to HEALTH_OK + active+clean + CephFS mounted in {time.monotonic() - started:.0f}s")
    return tb


def ceph(tb: Testbed, args: str, node: str = "node1"):
    return parse.loads(tb.exec(node, f"ceph {args} --format json").stdout)


def module(tb: Testbed, tmp_path: Path, name: str, args: dict, check: bool = False, diff: bool = True,
           verbosity: int = 0, ok: bool = True) -> tuple[dict, str]:
    out = tmp_path / f"{name}-{time.monotonic_ns()}.json"
    result = play(tb, "ceph_module.yml", check=check, diff=diff, verbosity=verbosity,
                  extra_vars={"cm_module": name, "cm_args": args, "cm_out": str(out)})
    if ok:
        result.assert_ok()
        return json.loads(out.read_text()), result.output
    assert result.rc != 0, result.output[-3000:]
    return {}, result.output


def info(tb: Testbed, tmp_path: Path, node: str = "node1") -> dict:
    return module(tb, tmp_path, "ceph_info", {}, diff=False, ok=True)[0] if node == "node1" else {}


def wait_for(tb: Testbed, tmp_path: Path, predicate, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        facts = info(tb, tmp_path)
        if facts.get("available") and predicate(facts):
            return facts
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout}s: {json.dumps(facts)[:3000]}")
        time.sleep(3)


def test_role_bootstrapped_a_healthy_cluster(tb: Testbed, tmp_path: Path) -> None:
    facts = wait_for(tb, tmp_path, lambda f: f["healthy"])  # the autoscaler may still be resizing new pools
    assert sorted(facts["mons"]["quorum"]) == NODES and facts["osds"]["up"] == 3
    assert facts["filesystems"]["fedmesh"]["active"] == 1 and facts["version"]["release"] == "pacific"
    rerun = play(tb, "ceph_role.yml")
    assert rerun.assert_ok().changed() == 0, rerun.output[-4000:]


def test_pool_size_change_check_run_check_run(tb: Testbed, tmp_path: Path) -> None:
    args = {"name": "models", "size": 2, "min_size": 1}
    planned, _out = module(tb, tmp_path, "ceph_pool", args, check=True)
    assert planned["changed"] and planned["diff"]["before"]["size"] == 3 and planned["diff"]["after"]["size"] == 2
    assert ceph(tb, "osd pool get models size")["size"] == 3  # check mode changed nothing
    done, _out = module(tb, tmp_path, "ceph_pool", args)
    assert done["changed"] and done["commands"] == ["ceph osd pool set models size 2",
                                                    "ceph osd pool set models min_size 1"]
    assert ceph(tb, "osd pool get models size")["size"] == 2
    assert ceph(tb, "osd pool get models min_size")["min_size"] == 1
    again, _out = module(tb, tmp_path, "ceph_pool", args, check=True)
    rerun, _out = module(tb, tmp_path, "ceph_pool", args)
    assert not again["changed"] and not rerun["changed"]
    module(tb, tmp_path, "ceph_pool", {"name": "models", "size": 3, "min_size": 2})


def test_config_value_compared_as_ceph_normalises(tb: Testbed, tmp_path: Path) -> None:
    args = {"who": "osd", "option": "osd_recovery_sleep", "value": "0.25"}
    planned, _out = module(tb, tmp_path, "ceph_config", args, check=True)
    assert planned["changed"] and planned["diff"]["after"] == {"osd": {"osd_recovery_sleep": "0.250000"}}
    done, _out = module(tb, tmp_path, "ceph_config", args)
    assert done["changed"]
    dump = parse.parse_config_dump(ceph(tb, "config dump"))
    assert dump["osd"]["osd_recovery_sleep"] == "0.250000"
    rerun, _out = module(tb, tmp_path, "ceph_config", dict(args, value="0.2500"))
    assert not rerun["changed"]


@pytest.mark.hostile("ceph", "`ceph_pool` `size: 9` on a 3-OSD cluster (real Ceph accepts it)",
                     "error naming `size`, pool unchanged")
def test_size_above_osd_count_is_refused_on_the_cluster(tb: Testbed, tmp_path: Path) -> None:
    _res, output = module(tb, tmp_path, "ceph_pool", {"name": "models", "size": 9}, ok=False)
    assert "size: size 9 is more than the 3 OSD(s)" in output and "nothing was changed" in output
    assert ceph(tb, "osd pool get models size")["size"] == 3


@pytest.mark.hostile("ceph", "`ceph_pool` unknown application `frob`", "error naming `application`, no pool made")
def test_unknown_application_is_refused(tb: Testbed, tmp_path: Path) -> None:
    _res, output = module(tb, tmp_path, "ceph_pool", {"name": "frobs", "application": "frob"}, ok=False)
    assert "application" in output and "frob" in output
    assert "frobs" not in parse.parse_osd_dump(ceph(tb, "osd dump"))["pools"]


@pytest.mark.hostile("ceph", "`ceph_auth` malformed caps on a real cluster", "error naming `caps`, no user created")
def test_malformed_caps_are_refused(tb: Testbed, tmp_path: Path) -> None:
    _res, output = module(tb, tmp_path, "ceph_auth", {"name": "client.bad", "caps": {"mon": "allow r' ; x"}}, ok=False)
    assert "caps: mon:" in output
    assert tb.exec("node1", "ceph auth get client.bad", check=False).returncode != 0


@pytest.mark.hostile("ceph", "`ceph_osd` on a file that holds an ext4 filesystem",
                     "error naming `path`, file untouched")
def test_osd_on_a_path_with_a_filesystem_is_refused(tb: Testbed, tmp_path: Path) -> None:
    tb.exec("node1", "truncate -s 16M /root/used.img && mkfs.ext4 -q -F /root/used.img")
    before = tb.exec("node1", "sha256sum /root/used.img").stdout
    _res, output = module(tb, tmp_path, "ceph_osd", {"path": "/root/used.img", "kind": "file"}, ok=False)
    assert "path: /root/used.img holds data (ext4)" in output
    assert tb.exec("node1", "sha256sum /root/used.img").stdout == before
    assert len(parse.parse_osd_dump(ceph(tb, "osd dump"))["osds"]) == 3


def test_no_cephx_key_in_a_vvv_run(tb: Testbed, tmp_path: Path) -> None:
    args = {"name": "client.vvv", "caps": {"mon": "allow r"}, "keyring_path": "/etc/ceph/ceph.client.vvv.keyring"}
    _res, output = module(tb, tmp_path, "ceph_auth", args, verbosity=3)
    role = play(tb, "ceph_role.yml", verbosity=3).assert_ok()
    keys = {e["key"] for e in ceph(tb, "auth ls")["auth_dump"]}
    assert "client.vvv" in {e["entity"] for e in ceph(tb, "auth ls")["auth_dump"]} and len(keys) >= 8
    for text in (output, role.output):
        leaked = [k for k in keys if k in text]
        assert not leaked and not KEY.search(text), "a cephx key appears in the -vvv output"
    assert tb.exec("node1", "stat -c %a /etc/ceph/ceph.client.vvv.keyring").stdout.strip() == "600"


def test_node_down_degrades_io_continues_then_heals(tb: Testbed, tmp_path: Path) -> None:
    # The node is frozen (every process paused, the node silent on the network), not restarted: a restarted
    # test-bed container gets a new address from Podman, which real machines (and their mons) do not.
    podman("pause", tb.nodes["node3"].container)
    try:
        facts = wait_for(tb, tmp_path, lambda f: f["osds"]["up"] == 2 and f["health"]["status"] != "HEALTH_OK")
        assert "node3" in facts["mons"]["out_of_quorum"] and not facts["healthy"]
        assert {"OSD_DOWN", "MON_DOWN"} & set(facts["health"]["checks"])
        # min_size 2: I/O continues on the two nodes left, through CephFS and on the pool
        tb.exec("node1", "echo degraded-write > /mnt/cephfs/fedmesh/while-degraded.txt && sync")
        assert tb.exec("node2", "cat /mnt/cephfs/fedmesh/while-degraded.txt").stdout == "degraded-write\n"
        tb.exec("node1", "rados -p models put obj1 /etc/hostname && rados -p models stat obj1")
    finally:
        podman("unpause", tb.nodes["node3"].container)
    facts = wait_for(tb, tmp_path, lambda f: f["healthy"] and f["osds"]["up"] == 3, timeout=300)
    assert sorted(facts["mons"]["quorum"]) == NODES
    assert tb.exec("node3", "cat /mnt/cephfs/fedmesh/while-degraded.txt").stdout == "degraded-write\n"


def test_an_added_node_gets_its_osd_and_no_mon_beyond_the_count(tb: Testbed, tmp_path: Path) -> None:
    assert tb.add_node() == "node4"
    play(tb, "ceph_role.yml").assert_ok()
    facts = wait_for(tb, tmp_path, lambda f: f["healthy"] and f["osds"]["up"] == 4 and f["osds"]["in"] == 4,
                     timeout=300)
    assert sorted(facts["mons"]["quorum"]) == NODES, facts["mons"]  # fedmesh_ceph_mon_count: 3
    assert tb.exec("node4", "systemctl is-active ceph-mon@node4", check=False).stdout.strip() != "active"
    # node4 is a CephFS client like the others and sees what was written before it came
    assert tb.exec("node4", "cat /mnt/cephfs/fedmesh/while-degraded.txt").stdout == "degraded-write\n"
    rerun = play(tb, "ceph_role.yml").assert_ok()
    assert rerun.changed() == 0, f"re-run after adding node4 changed something:\n{rerun.output[-4000:]}"
