#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: wireguard_interface
short_description: Ensure a WireGuard interface, persisted with wg-quick and applied live
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Ensures a WireGuard interface from structured arguments, persisted as C(/etc/wireguard/<name>.conf)
    (mode C(0600)) and the C(wg-quick@<name>) systemd unit, enabled at boot.
  - Compares the wanted configuration with the current file and the live interface, and applies only what
    differs. Peer changes, a new private key, O(listen_port) and O(fwmark) are applied live with
    C(wg syncconf), so existing tunnels stay up. O(addresses) and O(mtu) changes restart the unit.
  - If applying fails, the previous config is put back and re-applied, and the module fails.
  - The C(fedmesh.cluster.wireguard_mesh) role builds a full mesh (with edge nodes behind NAT) on this module.
  - Check mode reports what would change (including the peers added, removed and changed) and changes
    nothing. Diff mode shows the config with private and preshared keys redacted.
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.wireguard
  - fedmesh.cluster.attributes.full_support
options:
  name:
    description:
      - Interface name - 1-15 characters of A-Z a-z 0-9 _ = + . - (not V(.) or V(..)).
      - An error names the rule the name breaks.
    type: str
    required: true
    aliases: [interface]
  state:
    description: V(absent) stops and disables the unit and removes the config file.
    type: str
    choices: [present, absent]
    default: present
  addresses:
    description: Interface addresses with prefix, e.g. V(10.80.0.1/24). Required with O(state=present).
    type: list
    elements: str
    default: []
  listen_port:
    description: UDP port to listen on. Default is a random port (fine for nodes that only connect out).
    type: int
  private_key_file:
    description:
      - Path of the private key file on the node (see M(fedmesh.cluster.wireguard_key)). Required with
        O(state=present).
    type: path
notes:
  - "Secrets: the private key and the preshared keys are read from files on the node and written into the 0600
    config as C(PrivateKey) and C(PresharedKey) lines, rather than set by C(PostUp = wg set ...) commands.
    This keeps C(wg syncconf) atomic: a new peer, its preshared key and a rotated private key are applied in
    one step, with no moment where a peer runs without its preshared key, and C(wg-quick up) after a reboot
    needs nothing but the file. The file is created 0600 before any byte is written and renamed into place.
    Secrets never appear on a command line (C(wg syncconf) reads C(wg-quick strip) through a pipe), in results
    or in diffs."
  - Settings in an existing config that this module does not manage (for example C(DNS) or C(PostUp)) are
    removed, with a warning.
seealso:
  - module: fedmesh.cluster.wireguard_key
  - module: fedmesh.cluster.wireguard_info
"""

EXAMPLES = r"""
- name: Ensure the key
  fedmesh.cluster.wireguard_key:
    path: /etc/wireguard/wg0.key
  register: key

- name: Ensure wg0 with two peers
  fedmesh.cluster.wireguard_interface:
    name: wg0
    addresses: [10.80.0.1/24]
    listen_port: 51820
    private_key_file: /etc/wireguard/wg0.key
    implementation: auto
    peers:
      - name: n2
        public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
        preshared_key_file: /etc/wireguard/fedmesh-psk/n2.psk
        endpoint: 192.0.2.2:51820
        allowed_ips: [10.80.0.2/32]
      - name: laptop
        public_key: TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=
        allowed_ips: [10.80.0.50/32]
  register: wg

- name: Show what changed
  ansible.builtin.debug:
    msg: "{{ wg.action }}: +{{ wg.peers_added | length }} -{{ wg.peers_removed | length }}"

- name: Remove wg1
  fedmesh.cluster.wireguard_interface:
    name: wg1
    state: absent
"""

RETURN = r"""
commands:
  description: What was done (or, in check mode, would be done), as text; never a key.
  returned: always
  type: list
  elements: str
  sample: ["write /etc/wireguard/wg0.conf (0600)", "wg syncconf wg0 <(wg-quick strip wg0)"]
interface:
  description: Interface name.
  returned: always
  type: str
  sample: wg0
config_path:
  description: The wg-quick config file.
  returned: always
  type: str
  sample: /etc/wireguard/wg0.conf
action:
  description:
    - What was (or in check mode would be) done to the running interface - V(none), V(started), V(restarted),
      V(syncconf) (live, tunnels stay up) or V(removed).
  returned: always
  type: str
  sample: syncconf
implementation:
  description: The implementation used (V(kernel) or V(userspace)).
  returned: state is present
  type: str
  sample: userspace
public_key:
  description: The interface's public key. Null in check mode when the key file does not exist yet.
  returned: state is present
  type: str
  sample: HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=
peers_added:
  description: Peers added (public key and name).
  returned: always
  type: list
  elements: dict
  sample: [{public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=, name: n2}]
peers_removed:
  description: Peers removed (public key and name).
  returned: always
  type: list
  elements: dict
  sample: []
peers_changed:
  description:
    - Peers whose settings changed, with before and after values per field. A changed preshared key is
      reported as V(changed) under C(preshared_key), never with its value.
  returned: always
  type: list
  elements: dict
  sample: [{public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=, name: n2,
            changes: {endpoint: {before: "192.0.2.2:51820", after: "192.0.2.9:51820"}}}]
interface_changes:
  description: Interface settings that changed, with before and after values (a new private key as C(public_key)).
  returned: state is present
  type: dict
  sample: {mtu: {before: null, after: 1380}}
restart_required:
  description: Whether the change needs a restart of the unit (addresses or MTU changed, or the interface is down).
  returned: state is present
  type: bool
  sample: false
summary:
  description: One line describing the change.
  returned: state is present
  type: str
  sample: "peers added: 1 (apply: syncconf)"
config:
  description: The wanted configuration without secrets.
  returned: state is present
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.interface import InterfaceBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.spec import INTERFACE_SPEC

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True, aliases=["interface"]),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    addresses=dict(type="list", elements="str", default=[]),
    listen_port=dict(type="int"),
    **INTERFACE_SPEC,
    private_key_file=dict(type="path"),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_if=[("state", "present", ("private_key_file", "addresses"))])
    run_module(module, InterfaceBackend(module.params, module_runner(module), check_mode=module.check_mode))


if __name__ == "__main__":
    main()
