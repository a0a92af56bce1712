"""Ceph on the WireGuard mesh, with the aggregator's state on CephFS, on three real test-bed nodes.

The mesh converges first (facts ``fedmesh_mesh_address`` / ``fedmesh_mesh_cidr``), so the mons and OSDs bind
mesh addresses and the public and cluster network is the mesh CIDR. The aggregator mounts CephFS as its own
cephx user and keeps its state below the published storage path; its service is ``kill -9``-ed mid-round and
loses no acknowledged update and no published model version. Last, a mon node is stopped and started again:
its container may come back with another address, its mesh address does not, and its mon rejoins the quorum.
"""
from __future__ import annotations

import json
import time

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph import parse
from conftest import play
from testbed import Testbed, fl

pytestmark = pytest.mark.testbed

NODES = ["node1", "node2", "node3"]
MESH_CIDR = "10.98.0.0/24"
ROLE_VARS = {
    # The test-bed kernel has no wireguard module: the userspace implementation.
    "fedmesh_wireguard_mesh_implementation": "userspace",
    "fedmesh_wireguard_mesh_cidr": MESH_CIDR,
    "fedmesh_ceph_client_groups": ["ceph"],
    "fedmesh_ceph_osds": [{"path": "/var/lib/ceph/osd-files/osd.img", "kind": "file", "size": 5368709120}],
    "fedmesh_ceph_config": [{"who": "mon", "option": "auth_allow_insecure_global_id_reclaim", "value": "false"},
                            {"who": "mon", "option": "mon_data_avail_warn", "value": "5"},
                            {"who": "osd", "option": "osd_memory_target", "value": 939524096}],
}
MOUNT = "/mnt/cephfs/fedmesh"  # the role's default mount point (GlusterFS keeps /mnt/fedmesh and /mnt/glusterfs)
STATE = f"{MOUNT}/aggregator"  # the aggregator's default: <fedmesh_storage_path>/aggregator
AGG_CAPS = {"mon": "allow r", "mds": "allow rw fsname=fedmesh", "osd": "allow rw tag cephfs data=fedmesh"}
CLI = "PYTHONPATH=/opt/fedmesh/lib python3 -m fedmesh_fl.client"


@pytest.fixture(scope="module")
def tb(testbed_factory) -> Testbed:
    tb = testbed_factory("mesh-ceph", nodes=3, groups={"mesh": NODES, "ceph": NODES, "aggregator": ["node1"]},
                         group_vars=ROLE_VARS)
    started = time.monotonic()
    # Run, then a run that must change nothing. The check -> run -> check -> run cycle of each layer is already
    # tested where the layer is (test_ceph.py, test_wireguard.py, test_aggregator.py); this file is about the
    # layers together, and the full cycle of all three took 14 of its 16 minutes.
    play(tb, "ceph_mesh.yml").assert_ok()
    rerun = play(tb, "ceph_mesh.yml").assert_ok()
    assert rerun.changed() == 0, f"second run changed something:\n{rerun.output[-4000:]}"
    print(f"mesh + ceph + aggregator: run and no-change run in {time.monotonic() - started:.0f}s")
    return tb


def ceph(tb: Testbed, args: str, node: str = "node1") -> dict:
    return parse.loads(tb.exec(node, f"ceph {args} --format json").stdout)


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
        time.sleep(3)
    raise AssertionError(f"quorum {want} not reached in {timeout}s: {status}")


def wait_healthy(tb: Testbed, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        res = tb.exec("node1", "timeout 20 ceph health; timeout 20 ceph pg stat", check=False)
        out = res.stdout
        lines = out.splitlines()
        if res.returncode == 0 and lines and lines[0].startswith("HEALTH_OK") and "active+clean" in out \
                and not any(s in out for s in ("peering", "degraded", "undersized", "stale", "unknown")):
            return out
        time.sleep(3)
    raise AssertionError(f"not HEALTH_OK with every PG active+clean in {timeout}s: {out}")


def test_daemons_bind_mesh_addresses_and_the_networks_are_the_mesh_cidr(tb: Testbed) -> None:
    conf = tb.exec("node2", "cat /etc/ceph/ceph.conf").stdout
    assert f"public_network = {MESH_CIDR}\n" in conf and f"cluster_network = {MESH_CIDR}\n" in conf, conf
    assert mon_addresses(tb) == {n: mesh_address(tb, n) for n in NODES}
    osds = ceph(tb, "osd dump")["osds"]
    assert len(osds) == 3 and all(o["public_addr"].startswith("10.98.0.") for o in osds), osds
    assert all(o["cluster_addr"].startswith("10.98.0.") for o in osds), osds
    # Every Ceph unit waits for the mesh interface at boot (the drop-in the role writes when the mesh ran).
    after = tb.exec("node3", "systemctl show -p After --value ceph-mon@node3 ceph-osd@0 ceph-osd@1 ceph-osd@2").stdout
    assert after.count("wg-quick@wg0.service") >= 2, after


def test_aggregator_mounts_with_its_own_user_and_only_its_caps(tb: Testbed) -> None:
    conf = json.loads(tb.exec("node1", "cat /etc/fedmesh/aggregator.json").stdout)
    assert conf["state_dir"] == STATE  # the default followed fact fedmesh_storage_path
    assert tb.exec("node1", f"findmnt -n -o FSTYPE {MOUNT}").stdout.strip() == "fuse.ceph-fuse"
    sessions = ceph(tb, "tell mds.node1 client ls")
    on_node1 = {s["client_metadata"].get("entity_id") for s in sessions
                if s["client_metadata"].get("hostname") == "node1"}
    assert on_node1 == {"fedmesh-aggregator"}, sessions
    entry = ceph(tb, "auth get client.fedmesh-aggregator")[0]
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


def _round(tb: Testbed) -> dict:
    return fl.round_status(tb, fl.aggregator_url(tb))


def _submit(tb: Testbed, client: str, rnd: dict) -> dict:
    cli = f"{CLI} --url {fl.aggregator_url(tb)} --token-file /root/t"
    res = tb.exec("node1", f"umask 077; printf %s it-token-{client} > /root/t; "
                           f"{cli} get-model --out /root/m.npz >/dev/null && {cli} submit --round {rnd['id']} "
                           f"--file /root/m.npz --num-samples 10 --base-version {rnd['base_version']}; "
                           "rc=$?; rm -f /root/t; exit $rc", check=False)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _wait_version(tb: Testbed, at_least: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rnd = _round(tb)
        if int(rnd.get("model_version") or 0) >= at_least and rnd.get("status") == "open":
            return rnd
        time.sleep(0.5)
    raise AssertionError(f"model version {at_least} not reached in {timeout}s: {_round(tb)}")


def _index(tb: Testbed, node: str) -> dict[int, str]:
    return {int(e["version"]): e["sha256"] for e in json.loads(tb.exec(node, f"cat {STATE}/models/index.json").stdout)}


def test_aggregator_state_on_cephfs_survives_kill_9(tb: Testbed) -> None:
    first = _wait_version(tb, 0)
    assert first["accepted"] == 0, first
    for client in ("node2", "node3"):  # quorum 2: round 1 closes, model version 1 is published
        _submit(tb, client, first)
    second = _wait_version(tb, first["model_version"] + 1)
    published = _index(tb, "node3")  # read through another node's CephFS mount
    assert first["model_version"] + 1 in published
    _submit(tb, "node2", second)  # acknowledged, the round still open (1 of 2)
    assert _round(tb)["accepted"] == 1
    pid = tb.exec("node1", "systemctl show -p MainPID --value fedmesh-aggregator").stdout.strip()
    tb.exec("node1", "systemctl kill -s KILL fedmesh-aggregator")
    deadline = time.monotonic() + 90
    after: dict = {}
    while time.monotonic() < deadline and not after:
        time.sleep(1)
        after = _round(tb)
    new_pid = tb.exec("node1", "systemctl show -p MainPID --value fedmesh-aggregator").stdout.strip()
    assert new_pid not in (pid, "0"), "systemd did not restart the killed service"
    assert after.get("id") == second["id"] and after.get("accepted_clients") == ["node2"], after
    assert after["model_version"] == second["model_version"], after
    assert "round.ckpt" in tb.exec("node2", f"ls {STATE}").stdout  # durable on CephFS, seen from node2
    assert _index(tb, "node2") == published, "a published model version was lost or changed"
    _submit(tb, "node3", after)
    third = _wait_version(tb, second["model_version"] + 1)
    assert set(published) < set(_index(tb, "node3")) and third["model_version"] == second["model_version"] + 1


@pytest.mark.hostile("ceph", "GlusterFS already mounts at the CephFS mount point on one host (same run)",
                     "error on that host naming `fedmesh_ceph_mounts[].path` and the glusterfs role, nothing changed")
def test_a_mount_point_another_storage_role_has_is_refused(tb: Testbed) -> None:
    before = tb.exec("node2", f"findmnt -n -o FSTYPE {MOUNT}; sha256sum /etc/ceph/ceph.conf").stdout
    res = play(tb, "ceph_storage_clash.yml")
    assert res.rc != 0 and res.failed_hosts() == ["node2"] and res.changed() == 0, res.output[-3000:]
    assert (f"fedmesh_ceph_mounts[].path: {MOUNT} is already the mount point of the glusterfs role on this host"
            in res.output), res.output[-3000:]
    assert tb.exec("node2", f"findmnt -n -o FSTYPE {MOUNT}; sha256sum /etc/ceph/ceph.conf").stdout == before


def test_mon_node_stopped_and_started_keeps_its_mesh_address_and_rejoins(tb: Testbed) -> None:
    before = mon_addresses(tb)
    container_ip = tb.nodes["node3"].address
    tb.exec("node1", f"echo before-restart > {MOUNT}/restart.txt && sync")
    tb.stop("node3")
    try:
        wait_quorum(tb, ["node1", "node2"])
    finally:
        tb.start("node3")
    print(f"node3: container address {container_ip} -> {tb.nodes['node3'].address} (mesh {before['node3']})")
    wait_quorum(tb, NODES, timeout=300)
    assert mon_addresses(tb) == before and mesh_address(tb, "node3") == before["node3"]
    wait_healthy(tb)
    # The mount unit brought CephFS back on the restarted node by itself.
    deadline = time.monotonic() + 120
    while tb.exec("node3", f"cat {MOUNT}/restart.txt", check=False).stdout != "before-restart\n":
        assert time.monotonic() < deadline, tb.exec("node3", "systemctl status mnt-cephfs-fedmesh.mount",
                                                    check=False).stdout
        time.sleep(2)
