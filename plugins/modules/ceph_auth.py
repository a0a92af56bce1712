#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_auth
short_description: Cephx users with caps, caps updated in place, the key written to a keyring file
version_added: 0.2.0
description:
  - Reads the entity with one C(ceph auth get NAME --format json); creates it with
    C(ceph auth get-or-create) or updates its caps in place with C(ceph auth caps) (the key stays).
  - Writes the entity's keyring (key and caps) to O(keyring_path), atomically, with O(mode), O(owner) and
    O(group); a re-run with the same file changes nothing.
  - The key is never returned, logged, diffed or put on a command line - it is read from ceph's output and
    written only to the keyring file.
  - Malformed caps (unknown daemon types, grants that are not C(allow ...) or C(profile ...)) are refused
    before anything runs; Ceph's own parser refuses the rest, atomically.
author:
  - fedmesh.cluster contributors (@fedmesh)
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.FULL_SUPPORT
  - fedmesh.cluster.ceph
options:
  name:
    description: Entity, e.g. V(client.fedmesh-aggregator), V(mgr.node1).
    type: str
    required: true
  state:
    description: V(absent) deletes the entity (its keyring file stays).
    type: str
    choices: [present, absent]
    default: present
  caps:
    description: Caps by daemon type (V(mon), V(mgr), V(osd), V(mds)). Default keeps the current caps
      (none when creating).
    type: dict
  keyring_path:
    description: Write the keyring here.
    type: path
  owner:
    description: Owner of the keyring file.
    type: str
  group:
    description: Group of the keyring file.
    type: str
  mode:
    description: Mode of the keyring file.
    type: str
    default: '0600'
seealso:
  - module: fedmesh.cluster.ceph_fs
"""

EXAMPLES = r"""
- name: The aggregator's own user, only its CephFS folder
  fedmesh.cluster.ceph_auth:
    name: client.fedmesh-aggregator
    caps:
      mon: allow r
      mds: allow rw path=/aggregator
      osd: allow rw tag cephfs data=fldata
    keyring_path: /etc/ceph/ceph.client.fedmesh-aggregator.keyring
"""

RETURN = r"""
auth:
  description: C(entity) and C(caps) after the run (never the key); null when absent.
  returned: always
  type: dict
  sample: {"entity": "client.fedmesh-aggregator", "caps": {"mon": "allow r"}}
keyring_path:
  description: The keyring file written.
  returned: when it was (or in check mode would be) written
  type: str
commands:
  description: The ceph commands run (in check mode, that would run), without secrets.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.auth import AuthBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.backend import COMMON_SPEC
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner

ARGUMENT_SPEC = dict(
    COMMON_SPEC,
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    caps=dict(type="dict"),
    keyring_path=dict(type="path"),
    owner=dict(type="str"),
    group=dict(type="str"),
    mode=dict(type="str", default="0600"),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, AuthBackend(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
