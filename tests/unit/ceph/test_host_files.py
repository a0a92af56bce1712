"""The ceph role's one-call file lists (plugin_utils/ceph_files.py): what a Ceph host and a CephFS client get."""
from __future__ import annotations

import base64

from ansible_collections.fedmesh.cluster.plugins.plugin_utils.ceph_files import client_files, host_files

LAYOUT = {"mons": ["node1", "node2", "node3"], "mgrs": ["node1"], "mds": ["node1"], "first_mon": "node1",
          "mounts": [{"fs": "fedmesh", "path": "/mnt/cephfs/fedmesh", "unit": "mnt-cephfs-fedmesh.mount"}]}


def slurped(*contents: str) -> dict:
    return {"results": [{"content": base64.b64encode(c.encode()).decode()} for c in contents]}


def host(name: str, mesh_unit: str = "wg-quick@wg0.service", secrets=None) -> dict:
    return host_files(LAYOUT, name, cluster="ceph", state_dir="/var/lib/ceph/fedmesh", conf_path="/etc/ceph/ceph.conf",
                      conf="[global]\n", mesh_unit=mesh_unit, dropin="[Unit]\n", secrets=secrets,
                      admin_keyring="/etc/ceph/ceph.client.admin.keyring")


def test_first_mon_gets_its_daemon_folders_and_drop_ins_but_no_keyring_copy() -> None:
    out = host("node1", secrets=slurped("fsid\n", "mon-key", "admin-key"))
    dirs = [d["path"] for d in out["directories"]]
    assert dirs[:2] == ["/etc/ceph", "/var/lib/ceph/fedmesh"]
    assert {"/var/lib/ceph/mon/ceph-node1", "/var/lib/ceph/mgr/ceph-node1", "/var/lib/ceph/mds/ceph-node1"} <= set(dirs)
    assert [f["path"] for f in out["files"]].count("/etc/systemd/system/ceph-osd@.service.d/fedmesh-mesh.conf") == 1
    assert len(out["files"]) == 5 and out["secret_files"] == []


def test_a_joining_mon_gets_the_keyrings_as_secrets() -> None:
    out = host("node2", secrets=slurped("fsid\n", "mon-key", "admin-key"))
    secrets = {f["path"]: (f["content"], f["owner"], f["mode"]) for f in out["secret_files"]}
    assert secrets == {"/var/lib/ceph/fedmesh/mon.keyring": ("mon-key", "ceph", "0600"),
                       "/etc/ceph/ceph.client.admin.keyring": ("admin-key", "root", "0600")}
    assert "/var/lib/ceph/mgr/ceph-node2" not in [d["path"] for d in out["directories"]]


def test_no_mesh_no_drop_ins_and_check_mode_without_secrets() -> None:
    out = host("node4", mesh_unit="", secrets={"skipped": True})
    assert [f["path"] for f in out["files"]] == ["/etc/ceph/ceph.conf"] and out["secret_files"] == []
    assert not any("/var/lib/ceph/mon/" in d["path"] for d in out["directories"])


def test_a_client_outside_the_ceph_group_gets_conf_keyring_and_unit() -> None:
    out = client_files(LAYOUT, cluster="ceph", conf_path="/etc/ceph/ceph.conf", conf="[global]\n", server=False,
                       user="client.fedmesh-aggregator", secrets=slurped("fsid\n", "agg-key"),
                       mesh_unit="wg-quick@wg0.service", major=16, version="16.2.15")
    files = {f["path"]: f["content"] for f in out["files"]}
    unit = files["/etc/systemd/system/mnt-cephfs-fedmesh.mount"]
    assert "/etc/ceph/ceph.conf" in files
    assert "Options=ceph.id=fedmesh-aggregator,ceph.conf=/etc/ceph/ceph.conf,ceph.client_fs=fedmesh,_netdev" in unit
    assert "After=network-online.target wg-quick@wg0.service\n" in unit and "Where=/mnt/cephfs/fedmesh\n" in unit
    assert out["secret_files"] == [{"path": "/etc/ceph/ceph.client.fedmesh-aggregator.keyring", "content": "agg-key",
                                    "owner": "root", "group": "root", "mode": "0600"}]
    assert {"path": "/mnt/cephfs/fedmesh", "mode": "0755"} in out["directories"]


def test_a_ceph_host_client_keeps_its_conf_and_octopus_names_the_fs_differently() -> None:
    out = client_files(LAYOUT, cluster="ceph", conf_path="/etc/ceph/ceph.conf", conf="x", server=True,
                       user="client.fedmesh", secrets=slurped("fsid\n", "k"), mesh_unit="", major=15, version="15.2")
    (unit,) = [f["content"] for f in out["files"]]
    assert "ceph.client_mds_namespace=fedmesh" in unit and "After=network-online.target ceph.target\n" in unit
