# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: wg_mesh_plan
short_description: Plan a WireGuard mesh - addresses, hubs, edges and each host's peer list
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Pure computation on the controller, used by the P(fedmesh.cluster.wireguard_mesh#role) role.
  - Assigns each host a stable address from one CIDR (explicit addresses first, then the address the node
    already uses, then a slot derived from SHA-256 of the hostname with linear probing), so addresses do not
    depend on host order, on C(--limit) or on hosts joining or leaving.
  - Builds each host's peer list - a full mesh between hosts with an endpoint, and edge hosts (no endpoint,
    behind NAT) reached through hubs.
  - Raises an error naming the host, the variable and the fix on bad input (CIDR too small, duplicate or
    out-of-range addresses, malformed or duplicate keys, unknown hosts, endpoint clashes).
positional: hostvars
options:
  _input:
    description: The mesh hosts (e.g. C(groups['mesh'])).
    type: list
    elements: str
    required: true
  hostvars:
    description:
      - C(hostvars). Per host, C(fedmesh_wireguard_mesh_address), C(fedmesh_wireguard_mesh_endpoint) (when
        undefined, C(ansible_host) or the inventory name; empty or null makes the host an edge),
        C(fedmesh_wireguard_mesh_listen_port), C(fedmesh_wireguard_mesh_hub) and C(fedmesh_wireguard_mesh_state)
        (V(absent) leaves the mesh) are read.
    type: dict
    required: true
  cidr:
    description: The mesh network, e.g. V(10.80.0.0/24).
    type: str
    required: true
  current:
    description:
      - State read from the nodes - the registered result of a looped
        M(fedmesh.cluster.wireguard_info) (one item per host), or a dict host to
        C({address, public_key}).
    type: raw
  interface:
    description: Interface name to read from O(current).
    type: str
    default: wg0
  keys_var:
    description:
      - Name of a registered M(fedmesh.cluster.wireguard_key) result whose C(public_key) overrides O(current).
      - In check mode a key that would be created or rotated has no public key yet; such a host gets a
        deterministic placeholder key (listed in C(placeholder_keys)) so every other host's check run reports
        the peer it would add or change. Placeholders are never applied (check mode changes nothing).
    type: str
  listen_port:
    description: Default listen port.
    type: int
    default: 51820
  keepalive:
    description: Persistent keepalive for edges.
    type: int
    default: 25
  psk_dir:
    description: Directory of the per-peer preshared key files on every node.
    type: str
  rotate:
    description: Hosts whose keys rotate in this run (all mesh hosts must then be in O(play_hosts)).
    type: list
    elements: str
  play_hosts:
    description: Hosts in the play (C(ansible_play_hosts_all)), for C(--limit) handling.
    type: list
    elements: str
  require_keys:
    description: Fail when a host has no public key.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Plan the mesh
  ansible.builtin.set_fact:
    mesh_plan: "{{ groups['mesh'] | fedmesh.cluster.wg_mesh_plan(hostvars, cidr='10.80.0.0/24', current=gathered) }}"
"""

RETURN = r"""
_value:
  description:
    - C(hosts) maps each host to C(address), C(interface_address), C(listen_port), C(endpoint), C(role),
      C(primary_hub), C(forwarding), C(peers), C(peer_names), C(psk_pairs) and C(rotate).
    - C(hubs), C(edges), C(pending) (hosts without a key yet), C(leaving), C(addresses), C(cidr) and
      C(placeholder_keys) (hosts planned with a check-mode placeholder key).
  type: dict
"""

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.keys import placeholder_public_key
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.ipam import IpamError
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.wireguard_mesh import PREFIX, MeshError, plan_mesh

_MISSING = object()


def _hv(hostvars: Any, host: str) -> Mapping[str, Any]:
    try:
        return hostvars[host]
    except KeyError:
        raise AnsibleFilterError(f"wg_mesh_plan: host {host} is not in the inventory") from None


def _get(hv: Mapping[str, Any], key: str, default: Any = _MISSING) -> Any:
    try:
        return hv.get(key, default)
    except Exception:  # undefined variables raise on templating
        return default


def _current(current: Any, interface: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not current:
        return out
    if isinstance(current, Mapping) and "results" in current:
        unread: list[str] = []
        for r in current["results"]:
            host = r.get("item")
            if host is None:
                continue
            if r.get("failed") or r.get("unreachable"):
                unread.append(host)
                continue
            info = (r.get("interfaces") or {}).get(interface) or {}
            addrs = info.get("addresses") or []
            out[host] = {"public_key": info.get("config_public_key") or info.get("public_key"),
                         "address": addrs[0].split("/")[0] if addrs else None}
        # A host that could not be read (down, unreachable) keeps the key and address its peers have for it,
        # so a node that is down during a run is not dropped from everyone's peer list.
        for host in unread:
            seen = [p for r in current["results"] if r.get("item") not in unread
                    for p in ((r.get("interfaces") or {}).get(interface) or {}).get("peers") or []
                    if p.get("name") == host and p.get("public_key")]
            if seen:
                allowed = seen[0].get("allowed_ips") or []
                out[host] = {"public_key": seen[0]["public_key"],
                             "address": allowed[0].split("/")[0] if allowed else None}
        return out
    for host, info in dict(current).items():
        out[host] = {"public_key": info.get("public_key"), "address": info.get("address")}
    return out


def wg_mesh_plan(hosts: list[str], hostvars: Any, cidr: str | None = None, current: Any = None,
                 interface: str = "wg0", keys_var: str | None = None, listen_port: int = 51820,
                 keepalive: int = 25, psk_dir: str | None = None, rotate: list[str] | None = None,
                 play_hosts: list[str] | None = None, require_keys: bool = False) -> dict[str, Any]:
    if cidr in (None, ""):
        raise AnsibleFilterError(f"wg_mesh_plan: {PREFIX}cidr is required, e.g. 10.80.0.0/24")
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("wg_mesh_plan: input must be the list of mesh hosts, e.g. groups['mesh']")
    state = _current(current, interface)
    nodes: dict[str, dict[str, Any]] = {}
    leaving: list[str] = []
    placeholders: list[str] = []
    for h in hosts:
        hv = _hv(hostvars, h)
        if _get(hv, PREFIX + "state", "present") == "absent":
            leaving.append(h)
            continue
        endpoint = _get(hv, PREFIX + "endpoint")
        if endpoint is _MISSING:
            endpoint = _get(hv, "ansible_host", h)
        pub = (state.get(h) or {}).get("public_key")
        if keys_var:
            reg = _get(hv, keys_var, None)
            if isinstance(reg, Mapping) and reg.get("public_key"):
                pub = reg["public_key"]
            elif isinstance(reg, Mapping) and reg.get("changed") and not reg.get("failed"):
                # Check mode: the key would be created or rotated, its public key is not known yet.
                pub = placeholder_public_key(h)
                placeholders.append(h)
        nodes[h] = {
            "address": _get(hv, PREFIX + "address", None),
            "endpoint": endpoint,
            "listen_port": _get(hv, PREFIX + "listen_port", None) or listen_port,
            "hub": bool(_get(hv, PREFIX + "hub", False)),
            "public_key": pub,
            "current_address": (state.get(h) or {}).get("address"),
        }
    rotate = list(rotate or [])
    for h in rotate:
        if h in leaving:
            raise AnsibleFilterError(f"wg_mesh_plan: {PREFIX}rotate_keys names {h}, which is leaving the mesh "
                                     f"({PREFIX}state=absent)")
    try:
        result = plan_mesh(nodes, cidr, keepalive=keepalive, psk_dir=psk_dir, require_keys=require_keys,
                           rotate=rotate, play_hosts=list(play_hosts) if play_hosts is not None else None)
    except (MeshError, IpamError) as exc:
        raise AnsibleFilterError(f"wg_mesh_plan: {exc}") from None
    result["leaving"] = sorted(leaving)
    result["placeholder_keys"] = sorted(placeholders)
    return result


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"wg_mesh_plan": wg_mesh_plan}
