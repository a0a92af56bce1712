# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: ceph_layout
short_description: Check the ceph role's variables and compute mons, mgrs, MDS, addresses and mounts
version_added: 0.2.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Pure computation on the controller, used by the P(fedmesh.cluster.ceph#role) role.
  - The first O(mon_count) hosts of the group run mons (the first one bootstraps the cluster), the first
    O(mgr_count) mgrs, the first O(mds_count) MDS daemons.
  - Each host's address is C(fedmesh_ceph_address), else C(fedmesh_mesh_address) (the mesh role's fact), else
    the mesh address the role read from the node (C(__fedmesh_ceph_mesh), when the mesh role did not run in
    this run), else C(ansible_host); it must be an IP address.
  - Without O(public_network), the public network is the mesh network (fact C(fedmesh_mesh_cidr) of the
    WireGuard role) when every Ceph host has it and its address is in it; else the list of the hosts'
    addresses as host routes, so every daemon binds its own address.
  - Without O(cluster_network), the cluster (OSD replication) network is the public network.
  - Problems are returned in C(errors), each naming the variable.
positional: hostvars, host
options:
  _input:
    description: The hosts of the Ceph group, in order.
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
  host:
    description: The host the per-host values are computed for (C(inventory_hostname)).
    type: str
    required: true
  mon_count:
    description: Mons wanted (odd).
    type: int
    default: 3
  mgr_count:
    description: Mgr daemons wanted.
    type: int
    default: 1
  mds_count:
    description: MDS daemons wanted.
    type: int
    default: 1
  public_network:
    description: Explicit public network (CIDR).
    type: str
    default: ""
  cluster_network:
    description: Explicit cluster network (CIDR).
    type: str
    default: ""
  mounts:
    description: The CephFS mounts (O(fedmesh.cluster.ceph#role:main:fedmesh_ceph_mounts)).
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Lay out the cluster
  ansible.builtin.set_fact:
    layout: "{{ groups['ceph'] | fedmesh.cluster.ceph_layout(hostvars, inventory_hostname) }}"
"""

RETURN = r"""
_value:
  description: C(errors), C(mons), C(first_mon), C(mgrs), C(mds), C(addresses), C(address), C(mon_host),
    C(public_network), C(cluster_network), C(network_source)
    (C(explicit), C(mesh) or C(hosts)) and C(mounts) (each with its systemd C(unit) name).
  type: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError, AnsibleUndefinedVariable
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.ceph_layout import plan_layout

ADDRESS_VARS = ("fedmesh_ceph_address", "fedmesh_mesh_address", "__fedmesh_ceph_mesh.address", "ansible_host")
FALLBACK = "__fedmesh_ceph_mesh"  # the mesh interface read from the node (tasks/mesh.yml)


def _get(hv: Any, key: str) -> Any:
    if "." in key:
        outer, inner = key.split(".", 1)
        value = hv.get(outer)
        return value.get(inner) if isinstance(value, dict) else None
    return hv.get(key)


def address(hostvars: Any, host: str) -> str:
    try:
        hv = hostvars[host]
    except KeyError:
        raise AnsibleFilterError(f"ceph_layout: host {host} is not in the inventory") from None
    for key in ADDRESS_VARS:
        try:
            value = _get(hv, key)
        except AnsibleUndefinedVariable:
            continue
        except Exception as exc:
            raise AnsibleFilterError(f"ceph_layout: host {host}: {key} cannot be evaluated: {exc}") from None
        if value not in (None, "") and not type(value).__name__.startswith("AnsibleUndefined"):
            return str(value)
    return host


def mesh_cidr(hostvars: Any, hosts: list[str]) -> str:
    """The mesh network when every Ceph host has the same ``fedmesh_mesh_cidr`` fact, else ``""``."""
    found = set()
    for h in hosts:
        try:
            value = hostvars[h].get("fedmesh_mesh_cidr")
            if value in (None, "") or type(value).__name__.startswith("AnsibleUndefined"):
                value = _get(hostvars[h], f"{FALLBACK}.cidr")
        except Exception:  # undefined or not evaluable: this host is not on the mesh
            return ""
        if value in (None, "") or type(value).__name__.startswith("AnsibleUndefined"):
            return ""
        found.add(str(value))
    return found.pop() if len(found) == 1 else ""


def ceph_layout(hosts: Any, hostvars: Any, host: str, mon_count: int = 3, mgr_count: int = 1, mds_count: int = 1,
                public_network: str = "", mounts: Any = None, cluster_network: str = "") -> dict[str, Any]:
    hosts = list(hosts or [])
    addresses = {h: address(hostvars, h) for h in hosts}
    return plan_layout(hosts, addresses, mon_count, mgr_count, mds_count, public_network or "", list(mounts or []),
                       host, mesh_cidr=mesh_cidr(hostvars, hosts), cluster_network=cluster_network or "")


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ceph_layout": ceph_layout}
