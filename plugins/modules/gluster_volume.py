#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gluster_volume
short_description: Create, grow, shrink, tune, start, stop and delete GlusterFS volumes, with check mode
version_added: 0.1.0
description:
  - Compares the wanted volume with the real one (C(gluster --mode=script --xml volume info) and
    C(volume get NAME all)) and runs only the gluster commands that differ, in a safe order.
  - Creates replicated, distributed-replicated, dispersed and distributed volumes (optionally with an arbiter)
    from a brick list; starts and stops them; sets and resets options; adds and removes bricks, including a
    replica count change; deletes them.
  - Adding whole sets to a started volume is followed by C(rebalance start), waiting until it completes.
    Removing whole sets runs C(remove-brick start), waits until the data has migrated without failures, then
    C(remove-brick commit). Raising the replica count runs C(heal full) so the new bricks get the data.
    Every wait is bounded by O(timeout); on timeout nothing is committed.
  - Refuses unsafe requests before running anything, with a message that names the field and the fix, unless
    O(force=true) - bricks on the root filesystem, two bricks of a set on one host, lowering the replica count
    while bricks are offline or heals are pending. Some requests are
    refused even with O(force) - a brick count the set size does not divide, removing every brick of a replica
    set (its last copy), unknown option names, bricks on hosts outside the trusted pool or that do not resolve,
    changing the disperse count.
  - Check mode reports the gluster commands it would run (RV(commands)) and changes nothing; on a node where
    glusterd is not installed or not running yet it assumes the volume does not exist.
  - Diff mode shows before and after of the volume type, replica, arbiter and disperse counts, bricks, status
    and the options named in O(options).
  - Brick hosts that do not resolve are refused before anything runs (gluster would only say "Transport
    endpoint is not connected"). A brick count that does not fill whole replica or dispersed sets is refused
    even with O(force) (gluster cannot build such a volume and fails half-way).
  - When C(volume create) fails, what gluster left on this node's brick directories (the directory it made,
    its C(trusted.glusterfs.volume-id) mark) is removed; when bricks of other hosts may carry the mark, the
    task reports C(changed) and says how to clean them.
author:
  - fedmesh.cluster contributors (@fedmesh)
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.FULL_SUPPORT
options:
  name:
    description: Volume name.
    type: str
    required: true
    aliases: [volume]
  state:
    description: V(absent) stops the volume and deletes it (the brick directories stay on the nodes).
    type: str
    choices: [present, absent]
    default: present
  status:
    description: Whether the volume runs.
    type: str
    choices: [started, stopped]
    default: started
  bricks:
    description:
      - Bricks as V(HOST:/path), in set order (the first O(replica) bricks form the first replica set, and so on).
        HOST is the name or address the trusted pool knows the node by.
      - Required to create the volume. For an existing volume, bricks not listed are removed and new ones added;
        an empty list leaves the bricks alone.
      - To raise the replica count, list each existing set followed by its new brick(s).
    type: list
    elements: str
    default: []
  replica:
    description:
      - Bricks per replica set (V(1) is a plain distributed volume). Default keeps the current count
        (V(1) when creating).
    type: int
  arbiter:
    description: V(1) makes the last brick of each replica-3 set an arbiter (metadata only).
    type: int
    choices: [0, 1]
  disperse:
    description: Bricks per dispersed set (erasure coding). Mutually exclusive with O(replica).
    type: int
  redundancy:
    description: Bricks per dispersed set that may be lost. Default lets gluster choose.
    type: int
  options:
    description:
      - Volume options by full name, such as V(performance.cache-size). Values are compared with the volume's
        effective values, so V(on), V(true), V(yes), V(enable) and V(1) are the same.
      - A null value resets the option to its default.
    type: dict
    default: {}
  force:
    description: Accept the unsafe requests listed above, and pass C(force) to C(create) and C(add-brick).
    type: bool
    default: false
  rebalance:
    description: Rebalance after adding replica or dispersed sets to a started volume.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for a rebalance or a remove-brick migration to complete.
    type: int
    default: 600
notes:
  - Run it on one node of the pool (for example with C(run_once)); gluster applies the change pool-wide.
  - Deleting a volume leaves its brick directories with gluster's extended attributes; remove them before
    reusing the paths for a new volume.
seealso:
  - module: fedmesh.cluster.gluster_peer
  - module: fedmesh.cluster.gluster_volume_info
"""

EXAMPLES = r"""
- name: A replica-3 volume for model checkpoints
  fedmesh.cluster.gluster_volume:
    name: models
    replica: 3
    bricks: [node1:/srv/gluster/models, node2:/srv/gluster/models, node3:/srv/gluster/models]
    options:
      performance.cache-size: 256MB
      cluster.self-heal-daemon: true
  run_once: true

- name: Grow it to distributed-replicated 2 x 3 (rebalanced, waits until done)
  fedmesh.cluster.gluster_volume:
    name: models
    bricks: [node1:/srv/gluster/models, node2:/srv/gluster/models, node3:/srv/gluster/models,
             node4:/srv/gluster/models, node5:/srv/gluster/models, node6:/srv/gluster/models]
  run_once: true

- name: Replica 2 to replica 3 with an arbiter
  fedmesh.cluster.gluster_volume:
    name: datasets
    replica: 3
    arbiter: 1
    bricks: [node1:/srv/gluster/datasets, node2:/srv/gluster/datasets, node3:/srv/gluster/arbiter/datasets]
  run_once: true

- name: Reset an option to its default
  fedmesh.cluster.gluster_volume:
    name: models
    options:
      performance.cache-size: null
  run_once: true

- name: Delete a volume
  fedmesh.cluster.gluster_volume:
    name: scratch
    state: absent
  run_once: true
"""

RETURN = r"""
commands:
  description: The gluster commands run (or, in check mode, that would run), in order. Waits are spelled out.
  returned: always
  type: list
  elements: str
  sample: ["gluster volume add-brick models node4:/b node5:/b node6:/b",
           "gluster volume rebalance models start && wait for: gluster volume rebalance models status
            (until completed)"]
volume:
  description:
    - The volume after the change (read back from gluster; in check mode the projected state).
    - C(state), C(type), C(status), C(replica), C(arbiter), C(disperse), C(bricks), and C(options) (the options
      named in O(options)).
  returned: always
  type: dict
  sample: {"state": "present", "type": "replicate", "status": "started", "replica": 3, "arbiter": 0,
           "disperse": 0, "bricks": ["node1:/b", "node2:/b", "node3:/b"],
           "options": {"performance.cache-size": "256MB"}}
tasks:
  description: Rebalance / remove-brick results (status, files moved, failures) of the waits done.
  returned: when a rebalance or remove-brick ran
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.volume import VolumeBackend

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True, aliases=["volume"]),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    status=dict(type="str", choices=["started", "stopped"], default="started"),
    bricks=dict(type="list", elements="str", default=[]),
    replica=dict(type="int"),
    arbiter=dict(type="int", choices=[0, 1]),
    disperse=dict(type="int"),
    redundancy=dict(type="int"),
    options=dict(type="dict", default={}),
    force=dict(type="bool", default=False),
    rebalance=dict(type="bool", default=True),
    timeout=dict(type="int", default=600),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           mutually_exclusive=[["replica", "disperse"]])
    run_module(module, VolumeBackend(module.params, module_runner(module), check_mode=module.check_mode))


if __name__ == "__main__":
    main()
