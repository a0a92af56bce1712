"""XML parsers on outputs recorded from the real gluster 10.3 in test-bed nodes (see fixtures/README.md)."""
from __future__ import annotations

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster import parse

from .conftest import fixture


def root(name: str):
    return parse.cli_root(fixture(name))


def test_peer_status_and_pool_list() -> None:
    peers = parse.parse_peers(root("peer_status.xml"))
    assert [p["hostname"] for p in peers] == ["node2", "node3"]
    assert all(p["connected"] and p["in_cluster"] and p["state"] == "Peer in Cluster" for p in peers)
    pool = parse.parse_peers(root("pool_list.xml"))
    assert [p["hostname"] for p in pool][-1] == "localhost" and all(p["in_cluster"] for p in pool)
    assert parse.parse_peers(root("peer_status_empty.xml")) == []


def test_disconnected_peer_is_not_in_cluster() -> None:
    peers = {p["hostname"]: p for p in parse.parse_peers(root("peer_status_disconnected.xml"))}
    assert peers["node3"]["connected"] is False and peers["node3"]["in_cluster"] is False
    assert peers["node2"]["in_cluster"] is True


def test_node2_knows_node1_by_address() -> None:
    peers = parse.parse_peers(root("peer_status_node2.xml"))
    assert peers[0]["hostnames"] == ["10.89.3.2"]


@pytest.mark.parametrize("name, message", [
    ("peer_probe_error.xml", "Transport endpoint is not connected"),
    ("volume_create_root_error.xml", "root partition"),
    ("volume_create_bad_count.xml", "Failed to create volume files"),
    ("volume_set_unknown.xml", "nosuch.option does not exist"),
    ("volume_set_badvalue.xml", "Validation Failed"),
    ("volume_info_missing.xml", "Volume does not exist"),
    ("add_brick_peer_not_in_pool.xml", "Pre-validation failed"),
    ("peer_detach_peer_down.xml", "One of the peers is probably down"),
    ("volume_status_stopped.xml", "is not started"),
])
def test_errors_raise_with_gluster_message(name: str, message: str) -> None:
    with pytest.raises(parse.GlusterError) as err:
        root(name)
    assert message in err.value.message


def test_ok_errors_count_as_success() -> None:
    parse.cli_root(fixture("volume_start_already.xml"), ok_errors=("already started",))
    parse.cli_root(fixture("peer_detach_missing.xml"), ok_errors=("is not part of cluster",))
    # "already in peer list" / "localhost not needed" come with opRet 0
    assert "already in peer list" in parse.output_message(root("peer_probe_already.xml"))
    assert "not needed" in parse.output_message(root("peer_probe_self.xml"))


def test_not_xml_is_an_error() -> None:
    with pytest.raises(parse.GlusterError, match="gluster daemon is operational"):
        parse.cli_root(fixture("glusterd_down.txt"))


def test_volume_info_types() -> None:
    vols = parse.parse_volumes(root("volume_info_all.xml"))
    assert sorted(vols) == ["gva", "gvd", "gvdr", "gvr"]
    assert (vols["gvr"]["type"], vols["gvr"]["replica"], vols["gvr"]["status"]) == ("replicate", 3, "started")
    assert vols["gvr"]["options"]["performance.cache-size"] == "64MB"
    assert vols["gva"]["arbiter"] == 1 and vols["gva"]["arbiter_bricks"] == ["node3:/bricks/gva"]
    assert (vols["gvd"]["type"], vols["gvd"]["disperse"], vols["gvd"]["redundancy"]) == ("disperse", 3, 1)
    dr = vols["gvdr"]
    assert (dr["type"], dr["replica"], dr["dist_count"], dr["status"]) == ("distributed-replicate", 2, 2, "created")
    assert dr["bricks"] == ["node1:/bricks/gvdr1", "node2:/bricks/gvdr1", "node3:/bricks/gvdr2", "node1:/bricks/gvdr2"]


def test_volume_info_after_changes() -> None:
    grown = parse.parse_volumes(root("volume_info_distrep_2x3.xml"))["gvr"]
    assert (grown["type"], grown["brick_count"], grown["dist_count"]) == ("distributed-replicate", 6, 2)
    three = parse.parse_volumes(root("volume_info_after_replica_change.xml"))["gv2"]
    assert (three["replica"], three["brick_count"]) == (3, 3)
    assert parse.parse_volumes(root("volume_info_replicate_created.xml"))["gvr"]["status"] == "created"


def test_volume_status_online_bricks_and_tasks() -> None:
    st = parse.parse_status(root("volume_status_replicate.xml"))["gvr"]
    assert sorted(st["bricks"]) == ["node1:/bricks/gvr", "node2:/bricks/gvr", "node3:/bricks/gvr"]
    assert all(b["online"] for b in st["bricks"].values())
    assert {d["name"] for d in st["daemons"]} == {"Self-heal Daemon"}
    offline = parse.parse_status(root("volume_status_brick_offline.xml"))["gvr"]["bricks"]
    # A brick whose node is down is not listed at all (recorded with node3 stopped).
    assert sorted(offline) == ["node1:/bricks/gvr", "node2:/bricks/gvr"]
    assert offline["node1:/bricks/gvr"]["online"]
    task = parse.parse_status(root("volume_status_remove_brick_task.xml"))["gvr"]["tasks"][0]
    assert task["type"] == "Remove brick" and task["status"] == "completed" and len(task["bricks"]) == 3
    assert len(parse.parse_status(root("volume_status_all.xml"))) == 3


def test_heal_summary_and_info() -> None:
    clean = parse.parse_heal(root("heal_info_summary.xml"))
    assert (clean["pending"], clean["split_brain"], clean["unreachable_bricks"]) == (0, 0, [])
    down = parse.parse_heal(root("heal_info_summary_node_down.xml"))
    assert down["pending"] == 42 and down["unreachable_bricks"] == ["node3:/bricks/gvr"]
    assert down["bricks"]["node1:/bricks/gvr"]["pending"] == 21
    plain = parse.parse_heal(root("heal_info_node_down.xml"))
    assert plain["pending"] > 0 and plain["unreachable_bricks"] == ["node3:/bricks/gvr"]
    assert parse.parse_heal(root("heal_info.xml"))["total"] == 0


def test_volume_get_all_and_help() -> None:
    opts = parse.parse_get(root("volume_get_all.xml"))
    assert len(opts) > 300
    assert opts["performance.cache-size"] == {"value": "64MB", "default": False}
    assert opts["cluster.lookup-optimize"] == {"value": "on", "default": True}
    assert opts["cluster.self-heal-daemon"]["value"] == "enable"
    known = parse.parse_set_help(fixture("volume_set_help.xml"))
    assert "performance.cache-size" in known and "nfs.disable" not in known  # why both are read


def test_rebalance_and_remove_brick_status() -> None:
    reb = parse.parse_task(root("rebalance_status_done.xml"))
    assert (reb["status"], reb["failures"], reb["files"]) == ("completed", 0, 18)
    running = parse.parse_task(root("rebalance_status_running.xml"))
    assert running["status"] in ("in progress", "completed")
    rb = parse.parse_task(root("remove_brick_status_done.xml"))
    assert rb["status"] == "completed" and rb["task_id"]


@pytest.mark.parametrize("value, norm", [
    ("on", "on"), ("True", "on"), ("yes", "on"), ("enable", "on"), (True, "on"), ("1", "on"),
    ("off", "off"), ("false", "off"), ("Disable", "off"), (False, "off"), ("no", "off"),
    ("64MB", "64mb"), (" 128 ", "128"), (10, "10"),
])
def test_normalise_value(value: object, norm: str) -> None:
    assert parse.normalise_value(value) == norm
