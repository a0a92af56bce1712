"""The plan: desired vs current (parsed from recorded gluster 10.3 outputs) → ordered commands + diff."""
from __future__ import annotations

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster import parse
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.plan import PlanError, plan_peers, plan_volume

from .conftest import fixture

B3 = ["node1:/bricks/gvr", "node2:/bricks/gvr", "node3:/bricks/gvr"]
NEW3 = ["node4:/bricks/gvr2", "node1:/bricks/gvr2", "node2:/bricks/gvr2"]
KNOWN = sorted(parse.parse_set_help(fixture("volume_set_help.xml")))


def current(name: str = "gvr", info: str = "volume_info_all.xml") -> dict:
    vol = parse.parse_volumes(parse.cli_root(fixture(info)))[name]
    vol["effective_options"] = parse.parse_get(parse.cli_root(fixture("volume_get_all.xml")))
    return vol


def want(**kw: object) -> dict:
    base = {"name": "gvr", "state": "present", "status": "started", "bricks": [], "replica": None, "arbiter": None,
            "disperse": None, "redundancy": None, "options": {}, "force": False, "rebalance": True}
    base.update(kw)
    return base


def cmds(plan: dict) -> list:
    return [" ".join(s["args"]) for s in plan["steps"]]


# ---------------------------------------------------------------- create
def test_create_replica3_with_options_then_start() -> None:
    plan = plan_volume(want(name="fl", replica=3, bricks=B3, options={"performance.cache-size": "64MB"}), None,
                       {"known_options": KNOWN, "options_complete": True})
    assert cmds(plan) == ["volume create fl replica 3 " + " ".join(B3),
                          "volume set fl performance.cache-size 64MB", "volume start fl"]
    assert plan["commands"][0].startswith("gluster volume create fl replica 3")
    assert plan["diff"]["before"] == {"state": "absent"}
    assert plan["diff"]["after"]["type"] == "replicate" and plan["diff"]["after"]["status"] == "started"


@pytest.mark.parametrize("kw, layout, vtype", [
    ({"replica": 3, "arbiter": 1}, "replica 3 arbiter 1", "replicate"),
    ({"disperse": 3, "redundancy": 1}, "disperse 3 redundancy 1", "disperse"),
    ({"replica": 3, "bricks": B3 + NEW3}, "replica 3", "distributed-replicate"),
    ({}, "", "distribute"),
])
def test_create_layouts(kw: dict, layout: str, vtype: str) -> None:
    kw.setdefault("bricks", B3)
    plan = plan_volume(want(name="v", force=True, **kw), None)
    assert cmds(plan)[0] == " ".join(x for x in ["volume create v", layout, " ".join(kw["bricks"]), "force"] if x)
    assert plan["diff"]["after"]["type"] == vtype


def test_create_stopped_volume_is_not_started() -> None:
    plan = plan_volume(want(name="v", replica=3, bricks=B3, status="stopped"), None)
    assert cmds(plan) == ["volume create v replica 3 " + " ".join(B3)]


# ---------------------------------------------------------------- refusals (nothing planned)
@pytest.mark.parametrize("kw, ctx, field, text", [
    ({"replica": 3, "bricks": B3 + ["node4:/b"]}, {}, "replica:", "multiple of 3"),
    ({"replica": 3, "bricks": B3}, {"root_bricks": ["node1:/bricks/gvr"]}, "bricks:", "root filesystem"),
    ({"replica": 3, "bricks": ["node1:/a", "node1:/b", "node2:/a"]}, {}, "bricks:", "two bricks on one host"),
    ({"replica": 3, "bricks": B3}, {"missing_hosts": ["node3"]}, "bricks:", "not in the trusted storage pool"),
    ({"replica": 3, "bricks": B3, "options": {"performance.cache-sise": "1MB"}},
     {"known_options": KNOWN, "options_complete": True}, "options:", "did you mean performance.cache-size"),
    ({"bricks": []}, {}, "bricks:", "does not exist"),
])
def test_create_refusals(kw: dict, ctx: dict, field: str, text: str) -> None:
    with pytest.raises(PlanError) as err:
        plan_volume(want(name="v", **kw), None, ctx)
    assert str(err.value).startswith(field) and text in str(err.value)


def test_force_overrides_root_but_not_layout_or_missing_hosts() -> None:
    plan = plan_volume(want(name="v", replica=3, bricks=B3, force=True), None, {"root_bricks": B3})
    assert cmds(plan)[0].endswith("force")
    # gluster itself fails on such a layout even with force ("Failed to create volume files", recorded in
    # volume_create_bad_count.xml) after marking the brick directories: refused before anything runs.
    for kw in ({"replica": 3, "bricks": B3 + ["node4:/b"]}, {"disperse": 3, "bricks": B3 + ["node4:/b"]},
               {"replica": 3, "arbiter": 1, "bricks": B3 + ["node4:/b"]}):
        with pytest.raises(PlanError, match="multiple of 3") as err:
            plan_volume(want(name="v", force=True, **kw), None)
        assert err.value.message.endswith("nothing was changed") and err.value.field in ("replica", "bricks")
    with pytest.raises(PlanError, match="multiple of 3"):
        plan_volume(want(bricks=B3 + NEW3[:2], force=True), current())
    with pytest.raises(PlanError, match="trusted storage pool"):
        plan_volume(want(name="v", replica=3, bricks=B3, force=True), None, {"missing_hosts": ["node2"]})


def test_unknown_option_only_warned_without_a_volume_to_compare() -> None:
    plan = plan_volume(want(name="v", replica=3, bricks=B3, force=True, options={"nfs.disable": True}), None,
                       {"known_options": KNOWN, "options_complete": False})
    assert "volume set v nfs.disable on" in cmds(plan) and plan["warnings"]


@pytest.mark.parametrize("kw, text", [
    ({"name": "bad name"}, "name:"),
    ({"bricks": ["node1/bricks"]}, "bricks:"),
    ({"bricks": ["n1:/a", "n1:/a"]}, "more than once"),
    ({"replica": 3, "disperse": 3}, "mutually exclusive"),
    ({"replica": 2, "arbiter": 1}, "arbiter: 1 needs replica: 3"),
    ({"disperse": 2}, "disperse: 2 must be at least 3"),
    ({"disperse": 4, "redundancy": 2}, "redundancy: 2"),
    ({"redundancy": 1}, "redundancy needs disperse"),
    ({"replica": 0}, "replica: 0"),
])
def test_argument_validation(kw: dict, text: str) -> None:
    with pytest.raises(PlanError, match=text):
        plan_volume(want(**kw), current())


# ---------------------------------------------------------------- existing volume
def test_converged_volume_plans_nothing() -> None:
    plan = plan_volume(want(replica=3, bricks=B3, options={"performance.cache-size": "64mb",
                                                           "cluster.self-heal-daemon": True,
                                                           "cluster.lookup-optimize": "yes"}), current())
    assert plan["steps"] == [] and plan["diff"]["before"] == plan["diff"]["after"]


def test_option_set_and_reset_with_diff() -> None:
    plan = plan_volume(want(options={"performance.cache-size": "128MB", "cluster.self-heal-daemon": None,
                                     "cluster.lookup-optimize": None}), current())
    assert cmds(plan) == ["volume reset gvr cluster.self-heal-daemon", "volume set gvr performance.cache-size 128MB"]
    assert plan["diff"]["before"]["options"] == {"performance.cache-size": "64MB", "cluster.self-heal-daemon": "enable",
                                                 "cluster.lookup-optimize": "on (default)"}
    assert plan["diff"]["after"]["options"]["performance.cache-size"] == "128MB"
    assert plan["diff"]["after"]["options"]["cluster.self-heal-daemon"] == "(default)"


def test_unknown_option_on_existing_volume_is_refused() -> None:
    with pytest.raises(PlanError, match="gluster has no option 'nosuch.option'"):
        plan_volume(want(options={"nosuch.option": "on"}), current())


def test_start_stop() -> None:
    created = current("gvdr")
    assert cmds(plan_volume(want(name="gvdr"), created)) == ["volume start gvdr"]
    plan = plan_volume(want(status="stopped"), current())
    assert cmds(plan) == ["volume stop gvr"] and plan["diff"]["after"]["status"] == "stopped"


def test_absent_stops_then_deletes() -> None:
    assert cmds(plan_volume(want(state="absent"), current())) == ["volume stop gvr", "volume delete gvr"]
    assert cmds(plan_volume(want(name="gvdr", state="absent"), current("gvdr"))) == ["volume delete gvdr"]
    assert plan_volume(want(state="absent"), None)["steps"] == []


def test_expand_to_2x3_adds_then_rebalances_and_waits() -> None:
    plan = plan_volume(want(bricks=B3 + NEW3), current())
    assert cmds(plan) == ["volume add-brick gvr " + " ".join(NEW3), "volume rebalance gvr start"]
    assert plan["steps"][1]["wait"] == "rebalance"
    assert "gluster volume rebalance gvr status (until completed)" in plan["commands"][1]
    assert plan["diff"]["after"]["type"] == "distributed-replicate"


def test_expand_needs_whole_sets() -> None:
    with pytest.raises(PlanError, match="multiple of 3"):
        plan_volume(want(bricks=B3 + NEW3[:2]), current())


def test_shrink_is_start_wait_commit() -> None:
    grown = current(info="volume_info_distrep_2x3.xml")
    plan = plan_volume(want(bricks=B3), grown)
    assert cmds(plan) == ["volume remove-brick gvr " + " ".join(NEW3) + " start",
                          "volume remove-brick gvr " + " ".join(NEW3) + " commit"]
    assert plan["steps"][0]["wait"] == "remove-brick"
    assert plan["diff"]["after"]["type"] == "replicate"


@pytest.mark.parametrize("bricks, text", [
    (B3 + NEW3[:2], "without lowering replica would leave it short"),
    ([], None),
])
def test_shrink_refusals(bricks: list, text: object) -> None:
    grown = current(info="volume_info_distrep_2x3.xml")
    if text is None:
        assert plan_volume(want(bricks=bricks), grown)["steps"] == []  # no bricks given: left alone
        return
    with pytest.raises(PlanError, match=str(text)):
        plan_volume(want(bricks=bricks), grown)


def test_replacing_every_brick_is_refused() -> None:
    dist = current("gvdr")
    dist["status"] = "started"
    with pytest.raises(PlanError, match="is a brick replacement"):
        plan_volume(want(name="gvdr", bricks=["node9:/x", "node8:/x"]), dist)


def test_replica_2_to_3_with_arbiter() -> None:
    two = current("gv2", "volume_info_after_replica_change.xml")
    two.update(replica=2, bricks=two["bricks"][:2], brick_count=2, type="replicate")
    plan = plan_volume(want(name="gv2", replica=3, arbiter=1, bricks=[*two["bricks"], "node4:/arb/gv2"]), two)
    assert cmds(plan) == ["volume add-brick gv2 replica 3 arbiter 1 node4:/arb/gv2", "volume heal gv2 full"]
    assert plan["steps"][1]["plain"] is True
    assert plan["diff"]["after"]["replica"] == 3 and plan["diff"]["after"]["arbiter"] == 1


def test_replica_up_on_two_sets_orders_new_bricks_by_set() -> None:
    vol = current("gvdr")
    vol["status"] = "started"
    s1, s2 = vol["bricks"][:2], vol["bricks"][2:]
    plan = plan_volume(want(name="gvdr", replica=3, bricks=[*s1, "node3:/n1", *s2, "node2:/n2"]), vol)
    assert cmds(plan)[0] == "volume add-brick gvdr replica 3 node3:/n1 node2:/n2"
    with pytest.raises(PlanError, match="list each existing set"):
        plan_volume(want(name="gvdr", replica=3, bricks=[s1[0], s2[0], "node3:/n1", s1[1], s2[1], "node2:/n2"]), vol)


def test_replica_down_removes_one_per_set_with_force() -> None:
    plan = plan_volume(want(replica=2, bricks=B3[:2]), current(), {"offline_bricks": [], "heal_pending": 0})
    assert cmds(plan) == ["volume remove-brick gvr replica 2 node3:/bricks/gvr force"]


@pytest.mark.parametrize("ctx, text", [
    ({"offline_bricks": ["node2:/bricks/gvr"]}, "offline"),
    ({"heal_pending": 21}, "21 entries await heal"),
])
def test_replica_down_refused_while_copies_may_be_stale(ctx: dict, text: str) -> None:
    with pytest.raises(PlanError, match=text):
        plan_volume(want(replica=2, bricks=B3[:2]), current(), ctx)
    assert plan_volume(want(replica=2, bricks=B3[:2], force=True), current(), ctx)["steps"]


def test_replica_down_never_removes_a_whole_set() -> None:
    grown = current(info="volume_info_distrep_2x3.xml")
    with pytest.raises(PlanError, match="last copy"):
        plan_volume(want(replica=1, bricks=B3[:1], force=True), grown)


def test_disperse_count_cannot_change() -> None:
    with pytest.raises(PlanError, match="cannot change the disperse count"):
        plan_volume(want(name="gvd", disperse=4, bricks=["node1:/bricks/gvd"]), current("gvd"))
    with pytest.raises(PlanError, match="cannot convert it to dispersed"):
        plan_volume(want(disperse=3, bricks=B3), current())


def test_peers_plan() -> None:
    assert plan_peers("present", ["node2"], [])["commands"] == ["gluster peer probe node2"]
    assert plan_peers("absent", [], ["node4"])["commands"] == ["gluster peer detach node4"]
    assert plan_peers("present", [], ["node2"])["steps"] == []
