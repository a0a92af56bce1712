# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: ceph_client_files
short_description: The ceph.conf, keyring, mount points and mount units of one CephFS client, for fedmesh.cluster.files
version_added: 0.2.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Used by the P(fedmesh.cluster.ceph#role) role to write what a CephFS client needs in one
    M(fedmesh.cluster.files) call - ceph.conf (on hosts outside the Ceph group, which have their own), the mount
    user's keyring (as C(secret_files), never logged), the mount points and one systemd mount unit per mount
    (ceph-fuse; the option naming the filesystem is C(client_fs) from pacific on, C(client_mds_namespace) before).
options:
  _input:
    description: The role's layout (filter C(fedmesh.cluster.ceph_layout)); its C(mounts) are used.
    type: dict
    required: true
  cluster:
    description: Cluster name.
    type: str
    required: true
  conf_path:
    description: Path of ceph.conf.
    type: str
    required: true
  conf:
    description: Rendered ceph.conf for a host outside the Ceph group.
    type: str
    required: true
  server:
    description: Whether this host is a Ceph host (it keeps its own ceph.conf).
    type: bool
    required: true
  user:
    description: The cephx user the mounts use (C(client.NAME)).
    type: str
    required: true
  secrets:
    description: The C(slurp) of the fsid and the mount user's keyring from the first mon.
    type: raw
    required: true
  mesh_unit:
    description: The mesh interface's unit, or empty when the mesh did not run.
    type: str
    required: true
  major:
    description: The installed Ceph major version.
    type: int
    required: true
  version:
    description: The installed Ceph version (shown in the unit's header).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Write this client's ceph.conf, keyring and mount units
  fedmesh.cluster.files: "{{ layout | fedmesh.cluster.ceph_client_files(cluster='ceph', conf_path='/etc/ceph/ceph.conf',
    conf=conf, server=false, user='client.fedmesh', secrets=slurped, mesh_unit='', major=16, version='16.2.15') }}"
"""

RETURN = r"""
_value:
  description: C(directories), C(files) and C(secret_files), the options of M(fedmesh.cluster.files).
  type: dict
"""

from typing import Any

from ansible_collections.fedmesh.cluster.plugins.plugin_utils.ceph_files import client_files


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ceph_client_files": client_files}
