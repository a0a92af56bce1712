# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options every fedmesh.cluster.ceph_* module takes."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  cluster:
    description: Cluster name (C(/etc/ceph/CLUSTER.conf)).
    type: str
    default: ceph
  conf:
    description: Path of the cluster's configuration file. Default is C(/etc/ceph/CLUSTER.conf).
    type: path
  user:
    description: Cephx entity the module authenticates as.
    type: str
    default: client.admin
  keyring:
    description:
      - Keyring file of O(user). Default is Ceph's search path (C(/etc/ceph/CLUSTER.USER.keyring)).
      - Keys are only ever read from files or passed on stdin, never on a command line.
    type: path
  connect_timeout:
    description: Seconds each ceph call waits for the monitors before it fails.
    type: int
    default: 20
"""
