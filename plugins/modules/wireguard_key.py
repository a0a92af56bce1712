#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: wireguard_key
short_description: Ensure a WireGuard private or preshared key file on the node
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Ensures a WireGuard key file (mode C(0600)) exists on the managed node and returns the public key of a
    private key.
  - The key is generated on the node, with the C(cryptography) library's X25519 when it is importable, else
    with C(wg genkey) and C(wg pubkey) (the key goes on stdin, never on a command line).
  - The key itself is never printed, returned or shown in a diff.
  - O(regenerate) controls rotation - never, when the file is older than O(max_age_days), or on every run.
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.full_support
attributes:
  idempotent:
    support: partial
    details: Not idempotent with O(regenerate=always), which replaces the key on every run.
options:
  path:
    description: Path of the key file on the node. Missing parent directories are created with mode C(0700).
    type: path
    required: true
  type:
    description:
      - V(private) for an interface private key (the public key is returned).
      - V(preshared) for a peer-pair preshared key (32 random bytes, like C(wg genpsk)).
    type: str
    choices: [private, preshared]
    default: private
  state:
    description: V(absent) removes the key file.
    type: str
    choices: [present, absent]
    default: present
  regenerate:
    description:
      - V(never) keeps an existing key.
      - V(max_age) replaces the key when the file is older than O(max_age_days) days.
      - V(always) replaces the key on every run (use it for a one-off rotation run).
    type: str
    choices: [never, max_age, always]
    default: never
  max_age_days:
    description: Maximum key age in days, for O(regenerate=max_age). Required then; at least 1.
    type: int
  content:
    description:
      - Ensure the file holds exactly this key instead of generating one, e.g. to copy a preshared key from the
        node that created it. Mutually exclusive with O(regenerate) other than V(never).
    type: str
notes:
  - The file is written atomically (a 0600 temporary file renamed into place), so the key is never readable by
    others, not even for a moment.
seealso:
  - module: fedmesh.cluster.wireguard_interface
"""

EXAMPLES = r"""
- name: Ensure the interface key
  fedmesh.cluster.wireguard_key:
    path: /etc/wireguard/wg0.key
  register: wg_key

- name: Rotate the key when it is older than 90 days
  fedmesh.cluster.wireguard_key:
    path: /etc/wireguard/wg0.key
    regenerate: max_age
    max_age_days: 90

- name: Ensure a preshared key for the pair (this node, n2)
  fedmesh.cluster.wireguard_key:
    path: /etc/wireguard/fedmesh-psk/n2.psk
    type: preshared
"""

RETURN = r"""
commands:
  description: What was done (or, in check mode, would be done), as text; never a key.
  returned: always
  type: list
  elements: str
  sample: ["generate a private key", "write /etc/wireguard/wg0.key (0600)"]
public_key:
  description: The public key (for O(type=private)). In check mode, null when a new key would be generated.
  returned: success and type is private
  type: str
  sample: HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=
path:
  description: The key file.
  returned: always
  type: str
  sample: /etc/wireguard/wg0.key
type:
  description: The key type.
  returned: always
  type: str
  sample: private
regenerated:
  description: Whether an existing key was (or in check mode would be) replaced.
  returned: always
  type: bool
  sample: false
age_days:
  description: Age of the existing key file in days, before this run.
  returned: when the file existed
  type: float
  sample: 12.5
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.keyfile import KeyFileBackend

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    type=dict(type="str", default="private", choices=["private", "preshared"]),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    regenerate=dict(type="str", default="never", choices=["never", "max_age", "always"]),
    max_age_days=dict(type="int"),
    content=dict(type="str", no_log=True),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_if=[("regenerate", "max_age", ("max_age_days",))])
    run_module(module, KeyFileBackend(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
