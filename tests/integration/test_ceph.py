"""Ceph modules and role on real Ceph 16.2 daemons, on the WireGuard mesh, with the aggregator's state on CephFS.

One cluster for the whole file (one bootstrap): the mesh converges first (facts ``fedmesh_mesh_address`` /
``fedmesh_mesh_cidr``), then Ceph binds the mesh addresses (public and cluster network = the mesh CIDR), then the
aggregator mounts CephFS as its own cephx user and keeps its state below the published storage path.
Order matters: no key in a ``-vvv`` module run → the healthy cluster on the mesh → pool and config changes with
their diff → bad input → the aggregator ``kill -9``-ed → the destructive tests last: one node frozen (degraded,
I/O continues) and thawed; a fourth node added (it joins the mesh; then the ceph role in a run of its own, without
the mesh role's facts: it reads ``wg0``, its OSD joins, no fourth mon, nothing changes on the other nodes; then the
``-vvv`` no-change re-run of mesh + Ceph + aggregator, no key in it); a mon node stopped and started (it keeps
its mesh address and rejoins).
The role's check mode on fresh nodes is the Molecule scenario ``ceph``'s (molecule/ceph).
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import ceph_helpers as ch
import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph import parse
from conftest import play
from testbed import Testbed
from testbed.engine import podman

pytestmark = pytest.mark.testbed

NODES = ["node1", "node2", "node3"]
MESH_CIDR = "10.98.0.0/24"
ROLE_VARS = {
    # The test-bed kernel has no wireguard module: the userspace implementation.
    "fedmesh_wireguard_mesh_implementation": "userspace",
    "fedmesh_wireguard_mesh_cidr": MESH_CIDR,
    "fedmesh_ceph_client_groups": ["ceph"],
    "fedmesh_ceph_osds": [{"path": "/var/lib/ceph/osd-files/osd.img", "kind": "file", "size": 5368709120}],
    "fedmesh_ceph_pools": [{"name": "models", "size": 3, "min_size": 2, "application": "rbd"}],
    "fedmesh_ceph_config": [{"who": "mon", "option": "auth_allow_insecure_global_id_reclaim", "value": "false"},
                            {"who": "mon", "option": "mon_data_avail_warn", "value": "5"},
                            {"who": "osd", "option": "osd_memory_target", "value": 939524096},
                            # Test-only: a frozen node's OSD is reported down after ~10 s instead of ~20-26 s
                            # (defaults: grace 20 s, a heartbeat every 6 s); the mons judge the reports with the
                            # same grace, hence global.  Still 5 missed heartbeats before a peer reports it.
                            {"who": "global", "option": "osd_heartbeat_grace", "value": 10},
                            {"who": "global", "option": "osd_heartbeat_interval", "value": 2}],
}
AGG_CAPS = {"mon": "allow r", "mds": "allow rw fsname=fedmesh", "osd": "allow rw tag cephfs data=fedmesh"}
KEY = re.compile(r"AQ[A-Za-z0-9+/]{36}==")


@pytest.fixture(scope="module")
def tb(testbed_factory) -> Testbed:
    # node4 is in the groups from the start so that the node added last joins them (the inventory lists only
    # nodes that exist).
    tb = testbed_factory("ceph", nodes=3, group_vars=ROLE_VARS,
                         groups={"mesh": [*NODES, "node4"], "ceph": [*NODES, "node4"], "aggregator": ["node1"]})
    started = time.monotonic()
    play(tb, "ceph_mesh.yml").assert_ok()
    print(f"mesh + ceph + aggregator: bootstrap to HEALTH_OK + active+clean + CephFS mounted in "
          f"{time.monotonic() - started:.0f}s")
    # Test-only, the least Ceph accepts (default 60 s): the MDS holds the degraded write that needs caps the
    # frozen node's client has until that client's session is stale (measured by hand on a frozen node3 whose
    # client held caps on the file: the write waited 43 s with 60, 11-14 s with 30).
    tb.exec("node1", "ceph fs set fedmesh session_timeout 30")
    return tb


def test_no_cephx_key_in_a_vvv_module_run(tb: Testbed, tmp_path: Path) -> None:
    # The role's own -vvv run is its no-change re-run, after the node added last (test at the end).
    args = {"name": "client.vvv", "caps": {"mon": "allow r"}, "keyring_path": "/etc/ceph/ceph.client.vvv.keyring"}
    _res, output = ch.module(tb, tmp_path, "ceph_auth", args, verbosity=3)
    auth = ch.ceph(tb, "auth ls")["auth_dump"]
    keys = {e["key"] for e in auth}
    assert "client.vvv" in {e["entity"] for e in auth} and len(keys) >= 8
    assert not [k for k in keys if k in output] and not KEY.search(output), "a cephx key appears in the -vvv output"
    assert tb.exec("node1", "stat -c %a /etc/ceph/ceph.client.vvv.keyring").stdout.strip() == "600"


def test_role_bootstrapped_a_healthy_cluster(tb: Testbed, tmp_path: Path) -> None:
    facts = ch.wait_for(tb, tmp_path, lambda f: f["healthy"])  # the autoscaler may still be resizing new pools
    assert sorted(facts["mons"]["quorum"]) == NODES and facts["osds"]["up"] == 3
    assert facts["filesystems"]["fedmesh"]["active"] == 1 and facts["version"]["release"] == "pacific"


def test_daemons_bind_mesh_addresses_and_the_networks_are_the_mesh_cidr(tb: Testbed) -> None:
    conf = tb.exec("node2", "cat /etc/ceph/ceph.conf").stdout
    assert f"public_network = {MESH_CIDR}\n" in conf and f"cluster_network = {MESH_CIDR}\n" in conf, conf
    assert ch.mon_addresses(tb) == {n: ch.mesh_address(tb, n) for n in NODES}
    osds = ch.ceph(tb, "osd dump")["osds"]
    assert len(osds) == 3 and all(o["public_addr"].startswith("10.98.0.") for o in osds), osds
    assert all(o["cluster_addr"].startswith("10.98.0.") for o in osds), osds
    # Every Ceph unit waits for the mesh interface at boot (the drop-in the role writes when the mesh ran).
    after = tb.exec("node3", "systemctl show -p After --value ceph-mon@node3 ceph-osd@0 ceph-osd@1 ceph-osd@2").stdout
    assert after.count("wg-quick@wg0.service") >= 2, after


def test_aggregator_mounts_with_its_own_user_and_only_its_caps(tb: Testbed) -> None:
    conf = json.loads(tb.exec("node1", "cat /etc/fedmesh/aggregator.json").stdout)
    assert conf["state_dir"] == ch.STATE  # the default followed fact fedmesh_storage_path
    assert tb.exec("node1", f"findmnt -n -o FSTYPE {ch.MOUNT}").stdout.strip() == "fuse.ceph-fuse"
    sessions = ch.ceph(tb, "tell mds.node1 client ls")
    on_node1 = {s["client_metadata"].get("entity_id") for s in sessions
                if s["client_metadata"].get("hostname") == "node1"}
    assert on_node1 == {"fedmesh-aggregator"}, sessions
    entry = ch.ceph(tb, "auth get client.fedmesh-aggregator")[0]
    assert entry["caps"] == AGG_CAPS, entry["caps"]
    # Only CephFS data: the aggregator's key reads no other pool and cannot write the cluster's config.
    own = "--id fedmesh-aggregator --keyring /etc/ceph/ceph.client.fedmesh-aggregator.keyring"
    pool = tb.exec("node1", f"timeout 30 rados {own} -p fedmesh_metadata ls", check=False)
    assert pool.returncode != 0, pool
    cfg = tb.exec("node1", f"timeout 30 ceph {own} config set mon mon_data_avail_warn 6", check=False)
    assert cfg.returncode != 0 and "denied" in (cfg.stderr + cfg.stdout).lower(), cfg
    # No other key on the aggregator node but the admin one of the Ceph host and its own.
    keyrings = tb.exec("node1", "ls /etc/ceph").stdout.split()
    assert "ceph.client.fedmesh-aggregator.keyring" in keyrings and "ceph.client.fedmesh.keyring" not in keyrings


def test_pool_size_change_check_run_check_run(tb: Testbed, tmp_path: Path) -> None:
    args = {"name": "models", "size": 2, "min_size": 1}
    planned, _out = ch.module(tb, tmp_path, "ceph_pool", args, check=True)
    assert planned["changed"] and planned["diff"]["before"]["size"] == 3 and planned["diff"]["after"]["size"] == 2
    assert ch.ceph(tb, "osd pool get models size")["size"] == 3  # check mode changed nothing
    done, _out = ch.module(tb, tmp_path, "ceph_pool", args)
    assert done["changed"] and done["commands"] == ["ceph osd pool set models size 2",
                                                    "ceph osd pool set models min_size 1"]
    assert ch.ceph(tb, "osd pool get models size")["size"] == 2
    assert ch.ceph(tb, "osd pool get models min_size")["min_size"] == 1
    again, _out = ch.module(tb, tmp_path, "ceph_pool", args, check=True)
    rerun, _out = ch.module(tb, tmp_path, "ceph_pool", args)
    assert not again["changed"] and not rerun["changed"]
    ch.module(tb, tmp_path, "ceph_pool", {"name": "models", "size": 3, "min_size": 2})


def test_config_value_compared_as_ceph_normalises(tb: Testbed, tmp_path: Path) -> None:
    args = {"who": "osd", "option": "osd_recovery_sleep", "value": "0.25"}
    planned, _out = ch.module(tb, tmp_path, "ceph_config", args, check=True)
    assert planned["changed"] and planned["diff"]["after"] == {"osd": {"osd_recovery_sleep": "0.250000"}}
    done, _out = ch.module(tb, tmp_path, "ceph_config", args)
    assert done["changed"]
    dump = parse.parse_config_dump(ch.ceph(tb, "config dump"))
    assert dump["osd"]["osd_recovery_sleep"] == "0.250000"
    rerun, _out = ch.module(tb, tmp_path, "ceph_config", dict(args, value="0.2500"))
    assert not rerun["changed"]
    # Back to the default: a 0.25 s sleep between recovery ops would slow the node-down test's healing.
    tb.exec("node1", "ceph config rm osd osd_recovery_sleep")


@pytest.mark.hostile("ceph", "`ceph_pool` `size: 9` on a 3-OSD cluster (real Ceph accepts it)",
                     "error naming `size`, pool unchanged")
def test_size_above_osd_count_is_refused_on_the_cluster(tb: Testbed, tmp_path: Path) -> None:
    _res, output = ch.module(tb, tmp_path, "ceph_pool", {"name": "models", "size": 9}, ok=False)
    assert "size: size 9 is more than the 3 OSD(s)" in output and "nothing was changed" in output
    assert ch.ceph(tb, "osd pool get models size")["size"] == 3


@pytest.mark.hostile("ceph", "`ceph_pool` unknown application `frob`", "error naming `application`, no pool made")
def test_unknown_application_is_refused(tb: Testbed, tmp_path: Path) -> None:
    _res, output = ch.module(tb, tmp_path, "ceph_pool", {"name": "frobs", "application": "frob"}, ok=False)
    assert "application" in output and "frob" in output
    assert "frobs" not in parse.parse_osd_dump(ch.ceph(tb, "osd dump"))["pools"]


@pytest.mark.hostile("ceph", "`ceph_auth` malformed caps on a real cluster", "error naming `caps`, no user created")
def test_malformed_caps_are_refused(tb: Testbed, tmp_path: Path) -> None:
    args = {"name": "client.bad", "caps": {"mon": "allow r' ; x"}}
    _res, output = ch.module(tb, tmp_path, "ceph_auth", args, ok=False)
    assert "caps: mon:" in output
    assert tb.exec("node1", "ceph auth get client.bad", check=False).returncode != 0


@pytest.mark.hostile("ceph", "`ceph_osd` on a file that holds an ext4 filesystem",
                     "error naming `path`, file untouched")
def test_osd_on_a_path_with_a_filesystem_is_refused(tb: Testbed, tmp_path: Path) -> None:
    tb.exec("node1", "truncate -s 16M /root/used.img && mkfs.ext4 -q -F /root/used.img")
    before = tb.exec("node1", "sha256sum /root/used.img").stdout
    _res, output = ch.module(tb, tmp_path, "ceph_osd", {"path": "/root/used.img", "kind": "file"}, ok=False)
    assert "path: /root/used.img holds data (ext4)" in output
    assert tb.exec("node1", "sha256sum /root/used.img").stdout == before
    assert len(parse.parse_osd_dump(ch.ceph(tb, "osd dump"))["osds"]) == 3


@pytest.mark.hostile("ceph", "GlusterFS already mounts at the CephFS mount point on one host (same run)",
                     "error on that host naming `fedmesh_ceph_mounts[].path` and the glusterfs role, nothing changed")
def test_a_mount_point_another_storage_role_has_is_refused(tb: Testbed) -> None:
    before = tb.exec("node2", f"findmnt -n -o FSTYPE {ch.MOUNT}; sha256sum /etc/ceph/ceph.conf").stdout
    res = play(tb, "ceph_storage_clash.yml")
    assert res.rc != 0 and res.failed_hosts() == ["node2"] and res.changed() == 0, res.output[-3000:]
    assert (f"fedmesh_ceph_mounts[].path: {ch.MOUNT} is already the mount point of the glusterfs role on this host"
            in res.output), res.output[-3000:]
    # Validation is up front and fatal for the whole run: no host went past it (no package, mon or OSD task).
    assert "Install missing Ceph packages" not in res.output, res.output[-3000:]
    assert tb.exec("node2", f"findmnt -n -o FSTYPE {ch.MOUNT}; sha256sum /etc/ceph/ceph.conf").stdout == before


def test_aggregator_state_on_cephfs_survives_kill_9(tb: Testbed) -> None:
    first = ch.fl_wait_version(tb, 0)
    assert first["accepted"] == 0, first
    for client in ("node2", "node3"):  # quorum 2: round 1 closes, model version 1 is published
        ch.fl_submit(tb, client, first)
    second = ch.fl_wait_version(tb, first["model_version"] + 1)
    published = ch.fl_index(tb, "node3")  # read through another node's CephFS mount
    assert first["model_version"] + 1 in published
    ch.fl_submit(tb, "node2", second)  # acknowledged, the round still open (1 of 2)
    assert ch.fl_round(tb)["accepted"] == 1
    pid = tb.exec("node1", "systemctl show -p MainPID --value fedmesh-aggregator").stdout.strip()
    tb.exec("node1", "systemctl kill -s KILL fedmesh-aggregator")
    deadline = time.monotonic() + 90
    after: dict = {}
    while time.monotonic() < deadline and not after:
        time.sleep(1)
        after = ch.fl_round(tb)
    new_pid = tb.exec("node1", "systemctl show -p MainPID --value fedmesh-aggregator").stdout.strip()
    assert new_pid not in (pid, "0"), "systemd did not restart the killed service"
    assert after.get("id") == second["id"] and after.get("accepted_clients") == ["node2"], after
    assert after["model_version"] == second["model_version"], after
    assert "round.ckpt" in tb.exec("node2", f"ls {ch.STATE}").stdout  # durable on CephFS, seen from node2
    assert ch.fl_index(tb, "node2") == published, "a published model version was lost or changed"
    ch.fl_submit(tb, "node3", after)
    third = ch.fl_wait_version(tb, second["model_version"] + 1)
    assert set(published) < set(ch.fl_index(tb, "node3")) and third["model_version"] == second["model_version"] + 1


# ---------------------------------------------------------------- destructive, last
def test_node_down_degrades_io_continues_then_heals(tb: Testbed, tmp_path: Path) -> None:
    # The node is frozen (every process paused, the node silent on the network); a stop and start is the last test.
    started = time.monotonic()
    podman("pause", tb.nodes["node3"].container)
    try:
        facts = ch.wait_for(tb, tmp_path, lambda f: f["osds"]["up"] == 2 and f["health"]["status"] != "HEALTH_OK")
        print(f"node3 frozen: its OSD down and the cluster degraded after {time.monotonic() - started:.0f}s")
        assert "node3" in facts["mons"]["out_of_quorum"] and not facts["healthy"]
        assert {"OSD_DOWN", "MON_DOWN"} & set(facts["health"]["checks"])
        # min_size 2: I/O continues on the two nodes left, through CephFS and on the pool
        tb.exec("node1", f"echo degraded-write > {ch.MOUNT}/while-degraded.txt && sync")
        assert tb.exec("node2", f"cat {ch.MOUNT}/while-degraded.txt").stdout == "degraded-write\n"
        tb.exec("node1", "rados -p models put obj1 /etc/hostname && rados -p models stat obj1")
        print(f"... and written to through CephFS and rados after {time.monotonic() - started:.0f}s")
    finally:
        podman("unpause", tb.nodes["node3"].container)
    started = time.monotonic()
    facts = ch.wait_for(tb, tmp_path, lambda f: f["healthy"] and f["osds"]["up"] == 3, timeout=300)
    print(f"node3 thawed: HEALTH_OK with every PG active+clean again after {time.monotonic() - started:.0f}s")
    assert sorted(facts["mons"]["quorum"]) == NODES
    assert tb.exec("node3", f"cat {ch.MOUNT}/while-degraded.txt").stdout == "degraded-write\n"


def test_an_added_node_gets_its_osd_and_no_mon_beyond_the_count(tb: Testbed, tmp_path: Path) -> None:
    started = time.monotonic()
    assert tb.add_node() == "node4"
    play(tb, "ceph_mesh_only.yml").assert_ok()  # node4 joins the mesh
    print(f"node4 started and on the mesh in {time.monotonic() - started:.0f}s")
    # The ceph role in a run of its own: the mesh role's facts are missing, the role reads wg0 from each node;
    # Ceph comes to node4 on its mesh address and nothing changes on the nodes that had it.
    added = play(tb, "ceph_role.yml").assert_ok()
    assert "Read the mesh interface (the mesh role did not run in this run)" in added.output
    assert {n: added.changed(n) for n in NODES} == dict.fromkeys(NODES, 0), added.output[-6000:]
    print(f"... and its Ceph OSD and CephFS mount in {time.monotonic() - started:.0f}s")
    facts = ch.wait_for(tb, tmp_path, lambda f: f["healthy"] and f["osds"]["up"] == 4 and f["osds"]["in"] == 4,
                        timeout=300)
    assert sorted(facts["mons"]["quorum"]) == NODES, facts["mons"]  # fedmesh_ceph_mon_count: 3
    assert tb.exec("node4", "systemctl is-active ceph-mon@node4", check=False).stdout.strip() != "active"
    osds = ch.ceph(tb, "osd dump")["osds"]  # node4's OSD binds node4's mesh address
    assert [o["public_addr"].startswith(ch.mesh_address(tb, "node4") + ":") for o in osds].count(True) == 1, osds
    # node4 is a CephFS client like the others and sees what was written before it came
    assert tb.exec("node4", f"cat {ch.MOUNT}/while-degraded.txt").stdout == "degraded-write\n"
    # mesh + ceph + aggregator re-run, -vvv (the run that has to happen anyway): it changes nothing and no
    # cephx key appears anywhere in its output.
    started = time.monotonic()
    rerun = play(tb, "ceph_mesh.yml", verbosity=3).assert_ok()
    print(f"mesh + ceph + aggregator -vvv no-change run on 4 nodes in {time.monotonic() - started:.0f}s")
    assert rerun.changed() == 0, f"re-run after adding node4 changed something:\n{rerun.output[-4000:]}"
    keys = {e["key"] for e in ch.ceph(tb, "auth ls")["auth_dump"]}
    assert len(keys) >= 10 and not [k for k in keys if k in rerun.output] and not KEY.search(rerun.output), \
        "a cephx key appears in the role's -vvv output"


def test_mon_node_stopped_and_started_keeps_its_mesh_address_and_rejoins(tb: Testbed) -> None:
    before = ch.mon_addresses(tb)
    container_ip = tb.nodes["node3"].address
    tb.exec("node1", f"echo before-restart > {ch.MOUNT}/restart.txt && sync")
    tb.stop("node3")
    try:
        ch.wait_quorum(tb, ["node1", "node2"])
    finally:
        tb.start("node3")
    print(f"node3: container address {container_ip} -> {tb.nodes['node3'].address} (mesh {before['node3']})")
    ch.wait_quorum(tb, NODES, timeout=300)
    assert ch.mon_addresses(tb) == before and ch.mesh_address(tb, "node3") == before["node3"]
    ch.wait_healthy(tb)
    # The mount unit brought CephFS back on the restarted node by itself.
    deadline = time.monotonic() + 120
    while tb.exec("node3", f"cat {ch.MOUNT}/restart.txt", check=False).stdout != "before-restart\n":
        assert time.monotonic() < deadline, tb.exec("node3", "systemctl status mnt-cephfs-fedmesh.mount",
                                                    check=False).stdout
        time.sleep(2)
