# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: wg_mesh_psk_copies
short_description: Pick, for one mesh host, the preshared keys its peers own - and only those
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Used by the P(fedmesh.cluster.wireguard_mesh#role) role inside C(no_log) tasks. The owner of a pair key (the
    lower name of the pair) holds it as C(<peer>.psk); the other host of the pair gets its copy from the owner's
    registered result (M(fedmesh.cluster.wireguard_mesh_read) or M(fedmesh.cluster.wireguard_psk)).
  - Returns owner to key for the owners given, so a host receives only the keys of its own pairs. A key
    missing everywhere is left out (the host keeps the copy it has); a null key (check mode - the owner would
    create it) is kept as null.
positional: host, owners
options:
  _input:
    description:
      - A list of owner-to-keys maps (owner -> {peer -> key}); a later map overrides an earlier one (a null never
        replaces a key).
    type: list
    elements: dict
    required: true
  host:
    description: The host the copies are for (the peer name in the owners' maps).
    type: str
    required: true
  owners:
    description: The owners of the pairs of O(host) whose copies it needs (C(psk_copies) of the plan).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Write this host's copies
  fedmesh.cluster.wireguard_psk:
    dir: /etc/wireguard/fedmesh-psk
    keys: "{{ [read_keys, created_keys] | fedmesh.cluster.wg_mesh_psk_copies(inventory_hostname, plan.psk_copies) }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: Owner to key (secret).
  type: dict
"""

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def wg_mesh_psk_copies(sources: Any, host: str, owners: Any) -> dict[str, Any]:
    if not isinstance(sources, (list, tuple)) or not all(isinstance(s, Mapping) for s in sources):
        raise AnsibleFilterError("wg_mesh_psk_copies: input must be a list of owner -> {peer -> key} maps")
    out: dict[str, Any] = {}
    for owner in list(owners or []):
        for source in sources:
            keys = source.get(owner)
            if isinstance(keys, Mapping) and host in keys and (keys[host] is not None or owner not in out):
                out[owner] = keys[host]
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"wg_mesh_psk_copies": wg_mesh_psk_copies}
