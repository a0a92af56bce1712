#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: wireguard_mesh_read
short_description: Read everything a WireGuard mesh run needs from one node, in one call, changing nothing
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Reads everything a P(fedmesh.cluster.wireguard_mesh#role) run needs from one node; the role reads hosts
    outside C(--limit) with it (its own hosts use M(fedmesh.cluster.wireguard_mesh_prepare), which returns the
    same after ensuring the key and the pair keys). RV(view) lets a controller decide whether
    M(fedmesh.cluster.wireguard_mesh_apply) would change anything.
  - Returns the interface state as M(fedmesh.cluster.wireguard_info) does (public key, port, addresses, live and
    configured peers), the kernel-module probe, which WireGuard binaries and which of O(packages) are
    installed, what M(fedmesh.cluster.wireguard_key) would do with O(key_file) (and its public key), and the
    node's preshared key files in O(psk_dir).
  - B(The task must set C(no_log)) - RV(preshared_keys) holds secrets (so the role can hand each pair's key to
    the other node of the pair without another call). The private key never leaves the node.
  - Never changes anything, in or out of check mode.
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.wireguard.mesh_read
  - fedmesh.cluster.attributes.info_module
attributes:
  platform:
    description: Target operating systems this module is tested against.
    support: full
    platforms: debian
options:
  key_file:
    description: The interface's private key file, read as M(fedmesh.cluster.wireguard_key) with O(regenerate) would.
    type: path
seealso:
  - module: fedmesh.cluster.wireguard_info
  - module: fedmesh.cluster.wireguard_mesh_apply
"""

EXAMPLES = r"""
- name: Read the node for the mesh
  fedmesh.cluster.wireguard_mesh_read:
    interface: wg0
    key_file: /etc/wireguard/wg0.key
    psk_dir: /etc/wireguard/fedmesh-psk
    packages: [wireguard-tools]
  register: node
  no_log: true

- name: Install WireGuard only where something is missing
  fedmesh.cluster.packages:
    name: [wireguard-tools]
  when: node.packages_missing | length > 0
"""

RETURN = r"""
wg_installed:
  description: Whether the C(wg) tool is installed.
  returned: always
  type: bool
binaries:
  description: Whether C(wg), C(wg-quick) and C(wireguard-go) are installed, by name.
  returned: always
  type: dict
kernel_module:
  description: Whether the WireGuard kernel module is loaded, built in or loadable (the collection's one probe).
  returned: always
  type: bool
interfaces:
  description: O(interface) as the C(interfaces) return of M(fedmesh.cluster.wireguard_info) (no secret).
  returned: always
  type: dict
packages_missing:
  description: The O(packages) dpkg does not list as installed.
  returned: always
  type: list
  elements: str
key:
  description:
    - O(key_file) - C(exists), C(public_key) (null when there is no valid key), C(ensure) (whether
      M(fedmesh.cluster.wireguard_key) with the same O(regenerate) and O(max_age_days) would change it),
      C(age_days), C(commands) (what it would do) and C(problem) (why it would fail, when it would).
  returned: always
  type: dict
psk_dir_mode:
  description: The mode of O(psk_dir) (e.g. V(0700)), null when it does not exist.
  returned: always
  type: str
preshared_keys:
  description: Peer name to the key in O(psk_dir) (secret - use C(no_log)); null for a file without a valid key.
  returned: always
  type: dict
implementation:
  description: O(implementation) resolved on this node (V(auto) - V(kernel) when the module is available).
  returned: always
  type: str
view:
  description:
    - What M(fedmesh.cluster.wireguard_mesh_apply) compares, without a secret, so a controller can decide whether
      the apply call is needed at all - C(config) (the config file's addresses, listen port, MTU, fwmark, public
      key and peers by public key with name, endpoint, allowed IPs, keepalive and C(preshared_key_sha256); null
      without a config), C(local) (what the apply would fix whatever its arguments - the unit not active or not
      enabled, the file's mode or unmanaged settings, live drift from the file, the userspace drop-in, missing
      binaries; empty when none), C(forwarding) (O(forwarding_file) - null when absent, V(ipv4) or V(ipv6) when
      it is the apply's drop-in, V(other)) and C(psk_sha256) (peer to SHA-256 of its key file in O(psk_dir)).
    - Hashes of 256-bit random keys, but keep the task C(no_log) anyway (it is, for RV(preshared_keys)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.mesh_read import MeshReadBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.spec import MESH_READ_SPEC

ARGUMENT_SPEC = dict(**MESH_READ_SPEC)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, MeshReadBackend(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
