# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Interface options that fedmesh.cluster.wireguard_interface and wireguard_mesh_apply share."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
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
"""

    # The options wireguard_mesh_read and wireguard_mesh_prepare share (the prepare is the read plus the key and
    # the pair keys it ensures).
    MESH_READ = r"""
options:
  interface:
    description: Interface to read - 1-15 characters of A-Z a-z 0-9 _ = + . - (not V(.) or V(..)).
    type: str
    required: true
  config_dir:
    description: Directory of the wg-quick config files.
    type: path
    default: /etc/wireguard
  regenerate:
    description: As O(fedmesh.cluster.wireguard_key#module:regenerate).
    type: str
    choices: [never, max_age, always]
    default: never
  max_age_days:
    description: The O(fedmesh.cluster.wireguard_key#module:max_age_days) for O(regenerate=max_age).
    type: int
  psk_dir:
    description: Directory of the C(<peer>.psk) preshared key files (see M(fedmesh.cluster.wireguard_psk)).
    type: path
  packages:
    description: Debian packages to look up with one C(dpkg-query) call.
    type: list
    elements: str
    default: []
  implementation:
    description:
      - The O(fedmesh.cluster.wireguard_mesh_apply#module:implementation) the apply would run with; RV(implementation)
        is what V(auto) resolves to on this node, and RV(view) reports what that implementation still lacks.
    type: str
    choices: [auto, kernel, userspace]
    default: auto
  forwarding_file:
    description: The O(fedmesh.cluster.wireguard_mesh_apply#module:forwarding_file) whose state RV(view) reports.
    type: path
"""
