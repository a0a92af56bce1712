# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: gluster_layout
short_description: Check GlusterFS volume definitions and compute their bricks, mounts and brick directories
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Pure computation on the controller, used by the P(fedmesh.cluster.glusterfs#role) role.
  - Checks every volume with the same rules as M(fedmesh.cluster.gluster_volume) - volume name, brick syntax,
    replica / disperse / arbiter / redundancy arithmetic, a brick count that fills whole sets - and the role's
    own - unique names, C(hosts) inside the server group, a plain absolute C(mount_point). Problems are returned
    in the C(errors) of the result, each naming the variable, so the role can stop before it changes anything.
  - Computes the peer address of every server, each volume's bricks (explicit C(bricks), else one brick per
    host of C(hosts) or of the server group at C(brick_dir)), and for the given host its mounts (the systemd
    C(.mount) unit name as C(systemd-escape --path --suffix=mount) writes it, the volfile server - this host
    when it holds a brick, else the first - and the backup volfile servers) and its brick directories.
positional: hostvars, servers, host
options:
  _input:
    description: The volumes (O(fedmesh.cluster.glusterfs#role:main:fedmesh_glusterfs_volumes)).
    type: list
    elements: dict
    required: true
  hostvars:
    description:
      - C(hostvars). Per server, the peer address is C(__fedmesh_glusterfs_address) (the fact the role sets),
        else C(fedmesh_glusterfs_peer_address), else C(fedmesh_mesh_address), else the inventory name.
    type: dict
    required: true
  servers:
    description: The GlusterFS servers, in order (the hosts of the server group).
    type: list
    elements: str
    required: true
  host:
    description: The host whose mounts and brick directories are computed (C(inventory_hostname)).
    type: str
    required: true
  brick_root:
    description:
      - Brick directory of volume NAME is C(<brick_root>/NAME) unless the volume sets C(bricks) or C(brick_dir).
    type: str
    default: /srv/glusterfs
  mount_root:
    description: Mount point of volume NAME is C(<mount_root>/NAME) unless the volume sets C(mount_point).
    type: str
    default: /mnt/glusterfs
  server_group:
    description: Name of the server group, for messages.
    type: str
    default: storage
"""

EXAMPLES = r"""
- name: Check the volumes and compute this node's part
  ansible.builtin.set_fact:
    layout: >-
      {{ fedmesh_glusterfs_volumes | fedmesh.cluster.gluster_layout(hostvars, groups['storage'], inventory_hostname) }}

- name: Stop on bad volume definitions
  ansible.builtin.assert:
    that: layout.errors | length == 0
    fail_msg: "{{ layout.errors | join(' | ') }}"
"""

RETURN = r"""
_value:
  description:
    - "C(errors) - messages, each C(<variable>: <problem>; <fix>; nothing was changed); when there are any the
      other keys are empty."
    - C(addresses) - server to peer address.
    - C(volumes) - the volumes, each with C(state) and its computed C(bricks) (empty for C(state=absent)).
    - C(mounts) - per volume with C(mount) not false - C(name), C(state), C(path), C(unit), C(server), C(backups).
    - C(local_bricks) - brick directories of the host.
  type: dict
"""

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError, AnsibleUndefinedVariable
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.gluster_layout import plan_layout

_MISSING = object()
ADDRESS_VARS = ("__fedmesh_glusterfs_address", "fedmesh_glusterfs_peer_address", "fedmesh_mesh_address")


def _get(hv: Mapping[str, Any], key: str, host: str = "") -> Any:
    try:
        value = hv.get(key, _MISSING)
    except AnsibleUndefinedVariable:  # defined in terms of a variable this host does not have: unset
        return _MISSING
    except Exception as exc:  # a host var whose template fails: say so, never fall back to another address
        raise AnsibleFilterError(f"gluster_layout: host {host}: {key} cannot be evaluated: {exc}") from None
    return _MISSING if value is None or type(value).__name__.startswith("AnsibleUndefined") else value


def peer_address(hostvars: Any, host: str) -> str:
    try:
        hv = hostvars[host]
    except KeyError:
        raise AnsibleFilterError(f"gluster_layout: server {host} is not in the inventory") from None
    for key in ADDRESS_VARS:
        value = _get(hv, key, host)
        if value is not _MISSING and value != "":
            return str(value)
    return host


def gluster_layout(volumes: Any, hostvars: Any, servers: list[str], host: str, brick_root: str = "/srv/glusterfs",
                   mount_root: str = "/mnt/glusterfs", server_group: str = "storage") -> dict[str, Any]:
    servers = list(servers or [])
    addresses = {h: peer_address(hostvars, h) for h in servers}
    return plan_layout(list(volumes) if isinstance(volumes, (list, tuple)) else volumes, servers, addresses, host,
                       brick_root=brick_root, mount_root=mount_root, server_group=server_group)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"gluster_layout": gluster_layout}
