# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: storage_claim
short_description: Claim a storage role's mount points on a host and refuse those another storage role mounts
version_added: 0.2.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Pure computation on the controller, used by the P(fedmesh.cluster.glusterfs#role) and
    P(fedmesh.cluster.ceph#role) roles while they validate, before they change anything.
  - The input is the host's C(fedmesh_storage_mounts) fact (a list of C(path), C(role); absent when no storage
    role ran yet). The result's C(mounts) and C(path) become the facts C(fedmesh_storage_mounts) and
    C(fedmesh_storage_path) (the first mount of the first storage role that ran on the host).
  - A path that another storage role mounts on the host is returned in C(errors), naming both roles'
    variables.
positional: role, paths
options:
  _input:
    description: The host's C(fedmesh_storage_mounts) fact (or nothing).
    type: list
    elements: dict
    required: true
  role:
    description: The claiming role (C(glusterfs) or C(ceph)).
    type: str
    required: true
  paths:
    description: The mount points the role wants on this host.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Claim the CephFS mount points
  ansible.builtin.set_fact:
    claim: "{{ fedmesh_storage_mounts | default([]) | fedmesh.cluster.storage_claim('ceph', ['/mnt/cephfs/fedmesh']) }}"
"""

RETURN = r"""
_value:
  description: C(errors) (list of messages), C(mounts) (the new table) and C(path) (the storage path).
  type: dict
"""

from typing import Any

from ansible_collections.fedmesh.cluster.plugins.plugin_utils.storage_paths import claim


def storage_claim(published: Any, role: str, paths: Any) -> dict[str, Any]:
    return claim(published, str(role), [str(p) for p in (paths or [])])


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"storage_claim": storage_claim}
