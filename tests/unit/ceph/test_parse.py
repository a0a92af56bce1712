"""Parsers on outputs recorded from a real Ceph 16.2.15 cluster (tests/unit/fixtures/ceph)."""
from __future__ import annotations

import json

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph import parse

from .conftest import VERSION, fixture


def load(name: str):
    return parse.loads(fixture(name))


def test_osd_dump_gives_pools_profiles_and_osds_in_one_call() -> None:
    dump = parse.parse_osd_dump(load("osd_dump.json"))
    assert sorted(dump["pools"]) == ["cephfs_data", "cephfs_metadata", "device_health_metrics", "ecpool", "rbdpool"]
    rbd = dump["pools"]["rbdpool"]
    assert (rbd["type"], rbd["size"], rbd["min_size"], rbd["applications"], rbd["quota_max_bytes"]) == \
        ("replicated", 3, 2, ["rbd"], 1073741824)
    ec = dump["pools"]["ecpool"]
    assert ec["type"] == "erasure" and ec["erasure_profile"] == "ec21"
    assert dump["erasure_profiles"]["ec21"]["k"] == "2" and dump["erasure_profiles"]["ec21"]["m"] == "1"
    assert [o["id"] for o in dump["osds"]] == [0, 1, 2] and all(o["up"] and o["in"] for o in dump["osds"])


def test_pool_ls_detail_has_the_same_shape() -> None:
    pools = {p["pool_name"]: parse.pool_snapshot(p) for p in load("osd_pool_ls_detail.json")}
    assert pools["cephfs_data"]["applications"] == ["cephfs"] and pools["rbdpool"]["id"] == 2


def test_health_ok_and_degraded() -> None:
    assert parse.parse_health(load("health_detail.json")) == {"status": "HEALTH_OK", "checks": {}}
    bad = parse.parse_health(load("degraded_health_detail.json"))
    assert bad["status"] == "HEALTH_WARN" and set(bad["checks"]) == {"OSD_DOWN", "PG_DEGRADED"}
    assert bad["checks"]["OSD_DOWN"]["detail"] == ["osd.2 (root=default,host=node1) is down"]


def test_pg_stat_clean_and_degraded() -> None:
    clean = parse.parse_pg_stat(load("pg_stat.json"))
    assert clean["all_active_clean"] and clean["total"] == 89
    degraded = parse.parse_pg_stat(load("degraded_pg_stat.json"))
    assert not degraded["all_active_clean"] and degraded["degraded_objects"] == 22
    assert degraded["states"] == {"active+undersized": 83, "active+undersized+degraded": 6}


def test_pgmap_of_status_reads_the_same() -> None:
    assert parse.parse_pg_stat(load("status.json")["pgmap"]) == parse.parse_pg_stat(load("pg_stat.json"))
    degraded = parse.parse_pg_stat(load("degraded_status.json")["pgmap"])
    assert degraded["degraded_objects"] == 22 and not degraded["all_active_clean"]


def test_degraded_osd_dump_shows_the_down_osd() -> None:
    osds = parse.parse_osd_dump(load("degraded_osd_dump.json"))["osds"]
    assert [o["id"] for o in osds if not o["up"]] == [2]


def test_quorum_mgr_status_fs() -> None:
    q = parse.parse_quorum(load("quorum_status.json"))
    assert q == {"mons": ["node1"], "quorum": ["node1"], "out_of_quorum": [], "leader": "node1"}
    assert parse.parse_mgr(load("mgr_dump.json"))["active"] == "node1"
    status = parse.parse_status(load("status.json"))
    assert status["osds"] == {"total": 3, "up": 3, "in": 3}
    fs = parse.parse_fs_dump(load("fs_dump.json"))["fsdata"]
    assert fs["metadata_pool"] == 4 and fs["data_pools"] == [5] and fs["active"] == 1 and fs["max_mds"] == 1


def test_auth_get_keeps_the_key_apart() -> None:
    entry, key = parse.parse_auth(load("auth_get_client.agg.json"))
    assert key and key.startswith("AQ") and key not in json.dumps(entry)
    assert entry["caps"] == {"mds": "allow rw path=/agg", "mon": "allow r", "osd": "allow rw tag cephfs data=fsdata"}


def test_config_dump_by_section() -> None:
    dump = parse.parse_config_dump(load("config_dump.json"))
    assert dump["osd"]["osd_max_backfills"] == "2" and dump["global"]["mon_allow_pool_delete"] == "false"


@pytest.mark.parametrize(("value", "kind", "stored"), [
    ("1G", "size", "1073741824"), ("939524096", "size", "939524096"), ("512M", "size", "536870912"),
    ("0.50", "float", "0.500000"), ("016", "int", "16"), (True, "bool", "true"), ("0", "bool", "false"),
    ("x y", "str", "x y")])
def test_values_are_compared_as_ceph_stores_them(value, kind, stored) -> None:
    # Pairs observed with `ceph config set` then `ceph config dump` on pacific 16.2.15.
    assert parse.normalise(value, kind) == stored


@pytest.mark.parametrize(("value", "kind"), [("notanumber", "size"), ("yes", "bool"), ("10m", "int"), ("-1", "uint")])
def test_values_ceph_refuses(value, kind) -> None:
    with pytest.raises(ValueError):
        parse.normalise(value, kind)


def test_caps_grammar() -> None:
    assert parse.caps_problems({"mon": "allow r", "osd": "allow rw tag cephfs data=x, allow r pool=y",
                                "mgr": "allow profile mgr", "mds": "allow"}) == []
    assert parse.caps_problems({"mon": "profile rbd"}) == []
    assert parse.caps_problems({"mon": "allow r'; rm -rf"})
    assert parse.caps_problems({"monn": "allow r"})
    assert parse.caps_problems({"osd": "grant all"})


def test_version_and_junk() -> None:
    assert parse.parse_version(VERSION) == {"version": "16.2.15", "major": 16, "release": "pacific"}
    with pytest.raises(parse.CephError):
        parse.loads("Error EINVAL: nope")
    with pytest.raises(parse.CephError):
        parse.loads("\n")


def test_keyring_text_is_what_ceph_authtool_writes() -> None:
    assert parse.keyring_text("client.x", "AQAB==", {"mon": "allow r"}) == \
        '[client.x]\n\tkey = AQAB==\n\tcaps mon = "allow r"\n'
