"""GlusterFS modules and role on real glusterd (10.3) in test-bed nodes.

Order matters (one test bed for the module): pool → volume cycle → options → bad input → role + FUSE mount →
node down / heal → fourth node and 2 x 3 expansion. State is always read back from the nodes with
``gluster --mode=script --xml`` and parsed with the collection's own parser (tested on recorded outputs).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster import parse
from conftest import converge_cycle, play
from testbed import Testbed

pytestmark = pytest.mark.testbed

NODES = ["node1", "node2", "node3"]
GV0 = [f"{n}:/bricks/gv0" for n in NODES]
ROLE_VARS = {
    "fedmesh_glusterfs_force": True,  # bricks on the containers' root filesystem
    "fedmesh_glusterfs_client_groups": ["glusterfs_clients"],
    "fedmesh_glusterfs_volumes": [{"name": "fl", "replica": 3}],
}


@pytest.fixture(scope="module")
def tb(testbed_factory) -> Testbed:
    return testbed_factory("glusterfs", nodes=3, groups={"storage": NODES, "glusterfs_clients": ["node1"]},
                           group_vars=ROLE_VARS)


def gluster(tb: Testbed, args: str, node: str = "node1"):
    return parse.cli_root(tb.exec(node, f"gluster --mode=script --xml {args}").stdout)


def volumes(tb: Testbed) -> dict:
    return parse.parse_volumes(gluster(tb, "volume info"))


def volume_play(tb: Testbed, **kwargs: object):
    check, diff = bool(kwargs.pop("check", False)), bool(kwargs.pop("diff", False))
    return play(tb, "gluster_volume.yml", check=check, diff=diff, extra_vars={f"gv_{k}": v for k, v in kwargs.items()})


def peer_play(tb: Testbed, out: Path, check: bool = False, **extra: object) -> dict:
    play(tb, "gluster_peer.yml", check=check, diff=True, extra_vars={"gp_peers": NODES, "gp_out": str(out), **extra}
         ).assert_ok()
    return json.loads(out.read_text())


def flat(text: str) -> str:
    return " ".join(text.split())


def test_pool_forms_and_converges_from_fresh_nodes(tb: Testbed, tmp_path: Path) -> None:
    for node in NODES:  # gluster creates a brick's last directory only, like on a real data filesystem
        tb.exec(node, "mkdir -p /bricks")
    probes = ["gluster peer probe node2", "gluster peer probe node3"]
    # The check-mode report and the real run's report are asserted each on its own.
    planned = peer_play(tb, tmp_path / "check.json", check=True)
    assert planned["changed"] is True and planned["commands"] == probes, planned
    status = tb.exec("node1", "gluster peer status", check=False)  # glusterd may not even run yet
    assert status.returncode != 0 or "Number of Peers: 0" in status.stdout, status  # check mode probed nobody
    done = peer_play(tb, tmp_path / "run.json")
    assert done["changed"] is True and done["commands"] == probes, done
    second_check, rerun = converge_cycle(tb, "gluster_peer.yml", extra_vars={"gp_peers": NODES})[2:]
    assert second_check.changed() == 0 and rerun.changed() == 0
    for node in NODES:
        peers = parse.parse_peers(gluster(tb, "pool list", node))
        assert len(peers) == 3 and all(p["in_cluster"] for p in peers), peers


def test_volume_check_run_check_run(tb: Testbed, tmp_path: Path) -> None:
    args = {"name": "gv0", "replica": 3, "bricks": GV0, "options": {"performance.cache-size": "32MB"}}
    before = volumes(tb)
    check = volume_play(tb, check=True, diff=True, out=str(tmp_path / "check.json"), **args).assert_ok()
    planned = json.loads((tmp_path / "check.json").read_text())
    assert planned["commands"] == ["gluster volume create gv0 replica 3 " + " ".join(GV0) + " force",
                                   "gluster volume set gv0 performance.cache-size 32MB", "gluster volume start gv0"]
    assert check.changed() == 1 and volumes(tb) == before  # check mode changed nothing
    results = converge_cycle(tb, "gluster_volume.yml", extra_vars={f"gv_{k}": v for k, v in args.items()})
    assert results[1].changed() == 1
    vol = volumes(tb)["gv0"]
    assert (vol["type"], vol["status"], vol["replica"], vol["bricks"]) == ("replicate", "started", 3, GV0)
    assert vol["options"]["performance.cache-size"] == "32MB"


def test_option_change_shows_diff_and_applies(tb: Testbed) -> None:
    args = {"name": "gv0", "options": {"performance.cache-size": "64MB", "cluster.self-heal-daemon": "enable"}}
    res = volume_play(tb, diff=True, **args).assert_ok()
    assert res.changed() == 1
    assert "-        performance.cache-size: 32MB" in res.output
    assert "+        performance.cache-size: 64MB" in res.output
    got = parse.parse_get(gluster(tb, "volume get gv0 performance.cache-size"))
    assert got["performance.cache-size"]["value"] == "64MB"
    # "enable" equals the default "on": nothing to do for it, and a rerun changes nothing
    assert volume_play(tb, **args).assert_ok().changed() == 0


@pytest.mark.parametrize("args, needle", [
    ({"name": "bad", "replica": 3, "bricks": [*GV0[:2], "node3:/bricks/bad", "node1:/bricks/bad2"], "force": False},
     "replica: 4 bricks cannot be split into replica sets of 3"),
    ({"name": "bad", "replica": 3, "bricks": [b + "bad" for b in GV0], "force": False}, "root filesystem"),
    ({"name": "gv0", "options": {"performance.cache-sise": "1MB"}}, "did you mean performance.cache-size"),
    ({"name": "bad", "replica": 3, "bricks": [*GV0[:2], "nosuchnode:/bricks/bad"]}, "not in the trusted storage pool"),
    ({"name": "bad", "replica": 3, "bricks": [*GV0[:2], "nosuchnode:/bricks/bad"]},
     "bricks: host(s) ['nosuchnode'] do not resolve"),
])
def test_bad_input_names_the_field_and_changes_nothing(tb: Testbed, args: dict, needle: str) -> None:
    before = tb.exec("node1", "gluster --mode=script --xml volume info").stdout
    res = volume_play(tb, **args)
    assert res.rc != 0 and needle in res.output.replace("\n", " ").replace("  ", " "), res.output[-3000:]
    assert tb.exec("node1", "gluster --mode=script --xml volume info").stdout == before


def test_force_with_bricks_that_do_not_fill_the_sets_changes_nothing(tb: Testbed) -> None:
    """gluster 10.3 itself fails ("Failed to create volume files") after marking the brick directories."""
    bricks = [*[f"{n}:/bricks/odd" for n in NODES], "node1:/bricks/odd2"]
    res = volume_play(tb, name="odd", replica=3, bricks=bricks, force=True)
    out = flat(res.output)
    assert res.rc != 0 and "replica: 4 bricks cannot be split into replica sets of 3" in out, res.output[-3000:]
    assert "changed: false" in out and "nothing was changed" in out
    for node in NODES:  # no directory was made, so no trusted.glusterfs.volume-id is left to block a later create
        assert tb.exec(node, "ls /bricks").stdout.split() in ([], ["gv0"]), node
    assert "odd" not in volumes(tb)


def test_failed_create_is_undone_on_this_node_and_reports_the_others(tb: Testbed) -> None:
    # node3's brick path lies under a file: gluster marks node1's (and maybe node2's) brick while staging,
    # then node3's staging fails.
    tb.exec("node3", "touch /bricks-file")
    bricks = ["node1:/bricks/half", "node2:/bricks/half", "node3:/bricks-file/half"]
    res = volume_play(tb, name="half", replica=3, bricks=bricks, force=True)
    out = flat(res.output)
    assert res.rc != 0 and "bricks: `gluster --mode=script --xml volume create half" in out, res.output[-3000:]
    assert "changed: true" in out and "setfattr -x trusted.glusterfs.volume-id" in out and "node2:/bricks/half" in out
    assert tb.exec("node1", "ls /bricks").stdout.split() == ["gv0"]  # node1's brick directory is gone
    assert "half" not in volumes(tb)
    tb.exec("node2", "rm -rf /bricks/half")  # the cleanup the message asks for, on the other host
    tb.exec("node3", "rm -f /bricks-file")


def test_a_peer_that_does_not_resolve_is_refused(tb: Testbed) -> None:
    before = parse.parse_peers(gluster(tb, "pool list"))
    res = play(tb, "gluster_peer.yml", extra_vars={"gp_peers": [*NODES, "nosuch-peer"]})
    out = flat(res.output)
    assert res.rc != 0 and "peers: ['nosuch-peer'] do not resolve" in out and "nothing was changed" in out, out[-3000:]
    assert "Transport endpoint" not in out
    assert parse.parse_peers(gluster(tb, "pool list")) == before


@pytest.mark.parametrize("volumes, needle", [
    ([{"name": "fl", "replica": 2}], "fedmesh_glusterfs_volumes[name=fl].hosts: 3 bricks cannot be split into "
                                     "replica sets of 2"),
    ([{"name": "fl", "replica": 3, "hosts": ["node1", "node2", "node9"]}],
     "fedmesh_glusterfs_volumes[name=fl].hosts: ['node9'] are not in group 'storage'"),
])
def test_role_refuses_bad_volumes_before_changing_anything(tb: Testbed, volumes: list, needle: str) -> None:
    before = tb.exec("node1", "gluster --mode=script --xml volume info").stdout
    res = play(tb, "gluster_role.yml", extra_vars={"fedmesh_glusterfs_volumes": volumes})
    out = flat(res.output)
    assert res.rc != 0 and needle in out and "nothing was changed" in out, out[-3000:]
    assert res.changed() == 0 and tb.exec("node1", "gluster --mode=script --xml volume info").stdout == before


def test_role_mounts_and_writes_survive_a_storage_node_down(tb: Testbed) -> None:
    play(tb, "gluster_role.yml").assert_ok()
    assert play(tb, "gluster_role.yml", check=True).assert_ok().changed() == 0
    unit = tb.exec("node1", "cat /etc/systemd/system/mnt-glusterfs-fl.mount").stdout
    assert "backup-volfile-servers=node2:node3" in unit
    tb.exec("node1", "for i in $(seq 1 20); do echo before-$i > /mnt/glusterfs/fl/b$i; done")
    tb.stop("node3")
    try:
        tb.exec("node1", "for i in $(seq 1 20); do echo during-$i > /mnt/glusterfs/fl/d$i; done; sync")
        assert tb.exec("node1", "cat /mnt/glusterfs/fl/d20").stdout.strip() == "during-20"
        # While glusterd and the bricks learn that node3 is gone, `heal info` can also fail to read a live brick
        # ("Failed to process entries completely", the same status a dead brick gets): poll until it settles.
        deadline = time.monotonic() + 60
        while True:
            raw = tb.exec("node1", "gluster --mode=script --xml volume heal fl info summary").stdout
            heal = parse.parse_heal(parse.cli_root(raw))
            if heal["pending"] > 0 and heal["unreachable_bricks"] == ["node3:/srv/glusterfs/fl"]:
                break
            assert time.monotonic() < deadline, f"heal info did not settle on node3 down in 60 s:\n{raw}"
            time.sleep(2)
        bricks = parse.parse_status(gluster(tb, "volume status fl"))["fl"]["bricks"]
        online = sorted(name for name, brick in bricks.items() if brick["online"])
        assert online == ["node1:/srv/glusterfs/fl", "node2:/srv/glusterfs/fl"], bricks
    finally:
        tb.start("node3")
    deadline = time.monotonic() + 120
    while True:
        heal = parse.parse_heal(gluster(tb, "volume heal fl info summary"))
        if heal["pending"] == 0 and not heal["unreachable_bricks"]:
            break
        assert time.monotonic() < deadline, f"heal backlog did not drain in 120 s: {heal}"
        time.sleep(3)
    assert tb.exec("node3", "cat /srv/glusterfs/fl/d20").stdout.strip() == "during-20"


def test_fourth_node_expands_to_2x3_without_data_loss(tb: Testbed) -> None:
    node4 = tb.add_node()
    tb.exec(node4, "systemctl enable --now glusterd && mkdir -p /srv/glusterfs")
    play(tb, "gluster_peer.yml", extra_vars={"gp_peers": [*NODES, node4]}).assert_ok()
    tb.exec("node1", "mkdir -p /mnt/glusterfs/fl/ckpt && for i in $(seq 1 30); do "
                     "head -c 20000 /dev/urandom > /mnt/glusterfs/fl/ckpt/m$i.bin; done")
    sums = "cd /mnt/glusterfs/fl && find . -type f | sort | xargs sha256sum"
    before = tb.exec("node1", sums).stdout
    bricks = [f"{n}:/srv/glusterfs/fl" for n in NODES] + [f"{node4}:/srv/glusterfs/fl2", "node1:/srv/glusterfs/fl2",
                                                          "node2:/srv/glusterfs/fl2"]
    check = volume_play(tb, check=True, name="fl", bricks=bricks).assert_ok()
    assert check.changed() == 1 and len(volumes(tb)["fl"]["bricks"]) == 3
    volume_play(tb, name="fl", bricks=bricks).assert_ok()
    vol = volumes(tb)["fl"]
    assert (vol["type"], vol["dist_count"], vol["bricks"]) == ("distributed-replicate", 2, bricks)
    moved = tb.exec(node4, "find /srv/glusterfs/fl2 -path '*/.glusterfs' -prune -o -type f -print | wc -l").stdout
    assert int(moved) > 0, "rebalance moved nothing onto the new set"
    assert tb.exec("node1", sums).stdout == before
    assert volume_play(tb, check=True, name="fl", bricks=bricks).assert_ok().changed() == 0
