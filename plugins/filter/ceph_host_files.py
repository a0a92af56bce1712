# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: ceph_host_files
short_description: The folders, ceph.conf, unit drop-ins and keyrings of one Ceph host, for fedmesh.cluster.files
version_added: 0.2.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Used by the P(fedmesh.cluster.ceph#role) role to write everything a Ceph host needs on disk in one
    M(fedmesh.cluster.files) call - C(/etc/ceph), the role's state folder, ceph.conf, the data folders of the
    mon, mgr and MDS daemons the host runs, the drop-ins that start the daemons after the mesh interface, and
    on joining hosts the mon. and admin keyrings copied from the first mon (as C(secret_files), never
    logged).
  - The companion filter C(fedmesh.cluster.ceph_client_files) gives a CephFS client's ceph.conf (hosts outside
    the Ceph group), mount points, mount units and its user's keyring.
positional: host
options:
  _input:
    description: The role's layout (filter C(fedmesh.cluster.ceph_layout)).
    type: dict
    required: true
  host:
    description: This host's inventory name.
    type: str
    required: true
  cluster:
    description: Cluster name.
    type: str
    required: true
  state_dir:
    description: The role's state folder.
    type: str
    required: true
  conf_path:
    description: Path of ceph.conf.
    type: str
    required: true
  conf:
    description: Rendered ceph.conf.
    type: str
    required: true
  mesh_unit:
    description: The mesh interface's unit, or empty when the mesh did not run.
    type: str
    required: true
  dropin:
    description: Rendered unit drop-in.
    type: str
    required: true
  secrets:
    description: The first mon's C(slurp) of fsid, mon. keyring and admin keyring.
    type: raw
    required: true
  admin_keyring:
    description: Path of the admin keyring.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Write this Ceph host's folders, ceph.conf, unit drop-ins and keyrings
  fedmesh.cluster.files: "{{ layout | fedmesh.cluster.ceph_host_files(inventory_hostname, cluster='ceph',
    state_dir='/var/lib/ceph/fedmesh', conf_path='/etc/ceph/ceph.conf', conf=conf, mesh_unit='',
    dropin='', secrets=slurped, admin_keyring='/etc/ceph/ceph.client.admin.keyring') }}"
"""

RETURN = r"""
_value:
  description: C(directories), C(files) and C(secret_files), the options of M(fedmesh.cluster.files).
  type: dict
"""

from typing import Any

from ansible_collections.fedmesh.cluster.plugins.plugin_utils.ceph_files import host_files


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ceph_host_files": host_files}
