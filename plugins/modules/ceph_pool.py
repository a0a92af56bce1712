#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_pool
short_description: Replicated and erasure-coded Ceph pools - size, min_size, PGs, application, quotas
version_added: 0.2.0
description:
  - Reads every pool, erasure-code profile and OSD with one C(ceph osd dump --format json), compares the
    wanted settings with the pool's real ones and runs only the C(ceph osd pool ...) commands that differ.
  - Refuses before running anything - a size above the number of OSDs in the cluster, min_size outside
    1..size, a pg_num that is not a power of two, a type change, a second application, an erasure-code
    profile that exists with other settings.
  - Deletes a pool only with O(state=absent) and O(allow_delete=true), and only when the cluster allows it
    (C(mon_allow_pool_delete)); the module never changes that setting itself.
  - Check mode reports the commands it would run (RV(commands)); diff mode shows the managed settings
    before and after.
author:
  - fedmesh.cluster contributors (@fedmesh)
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.FULL_SUPPORT
  - fedmesh.cluster.ceph
options:
  name:
    description: Pool name.
    type: str
    required: true
  state:
    description: V(absent) deletes the pool (see O(allow_delete)).
    type: str
    choices: [present, absent]
    default: present
  type:
    description: Replicated or erasure-coded. Cannot change for an existing pool.
    type: str
    choices: [replicated, erasure]
    default: replicated
  size:
    description: Replicas of each object (replicated pools). Default keeps the current one (the cluster's
      C(osd_pool_default_size) when creating).
    type: int
  min_size:
    description: Replicas that must be up for I/O to continue.
    type: int
  pg_num:
    description: Placement groups (a power of two). Set O(pg_autoscale_mode=off) with it, or the autoscaler
      changes it again. Default leaves it to the autoscaler.
    type: int
  pg_autoscale_mode:
    description: The PG autoscaler for this pool.
    type: str
    choices: ['on', 'off', warn]
  application:
    description: What the pool serves. A pool without one makes the cluster report C(POOL_APP_NOT_ENABLED).
    type: str
    choices: [rbd, cephfs, rgw]
  erasure_profile:
    description: Erasure-code profile of an erasure-coded pool (default V(default)).
    type: str
  erasure_profile_settings:
    description:
      - Settings to create O(erasure_profile) with when it does not exist, for example
        C(k=2), C(m=1), C(crush-failure-domain=host) as a dict. An existing profile with other settings is refused.
    type: dict
  quota_max_bytes:
    description: Quota in bytes (V(0) is none).
    type: int
  quota_max_objects:
    description: Quota in objects (V(0) is none).
    type: int
  allow_delete:
    description: Confirms O(state=absent).
    type: bool
    default: false
seealso:
  - module: fedmesh.cluster.ceph_info
"""

EXAMPLES = r"""
- name: A replicated pool for RBD images, 3 copies, I/O with 2
  fedmesh.cluster.ceph_pool:
    name: images
    size: 3
    min_size: 2
    application: rbd
    quota_max_bytes: 107374182400

- name: An erasure-coded pool (2+1) with its profile
  fedmesh.cluster.ceph_pool:
    name: archive
    type: erasure
    erasure_profile: ec21
    erasure_profile_settings: {k: 2, m: 1, crush-failure-domain: host}
    application: rgw
"""

RETURN = r"""
pool:
  description: The pool's managed settings after the run (in check mode, what they would be); null when absent.
  returned: always
  type: dict
  sample: {"type": "replicated", "size": 3, "min_size": 2, "pg_autoscale_mode": "on", "erasure_profile": null,
           "applications": ["rbd"], "quota_max_bytes": 0, "quota_max_objects": 0}
commands:
  description: The ceph commands run (in check mode, that would run).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.backend import COMMON_SPEC
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.pool import PoolBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner

ARGUMENT_SPEC = dict(
    COMMON_SPEC,
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    type=dict(type="str", choices=["replicated", "erasure"], default="replicated"),
    size=dict(type="int"),
    min_size=dict(type="int"),
    pg_num=dict(type="int"),
    pg_autoscale_mode=dict(type="str", choices=["on", "off", "warn"]),
    application=dict(type="str", choices=["rbd", "cephfs", "rgw"]),
    erasure_profile=dict(type="str"),
    erasure_profile_settings=dict(type="dict"),
    quota_max_bytes=dict(type="int"),
    quota_max_objects=dict(type="int"),
    allow_delete=dict(type="bool", default=False),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, PoolBackend(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
