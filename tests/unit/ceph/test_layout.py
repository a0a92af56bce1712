"""fedmesh.cluster.ceph_layout (networks: explicit, the mesh CIDR, host routes) and storage_claim (one mount
point per storage role and host; the storage path)."""
from __future__ import annotations

import pytest
from ansible_collections.fedmesh.cluster.plugins.filter.ceph_layout import FilterModule
from ansible_collections.fedmesh.cluster.plugins.filter.storage_claim import FilterModule as StorageFilters

layout = FilterModule().filters()["ceph_layout"]
claim = StorageFilters().filters()["storage_claim"]
HOSTS = ["node1", "node2", "node3"]
PLAIN = {h: {"ansible_host": f"10.89.0.{i}"} for i, h in enumerate(HOSTS, start=11)}
MESH = {h: {"ansible_host": f"10.89.0.{i}", "fedmesh_mesh_address": f"10.80.0.{i}", "fedmesh_mesh_cidr": "10.80.0.0/24"}
        for i, h in enumerate(HOSTS, start=1)}


def test_without_a_mesh_the_public_network_is_the_hosts_addresses() -> None:
    out = layout(HOSTS, PLAIN, "node2")
    assert out["errors"] == [] and out["network_source"] == "hosts"
    assert out["public_network"] == "10.89.0.11/32,10.89.0.12/32,10.89.0.13/32"
    assert out["cluster_network"] == out["public_network"] and out["address"] == "10.89.0.12"


def test_each_host_knows_its_mon_mgr_and_mds_units() -> None:
    assert layout(HOSTS, PLAIN, "node1")["daemon_units"] == ["ceph-mon@node1", "ceph-mgr@node1", "ceph-mds@node1"]
    assert layout(HOSTS, PLAIN, "node3")["daemon_units"] == ["ceph-mon@node3"]
    assert layout([*HOSTS, "node4"], dict(PLAIN, node4={"ansible_host": "10.89.0.14"}), "node4")["daemon_units"] == []


def test_with_the_mesh_the_public_and_cluster_network_is_the_mesh_cidr() -> None:
    out = layout(HOSTS, MESH, "node1")
    assert out["errors"] == [] and out["network_source"] == "mesh"
    assert out["public_network"] == out["cluster_network"] == "10.80.0.0/24"
    assert out["mon_host"].startswith("[v2:10.80.0.1:3300,v1:10.80.0.1:6789],[v2:10.80.0.2:3300")
    assert out["addresses"] == {"node1": "10.80.0.1", "node2": "10.80.0.2", "node3": "10.80.0.3"}


def test_a_host_off_the_mesh_falls_back_to_host_routes() -> None:
    hostvars = {**MESH, "node3": PLAIN["node3"]}  # node3 is not in the mesh group: no mesh facts
    out = layout(HOSTS, hostvars, "node1")
    assert out["errors"] == [] and out["network_source"] == "hosts"
    assert out["public_network"] == "10.80.0.1/32,10.80.0.2/32,10.89.0.13/32"


def test_an_address_overridden_outside_the_mesh_falls_back_to_host_routes() -> None:
    hostvars = {**MESH, "node2": {**MESH["node2"], "fedmesh_ceph_address": "192.0.2.7"}}
    out = layout(HOSTS, hostvars, "node1")
    assert out["network_source"] == "hosts" and "192.0.2.7/32" in out["public_network"]


def test_explicit_networks_win_and_are_checked() -> None:
    out = layout(HOSTS, MESH, "node1", public_network="10.80.0.0/16", cluster_network="10.80.0.0/25")
    assert out["errors"] == [] and out["network_source"] == "explicit"
    assert (out["public_network"], out["cluster_network"]) == ("10.80.0.0/16", "10.80.0.0/25")


@pytest.mark.hostile("ceph", "`fedmesh_ceph_cluster_network` that misses the hosts, or not a CIDR",
                     "error naming `fedmesh_ceph_cluster_network`")
@pytest.mark.parametrize(("value", "message"), [
    ("10.81.0.0/24", "fedmesh_ceph_cluster_network: 10.81.0.0/24 does not contain the addresses of"),
    ("10.80.0.0/33", "fedmesh_ceph_cluster_network: '10.80.0.0/33' is not a network (CIDR)"),
    ("fd00::/64", "fedmesh_ceph_cluster_network: fd00::/64 does not contain the addresses of"),
])
def test_bad_cluster_network_is_named(value: str, message: str) -> None:
    errors = layout(HOSTS, MESH, "node1", cluster_network=value)["errors"]
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_mismatched_mesh_cidrs_are_not_used() -> None:
    hostvars = {**MESH, "node3": {**MESH["node3"], "fedmesh_mesh_cidr": "10.80.0.0/16"}}
    assert layout(HOSTS, hostvars, "node1")["network_source"] == "hosts"


def test_first_storage_role_sets_the_storage_path() -> None:
    gluster = claim(None, "glusterfs", ["/mnt/fedmesh"])
    assert gluster == {"errors": [], "path": "/mnt/fedmesh", "mounts": [{"path": "/mnt/fedmesh", "role": "glusterfs"}]}
    both = claim(gluster["mounts"], "ceph", ["/mnt/cephfs/fedmesh"])
    assert both["errors"] == [] and both["path"] == "/mnt/fedmesh"
    assert [m["role"] for m in both["mounts"]] == ["glusterfs", "ceph"]


def test_a_role_reclaiming_its_own_paths_is_idempotent() -> None:
    first = claim([], "ceph", ["/mnt/cephfs/fedmesh"])
    again = claim(first["mounts"], "ceph", ["/mnt/cephfs/fedmesh"])
    assert again == first


@pytest.mark.hostile("ceph", "GlusterFS and Ceph both mounting at `/mnt/fedmesh` on one host",
                     "error naming both roles' variables, before anything changes")
def test_two_storage_roles_on_one_path_are_refused() -> None:
    gluster = claim([], "glusterfs", ["/mnt/fedmesh"])
    out = claim(gluster["mounts"], "ceph", ["/mnt/fedmesh/"])
    assert out["errors"] == [
        "fedmesh_ceph_mounts[].path: /mnt/fedmesh/ is already the mount point of the glusterfs role on this host; "
        "give one of them another path (fedmesh_glusterfs_volumes[].mount_point / fedmesh_glusterfs_mount_root)"]


WG_INFO = {"interfaces": {"wg0": {"name": "wg0", "exists": True, "addresses": ["10.80.0.2/24"]}}}


def test_without_the_mesh_role_in_the_run_the_nodes_mesh_interface_keeps_the_mesh() -> None:
    from ansible_collections.fedmesh.cluster.plugins.filter.ceph_mesh_fallback import FilterModule as Mesh

    fallback = Mesh().filters()["ceph_mesh_fallback"]
    assert fallback(WG_INFO, "wg0") == {"interface": "wg0", "address": "10.80.0.2", "cidr": "10.80.0.0/24"}
    assert fallback({"interfaces": {}}, "wg0") == {} and fallback({"skipped": True}, "wg0") == {}
    # playbooks/ceph.yml alone: no mesh facts, each host's own read of wg0 instead (not the containers' addresses)
    hostvars = {h: {"ansible_host": PLAIN[h]["ansible_host"], "__fedmesh_ceph_mesh": {
        "interface": "wg0", "address": MESH[h]["fedmesh_mesh_address"], "cidr": "10.80.0.0/24"}} for h in HOSTS}
    out = layout(HOSTS, hostvars, "node1")
    assert out == layout(HOSTS, MESH, "node1")
