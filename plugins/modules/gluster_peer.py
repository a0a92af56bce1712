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
    not running yet it reports every listed peer as to be probed.
author:
  - fedmesh.cluster contributors (@fedmesh)
extends_documentation_fragment:
  - fedmesh.cluster.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Before and after lists of the pool's peers.
  idempotent:
    support: full
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
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.backend import Gluster, is_local, match_peers
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.parse import GlusterError
from ansible_collections.fedmesh.cluster.plugins.module_utils.gluster.plan import plan_peers


def _names(pool: list) -> list:
    return sorted(p["hostname"] for p in pool if p["hostname"] != "localhost")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "peers": {"type": "list", "elements": "str", "required": True, "aliases": ["nodes"]},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "wait": {"type": "bool", "default": True},
            "timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    peers = [p.strip() for p in module.params["peers"]]
    bad = [p for p in peers if not p or " " in p or "/" in p]
    if bad:
        module.fail_json(msg=f"peers: {bad} are not host names or addresses")
    if module.params["timeout"] < 0:
        module.fail_json(msg=f"timeout: {module.params['timeout']} must be 0 or more seconds")
    state = module.params["state"]
    gluster = Gluster(lambda argv: module.run_command(argv, check_rc=False))
    others = [p for p in peers if not is_local(p)]
    try:
        unreachable = gluster.reachable()
        if unreachable:
            if not module.check_mode:
                module.fail_json(msg=f"glusterd is not reachable on this node ({unreachable}); install and start "
                                     "glusterd first (role fedmesh.cluster.glusterfs)")
            module.warn(f"glusterd is not reachable ({unreachable}); check mode assumes an empty pool")
            pool: list = []
        else:
            pool = gluster.pool()
    except GlusterError as exc:
        module.fail_json(msg=f"reading the pool failed: {exc.message}")
    missing = [p for p in others if not match_peers(p, pool)]
    present = [match_peers(p, pool)[0]["hostname"] for p in others if match_peers(p, pool)]
    plan = plan_peers(state, missing, present)
    after = (_names(pool) + missing) if state == "present" else [n for n in _names(pool) if n not in present]
    result = {"changed": bool(plan["steps"]), "commands": plan["commands"], "peers": pool}
    if module._diff:
        result["diff"] = {"before": {"peers": _names(pool)}, "after": {"peers": sorted(after)}}
    if module.check_mode:
        module.exit_json(**result)
    try:
        gluster.apply(plan["steps"], module.params["timeout"])
        if state == "present" and module.params["wait"] and others:
            result["peers"] = gluster.wait_peers(others, module.params["timeout"])
        else:
            result["peers"] = gluster.pool()
    except GlusterError as exc:
        result.update(changed=bool(gluster.applied), ran=gluster.applied)
        module.fail_json(msg=f"{exc.command + ': ' if exc.command else ''}{exc.message}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
