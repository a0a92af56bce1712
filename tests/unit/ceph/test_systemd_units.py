"""systemd_units: one `systemctl show` probe read into each unit's boot/run state (output recorded on a
Debian 12 test-bed node with systemd 252)."""
from __future__ import annotations

from ansible_collections.fedmesh.cluster.plugins.plugin_utils.systemd_units import unit_states

RECORDED = """Id=ceph.target
ActiveState=active
UnitFileState=enabled

Id=ceph-mon@node1.service
ActiveState=active
UnitFileState=enabled

Id=ceph-mgr@node1.service
ActiveState=inactive
UnitFileState=disabled

Id=mnt-cephfs-fedmesh.mount
ActiveState=inactive
UnitFileState=
"""
UNITS = ["ceph.target", "ceph-mon@node1", "ceph-mgr@node1", "mnt-cephfs-fedmesh.mount"]


def test_each_unit_in_the_order_asked() -> None:
    states = unit_states(RECORDED, UNITS)
    assert states["ceph.target"] == {"enabled": True, "active": True, "known": True}
    assert states["ceph-mon@node1"]["enabled"] and states["ceph-mon@node1"]["active"]
    assert states["ceph-mgr@node1"] == {"enabled": False, "active": False, "known": True}
    assert not states["mnt-cephfs-fedmesh.mount"]["enabled"]  # not written yet: not found


def test_blocks_that_do_not_line_up_mean_do_the_work() -> None:
    states = unit_states(RECORDED, UNITS[:3])
    assert all(not s["enabled"] and not s["active"] and not s["known"] for s in states.values())
    assert unit_states("", ["ceph.target"]) == {"ceph.target": {"enabled": False, "active": False, "known": False}}
