#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: wireguard_mesh_apply
short_description: Apply one WireGuard mesh node in one call - preshared key copies, the interface, forwarding
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - The second of the P(fedmesh.cluster.wireguard_mesh#role) role's calls per node, made only where the plan
    finds that the node differs from its desired state (M(fedmesh.cluster.wireguard_mesh_prepare) is the first,
    M(fedmesh.cluster.wireguard_mesh_read) the read). What M(fedmesh.cluster.wireguard_psk),
    M(fedmesh.cluster.wireguard_interface) and a sysctl drop-in task would do, in one module execution; those
    modules stay for direct use.
  - Preshared keys - writes the copies given in O(preshared_keys) to C(<psk_dir>/<peer>.psk) (mode C(0600), the
    directory C(0700)) when they differ and, with O(psk_purge), removes the files of peers named neither there
    nor in O(psk_keep). A peer whose key is in O(preshared_keys) gets it in the interface config directly.
  - Interface - exactly as M(fedmesh.cluster.wireguard_interface) with
    O(fedmesh.cluster.wireguard_interface#module:state=present) (live C(wg syncconf) for peer changes, the
    previous config put back when applying fails).
  - Forwarding - with O(forwarding=true) writes O(forwarding_file) (enabling IPv4 or IPv6 forwarding) and loads
    it with C(sysctl -p) when it changed; with O(forwarding=false) removes the file.
  - Every part is read and checked before anything changes. Check mode reports what would change and changes
    nothing; diff mode shows the key file listing and the config with keys redacted. Keys never appear in
    commands, diffs or return values.
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.wireguard
  - fedmesh.cluster.attributes.full_support
options:
  name:
    description: Interface name - 1-15 characters of A-Z a-z 0-9 _ = + . - (not V(.) or V(..)).
    type: str
    required: true
    aliases: [interface]
  addresses:
    description: Interface addresses with prefix, e.g. V(10.80.0.1/24).
    type: list
    elements: str
    required: true
  listen_port:
    description: UDP port to listen on.
    type: int
  private_key_file:
    description: Path of the private key file on the node (see M(fedmesh.cluster.wireguard_key)).
    type: path
    required: true
  psk_dir:
    description: Directory of the per-peer preshared key files. Unset - no key file is written or removed.
    type: path
  preshared_keys:
    description:
      - Peer name to key - copies of the pair keys the peers own, written when the file differs (secret; the
        values are masked in the task's output).
      - A null key means the owner creates it in this run; only valid in check mode (reported as a change).
    type: dict
    default: {}
  psk_keep:
    description: Further peers whose key files stay with O(psk_purge) (e.g. the keys this node owns).
    type: list
    elements: str
    default: []
  psk_purge:
    description: Remove the C(*.psk) files of peers named neither in O(preshared_keys) nor in O(psk_keep).
    type: bool
    default: true
  forwarding:
    description: V(true) writes O(forwarding_file), V(false) removes it; unset leaves it alone.
    type: bool
  forwarding_family:
    description: The forwarding switch O(forwarding) turns on.
    type: str
    choices: [ipv4, ipv6]
    default: ipv4
  forwarding_file:
    description: The sysctl drop-in for O(forwarding).
    type: path
    default: /etc/sysctl.d/61-fedmesh-wireguard.conf
seealso:
  - module: fedmesh.cluster.wireguard_mesh_prepare
  - module: fedmesh.cluster.wireguard_mesh_read
  - module: fedmesh.cluster.wireguard_interface
  - module: fedmesh.cluster.wireguard_psk
"""

EXAMPLES = r"""
- name: Apply the node (pair keys n1 owns copied here; n3's key is owned by this node)
  fedmesh.cluster.wireguard_mesh_apply:
    name: wg0
    addresses: [10.80.0.2/24]
    listen_port: 51820
    private_key_file: /etc/wireguard/wg0.key
    peers:
      - name: n1
        public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
        endpoint: 192.0.2.1:51820
        allowed_ips: [10.80.0.1/32]
      - name: n3
        public_key: HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=
        endpoint: 192.0.2.3:51820
        allowed_ips: [10.80.0.3/32]
        preshared_key_file: /etc/wireguard/fedmesh-psk/n3.psk
    psk_dir: /etc/wireguard/fedmesh-psk
    preshared_keys:
      n1: "{{ n1_read.preshared_keys['n2'] }}"
    psk_keep: [n3]
    forwarding: false
"""

RETURN = r"""
interface:
  description: The interface name.
  returned: always
  type: str
action:
  description: What was (or would be) done to the running interface - V(none), V(started), V(restarted) or V(syncconf).
  returned: always
  type: str
peers_added:
  description: Peers added (public key and name).
  returned: always
  type: list
  elements: dict
peers_removed:
  description: Peers removed (public key and name).
  returned: always
  type: list
  elements: dict
peers_changed:
  description: Peers whose settings changed, with before and after values (a preshared key only as V(changed)).
  returned: always
  type: list
  elements: dict
summary:
  description: One line describing the interface change.
  returned: always
  type: str
psk_written:
  description: Peers whose key copy was (or would be) written.
  returned: when O(psk_dir) is set
  type: list
  elements: str
psk_removed:
  description: Peers whose key file was (or would be) removed.
  returned: when O(psk_dir) is set
  type: list
  elements: str
forwarding_changed:
  description: Whether the forwarding drop-in was (or would be) written or removed.
  returned: always
  type: bool
commands:
  description: What was done (or would be done), never a key.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.mesh_apply import MeshApplyBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.spec import INTERFACE_SPEC

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True, aliases=["interface"]),
    addresses=dict(type="list", elements="str", required=True),
    listen_port=dict(type="int"),
    **INTERFACE_SPEC,
    private_key_file=dict(type="path", required=True),
    psk_dir=dict(type="path"),
    preshared_keys=dict(type="dict", default={}, no_log=True),
    psk_keep=dict(type="list", elements="str", default=[]),
    psk_purge=dict(type="bool", default=True),
    forwarding=dict(type="bool"),
    forwarding_family=dict(type="str", default="ipv4", choices=["ipv4", "ipv6"]),
    forwarding_file=dict(type="path", default="/etc/sysctl.d/61-fedmesh-wireguard.conf"),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, MeshApplyBackend(module.params, module_runner(module), check_mode=module.check_mode))


if __name__ == "__main__":
    main()
