"""fedmesh.cluster.gluster_layout: the glusterfs role's checks, bricks, mounts and brick directories."""
from __future__ import annotations

import pytest
from ansible_collections.fedmesh.cluster.plugins.filter.gluster_layout import FilterModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.plan import PlanError, plan_volume
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.gluster_layout import mount_unit

from .conftest import FIXTURES

layout = FilterModule().filters()["gluster_layout"]
SERVERS = ["node1", "node2", "node3"]
HOSTVARS = {h: {} for h in [*SERVERS, "node4"]}
V = "fedmesh_glusterfs_volumes"


def run(volumes: list, host: str = "node1", hostvars: dict | None = None, servers: list | None = None) -> dict:
    return layout(volumes, hostvars or HOSTVARS, SERVERS if servers is None else servers, host)


def test_unit_names_are_what_systemd_escape_writes() -> None:
    # Recorded: systemd-escape --path --suffix=mount PATH (systemd 252, Debian 12), one "PATH<TAB>UNIT" a line.
    rows = [line.split("\t") for line in (FIXTURES / "systemd_escape_mount.tsv").read_text().splitlines()]
    assert len(rows) >= 10
    for path, unit in rows:
        assert mount_unit(path) == unit, path


def test_default_volume_on_a_server_and_on_a_plain_client() -> None:
    vols = [{"name": "fl", "replica": 3}]
    mine = run(vols)
    assert mine["errors"] == [] and mine["addresses"] == {h: h for h in SERVERS}
    assert mine["volumes"][0]["bricks"] == [f"{h}:/srv/glusterfs/fl" for h in SERVERS]
    assert mine["mounts"] == [{"name": "fl", "state": "present", "path": "/mnt/glusterfs/fl",
                               "unit": "mnt-glusterfs-fl.mount", "server": "node1", "backups": ["node2", "node3"]}]
    assert mine["local_bricks"] == ["/srv/glusterfs/fl"]
    client = run(vols, host="node4")
    assert client["mounts"][0]["server"] == "node1" and client["local_bricks"] == []
    other = {**mine["mounts"][0], "server": "node2", "backups": ["node1", "node3"]}
    assert run(vols, host="node2")["mounts"][0] == other


def test_peer_address_order_fact_then_peer_address_then_mesh_address_then_name() -> None:
    hv = {"node1": {"__fedmesh_glusterfs_address": "10.80.0.1", "fedmesh_mesh_address": "10.9.9.9"},
          "node2": {"fedmesh_glusterfs_peer_address": "10.80.0.2", "fedmesh_mesh_address": "10.9.9.9"},
          "node3": {"fedmesh_mesh_address": "10.80.0.3"}}
    out = run([{"name": "fl", "replica": 3, "mount_point": "/data/fl-models"}], host="node2", hostvars=hv)
    assert out["addresses"] == {"node1": "10.80.0.1", "node2": "10.80.0.2", "node3": "10.80.0.3"}
    assert out["volumes"][0]["bricks"][0] == "10.80.0.1:/srv/glusterfs/fl"
    assert out["mounts"][0]["server"] == "10.80.0.2" and out["mounts"][0]["unit"] == "data-fl\\x2dmodels.mount"


def test_explicit_bricks_hosts_and_absent_volumes() -> None:
    vols = [{"name": "a", "bricks": ["node2:/d/a", "node3:/d/a", "node2:/e/a", "node3:/e/a"], "replica": 2},
            {"name": "b", "hosts": ["node3"], "brick_dir": "/x/b", "mount": False},
            {"name": "c", "state": "absent", "replica": 3}]
    out = run(vols, host="node2")
    assert out["errors"] == [] and [v["bricks"] for v in out["volumes"]] == [vols[0]["bricks"], ["node3:/x/b"], []]
    assert out["local_bricks"] == ["/d/a", "/e/a"]
    assert [(m["name"], m["state"], m["server"], m["backups"]) for m in out["mounts"]] == [
        ("a", "present", "node2", ["node3"]), ("c", "absent", "node2", ["node1", "node3"])]
    assert run(vols, host="node3")["local_bricks"] == ["/d/a", "/e/a", "/x/b"]


@pytest.mark.parametrize("volumes, message", [
    ([{"name": "bad name"}], f"{V}[].name: 'bad name' is not a valid volume name"),
    ([{"name": "fl"}, {"name": "fl"}], f"{V}: names ['fl'] appear more than once"),
    ([{"name": "fl", "hosts": ["node9"]}], f"{V}[name=fl].hosts: ['node9'] are not in group 'storage'"),
    ([{"name": "fl", "replica": 3, "disperse": 3}], f"{V}[name=fl].disperse: replica and disperse are mutually"),
    ([{"name": "fl", "replica": 2, "arbiter": 1}], f"{V}[name=fl].arbiter: 1 needs replica: 3"),
    ([{"name": "fl", "disperse": 3, "redundancy": 2}], f"{V}[name=fl].redundancy: 2 must be more than 0"),
    ([{"name": "fl", "replica": 2, "force": True}], f"{V}[name=fl].hosts: 3 bricks cannot be split into replica sets"),
    ([{"name": "fl", "replica": 3, "bricks": ["node1:/a", "node2:/a", "node3:/a", "node1:/b"]}],
     f"{V}[name=fl].bricks: 4 bricks cannot be split"),
    ([{"name": "fl", "bricks": ["node1/a"]}], f"{V}[name=fl].bricks: ['node1/a'] are not HOST:/absolute/path"),
    ([{"name": "fl", "mount_point": "mnt/fl"}], f"{V}[name=fl].mount_point: 'mnt/fl' is not an absolute path"),
    ([{"name": "fl", "mount_point": "/mnt/../etc"}], f"{V}[name=fl].mount_point:"),
    ([{"name": "fl", "mount_point": "/mnt/a b"}], f"{V}[name=fl].mount_point:"),
    ([{"name": "fl", "state": "gone"}], f"{V}[name=fl].state: 'gone' is not present or absent"),
    (["fl"], f"{V}[]: 'fl' is not a volume"),
    ([{"name": "fl", "replica": "three"}], f"{V}[name=fl].replica: 'three' is not a whole number"),
    ([{"name": "fl", "replica": "2"}], f"{V}[name=fl].hosts: 3 bricks cannot be split into replica sets of 2"),
])
def test_bad_definitions_name_the_variable_and_compute_nothing(volumes: list, message: str) -> None:
    out = run(volumes)
    assert len(out["errors"]) == 1 and out["errors"][0].startswith(message), out["errors"]
    assert out["errors"][0].endswith("nothing was changed")
    assert out["volumes"] == out["mounts"] == out["local_bricks"] == []


def test_counts_given_as_text_are_numbers() -> None:
    out = run([{"name": "fl", "replica": "3", "arbiter": "1"}])
    assert out["errors"] == [] and (out["volumes"][0]["replica"], out["volumes"][0]["arbiter"]) == (3, 1)


def test_every_bad_volume_is_reported_and_an_empty_server_group_too() -> None:
    out = run([{"name": "a", "replica": 2}, {"name": "b", "disperse": 2}])
    assert len(out["errors"]) == 2
    out = run([{"name": "fl"}], servers=[])
    assert out["errors"][0].startswith("fedmesh_glusterfs_server_group: group 'storage' has no hosts")
    assert run([], servers=[])["errors"] == []


def test_the_role_and_the_module_refuse_with_the_same_rule() -> None:
    bricks = ["node1:/a", "node2:/a", "node3:/a", "node1:/b"]
    with pytest.raises(PlanError) as err:
        plan_volume({"name": "fl", "replica": 3, "bricks": bricks, "force": True}, None)
    role = run([{"name": "fl", "replica": 3, "bricks": bricks, "force": True}])["errors"][0]
    assert role == f"{V}[name=fl].bricks: " + err.value.message.split(": ", 1)[1]


class _Vars(dict):
    """Host vars whose ``get`` templates a value, as Ansible's HostVars do."""

    def __init__(self, raises: Exception) -> None:
        super().__init__()
        self.raises = raises

    def get(self, key, default=None):  # type: ignore[override]
        if key == "fedmesh_glusterfs_peer_address":
            raise self.raises
        return default


def test_a_peer_address_that_cannot_be_evaluated_is_an_error_not_the_hostname() -> None:
    from ansible.errors import AnsibleFilterError, AnsibleUndefinedVariable

    broken = {**HOSTVARS, "node2": _Vars(ZeroDivisionError("division by zero"))}
    with pytest.raises(AnsibleFilterError, match=r"host node2: fedmesh_glusterfs_peer_address cannot be evaluated"):
        run([{"name": "fl", "replica": 3}], hostvars=broken)
    # Defined in terms of a variable the host lacks: unset, so the next address source (the hostname) is used.
    undefined = {**HOSTVARS, "node2": _Vars(AnsibleUndefinedVariable("'x' is undefined"))}
    assert run([{"name": "fl", "replica": 3}], hostvars=undefined)["addresses"]["node2"] == "node2"
