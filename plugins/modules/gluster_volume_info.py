#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gluster_volume_info
short_description: Facts about GlusterFS volumes - bricks online, options, heal backlog - and the pool
version_added: 0.1.0
description:
  - Reads C(gluster --mode=script --xml) C(volume info), C(volume status) (which bricks are online),
    C(volume heal NAME info summary) (the self-heal backlog) and C(pool list).
  - On a node where glusterd is not installed or not running it returns RV(available=false) and no volumes,
    instead of failing, so playbooks can run it in check mode on fresh nodes.
author:
  - fedmesh.cluster contributors (@fedmesh)
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.INFO_MODULE
options:
  name:
    description: Only this volume. Default is every volume.
    type: str
    aliases: [volume]
  heal:
    description: Read the heal backlog of replicated and dispersed volumes (one more gluster call per volume).
    type: bool
    default: true
seealso:
  - module: fedmesh.cluster.gluster_volume
"""

EXAMPLES = r"""
- name: Read the volumes
  fedmesh.cluster.gluster_volume_info:
  register: gluster

- name: Wait until self-heal has drained after a node came back
  fedmesh.cluster.gluster_volume_info:
    name: models
  register: models
  until: models.volumes.models.heal.pending == 0
  retries: 30
  delay: 5
"""

RETURN = r"""
available:
  description: Whether glusterd answered on this node.
  returned: always
  type: bool
reason:
  description: Why glusterd did not answer.
  returned: when RV(available) is false
  type: str
volumes:
  description: Volumes by name.
  returned: always
  type: dict
  sample: {"models": {"type": "replicate", "status": "started", "replica": 3, "brick_count": 3,
           "bricks": [{"name": "node1:/b", "host": "node1", "path": "/b", "online": true, "arbiter": false}],
           "options": {"performance.cache-size": "256MB"},
           "heal": {"pending": 0, "split_brain": 0, "healing": 0, "unreachable_bricks": []}}}
  contains:
    id:
      description: Volume UUID.
      type: str
    type:
      description: V(replicate), V(distributed-replicate), V(disperse), V(distribute), ... (lower case).
      type: str
    status:
      description: V(started), V(stopped) or V(created).
      type: str
    replica:
      description: Bricks per replica set.
      type: int
    arbiter:
      description: Arbiter bricks per replica set.
      type: int
    disperse:
      description: Bricks per dispersed set (0 if not dispersed).
      type: int
    redundancy:
      description: Redundancy of dispersed sets.
      type: int
    brick_count:
      description: Number of bricks.
      type: int
    dist_count:
      description: Number of sets the files are distributed over.
      type: int
    bricks:
      description: Bricks in set order with C(name), C(host), C(path), C(arbiter), C(online) (null when the
        volume is not started), C(port) and C(pid).
      type: list
      elements: dict
    options:
      description: Options set on the volume (reconfigured options, not defaults).
      type: dict
    tasks:
      description: Rebalance and remove-brick tasks that C(volume status) reports.
      type: list
      elements: dict
    heal:
      description:
        - Self-heal backlog - C(pending), C(split_brain), C(healing) and C(total) entries summed over reachable
          bricks, C(unreachable_bricks), and per brick counts under C(bricks).
        - Null for a volume that is not started or has no redundancy, or when O(heal=false).
      type: dict
peers:
  description: The pool (C(pool list)), the local node as C(localhost).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.info import InfoBackend

ARGUMENT_SPEC = dict(
    name=dict(type="str", aliases=["volume"]),
    heal=dict(type="bool", default=True),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, InfoBackend(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
