# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: ceph_mesh_fallback
short_description: The mesh address and network of a node from its WireGuard interface
version_added: 0.2.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Used by the P(fedmesh.cluster.ceph#role) role when the WireGuard role did not run in this run, for example
    C(playbooks/ceph.yml) alone. The mesh role's facts C(fedmesh_mesh_address) and C(fedmesh_mesh_cidr) are
    missing then, so the role reads the node's mesh interface with M(fedmesh.cluster.wireguard_info) and keeps the
    daemons on the mesh addresses and network instead of rewriting ceph.conf with other addresses.
  - The first address of the interface's config gives C(address) and C(cidr); no interface gives C({}).
positional: interface
options:
  _input:
    description: The result of M(fedmesh.cluster.wireguard_info).
    type: dict
    required: true
  interface:
    description: The mesh interface.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Remember the node's mesh address
  ansible.builtin.set_fact:
    mesh: "{{ wg | fedmesh.cluster.ceph_mesh_fallback('wg0') }}"
"""

RETURN = r"""
_value:
  description: C(interface), C(address) and C(cidr), or an empty dict.
  type: dict
"""

from typing import Any

from ansible_collections.fedmesh.cluster.plugins.plugin_utils.ceph_layout import mesh_from_wireguard


def ceph_mesh_fallback(info: Any, interface: str) -> dict[str, str]:
    return mesh_from_wireguard(info, str(interface))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ceph_mesh_fallback": ceph_mesh_fallback}
