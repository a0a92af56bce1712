# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: wg_mesh_layout
short_description: Validate a WireGuard mesh and lay it out - addresses, hubs, edges and links, before any change
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - The first half of the mesh plan of the P(fedmesh.cluster.wireguard_mesh#role) role, computed once, before
    anything changes. P(fedmesh.cluster.wg_mesh_plan#filter) adds the public keys.
  - Validates every host's settings the same way, whichever host evaluates it - a bad value on one host fails
    the run on every host.
  - Assigns each host a stable address from one CIDR (explicit addresses first, then the address the node
    already uses, then a slot derived from SHA-256 of the hostname with linear probing).
  - Under C(--limit), fails when the run would change a value (a host's port, address or endpoint, or a host
    leaving) that a host outside the play depends on, naming the hosts that must be in the play.
positional: hostvars
options:
  _input:
    description: The mesh hosts (e.g. C(groups['mesh'])).
    type: list
    elements: str
    required: true
  hostvars:
    description:
      - C(hostvars), read for hosts without an entry in O(settings) (hosts outside the play) -
        C(fedmesh_wireguard_mesh_address), C(fedmesh_wireguard_mesh_endpoint) (when undefined, C(ansible_host) or
        the inventory name; empty or null makes the host an edge), C(fedmesh_wireguard_mesh_listen_port),
        C(fedmesh_wireguard_mesh_hub) and C(fedmesh_wireguard_mesh_state). A variable that cannot be evaluated
        is an error, never a silent default.
    type: dict
    required: true
  settings:
    description:
      - Per host in the play, its own settings as that host resolves them - a dict with C(address),
        C(endpoint), C(listen_port), C(hub) and C(state).
    type: dict
  cidr:
    description: The mesh network, e.g. V(10.80.0.0/24).
    type: str
    required: true
  current:
    description:
      - Per mesh host, the C(interfaces) return of M(fedmesh.cluster.wireguard_info) on that host, or null or
        false when the host could not be read (then the key and address its peers have for it are kept).
    type: dict
  interface:
    description: Interface name to read from O(current).
    type: str
    default: wg0
  listen_port:
    description:
      - Port of a host outside the play that sets none and whose node does not tell (hosts in the play give
        theirs in O(settings)).
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
  full_mesh_max:
    description:
      - Above this many hosts with an endpoint the mesh becomes hub-and-spoke - the hubs (marked with
        C(fedmesh_wireguard_mesh_hub), else O(hub_count) hosts chosen by a stable hash of their names) form a full
        mesh, every other host peers with the hubs only (its primary hub routes the rest of the mesh). V(0) is
        always a full mesh.
    type: int
    default: 0
  hub_count:
    description: Hubs chosen for a hub-and-spoke mesh when none is marked.
    type: int
    default: 3
  errors:
    description:
      - V(strict) raises on bad input. V(return) returns C({error}) instead, so a layout computed
        once (C(run_once)) can fail every host with the same message (an C(assert) per host).
    type: str
    choices: [strict, return]
    default: strict
"""

EXAMPLES = r"""
- name: Lay out the mesh (fails here, before any change, on bad input)
  ansible.builtin.set_fact:
    mesh_layout: "{{ groups['mesh'] | fedmesh.cluster.wg_mesh_layout(hostvars, cidr='10.80.0.0/24') }}"
"""

RETURN = r"""
_value:
  description:
    - C(hosts) maps each host to C(address), C(interface_address), C(listen_port), C(endpoint), C(role),
      C(primary_hub), C(forwarding), C(rotate), C(links) (peer names with allowed IPs and keepalive) and C(owns)
      (the linked peers whose pair key this host owns - the lower name of a pair owns it; needs no key). C(role)
      is V(member), V(hub), V(edge) (no endpoint) or V(spoke) (hub-and-spoke mesh).
    - C(hubs), C(edges), C(leaving), C(addresses), C(cidr), C(topology) (V(full-mesh) or V(hub-and-spoke)),
      C(psk_dir), C(play_hosts) and C(known_keys) (public keys read from the nodes), the input of
      P(fedmesh.cluster.wg_mesh_plan#filter).
    - With O(errors=return) and bad input, only C(error).
  type: dict
"""

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.config import interface_name_problem
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.wireguard_mesh import (
    DEFAULT_PORT,
    PREFIX,
    MeshError,
    check_limit,
    layout_mesh,
)

_UNSET = object()
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0", "")


def _var(hostvars: Any, host: str, name: str, default: Any) -> Any:
    try:
        hv = hostvars[host]
    except KeyError:
        raise AnsibleFilterError(f"wg_mesh_layout: host {host} is not in the inventory") from None
    try:
        return hv.get(name, default)
    except Exception as exc:  # a host var whose template fails: say so, never fall back to a default
        raise AnsibleFilterError(f"wg_mesh_layout: host {host}: {name} cannot be evaluated: {exc}") from None


def _settings(host: str, settings: Mapping[str, Any], hostvars: Any) -> dict[str, Any]:
    if host in settings:
        return dict(settings[host])
    endpoint = _var(hostvars, host, PREFIX + "endpoint", _UNSET)
    if endpoint is _UNSET:
        endpoint = _var(hostvars, host, "ansible_host", host)
    return {"address": _var(hostvars, host, PREFIX + "address", None), "endpoint": endpoint,
            "listen_port": _var(hostvars, host, PREFIX + "listen_port", None),
            "hub": _var(hostvars, host, PREFIX + "hub", False), "state": _var(hostvars, host, PREFIX + "state", None)}


def _flag(host: str, name: str, value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return bool(value)
    if str(value).strip().lower() in _TRUE + _FALSE:
        return str(value).strip().lower() in _TRUE
    raise AnsibleFilterError(f"wg_mesh_layout: host {host}: {PREFIX}{name}={value!r} is not true or false; "
                             "nothing was changed")


def _read_state(current: Any, interface: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Per readable host: key, address, port and configured peers; plus the hosts that could not be read."""
    state: dict[str, dict[str, Any]] = {}
    unread: list[str] = []
    for host, interfaces in dict(current or {}).items():
        if not isinstance(interfaces, Mapping):
            unread.append(host)
            continue
        info = interfaces.get(interface) or {}
        addrs = info.get("addresses") or []
        state[host] = {"public_key": info.get("config_public_key") or info.get("public_key"),
                       "address": addrs[0].split("/")[0] if addrs else None, "listen_port": info.get("listen_port"),
                       "peers": (info.get("config") or {}).get("peers") or [], "live_peers": info.get("peers") or []}
    # A host that could not be read (down, unreachable) keeps the key and address its peers have for it, so a
    # node that is down during a run is not dropped from everyone's peer list.
    for host in unread:
        seen = [p for s in state.values() for p in s["live_peers"] + s["peers"]
                if p.get("name") == host and p.get("public_key")]
        if seen:
            allowed = seen[0].get("allowed_ips") or []
            state[host] = {"public_key": seen[0]["public_key"], "unread": True,
                           "address": allowed[0].split("/")[0] if allowed else None}
    return state, unread


def wg_mesh_layout(hosts: list[str], hostvars: Any, cidr: str | None = None, settings: Any = None,
                   current: Any = None, interface: str = "wg0", listen_port: int = DEFAULT_PORT,
                   keepalive: int = 25, psk_dir: str | None = None, rotate: list[str] | None = None,
                   play_hosts: list[str] | None = None, full_mesh_max: int = 0, hub_count: int = 3,
                   errors: str = "strict") -> dict[str, Any]:
    if errors not in ("strict", "return"):
        raise AnsibleFilterError(f"wg_mesh_layout: errors={errors!r} is not strict or return")
    try:
        return _layout(hosts, hostvars, cidr, settings, current, interface, listen_port, keepalive, psk_dir,
                       rotate, play_hosts, full_mesh_max, hub_count)
    except AnsibleFilterError as exc:
        if errors == "return":
            return {"error": str(exc.message)}
        raise


def _layout(hosts: Any, hostvars: Any, cidr: Any, settings: Any, current: Any, interface: str, listen_port: int,
            keepalive: int, psk_dir: str | None, rotate: Any, play_hosts: Any, full_mesh_max: Any,
            hub_count: Any) -> dict[str, Any]:
    for name, value in (("full_mesh_max", full_mesh_max), ("hub_count", hub_count)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise AnsibleFilterError(f"wg_mesh_layout: {PREFIX}{name}={value!r} must be an integer >= 0; "
                                     "nothing was changed")
    if cidr in (None, ""):
        raise AnsibleFilterError(f"wg_mesh_layout: {PREFIX}cidr is required, e.g. 10.80.0.0/24; nothing was changed")
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("wg_mesh_layout: input must be the list of mesh hosts, e.g. groups['mesh']")
    problem = interface_name_problem(interface)
    if problem:
        raise AnsibleFilterError(f"wg_mesh_layout: {PREFIX}interface: {problem}; nothing was changed")
    state, _unread = _read_state(current, interface)
    nodes: dict[str, dict[str, Any]] = {}
    leaving: list[str] = []
    for h in hosts:
        s = _settings(h, dict(settings or {}), hostvars)
        if s.get("state") not in (None, "", "present", "absent"):
            raise AnsibleFilterError(f"wg_mesh_layout: host {h}: {PREFIX}state={s['state']!r} is not present or "
                                     "absent; nothing was changed")
        if s.get("state") == "absent":
            leaving.append(h)
            continue
        port = s.get("listen_port")
        if port in (None, "") and h not in (settings or {}):
            port = (state.get(h) or {}).get("listen_port") or listen_port  # outside the play: what it has
        nodes[h] = {"address": s.get("address"), "endpoint": s.get("endpoint"), "listen_port": port,
                    "hub": _flag(h, "hub", s.get("hub")), "current_address": (state.get(h) or {}).get("address")}
    rotate = list(rotate or [])
    for h in rotate:
        if h in leaving:
            raise AnsibleFilterError(f"wg_mesh_layout: {PREFIX}rotate_keys names {h}, which is leaving the mesh "
                                     f"({PREFIX}state=absent); nothing was changed")
    try:
        layout = layout_mesh(nodes, cidr, keepalive=keepalive, psk_dir=psk_dir, rotate=rotate,
                             play_hosts=list(play_hosts) if play_hosts is not None else None,
                             full_mesh_max=full_mesh_max, hub_count=hub_count)
        check_limit(layout, {h: s for h, s in state.items() if not s.get("unread")}, leaving=leaving)
    except MeshError as exc:
        raise AnsibleFilterError(f"wg_mesh_layout: {exc}") from None
    layout["leaving"] = sorted(leaving)
    layout["known_keys"] = {h: (state.get(h) or {}).get("public_key") for h in nodes}
    return layout


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"wg_mesh_layout": wg_mesh_layout}
