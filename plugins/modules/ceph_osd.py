#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_osd
short_description: One BlueStore OSD on a file (small and test nodes) or a block device, idempotent by OSD fsid
version_added: 0.2.0
description:
  - Finds this node's OSD folders (C(/var/lib/ceph/osd/CLUSTER-ID)) whose C(block) is O(path) and checks the
    cluster knows their fsid (one C(ceph osd dump)); when it does, nothing runs.
  - Otherwise creates the OSD - a cephx secret made on the node goes to C(ceph osd new UUID -i -) on stdin,
    the OSD keyring is written 0600 for user ceph, then C(ceph-osd --mkfs) and C(ceph-osd@ID).
  - O(kind=file) makes a sparse file of O(size) bytes (at least 5 GiB; BlueStore on smaller files fills up).
  - Never touches a path that holds data (anything C(blkid -p) recognises - a filesystem, a partition
    table) unless O(zap=true), which wipes the signatures first.
author:
  - fedmesh.cluster contributors (@fedmesh)
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.FULL_SUPPORT
  - fedmesh.cluster.ceph
options:
  path:
    description: The block device, or the file BlueStore keeps its data in.
    type: path
    required: true
  kind:
    description: V(file) or V(device).
    type: str
    choices: [file, device]
    default: device
  size:
    description: Size of the file in bytes (O(kind=file)).
    type: int
    default: 5368709120
  zap:
    description: Wipe filesystem and partition signatures on O(path) first. Destroys what is there.
    type: bool
    default: false
notes:
  - Test-bed nodes (containers without udev or device-mapper) use O(kind=file).
"""

EXAMPLES = r"""
- name: An OSD on a sparse 10 GiB file
  fedmesh.cluster.ceph_osd:
    path: /var/lib/ceph/osd-data/osd0.img
    kind: file
    size: 10737418240
"""

RETURN = r"""
osd:
  description: C(path) and C(id) of the OSD (C(id) null in check mode before it exists).
  returned: always
  type: dict
commands:
  description: What ran (in check mode, would run), without secrets.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.backend import COMMON_SPEC
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.osd import OsdBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner

ARGUMENT_SPEC = dict(
    COMMON_SPEC,
    path=dict(type="path", required=True),
    kind=dict(type="str", choices=["file", "device"], default="device"),
    size=dict(type="int", default=5368709120),
    zap=dict(type="bool", default=False),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, OsdBackend(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
