#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_fs
short_description: CephFS filesystems with their metadata and data pools and MDS count
version_added: 0.2.0
description:
  - Reads filesystems with one C(ceph fs dump --format json) and pools with one C(ceph osd dump).
  - Creates the filesystem (and its pools when they do not exist, with the cluster's defaults - use
    M(fedmesh.cluster.ceph_pool) first for other settings) and sets C(max_mds).
  - An existing filesystem's metadata pool cannot change; a different first data pool is refused.
  - Deletes only with O(state=absent) and O(allow_delete=true) (C(fs fail), then C(fs rm)); the pools stay.
  - Needs an MDS daemon for the filesystem to become active (role fedmesh.cluster.ceph runs them).
author:
  - fedmesh.cluster contributors (@fedmesh)
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.FULL_SUPPORT
  - fedmesh.cluster.ceph
options:
  name:
    description: Filesystem name.
    type: str
    required: true
  state:
    description: V(absent) deletes the filesystem (see O(allow_delete)).
    type: str
    choices: [present, absent]
    default: present
  metadata_pool:
    description: Metadata pool (required with O(state=present)).
    type: str
  data_pool:
    description: First data pool (required with O(state=present)).
    type: str
  max_mds:
    description: Active MDS daemons. Default keeps the current count (1 when creating).
    type: int
  allow_delete:
    description: Confirms O(state=absent).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: A filesystem for datasets and checkpoints
  fedmesh.cluster.ceph_fs:
    name: fldata
    metadata_pool: fldata_metadata
    data_pool: fldata_data
    max_mds: 1
"""

RETURN = r"""
fs:
  description: C(metadata_pool), C(data_pools), C(max_mds) (and after a run C(active), C(standby)); null when absent.
  returned: always
  type: dict
commands:
  description: The ceph commands run (in check mode, that would run).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.backend import COMMON_SPEC
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.fs import FsBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner

ARGUMENT_SPEC = dict(
    COMMON_SPEC,
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    metadata_pool=dict(type="str"),
    data_pool=dict(type="str"),
    max_mds=dict(type="int"),
    allow_delete=dict(type="bool", default=False),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, FsBackend(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
