"""Hostile input and failures half-way, against recorded gluster 10.3 outputs (issue "works on a fresh machine").

- ``force: true`` with a brick count that does not fill the sets: refused before gluster runs (gluster itself
  fails with "Failed to create volume files" after marking the brick directories).
- A failed ``volume create``: what it left on this node's brick directories is removed; bricks of other
  hosts are reported (``changed=True``) with how to clean them.
- Names that do not resolve: refused with "does not resolve" before anything runs.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import execute
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster import backend
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.peer import PeerBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.volume import VolumeBackend
from ansible_collections.fedmesh.cluster.plugins.modules import gluster_peer, gluster_volume

from .conftest import FakeGluster, fixture
from .test_backend_modules import READ, fake_resolve, run

MUTATING = ("create", "add-brick", "remove-brick", "set", "reset", "start", "stop", "delete", "rebalance",
            "probe", "detach")
MARK = "trusted.glusterfs.volume-id"
OPTS = {"volume get gva all": "volume_get_all.xml"}


def mutations(calls: list) -> list:
    return [c for c in calls if c.split()[1] in MUTATING and "help-xml" not in c]


def params(**kw: Any) -> dict:
    base = {"name": "new", "state": "present", "status": "started", "bricks": [], "replica": None, "arbiter": None,
            "disperse": None, "redundancy": None, "options": {}, "force": False, "rebalance": True, "timeout": 60}
    base.update(kw)
    return base


@pytest.fixture
def nodes(monkeypatch: Any) -> None:
    monkeypatch.setattr(backend, "is_local", lambda host: host in ("node1", "localhost"))
    monkeypatch.setattr(backend, "resolve", fake_resolve)
    monkeypatch.setattr(backend, "root_bricks", lambda bricks: [])


# ---------------------------------------------------------------- layout, with force
@pytest.mark.parametrize("layout", [{"replica": 3}, {"disperse": 3}, {"replica": 3, "arbiter": 1}])
@pytest.mark.hostile(
    "gluster",
    "`gluster_volume` `force: true` with a brick count that does not fill the replica/disperse sets",
    "error naming `replica`/`disperse`, nothing run, nothing changed",
)
def test_force_with_bricks_that_do_not_fill_the_sets_is_refused_before_gluster(layout: dict, capsys, monkeypatch):
    answers = {**READ, "volume info new": "volume_info_missing.xml"}
    args = {"name": "new", "force": True, "bricks": ["node1:/b/n", "node2:/b/n", "node3:/b/n", "node1:/b/n2"],
            **layout}
    result, calls = run(gluster_volume.main, args, capsys, monkeypatch, answers)
    assert result["failed"] and result["changed"] is False and result["field"] in ("replica", "bricks")
    assert "4 bricks cannot be split into" in result["msg"] and result["msg"].endswith("nothing was changed")
    assert mutations(calls) == []


# ---------------------------------------------------------------- a create that fails half-way
class MarkingCreate(FakeGluster):
    """A gluster whose create marks this node's brick directories (as glusterd's staging does), then fails."""

    def __init__(self, name: str, answer: str) -> None:
        super().__init__({**READ, **OPTS, f"volume info {name}": "volume_info_missing.xml"})
        self.answer = answer

    def __call__(self, argv: list) -> tuple:
        if argv[3:5] != ["volume", "create"]:
            return super().__call__(argv)
        self.calls.append(" ".join(argv[3:]))
        for brick in argv:
            if brick.startswith("node1:"):
                path = brick.split(":", 1)[1]
                os.makedirs(path, exist_ok=True)
                os.setxattr(path, MARK, b"\x01" * 16)
                os.mkdir(os.path.join(path, ".glusterfs"))
        return 0, fixture(self.answer), ""


@pytest.mark.hostile(
    "gluster",
    "`volume create` failing inside gluster after the module made brick dirs",
    "this node's bricks cleaned; `changed=true` with cleanup commands for the others",
)
def test_failed_create_undoes_this_nodes_bricks_and_reports_the_others(tmp_path: Path, nodes: None) -> None:
    mine, kept = tmp_path / "new", tmp_path / "old"
    kept.mkdir()  # an existing empty directory: only the marks gluster adds go
    bricks = [f"node1:{mine}", "node2:/b/new", "node3:/b/new", f"node1:{kept}", "node2:/b/n2", "node3:/b/n2"]
    fake = MarkingCreate("new", "volume_create_bad_count.xml")
    vb = VolumeBackend(params(replica=3, bricks=bricks, force=True), fake)
    with pytest.raises(FedmeshError) as err:
        execute(vb, check_mode=False)
    exc = err.value
    assert exc.field == "bricks" and exc.changed is True and "Failed to create volume files" in exc.message
    assert not mine.exists() and kept.is_dir() and MARK not in os.listxattr(kept)
    assert not (kept / ".glusterfs").exists()
    assert "node2:/b/new" in exc.message and "setfattr -x trusted.glusterfs.volume-id" in exc.message
    assert exc.details["undone"] == [f"node1:{mine}", f"node1:{kept}"]


def test_failed_create_on_this_nodes_bricks_only_is_undone_and_nothing_remains(tmp_path: Path, nodes: None) -> None:
    bricks = [f"node1:{tmp_path}/a", f"node1:{tmp_path}/b"]
    vb = VolumeBackend(params(bricks=bricks, force=True), MarkingCreate("new", "volume_create_bad_count.xml"))
    with pytest.raises(FedmeshError) as err:
        execute(vb, check_mode=False)
    assert err.value.changed is False and err.value.message.endswith("nothing was changed")
    assert "removed what gluster left" in err.value.message
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_create_refused_in_local_staging_touches_no_peer(tmp_path: Path, nodes: None) -> None:
    fake = FakeGluster({**READ, **OPTS, "volume info new": "volume_info_missing.xml",
                        "volume create new replica 3 node1:/x/new node2:/x/new node3:/x/new":
                            "volume_create_root_error.xml"})
    vb = VolumeBackend(params(replica=3, bricks=["node1:/x/new", "node2:/x/new", "node3:/x/new"]), fake)
    with pytest.raises(FedmeshError) as err:
        execute(vb, check_mode=False)
    assert err.value.changed is False and err.value.field == "bricks" and "root partition" in err.value.message


@pytest.mark.hostile(
    "gluster",
    "a volume option gluster rejects after other steps ran",
    "error naming `options`, `changed=true`, the commands that ran",
)
def test_a_step_failing_after_others_ran_reports_what_ran(nodes: None) -> None:
    b3 = ["node1:/x/new", "node2:/x/new", "node3:/x/new"]
    fake = FakeGluster({**READ, **OPTS, "volume info new": "volume_info_missing.xml",
                        "volume create new replica 3 " + " ".join(b3): "volume_create_ok.xml",
                        "volume set new performance.cache-size lots": (0, fixture("volume_set_badvalue.xml"))})
    vb = VolumeBackend(params(replica=3, bricks=b3, options={"performance.cache-size": "lots"}), fake)
    with pytest.raises(FedmeshError) as err:
        execute(vb, check_mode=False)
    exc = err.value
    assert exc.field == "options" and exc.changed is True and "Validation Failed" in exc.message
    assert "gluster volume create new replica 3" in exc.message and "nothing was changed" not in exc.message


# ---------------------------------------------------------------- names that do not resolve
@pytest.mark.hostile(
    "gluster",
    "`gluster_peer` with a name that does not resolve",
    "\"does not resolve\" with the name, nothing probed",
)
def test_peer_that_does_not_resolve_is_refused_before_any_probe(capsys, monkeypatch) -> None:
    for check in (True, False):
        args = {"peers": ["node1", "node2", "nosuch-node.invalid"], "_ansible_check_mode": check}
        result, calls = run(gluster_peer.main, args, capsys, monkeypatch, {**READ, "pool list": ["pool_list.xml"]})
        assert result["failed"] and result["field"] == "peers" and result["changed"] is False
        assert "['nosuch-node.invalid'] do not resolve" in result["msg"]
        assert result["msg"].endswith("nothing was changed") and mutations(calls) == []


def test_detaching_a_name_that_does_not_resolve_is_not_refused(nodes: None) -> None:
    fake = FakeGluster({**READ})
    pb = PeerBackend({"peers": ["gone.invalid"], "state": "absent", "wait": True, "timeout": 10}, fake)
    assert execute(pb, check_mode=True).commands == []


@pytest.mark.hostile(
    "gluster",
    "a brick host that does not resolve",
    "error naming `bricks` and the host, nothing changed",
)
def test_brick_host_that_does_not_resolve_is_refused(capsys, monkeypatch) -> None:
    answers = {**READ, "volume info new": "volume_info_missing.xml"}
    for check in (True, False):
        args = {"name": "new", "replica": 3, "force": True, "_ansible_check_mode": check,
                "bricks": ["node1:/b/new", "node2:/b/new", "nosuch-node.invalid:/b/new"]}
        result, calls = run(gluster_volume.main, args, capsys, monkeypatch, answers)
        assert result["failed"] and result["field"] == "bricks" and result["changed"] is False
        assert "['nosuch-node.invalid'] do not resolve" in result["msg"] and mutations(calls) == []


def test_brick_host_that_does_not_resolve_is_refused_in_check_mode_on_a_fresh_node(capsys, monkeypatch) -> None:
    args = {"name": "fl", "replica": 3, "force": True, "_ansible_check_mode": True,
            "bricks": ["node1:/b/fl", "node2:/b/fl", "typo-node3:/b/fl"]}
    result, _calls = run(gluster_volume.main, args, capsys, monkeypatch,
                         {"peer status": (1, fixture("glusterd_down.txt"))})
    assert result["failed"] and "['typo-node3'] do not resolve" in result["msg"]
