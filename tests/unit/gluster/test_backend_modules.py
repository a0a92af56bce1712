"""Backend (commands, waits, bounded timeouts) and the modules end to end, against recorded gluster 10.3 outputs.

``FakeGluster`` answers each gluster command with the XML recorded from the real CLI, so the modules run
unchanged (AnsibleModule.run_command is replaced) and the tests see every command they would run.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster import backend
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.parse import GlusterError
from ansible_collections.fedmesh.cluster.plugins.modules import gluster_peer, gluster_volume, gluster_volume_info

from .conftest import FakeGluster, fixture

B3 = ["node1:/bricks/gvr", "node2:/bricks/gvr", "node3:/bricks/gvr"]
NEW3 = ["node4:/bricks/gvr2", "node1:/bricks/gvr2", "node2:/bricks/gvr2"]
REMOVE = "volume remove-brick gvr " + " ".join(NEW3)
READ = {"peer status": "peer_status.xml", "pool list": "pool_list.xml", "volume info gvr": "volume_info_all.xml",
        "volume get gvr all": "volume_get_all.xml", "volume set help-xml": "volume_set_help.xml",
        "volume info": "volume_info_all.xml"}


def clock_from(times: list) -> Any:
    it = iter(times)
    return lambda: next(it)


# ---------------------------------------------------------------- backend
def test_remove_brick_waits_for_completion_then_commits() -> None:
    fake = FakeGluster({REMOVE + " start": "remove_brick_start.xml",
                        REMOVE + " status": ["remove_brick_status_running.xml", "remove_brick_status_done.xml"],
                        REMOVE + " commit": "remove_brick_commit.xml"})
    gl = backend.Gluster(fake, sleep=lambda s: None)
    steps = [{"args": REMOVE.split() + ["start"], "wait": "remove-brick", "ok": []},
             {"args": REMOVE.split() + ["commit"], "wait": None, "ok": []}]
    done = gl.apply(steps, timeout=60)
    # status answers "in progress" first, then "completed": one more poll, and commit only after it
    assert fake.calls == [REMOVE + " start", REMOVE + " status", REMOVE + " status", REMOVE + " commit"]
    assert done[0]["task"]["status"] == "completed" and len(gl.applied) == 2


def test_wait_is_bounded_and_never_commits() -> None:
    running = fixture("rebalance_status_done.xml").replace("<statusStr>completed</statusStr>",
                                                           "<statusStr>in progress</statusStr>")
    fake = FakeGluster({"volume rebalance gvr start": "rebalance_start.xml",
                        "volume rebalance gvr status": (0, running)})
    gl = backend.Gluster(fake, sleep=lambda s: None, clock=clock_from([0, 1, 5, 11, 20]))
    with pytest.raises(GlusterError, match="after 10s"):
        gl.apply([{"args": ["volume", "rebalance", "gvr", "start"], "wait": "rebalance", "ok": []}], timeout=10)


def test_migration_failures_stop_before_commit() -> None:
    failed = fixture("remove_brick_status_done.xml").replace("<failures>0</failures>", "<failures>2</failures>")
    fake = FakeGluster({REMOVE + " start": "remove_brick_start.xml", REMOVE + " status": (0, failed)})
    gl = backend.Gluster(fake, sleep=lambda s: None)
    with pytest.raises(GlusterError, match="failed file"):
        gl.apply([{"args": REMOVE.split() + ["start"], "wait": "remove-brick", "ok": []},
                  {"args": REMOVE.split() + ["commit"], "wait": None, "ok": []}], timeout=60)
    assert REMOVE + " commit" not in fake.calls


def test_reachable_missing_volume_and_heal_fallback() -> None:
    down = backend.Gluster(FakeGluster({"peer status": (1, fixture("glusterd_down.txt"))}))
    assert "gluster daemon is operational" in down.reachable()
    gl = backend.Gluster(FakeGluster({"volume info nope": "volume_info_missing.xml",
                                      "volume heal gvr info summary": (0, "garbage"),
                                      "volume heal gvr info": "heal_info_node_down.xml"}))
    assert gl.volume("nope") is None
    assert gl.heal("gvr")["unreachable_bricks"] == ["node3:/bricks/gvr"]


def test_known_options_combine_help_and_volume_get() -> None:
    names, complete = backend.Gluster(FakeGluster({**READ, "volume get gva all": "volume_get_all.xml"})).known_options()
    assert complete and "nfs.disable" in names and "performance.cache-size" in names


def test_wait_peers_until_connected() -> None:
    fake = FakeGluster({"pool list": ["peer_status_disconnected.xml", "pool_list.xml"]})
    pool = backend.Gluster(fake, sleep=lambda s: None).wait_peers(["node2", "node3"], timeout=30)
    assert all(p["in_cluster"] for p in pool) and fake.calls == ["pool list", "pool list"]


def test_wait_peers_names_the_accepted_request_race_and_its_remedy() -> None:
    stuck = fixture("pool_list.xml").replace("<stateStr>Peer in Cluster</stateStr>",
                                             "<stateStr>Accepted peer request</stateStr>")
    assert "Accepted peer request" in stuck
    gl = backend.Gluster(FakeGluster({"pool list": (0, stuck)}), sleep=lambda s: None, clock=clock_from([0, 5, 11]))
    with pytest.raises(GlusterError, match=r"after 10s.*never completed the handshake.*resolves"):
        gl.wait_peers(["node2", "node3"], timeout=10)


def test_wait_peers_that_never_answer_get_the_network_hint() -> None:
    fake = FakeGluster({"pool list": "peer_status_disconnected.xml"})
    gl = backend.Gluster(fake, sleep=lambda s: None, clock=clock_from([0, 5, 11]))
    with pytest.raises(GlusterError, match="TCP 24007 is reachable") as exc:
        gl.wait_peers(["node2", "node3"], timeout=10)
    assert "handshake" not in str(exc.value)


# ---------------------------------------------------------------- modules
def fake_resolve(host: str) -> set:
    """The test bed's names: node1..node9 resolve (as aardvark-dns answers them), anything else does not."""
    if host == "localhost":
        return {"127.0.0.1"}
    return {f"10.89.0.{host[4:]}"} if host[:4] == "node" and host[4:].isdigit() else set()


def run(main: Any, args: dict, capsys: Any, monkeypatch: Any, answers: dict) -> tuple:
    fake = FakeGluster(answers)
    # Run as on a node: once any test imports controller code (a filter, a lookup), module_utils would send
    # warnings to the controller's display instead of the module result.
    monkeypatch.setattr(module_utils_internal, "is_controller", False)
    monkeypatch.setattr(AnsibleModule, "run_command", lambda self, argv, check_rc=False: fake(argv))
    monkeypatch.setattr(backend, "is_local", lambda host: host in ("node1", "localhost"))
    monkeypatch.setattr(backend, "resolve", fake_resolve)
    monkeypatch.setattr(backend, "root_bricks", lambda bricks: [])
    capsys.readouterr()
    with patch_module_args(args), pytest.raises(SystemExit):
        main()
    return json.loads(capsys.readouterr().out), fake.calls


def test_volume_check_mode_expansion_reports_commands_and_runs_nothing(capsys, monkeypatch) -> None:
    answers = {**READ, "pool list": (0, fixture("pool_list.xml").replace("node3</hostname>", "node3</hostname>"))}
    args = {"name": "gvr", "bricks": B3 + ["node2:/bricks/gvr2", "node3:/bricks/gvr2", "node1:/bricks/gvr2"],
            "_ansible_check_mode": True, "_ansible_diff": True}
    result, calls = run(gluster_volume.main, args, capsys, monkeypatch, answers)
    assert result["changed"] and result["commands"][0].startswith("gluster volume add-brick gvr node2:/bricks/gvr2")
    assert result["diff"]["after"]["type"] == "distributed-replicate"
    assert not any("add-brick" in c or "rebalance" in c for c in calls)


def test_volume_converged_is_unchanged(capsys, monkeypatch) -> None:
    args = {"name": "gvr", "replica": 3, "bricks": B3, "options": {"performance.cache-size": "64MB"}}
    result, calls = run(gluster_volume.main, args, capsys, monkeypatch, READ)
    assert not result["changed"] and result["commands"] == []
    assert not any(c.split()[1] in ("set", "create", "start") for c in calls
                   if c.startswith("volume ") and "help-xml" not in c)


@pytest.mark.parametrize("args, text", [
    ({"name": "gvr", "replica": 3, "disperse": 3}, "mutually exclusive"),
    ({"name": "gvr", "replica": 3, "bricks": B3 + ["node2:/x"]}, "multiple of 3"),
    ({"name": "gvr", "options": {"performance.cache-sise": "1MB"}}, "did you mean performance.cache-size"),
    ({"name": "gvr", "arbiter": 2}, "arbiter"),
    ({"name": "new", "replica": 3, "bricks": ["node1:/b", "node2:/b", "node9:/b"]}, "not in the trusted storage pool"),
])
def test_volume_bad_input_fails_before_any_change(args: dict, text: str, capsys, monkeypatch) -> None:
    answers = {**READ, "volume info new": "volume_info_missing.xml"}
    result, calls = run(gluster_volume.main, args, capsys, monkeypatch, answers)
    assert result["failed"] and text in result["msg"]
    mutating = ("create", "add-brick", "remove-brick", "set", "reset", "start", "stop", "delete", "rebalance")
    assert not [c for c in calls if c.split()[1] in mutating and "help-xml" not in c]


def test_volume_fresh_node_check_mode_assumes_absent(capsys, monkeypatch) -> None:
    args = {"name": "fl", "replica": 3, "bricks": B3, "force": True, "_ansible_check_mode": True}
    result, _calls = run(gluster_volume.main, args, capsys, monkeypatch,
                         {"peer status": (1, fixture("glusterd_down.txt"))})
    assert result["changed"] and result["commands"][0].startswith("gluster volume create fl replica 3")
    assert "glusterd is not reachable" in json.dumps(result.get("warnings", result))
    result, _calls = run(gluster_volume.main, {k: v for k, v in args.items() if k != "_ansible_check_mode"},
                         capsys, monkeypatch, {"peer status": (1, fixture("glusterd_down.txt"))})
    assert result["failed"] and "install and start glusterd" in result["msg"]


def test_peer_probes_only_missing_and_skips_itself(capsys, monkeypatch) -> None:
    answers = {**READ, "pool list": ["pool_list.xml"]}
    args = {"peers": ["node1", "node2", "node3", "node4"], "_ansible_check_mode": True, "_ansible_diff": True}
    result, _calls = run(gluster_peer.main, args, capsys, monkeypatch, answers)
    assert result["commands"] == ["gluster peer probe node4"]
    assert result["diff"]["after"]["peers"] == ["node2", "node3", "node4"]
    result, _calls = run(gluster_peer.main, {"peers": ["node2"], "state": "absent", "_ansible_check_mode": True},
                         capsys, monkeypatch, answers)
    assert result["commands"] == ["gluster peer detach node2"]


def test_volume_info_reports_bricks_online_and_heal(capsys, monkeypatch) -> None:
    answers = {"peer status": "peer_status.xml", "volume info": "volume_info_all.xml",
               "volume status gvr": "volume_status_brick_offline.xml",
               "volume status gva": "volume_status_all.xml", "volume status gvd": "volume_status_all.xml",
               "volume heal gvr info summary": "heal_info_summary_node_down.xml",
               "volume heal gva info summary": "heal_info_summary.xml",
               "volume heal gvd info summary": "heal_info_summary.xml", "pool list": "pool_list.xml"}
    result, _calls = run(gluster_volume_info.main, {}, capsys, monkeypatch, answers)
    gvr = result["volumes"]["gvr"]
    assert [b["online"] for b in gvr["bricks"]] == [True, True, False]
    assert gvr["heal"]["pending"] == 42 and result["volumes"]["gvdr"]["heal"] is None
    assert result["volumes"]["gvdr"]["bricks"][0]["online"] is None  # not started
    down, _calls = run(gluster_volume_info.main, {}, capsys, monkeypatch,
                       {"peer status": (1, fixture("glusterd_down.txt"))})
    assert down["available"] is False and down["volumes"] == {}


# The staging error seen in a real site.yml run on the test bed (node3 not yet connected to node2 right after
# node1 probed both), in the shape of the recorded error outputs above (written here, not recorded).
STAGING_NOT_CONNECTED = (1, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<cliOutput>\n'
                            "  <opRet>-1</opRet>\n  <opErrno>30800</opErrno>\n  <opErrstr>Staging failed on "
                            "10.80.0.157. Error: Host 10.80.0.54 not connected</opErrstr>\n</cliOutput>\n")
CREATE = "volume create gvr replica 3 " + " ".join(B3)


def test_create_is_retried_while_pool_members_are_still_connecting() -> None:
    fake = FakeGluster({CREATE: [STAGING_NOT_CONNECTED, STAGING_NOT_CONNECTED, "volume_create_ok.xml"]})
    gl = backend.Gluster(fake, sleep=lambda s: None, clock=clock_from([0, 1, 2, 3]))
    gl.apply([{"args": CREATE.split(), "wait": None, "ok": []}], timeout=60)
    assert fake.calls == [CREATE] * 3 and gl.applied == ["gluster " + CREATE]


def test_staging_retry_is_bounded_and_other_errors_are_not_retried() -> None:
    fake = FakeGluster({CREATE: [STAGING_NOT_CONNECTED]})
    gl = backend.Gluster(fake, sleep=lambda s: None, clock=clock_from([0, 30, 61]))
    with pytest.raises(GlusterError, match="not connected"):
        gl.apply([{"args": CREATE.split(), "wait": None, "ok": []}], timeout=60)
    assert len(fake.calls) == 2 and gl.applied == []
    fake = FakeGluster({CREATE: [(1, fixture("volume_create_bad_count.xml"))]})
    with pytest.raises(GlusterError, match="Failed to create volume files"):
        backend.Gluster(fake, sleep=lambda s: None).apply([{"args": CREATE.split(), "wait": None, "ok": []}], 60)
    assert len(fake.calls) == 1
