#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: wireguard_mesh_prepare
short_description: Read a WireGuard mesh node and ensure its private key and the pair keys it owns, in one call
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - The first of the P(fedmesh.cluster.wireguard_mesh#role) role's calls per node - the only one on a run with
    nothing to change, one of two on a fresh converge (M(fedmesh.cluster.wireguard_mesh_apply) is the other).
  - Does what M(fedmesh.cluster.wireguard_key) (O(key_file), with O(regenerate) and O(max_age_days)) and
    M(fedmesh.cluster.wireguard_psk) (O(psk_create) in O(psk_dir), created when missing) would do, then returns
    what M(fedmesh.cluster.wireguard_mesh_read) returns, of the state after the changes.
  - In check mode nothing changes - the return is the state now (RV(key) still says C(ensure), the pair keys it
    would create are not in RV(preshared_keys)), C(changed) and C(commands) say what would be done.
  - B(The task must set C(no_log)) - RV(preshared_keys) holds secrets. The private key never leaves the node.
  - M(fedmesh.cluster.wireguard_mesh_read) stays for reading without changing anything.
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.wireguard.mesh_read
  - fedmesh.cluster.attributes.full_support
attributes:
  platform:
    description: Target operating systems this module is tested against.
    support: full
    platforms: debian
options:
  key_file:
    description:
      - The interface's private key file, ensured as M(fedmesh.cluster.wireguard_key) with O(regenerate) and
        O(max_age_days) would (unset - no key is read or written).
    type: path
  psk_create:
    description:
      - Peers whose pair key this node owns - C(<psk_dir>/<peer>.psk) is created (mode C(0600), the directory
        C(0700)) when missing, as O(fedmesh.cluster.wireguard_psk#module:create). Existing files are never
        touched or removed here.
    type: list
    elements: str
    default: []
seealso:
  - module: fedmesh.cluster.wireguard_mesh_read
  - module: fedmesh.cluster.wireguard_mesh_apply
  - module: fedmesh.cluster.wireguard_key
  - module: fedmesh.cluster.wireguard_psk
"""

EXAMPLES = r"""
- name: Prepare the node for the mesh (its key, the pair keys it owns), and read it
  fedmesh.cluster.wireguard_mesh_prepare:
    interface: wg0
    key_file: /etc/wireguard/wg0.key
    psk_dir: /etc/wireguard/fedmesh-psk
    psk_create: [n2, n3]
    packages: [wireguard-tools]
  register: node
  no_log: true
"""

RETURN = r"""
wg_installed:
  description: As RV(fedmesh.cluster.wireguard_mesh_read#module:wg_installed),
    of the state after this call (before it, in check mode).
  returned: always
  type: bool
binaries:
  description: As RV(fedmesh.cluster.wireguard_mesh_read#module:binaries),
    of the state after this call (before it, in check mode).
  returned: always
  type: dict
kernel_module:
  description: As RV(fedmesh.cluster.wireguard_mesh_read#module:kernel_module),
    of the state after this call (before it, in check mode).
  returned: always
  type: bool
interfaces:
  description: As RV(fedmesh.cluster.wireguard_mesh_read#module:interfaces),
    of the state after this call (before it, in check mode).
  returned: always
  type: dict
packages_missing:
  description: As RV(fedmesh.cluster.wireguard_mesh_read#module:packages_missing),
    of the state after this call (before it, in check mode).
  returned: always
  type: list
  elements: str
key:
  description: As RV(fedmesh.cluster.wireguard_mesh_read#module:key),
    of the state after this call (before it, in check mode).
  returned: always
  type: dict
psk_dir_mode:
  description: As RV(fedmesh.cluster.wireguard_mesh_read#module:psk_dir_mode),
    of the state after this call (before it, in check mode).
  returned: always
  type: str
preshared_keys:
  description: As RV(fedmesh.cluster.wireguard_mesh_read#module:preshared_keys),
    of the state after this call (before it, in check mode).
  returned: always
  type: dict
implementation:
  description: As RV(fedmesh.cluster.wireguard_mesh_read#module:implementation),
    of the state after this call (before it, in check mode).
  returned: always
  type: str
view:
  description: As RV(fedmesh.cluster.wireguard_mesh_read#module:view),
    of the state after this call (before it, in check mode).
  returned: always
  type: dict
commands:
  description: What was (or would be) done, never a key.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.mesh_prepare import MeshPrepareBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.spec import MESH_READ_SPEC

ARGUMENT_SPEC = dict(
    **MESH_READ_SPEC,
    psk_create=dict(type="list", elements="str", default=[]),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, MeshPrepareBackend(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
