#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gluster_peer
short_description: Form a GlusterFS trusted storage pool (probe and detach peers), waiting until connected
version_added: 0.1.0
description:
  - Probes the listed peers that the pool (C(gluster --mode=script --xml pool list)) does not know yet, or
    detaches the listed peers it knows, from the node the module runs on.
  - A peer is recognised by any of its names in the pool or by a shared resolved address, so a node probed by
    its mesh address and listed by hostname (or the reverse) is not probed again. The node itself is skipped.
  - With O(wait=true) it then waits, at most O(timeout) seconds, until every listed peer is
    C(Peer in Cluster (Connected)).
  - Check mode reports the commands it would run (RV(commands)); on a node where glusterd is not installed or
    not running yet it reports every listed peer as to be probed. Diff mode shows the pool's peers before and after.
  - With O(state=present), a listed name that does not resolve on this node is refused before anything runs
    (gluster would only say "Transport endpoint is not connected").
author:
  - fedmesh.cluster contributors (@fedmesh)
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.FULL_SUPPORT
options:
  peers:
    description: Peers by name or address (for example the WireGuard mesh address). The local node may be listed.
    type: list
    elements: str
    required: true
    aliases: [nodes]
  state:
    description: V(present) probes, V(absent) detaches.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: With O(state=present), wait until every listed peer is in the cluster and connected.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for the peers (O(wait)).
    type: int
    default: 120
notes:
  - Detaching fails while a peer still holds bricks; remove its bricks first (M(fedmesh.cluster.gluster_volume)).
  - A peer that stays in C(Accepted peer request) answered the probe but never completed the handshake. The
    host that answered is usually not the one meant (the name resolves to another machine, or NAT between the
    two makes the peer see the probe come from another address). It is named in the error when O(timeout) ends.
seealso:
  - module: fedmesh.cluster.gluster_volume
"""

EXAMPLES = r"""
- name: Form the pool over the mesh addresses
  fedmesh.cluster.gluster_peer:
    peers: "{{ groups['storage'] | map('extract', hostvars, 'fedmesh_glusterfs_peer_address') | list }}"
    timeout: 60
  run_once: true

- name: Remove a node from the pool
  fedmesh.cluster.gluster_peer:
    peers: [node4]
    state: absent
  run_once: true
"""

RETURN = r"""
commands:
  description: The gluster commands run (or, in check mode, that would run).
  returned: always
  type: list
  elements: str
  sample: ["gluster peer probe 10.80.0.2", "gluster peer probe 10.80.0.3"]
peers:
  description: The pool after the change (C(pool list)), local node included as C(localhost).
  returned: always
  type: list
  elements: dict
  contains:
    uuid:
      description: Peer UUID.
      type: str
    hostname:
      description: The name the pool knows the peer by.
      type: str
    hostnames:
      description: All names of the peer.
      type: list
      elements: str
    connected:
      description: Whether glusterd on this node is connected to the peer.
      type: bool
    state:
      description: Peer state, V(Peer in Cluster) once fully joined.
      type: str
    in_cluster:
      description: Connected and V(Peer in Cluster).
      type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.peer import PeerBackend

ARGUMENT_SPEC = dict(
    peers=dict(type="list", elements="str", required=True, aliases=["nodes"]),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    wait=dict(type="bool", default=True),
    timeout=dict(type="int", default=120),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, PeerBackend(module.params, module_runner(module), check_mode=module.check_mode))


if __name__ == "__main__":
    main()
