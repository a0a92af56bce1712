"""Backends of the ceph_* modules against recorded outputs: what they read (a constant number of calls),
what they would run (check mode), what they refuse before running anything."""
from __future__ import annotations

import json
import os

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.auth import AuthBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.config import ConfigBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.fs import FsBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.info import InfoBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.pool import PoolBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import execute

from .conftest import READ, FakeCeph, fixture

CONN = {"cluster": "ceph", "conf": None, "user": "client.admin", "keyring": None, "connect_timeout": 20}
POOL = dict(CONN, name="rbdpool", state="present", type="replicated", size=None, min_size=None, pg_num=None,
            pg_autoscale_mode=None, application=None, erasure_profile=None, erasure_profile_settings=None,
            quota_max_bytes=None, quota_max_objects=None, allow_delete=False)


def pool(**kw):
    return dict(POOL, **kw)


def test_info_reads_a_healthy_cluster_with_a_constant_number_of_calls() -> None:
    fake = FakeCeph(READ)
    facts = execute(InfoBackend(CONN, fake), check_mode=False).values
    assert facts["available"] and facts["healthy"] and facts["health"]["status"] == "HEALTH_OK"
    assert facts["osds"]["up"] == 3 and facts["mons"]["quorum"] == ["node1"]
    assert facts["filesystems"]["fsdata"]["data_pools"] == ["cephfs_data"]
    assert facts["version"]["release"] == "pacific"
    assert len(fake.calls) == 7 and "pg stat" not in fake.calls and fake.mutations() == []


@pytest.mark.parametrize(("subset", "calls", "keys"), [
    (["mons"], ["fsid", "quorum_status"], {"mons"}),
    (["osds"], ["fsid", "osd dump"], {"osds", "pools", "flags"}),
    (["health"], ["fsid", "status", "health detail"], {"health", "pgs", "healthy"}),
    (["fsid"], ["fsid"], set()),
    (["filesystems", "mgr"], ["fsid", "osd dump", "mgr dump", "fs dump"], {"filesystems", "mgr"}),
])
def test_info_gathers_only_the_subsets_asked(subset, calls, keys) -> None:
    fake = FakeCeph(READ)
    facts = execute(InfoBackend(dict(CONN, gather_subset=subset), fake), check_mode=False).values
    assert fake.calls == calls and facts["calls"] == len(calls)
    assert facts["available"] and facts["fsid"] == "5e70a876-3603-4f54-ae0e-130e7fec04a5"
    every = {"health", "pgs", "healthy", "mons", "mgr", "osds", "pools", "flags", "filesystems"}
    assert {k for k in every if k in facts} == keys
    assert facts["version"]["major"] == 16 and "version" in facts["gathered"]


def test_info_version_alone_does_not_ask_the_cluster() -> None:
    fake = FakeCeph({})  # any ceph call but --version fails the test
    facts = execute(InfoBackend(dict(CONN, gather_subset=["version"]), fake), check_mode=False).values
    assert fake.calls == [] and facts["version"]["release"] == "pacific" and "available" not in facts


def test_info_says_degraded() -> None:
    fake = FakeCeph(dict(READ, **{"health detail": "degraded_health_detail.json", "osd dump": "degraded_osd_dump.json",
                                  "status": "degraded_status.json"}))
    facts = execute(InfoBackend(CONN, fake), check_mode=False).values
    assert not facts["healthy"] and facts["osds"]["down"] == [2] and "OSD_DOWN" in facts["health"]["checks"]
    assert facts["pgs"]["degraded_objects"] == 22 and not facts["pgs"]["all_active_clean"]


def test_info_on_a_node_without_a_cluster_is_not_an_error() -> None:
    fake = FakeCeph({"fsid": (1, "", "did not load config file, using default settings.\n[errno 2] RADOS object not "
                                     "found (error connecting to the cluster)\n")})
    facts = execute(InfoBackend(CONN, fake), check_mode=False).values
    assert facts["available"] is False and "error connecting" in facts["reason"]


def test_a_cluster_that_does_not_answer_is_named_and_nothing_runs() -> None:
    fake = FakeCeph({"osd dump": (1, "", "[errno 110] RADOS timed out (error connecting to the cluster)\n")})
    with pytest.raises(FedmeshError) as err:
        execute(PoolBackend(pool(size=2), fake), False)
    assert "the Ceph cluster does not answer ([errno 110] RADOS timed out" in err.value.message
    assert err.value.message.endswith("nothing was changed") and fake.mutations() == []


def test_pool_unchanged_is_one_osd_dump() -> None:
    fake = FakeCeph(READ)
    result = execute(PoolBackend(pool(size=3, min_size=2, application="rbd", quota_max_bytes=1073741824), fake), False)
    assert result.changed is False and fake.calls == ["osd dump"]


def test_pool_size_change_check_mode_shows_the_diff_and_runs_nothing() -> None:
    fake = FakeCeph(READ)
    result = execute(PoolBackend(pool(size=2, min_size=1), fake), check_mode=True)
    assert result.changed and result.commands == ["ceph osd pool set rbdpool size 2",
                                                  "ceph osd pool set rbdpool min_size 1"]
    assert result.before["size"] == 3 and result.after["size"] == 2 and fake.mutations() == []


def test_pool_create_replicated_then_settings() -> None:
    fake = FakeCeph(dict(READ, **{"osd pool create new 16 16 replicated": (0, "", "pool 'new' created"),
                                  "osd pool set new size 3": (0, "", ""), "osd pool set new min_size 2": (0, "", ""),
                                  "osd pool set new pg_autoscale_mode off": (0, "", ""),
                                  "osd pool application enable new rbd": (0, "", "")}))
    args = pool(name="new", size=3, min_size=2, pg_num=16, pg_autoscale_mode="off", application="rbd")
    execute(PoolBackend(args, fake), check_mode=False)
    assert fake.mutations() == ["osd pool create new 16 16 replicated", "osd pool set new size 3",
                                "osd pool set new min_size 2", "osd pool set new pg_autoscale_mode off",
                                "osd pool application enable new rbd"]


def test_erasure_pool_creates_its_profile_first() -> None:
    fake = FakeCeph(READ)
    args = pool(name="arch", type="erasure", erasure_profile="ec42",
                erasure_profile_settings={"k": 2, "m": 1, "crush-failure-domain": "osd"})
    result = execute(PoolBackend(args, fake), check_mode=True)
    assert result.commands[:2] == ["ceph osd erasure-code-profile set ec42 crush-failure-domain=osd k=2 m=1",
                                   "ceph osd pool create arch erasure ec42"]


@pytest.mark.hostile("ceph", "`ceph_pool` `size` above the number of OSDs (Ceph itself accepts `size 9` with 3 OSDs)",
                     "error naming `size`, no ceph command run")
def test_size_above_the_osd_count_is_refused() -> None:
    fake = FakeCeph(READ)
    with pytest.raises(FedmeshError) as err:
        execute(PoolBackend(pool(size=9), fake), check_mode=False)
    assert err.value.field == "size" and "3 OSD(s)" in err.value.message and fake.mutations() == []


@pytest.mark.hostile("ceph", "`ceph_pool` a second application on a pool that has one", "error naming `application`")
def test_second_application_is_refused() -> None:
    with pytest.raises(FedmeshError) as err:
        execute(PoolBackend(pool(application="rgw"), FakeCeph(READ)), check_mode=False)
    assert err.value.field == "application"


@pytest.mark.hostile("ceph", "`ceph_pool` `state: absent` without `allow_delete`, or while the cluster forbids it",
                     "error naming `allow_delete` / `state`, nothing deleted")
def test_delete_needs_both_confirmations() -> None:
    fake = FakeCeph(dict(READ, **{"config get mon mon_allow_pool_delete": (0, "false\n", "")}))
    with pytest.raises(FedmeshError) as err:
        execute(PoolBackend(pool(state="absent"), fake), check_mode=False)
    assert err.value.field == "allow_delete"
    with pytest.raises(FedmeshError) as err:
        execute(PoolBackend(pool(state="absent", allow_delete=True), fake), check_mode=False)
    assert err.value.field == "state" and fake.mutations() == []


@pytest.mark.parametrize(("args", "field"), [({"pg_num": 12}, "pg_num"), ({"min_size": 4}, "min_size"),
                                             ({"type": "erasure", "name": "rbdpool"}, "type")])
def test_other_refusals(args, field) -> None:
    with pytest.raises(FedmeshError) as err:
        execute(PoolBackend(pool(**args), FakeCeph(READ)), check_mode=False)
    assert err.value.field in (field, "erasure_profile")


AUTH = dict(CONN, name="client.agg", state="present", caps=None, keyring_path=None, owner=None, group=None,
            mode="0600")


def test_auth_caps_updated_in_place_and_key_never_returned(tmp_path) -> None:
    caps = {"mon": "allow r", "mds": "allow rw path=/agg", "osd": "allow rw tag cephfs data=fsdata, allow r pool=x"}
    fake = FakeCeph({"fsid": READ["fsid"], "auth get client.agg": "auth_get_client.agg.json",
                     "auth caps client.agg mds allow rw path=/agg mon allow r osd allow rw tag cephfs data=fsdata, "
                     "allow r pool=x": (0, "", "updated caps for client.agg\n")})
    ring = tmp_path / "agg.keyring"
    result = execute(AuthBackend(dict(AUTH, caps=caps, keyring_path=str(ring), owner=None), fake), False)
    key = json.loads(fixture("auth_get_client.agg.json"))[0]["key"]
    assert result.changed and any(c.startswith("ceph auth caps client.agg") for c in result.commands)
    assert key in ring.read_text() and oct(os.stat(ring).st_mode & 0o777) == "0o600"
    assert key not in json.dumps(result.module_return(diff=True)) and all(key not in " ".join(a) for a in fake.argvs)


def test_auth_unchanged_with_the_same_keyring(tmp_path) -> None:
    fake = FakeCeph({"fsid": READ["fsid"], "auth get client.agg": "auth_get_client.agg.json"})
    ring = tmp_path / "agg.keyring"
    entry = json.loads(fixture("auth_get_client.agg.json"))[0]
    caps = entry["caps"]
    ring.write_text("[client.agg]\n\tkey = " + entry["key"] + "\n" +
                    "".join(f'\tcaps {d} = "{v}"\n' for d, v in sorted(caps.items())))
    os.chmod(ring, 0o600)
    result = execute(AuthBackend(dict(AUTH, caps=caps, keyring_path=str(ring)), fake), False)
    assert result.changed is False and fake.mutations() == []


@pytest.mark.hostile("ceph", "`ceph_auth` malformed caps (`monn`, `grant all`, quotes)", "error naming `caps`, no call")
@pytest.mark.parametrize("caps", [{"monn": "allow r"}, {"osd": "grant all"}, {"mon": "allow r' ; x"}])
def test_malformed_caps_are_refused(caps) -> None:
    fake = FakeCeph({"fsid": READ["fsid"], "auth get client.agg": "auth_get_client.agg.json"})
    with pytest.raises(FedmeshError) as err:
        execute(AuthBackend(dict(AUTH, caps=caps), fake), check_mode=False)
    assert err.value.field == "caps" and fake.mutations() == []


CONFIG = dict(CONN, who="osd", option="osd_memory_target", value="1G", state="present")
HELP = (0, json.dumps({"name": "osd_memory_target", "type": "size", "min": "939524096", "max": ""}), "")


def test_config_compared_as_ceph_normalises() -> None:
    dump = json.loads(fixture("config_dump.json")) + [
        {"section": "osd", "name": "osd_memory_target", "value": "1073741824", "level": "basic", "mask": ""}]
    fake = FakeCeph({"fsid": READ["fsid"], "config help osd_memory_target": HELP,
                     "config dump": (0, json.dumps(dump), "")})
    result = execute(ConfigBackend(CONFIG, fake), check_mode=False)
    assert result.changed is False and fake.calls == ["config help osd_memory_target", "config dump"]


def test_config_change_shows_the_diff() -> None:
    fake = FakeCeph({"fsid": READ["fsid"], "config help osd_memory_target": HELP, "config dump": "config_dump.json"})
    result = execute(ConfigBackend(dict(CONFIG, value="2G"), fake), check_mode=True)
    assert result.commands == ["ceph config set osd osd_memory_target 2G"]
    assert result.before is None and result.after == {"osd": {"osd_memory_target": "2147483648"}}


@pytest.mark.hostile("ceph", "`ceph_config` unknown option, unparsable value, value below the option's minimum",
                     "error naming `option` / `value`, nothing set")
@pytest.mark.parametrize(("args", "field"), [({"option": "no_such_option"}, "option"), ({"value": "lots"}, "value"),
                                             ({"value": "512M"}, "value"), ({"who": "os d"}, "who")])
def test_config_refusals(args, field) -> None:
    fake = FakeCeph({"fsid": READ["fsid"], "config help osd_memory_target": HELP, "config dump": "config_dump.json",
                     "config help no_such_option": (2, "", "Error ENOENT:\n")})
    with pytest.raises(FedmeshError) as err:
        execute(ConfigBackend(dict(CONFIG, **args), fake), check_mode=False)
    assert err.value.field == field and fake.mutations() == []


FS = dict(CONN, name="fsdata", state="present", metadata_pool="cephfs_metadata", data_pool="cephfs_data", max_mds=None,
          allow_delete=False)


def test_fs_unchanged_and_max_mds() -> None:
    fake = FakeCeph(READ)
    assert execute(FsBackend(FS, fake), check_mode=False).changed is False
    result = execute(FsBackend(dict(FS, max_mds=2), FakeCeph(READ)), check_mode=True)
    assert result.commands == ["ceph fs set fsdata max_mds 2"]


def test_fs_new_creates_missing_pools() -> None:
    result = execute(FsBackend(dict(FS, name="new", metadata_pool="m", data_pool="cephfs_data"), FakeCeph(READ)), True)
    assert result.commands == ["ceph osd pool create m", "ceph fs new new m cephfs_data"]


def test_fs_metadata_pool_cannot_change() -> None:
    with pytest.raises(FedmeshError) as err:
        execute(FsBackend(dict(FS, metadata_pool="rbdpool"), FakeCeph(READ)), check_mode=False)
    assert err.value.field == "metadata_pool"
