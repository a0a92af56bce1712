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
  - The apply half of the P(fedmesh.cluster.wireguard_mesh#role) role's two calls per node on a run with nothing
    to change (M(fedmesh.cluster.wireguard_mesh_read) is the other). What M(fedmesh.cluster.wireguard_psk),
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
  mtu:
    description: Interface MTU (1280-9000). Default lets wg-quick choose.
    type: int
  fwmark:
    description: Firewall mark for the interface's outgoing packets.
    type: int
  peers:
    description:
      - The complete peer list. Peers not listed are removed. Peers are identified by public key.
    type: list
    elements: dict
    default: []
    suboptions:
      public_key:
        description:
          - The peer's public key (base64, 44 characters).
          - Low-order Curve25519 points (all-zero, 1, the points of order 8, p-1, p, p+1 and their encodings with
            the top bit set) are refused - with such a key anyone can compute the handshake.
        type: str
        required: true
      name:
        description: A label, kept as a comment in the config and reported in results.
        type: str
      preshared_key:
        description: Preshared key for this peer. Prefer O(peers[].preshared_key_file).
        type: str
      preshared_key_file:
        description: Path on the node of a file holding the preshared key for this peer.
        type: path
      endpoint:
        description: V(HOST:PORT) or V([IPv6]:PORT). Omit for peers that connect in (e.g. behind NAT).
        type: str
      allowed_ips:
        description:
          - Networks routed to this peer, e.g. V(10.80.0.2/32).
          - Each network can belong to one peer only - the same network, or one inside another (a V(/24) on one
            peer, a V(/32) in it on another), on two peers is refused, naming both peers.
        type: list
        elements: str
        default: []
      persistent_keepalive:
        description: Keepalive interval in seconds, for a node behind NAT talking to this peer.
        type: int
  implementation:
    description:
      - V(kernel) uses the kernel module and fails if it is not available.
      - V(userspace) installs the systemd drop-in C(/etc/systemd/system/wg-quick@.service.d/fedmesh-userspace.conf)
        so wg-quick falls back to C(wireguard-go) (which must be installed). wg-quick still prefers the kernel
        module when it is present.
      - V(auto) picks V(kernel) when the module is loaded or loadable (the probe M(fedmesh.cluster.node_info)
        reports as C(wireguard.kernel_module)), else V(userspace).
    type: str
    choices: [auto, kernel, userspace]
    default: auto
  enabled:
    description: Whether the C(wg-quick@<name>) unit starts at boot.
    type: bool
    default: true
  config_dir:
    description: Directory of the wg-quick config files.
    type: path
    default: /etc/wireguard
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

PEER_SPEC = dict(
    public_key=dict(type="str", required=True),
    name=dict(type="str"),
    preshared_key=dict(type="str", no_log=True),
    preshared_key_file=dict(type="path"),
    endpoint=dict(type="str"),
    allowed_ips=dict(type="list", elements="str", default=[]),
    persistent_keepalive=dict(type="int"),
)
ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True, aliases=["interface"]),
    addresses=dict(type="list", elements="str", required=True),
    listen_port=dict(type="int"),
    private_key_file=dict(type="path", required=True),
    mtu=dict(type="int"),
    fwmark=dict(type="int"),
    peers=dict(type="list", elements="dict", default=[], options=PEER_SPEC,
               mutually_exclusive=[("preshared_key", "preshared_key_file")]),
    implementation=dict(type="str", default="auto", choices=["auto", "kernel", "userspace"]),
    enabled=dict(type="bool", default=True),
    config_dir=dict(type="path", default="/etc/wireguard"),
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
