#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: wireguard_psk
short_description: Ensure a node's WireGuard preshared key files, one per peer, in one call
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Keeps the directory of per-peer preshared key files of one node (C(<dir>/<peer>.psk), mode C(0600), the
    directory C(0700)) in one call, whatever the number of peers.
  - Keys this node owns (O(create)) are created when missing (32 random bytes, like C(wg genpsk)) and returned
    in RV(preshared_keys), so the other node of each pair can get its copy (O(keys)) from the controller's
    memory. B(The task must set C(no_log)) - the return holds secrets.
  - With O(purge), files of peers named nowhere in O(create), O(keys) or O(keep) are removed.
  - Keys never appear in commands, diffs or warnings.
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.full_support
options:
  dir:
    description: Directory of the key files; created with mode C(0700) when missing.
    type: path
    required: true
  create:
    description: Peers whose pair key this node owns - created when missing, returned in RV(preshared_keys).
    type: list
    elements: str
    default: []
  keys:
    description:
      - Peer name to key - copies of keys another node owns, written when the file differs.
      - A null key means the owner creates it in this run; only valid in check mode (reported as a change).
    type: dict
    default: {}
  keep:
    description: Further peers whose files stay (with O(purge)), e.g. copies written by another task.
    type: list
    elements: str
    default: []
  purge:
    description: Remove C(*.psk) files of peers not named in O(create), O(keys) or O(keep).
    type: bool
    default: false
notes:
  - Files are written atomically (a 0600 temporary file renamed into place).
seealso:
  - module: fedmesh.cluster.wireguard_key
  - module: fedmesh.cluster.wireguard_interface
"""

EXAMPLES = r"""
- name: Ensure the keys this node owns, drop those of former peers
  fedmesh.cluster.wireguard_psk:
    dir: /etc/wireguard/fedmesh-psk
    create: [n2, n3]
    keep: [n0]
    purge: true
  register: owned
  no_log: true

- name: Copy the key n0 owns
  fedmesh.cluster.wireguard_psk:
    dir: /etc/wireguard/fedmesh-psk
    keys:
      n0: "{{ hostvars['n0'].owned.preshared_keys['n1'] }}"
  no_log: true
"""

RETURN = r"""
preshared_keys:
  description: The keys of O(create), by peer (secret - use C(no_log)). In check mode, a key to be created is null.
  returned: always
  type: dict
created:
  description: Peers whose key was (or would be) created.
  returned: always
  type: list
  elements: str
written:
  description: Peers whose copy was (or would be) written.
  returned: always
  type: list
  elements: str
removed:
  description: Peers whose file was (or would be) removed.
  returned: always
  type: list
  elements: str
dir:
  description: The directory.
  returned: always
  type: str
commands:
  description: What was done (or would be done), never a key.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.psk import PskBackend

ARGUMENT_SPEC = dict(
    dir=dict(type="path", required=True),
    create=dict(type="list", elements="str", default=[]),
    keys=dict(type="dict", default={}, no_log=True),
    keep=dict(type="list", elements="str", default=[]),
    purge=dict(type="bool", default=False),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, PskBackend(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
