# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: wg_mesh_plan
short_description: Plan a WireGuard mesh - each host's peer list, from a validated layout and the public keys
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - The second half of the mesh plan of the P(fedmesh.cluster.wireguard_mesh#role) role, computed once, after
    every host's key is ensured. Its input is the output of P(fedmesh.cluster.wg_mesh_layout#filter), which
    validated everything that does not depend on keys before any change.
  - Builds each host's peer list - a full mesh between hosts with an endpoint, and edge hosts (no endpoint,
    behind NAT) reached through hubs - and the preshared-key pairs each host takes care of.
  - Raises an error naming the host and the fix on a malformed, low-order or duplicate public key.
options:
  _input:
    description: The output of P(fedmesh.cluster.wg_mesh_layout#filter).
    type: dict
    required: true
  keys:
    description:
      - Per host, its registered M(fedmesh.cluster.wireguard_key) result; its C(public_key) overrides the key read
        from the node.
      - In check mode a key that would be created or rotated has no public key yet; such a host gets a
        deterministic placeholder key (listed in C(placeholder_keys)) so every other host's check run reports
        the peer it would add or change. Placeholders are never applied (check mode changes nothing).
    type: dict
  nodes:
    description:
      - Per mesh host, its registered M(fedmesh.cluster.wireguard_mesh_read) result (hosts that could not be read
        are ignored). Its C(key.public_key) is the host's public key (the O(keys) results still override it), and
        it decides each host's C(ensure_key) and C(psk_missing) - the calls a run with nothing to change skips.
      - Without it every host ensures its key and its preshared keys, as before.
    type: dict
  mtu:
    description:
      - The interface MTU the apply sets (V(0) - none), for comparing each host's desired config with the view
        its read returned.
    type: int
    default: 0
  require_keys:
    description: Fail when a host has no public key.
    type: bool
    default: false
  errors:
    description:
      - V(strict) raises on a bad key; V(return) returns C({error}) instead (see
        P(fedmesh.cluster.wg_mesh_layout#filter)).
      - An input that is itself C({error}) (a layout computed with O(errors=return) that failed) is returned as it
        is with V(return), raised with V(strict) - so the two filters chain in one expression.
    type: str
    choices: [strict, return]
    default: strict
"""

EXAMPLES = r"""
- name: Plan the peers once the keys are known
  ansible.builtin.set_fact:
    mesh_plan: "{{ mesh_layout | fedmesh.cluster.wg_mesh_plan(keys={'n1': n1_key_result}) }}"
"""

RETURN = r"""
_value:
  description:
    - C(hosts) maps each host to C(address), C(interface_address), C(listen_port), C(endpoint), C(role),
      C(primary_hub), C(forwarding), C(peers), C(peer_names), C(psk_create) (peers whose pair key this host
      owns - the lower name of a pair owns it), C(psk_copies) (peers that own the key of their pair with this host)
      and C(rotate); C(ensure_key) (the key must be created, rotated or fixed in this run) and C(psk_missing)
      (keys of C(psk_create) the host does not hold yet).
    - C(hubs), C(edges), C(pending) (hosts without a key yet), C(leaving), C(addresses), C(cidr), C(topology),
      C(psk_outside_owners) (under C(--limit), owners outside the play - the hosts in the play whose pair key
      they own and do not hold yet), C(placeholder_keys) (hosts planned with a check-mode placeholder key) and
      C(key_hosts) (hosts in the play with C(ensure_key) - after their key task the plan is computed again).
    - C(apply_hosts) - the hosts in the play whose M(fedmesh.cluster.wireguard_mesh_apply) call would change
      something, and per host C(apply_reasons) (why; empty when nothing differs). The desired state of each host
      (from this plan, its public key and the pair keys in O(nodes)) is compared with the secret-free C(view) its
      read returned, by the function the apply builds its desired state with. A host without a read is always
      listed; without O(nodes), every host is.
    - With O(errors=return) and bad keys, only C(error).
  type: dict
"""

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.keys import placeholder_public_key
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.wireguard_mesh import MeshError, plan_peers
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.wireguard_mesh_nodes import (
    mark_apply,
    node_reads,
    skip_done,
)


def wg_mesh_plan(layout: Mapping[str, Any], keys: Mapping[str, Any] | None = None,
                 require_keys: bool = False, errors: str = "strict", nodes: Mapping[str, Any] | None = None,
                 mtu: int = 0) -> dict[str, Any]:
    if errors not in ("strict", "return"):
        raise AnsibleFilterError(f"wg_mesh_plan: errors={errors!r} is not strict or return")
    if isinstance(layout, Mapping) and "error" in layout:
        if errors == "return":
            return {"error": layout["error"]}
        raise AnsibleFilterError(str(layout["error"]))
    try:
        return _plan(layout, keys, require_keys, nodes, mtu)
    except AnsibleFilterError as exc:
        if errors == "return":
            return {"error": str(exc.message)}
        raise


def _plan(layout: Any, keys: Any, require_keys: bool, nodes: Any, mtu: Any) -> dict[str, Any]:
    if not isinstance(layout, Mapping) or "hosts" not in layout or "known_keys" not in layout:
        raise AnsibleFilterError("wg_mesh_plan: input must be the output of fedmesh.cluster.wg_mesh_layout")
    read = node_reads(nodes)
    pubs = dict(layout["known_keys"])
    for host, node in read.items():
        if host in pubs and node["key"].get("public_key"):
            pubs[host] = node["key"]["public_key"]
    placeholders: list[str] = []
    for host, reg in dict(keys or {}).items():
        if host not in pubs or not isinstance(reg, Mapping):
            continue
        if reg.get("public_key"):
            pubs[host] = reg["public_key"]
        elif reg.get("changed") and not reg.get("failed"):
            # Check mode: the key would be created or rotated, its public key is not known yet.
            pubs[host] = placeholder_public_key(host)
            placeholders.append(host)
    try:
        result = plan_peers(layout, pubs, require_keys=require_keys)
    except MeshError as exc:
        raise AnsibleFilterError(f"wg_mesh_plan: {exc}") from None
    result["leaving"] = list(layout.get("leaving") or [])
    result["placeholder_keys"] = sorted(placeholders)
    skip_done(result, read if nodes is not None else {}, layout.get("play_hosts"))
    mark_apply(result, read if nodes is not None else {}, pubs, layout.get("play_hosts"), mtu=mtu or None,
               psk_dir=layout.get("psk_dir"))
    return result


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"wg_mesh_plan": wg_mesh_plan}
