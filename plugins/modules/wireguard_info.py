#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: wireguard_info
short_description: Read WireGuard interfaces, peers and handshakes from the node
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Reads C(wg show <interface> dump) (or C(wg show all dump)) and the wg-quick config files, and returns each
    interface's public key, listen port, fwmark, addresses and, per peer, endpoint, allowed IPs, latest
    handshake and its age in seconds, transfer counters and keepalive.
  - Never returns a private key or a preshared key. The dump contains them; the parser drops them and keeps
    only whether a preshared key is set.
  - Works before WireGuard is installed (then only config files are read) and on interfaces that are down.
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.info_module
attributes:
  platform:
    description: Target operating systems this module is tested against.
    support: full
    platforms: debian
options:
  interface:
    description: Interface to read. Default is every live interface and every C(*.conf) in O(config_dir).
    type: str
  config_dir:
    description: Directory of the wg-quick config files.
    type: path
    default: /etc/wireguard
seealso:
  - module: fedmesh.cluster.wireguard_interface
"""

EXAMPLES = r"""
- name: Read wg0
  fedmesh.cluster.wireguard_info:
    interface: wg0
  register: wg

- name: Fail when a peer has not completed a handshake in 3 minutes
  ansible.builtin.assert:
    that: item.latest_handshake_age is not none and item.latest_handshake_age < 180
    fail_msg: "peer {{ item.name | default(item.public_key) }} has no recent handshake"
  loop: "{{ wg.interfaces.wg0.peers }}"
"""

RETURN = r"""
wg_installed:
  description: Whether the C(wg) tool is installed.
  returned: always
  type: bool
kernel_module:
  description:
    - Whether the WireGuard kernel module is loaded, built in or loadable (the collection's one kernel-module
      probe, the same answer as M(fedmesh.cluster.node_info)'s C(wireguard.kernel_module)).
  returned: always
  type: bool
interfaces:
  description: Interfaces by name.
  returned: always
  type: dict
  contains:
    name:
      description: Interface name.
      type: str
    exists:
      description: Whether the interface exists (is up) now.
      type: bool
    active:
      description: Whether the C(wg-quick@<interface>) unit is active.
      type: bool
    enabled:
      description: Whether the C(wg-quick@<interface>) unit is enabled at boot.
      type: bool
    config_exists:
      description: Whether the wg-quick config file exists.
      type: bool
    config_path:
      description: Path of the wg-quick config file.
      type: str
    public_key:
      description: The interface's public key (live, else derived from the config).
      type: str
    config_public_key:
      description: The public key of the private key in the config file.
      type: str
    listen_port:
      description: UDP listen port.
      type: int
    fwmark:
      description: Firewall mark, null when off.
      type: int
    addresses:
      description: Interface addresses from the config file.
      type: list
      elements: str
    peers:
      description: Live peers.
      type: list
      elements: dict
      contains:
        public_key:
          description: Peer public key.
          type: str
        name:
          description: Peer name from the config comment written by M(fedmesh.cluster.wireguard_interface).
          type: str
        endpoint:
          description: Current endpoint, null when unknown.
          type: str
        allowed_ips:
          description: Allowed IPs.
          type: list
          elements: str
        latest_handshake:
          description: Unix time of the latest handshake, null when none.
          type: int
        latest_handshake_age:
          description: Seconds since the latest handshake, null when none.
          type: int
        transfer_rx:
          description: Bytes received.
          type: int
        transfer_tx:
          description: Bytes sent.
          type: int
        persistent_keepalive:
          description: Keepalive interval in seconds, null when off.
          type: int
        preshared_key_set:
          description: Whether a preshared key is set (the key itself is never returned).
          type: bool
    config:
      description: The config file without secrets (addresses, listen_port, mtu, fwmark, public_key, peers).
      type: dict
    unmanaged_settings:
      description: Config settings that M(fedmesh.cluster.wireguard_interface) does not manage.
      type: list
      elements: str
    warnings:
      description: Problems reading the config file.
      type: list
      elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.info import InfoBackend

ARGUMENT_SPEC = dict(
    interface=dict(type="str"),
    config_dir=dict(type="path", default="/etc/wireguard"),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, InfoBackend(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
