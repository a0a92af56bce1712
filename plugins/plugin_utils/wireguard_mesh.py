# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mesh planning for the ``wireguard_mesh`` role: addresses, roles (member/hub/edge) and peer lists.

Topology:

* *reachable* nodes (with an endpoint) form a full mesh;
* *edge* nodes (no endpoint, e.g. behind NAT) peer only with the *hubs* and keep the tunnels open with
  persistent keepalive. Hubs are reachable nodes with ``hub: true``; when edges exist and no hub is marked,
  every reachable node is a hub;
* each edge has one *primary* hub (stable hash of its name over the sorted hubs). On the edge, the primary
  hub's peer carries the mesh CIDR less the other hubs' /32 (/128), which those hubs carry: a network belongs
  to one peer. On non-hub reachable nodes,
  the primary hub's peer also carries the edge's /32, so traffic to an edge is relayed by its primary hub
  (which forwards IP packets). Hubs peer with every edge directly.

Planning has two halves, so that everything that can be wrong with the input fails before any change:
:func:`layout_mesh` (every host's settings, validated identically; addresses, roles, links; ``--limit``
checks) needs no key, :func:`plan_peers` adds the public keys once they are known. :func:`plan_mesh` does both.

Peers whose public key is unknown (hosts never provisioned and outside the play) are left out and listed
in ``pending``; nothing that exists is ever removed because a host is outside ``--limit``.
"""
from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.keys import is_low_order_key, is_valid_key
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.ipam import IpamError, allocate, parse_cidr

PREFIX = "fedmesh_wireguard_mesh_"
DEFAULT_PORT = 51820


class MeshError(FedmeshError):
    """Bad mesh input; the message names the host, the variable and the fix."""


def _endpoint(host: str, value: Any, port: int) -> str | None:
    if value in (None, "", False):
        return None
    value = str(value).strip()
    if value.startswith("["):  # [v6]:port or [v6]
        return value if "]:" in value else f"{value}:{port}"
    if value.count(":") > 1:  # bare IPv6
        return f"[{value}]:{port}"
    if ":" in value:
        h, p = value.split(":", 1)
        if not p.isdigit() or not 1 <= int(p) <= 65535 or not h:
            raise MeshError(f"host {host}: {PREFIX}endpoint={value!r} is not HOST or HOST:PORT")
        return value
    return f"{value}:{port}"


def _port(host: str, raw: Any) -> int:
    """A host's listen port: unset (None or "") is the default; anything else must be 1..65535, on every host."""
    if raw in (None, ""):
        return DEFAULT_PORT
    if isinstance(raw, bool):
        raise MeshError(f"host {host}: {PREFIX}listen_port={raw!r} is not an integer")
    try:
        port = int(raw)
    except (TypeError, ValueError):
        raise MeshError(f"host {host}: {PREFIX}listen_port={raw!r} is not an integer") from None
    if not 1 <= port <= 65535:
        raise MeshError(f"host {host}: {PREFIX}listen_port={port} is out of range 1..65535",
                        fix="give a UDP port from 1 to 65535, or leave it unset for the group default")
    return port


def _host_net(addr: str, version: int) -> str:
    return f"{addr}/{32 if version == 4 else 128}"


def _check_rotation(names: list[str], rotate: list[str], play_hosts: list[str] | None) -> None:
    for h in rotate:
        if h not in names:
            raise MeshError(f"{PREFIX}rotate_keys names {h!r}, which is not in the mesh group; list mesh hosts only")
    if rotate and play_hosts is not None:
        missing = sorted(set(names) - set(play_hosts))
        if missing:
            raise MeshError("{}rotate_keys needs every mesh host in the play so all peers learn the new key; "
                            "hosts outside the play: {} (drop --limit for a rotation run)".format(
                                PREFIX, ", ".join(missing)))


def _endpoints(nodes: Mapping[str, Mapping[str, Any]], names: list[str]) -> tuple[dict, dict]:
    ports: dict[str, int] = {}
    endpoints: dict[str, str | None] = {}
    owners: dict[str, str] = {}
    for h in names:
        ports[h] = _port(h, nodes[h].get("listen_port"))
        ep = _endpoint(h, nodes[h].get("endpoint"), ports[h])
        endpoints[h] = ep
        if ep is not None:
            if ep in owners:
                raise MeshError(f"hosts {owners[ep]} and {h} both use endpoint {ep}; give them different "
                                f"{PREFIX}listen_port values or endpoints")
            owners[ep] = h
        if nodes[h].get("hub") and ep is None:
            raise MeshError(f"host {h}: {PREFIX}hub=true needs an endpoint ({PREFIX}endpoint) so edges can reach it")
    return ports, endpoints


def _exclude(net: Any, host_nets: list[str]) -> list[str]:
    """*net* less the given host networks (each of which another peer carries)."""
    parts = [net]
    for hn in host_nets:
        x = ipaddress.ip_network(hn)
        parts = [q for p in parts for q in (p.address_exclude(x) if x.subnet_of(p) else [p])]
    return [str(n) for n in sorted(parts)]


def _pick_hubs(nodes: Mapping[str, Mapping[str, Any]], reachable: list[str], count: int) -> list[str]:
    """Marked hubs; else, for a hub-and-spoke mesh, *count* reachable hosts ranked by a stable hash of the name."""
    marked = [h for h in reachable if nodes[h].get("hub")]
    if marked or count < 1:
        return marked
    ranked = sorted(reachable, key=lambda h: hashlib.sha256(h.encode()).digest())
    return sorted(ranked[:count])


def _links(me: str, names: dict[str, Any], hubs: list[str], spokes: list[str], primary: dict[str, str],
           served: dict[str, list[str]], full: list[str], keepalive: int) -> list[dict[str, Any]]:
    """One host's links. *full* are the hosts of the full mesh part (every reachable host, or the hubs)."""
    hostnet, net, endpoints = names["hostnet"], names["net"], names["endpoints"]
    links: list[dict[str, Any]] = []
    if me in full:
        for other in full:
            if other != me:
                extra = served[other] if other in served and me not in hubs else []
                links.append({"name": other, "allowed_ips": [hostnet[other]] + [hostnet[e] for e in extra],
                              "persistent_keepalive": None})
        if me in hubs:
            links.extend({"name": e, "allowed_ips": [hostnet[e]], "persistent_keepalive": None} for e in spokes)
        return links
    others = [hostnet[h] for h in hubs if h != primary[me]]
    routed = names["routed"].setdefault(primary[me], None) or _exclude(net, others)
    names["routed"][primary[me]] = routed
    ka = None if endpoints[me] else (keepalive or None)
    links.extend({"name": hub, "allowed_ips": list(routed) if hub == primary[me] else [hostnet[hub]],
                  "persistent_keepalive": ka} for hub in hubs)
    return links


def layout_mesh(nodes: Mapping[str, Mapping[str, Any]], cidr: Any, keepalive: int = 25, psk_dir: str | None = None,
                rotate: list[str] | None = None, play_hosts: list[str] | None = None, full_mesh_max: int = 0,
                hub_count: int = 3) -> dict[str, Any]:
    """The key-independent half of the plan: validates every host's settings the same way, on every host.

    *nodes* maps every mesh host to ``{address, endpoint, listen_port, hub, current_address}``. With
    *full_mesh_max* > 0 and more reachable hosts than that, the mesh is hub-and-spoke: the hubs (marked, else
    *hub_count* chosen by a stable hash) form a full mesh and every other host peers with the hubs only.
    """
    if not nodes:
        raise MeshError(f"the mesh group is empty; add hosts to the group named by {PREFIX}group")
    net = parse_cidr(cidr)
    names = sorted(nodes)
    rotate = list(rotate or [])
    _check_rotation(names, rotate, play_hosts)
    ports, endpoints = _endpoints(nodes, names)
    try:
        addresses = allocate(net, names, {h: nodes[h].get("address") for h in names},
                             {h: nodes[h].get("current_address") for h in names})
    except IpamError as exc:
        raise MeshError(exc.problem) from None
    reachable = [h for h in names if endpoints[h]]
    edges = [h for h in names if not endpoints[h]]
    hub_spoke = 0 < full_mesh_max < len(reachable)
    hubs = _pick_hubs(nodes, reachable, hub_count if hub_spoke else 0)
    if edges and not hubs:
        hubs = list(reachable)
    if edges and not hubs:
        raise MeshError("hosts {} have no endpoint and no host has one; give at least one host an endpoint "
                        "({}endpoint) to act as hub".format(", ".join(edges), PREFIX))
    hub_set = set(hubs)
    spokes = [h for h in names if h not in hub_set] if hub_spoke else edges
    full = hubs if hub_spoke else reachable
    primary = {e: hubs[int.from_bytes(hashlib.sha256(e.encode()).digest()[:8], "big") % len(hubs)] for e in spokes}
    served = {} if hub_spoke else {h: sorted(e for e in edges if primary[e] == h) for h in hubs}
    ctx = {"hostnet": {h: _host_net(addresses[h], net.version) for h in names}, "net": net,
           "endpoints": endpoints, "routed": {}}
    hosts: dict[str, Any] = {}
    for me in names:
        role = "hub" if me in hub_set else ("edge" if not endpoints[me] else ("spoke" if hub_spoke else "member"))
        hosts[me] = {"address": addresses[me], "interface_address": f"{addresses[me]}/{net.prefixlen}",
                     "listen_port": ports[me], "endpoint": endpoints[me], "role": role,
                     "primary_hub": primary.get(me), "forwarding": me in hub_set and bool(spokes),
                     "links": _links(me, ctx, hubs, spokes, primary, served, full, keepalive),
                     "rotate": me in rotate}
        # the pair keys this host owns (the lower name of a pair), known before any key: created by its first call
        hosts[me]["owns"] = sorted(link["name"] for link in hosts[me]["links"] if me < link["name"])
    return {"hosts": hosts, "hubs": hubs, "edges": edges, "cidr": str(net), "addresses": addresses,
            "topology": "hub-and-spoke" if hub_spoke else "full-mesh",
            "psk_dir": psk_dir, "play_hosts": None if play_hosts is None else sorted(play_hosts)}


def check_limit(layout: Mapping[str, Any], current: Mapping[str, Mapping[str, Any]],
                leaving: list[str] | None = None) -> None:
    """Under ``--limit``: refuse a change that a host outside the play depends on (never half-apply).

    *current* maps readable hosts to ``{listen_port, address, peers: [{name, endpoint, allowed_ips}]}`` as their
    node has them (the peers from the config file). A host outside the play keeps its own port and address, and
    its peers' endpoints and addresses, until it runs: those values must not change in this run.
    """
    play = layout.get("play_hosts")
    if play is None:
        return
    hosts, leaving = layout["hosts"], list(leaving or [])
    changes: dict[str, set[str]] = {}  # what changes -> hosts outside the play that depend on it
    for out in sorted(set(current) - set(play)):
        state, mine = current[out], hosts.get(out)
        if mine is not None:
            if state.get("listen_port") not in (None, mine["listen_port"]):
                changes.setdefault(f"{out}'s listen port ({state['listen_port']} -> {mine['listen_port']})",
                                   set()).add(out)
            if state.get("address") not in (None, mine["address"]):
                changes.setdefault(f"{out}'s address ({state['address']} -> {mine['address']})", set()).add(out)
        for peer in state.get("peers") or []:
            name = peer.get("name")
            if name in leaving and name in play:
                changes.setdefault(f"{name} leaving the mesh", set()).add(out)
            if name not in hosts or name not in play:
                continue
            planned = hosts[name]
            if peer.get("endpoint") != planned["endpoint"]:
                changes.setdefault(f"{name}'s endpoint ({peer.get('endpoint')} -> {planned['endpoint']})",
                                   set()).add(out)
            host_net = _host_net(planned["address"], ipaddress.ip_address(planned["address"]).version)
            if host_net not in (peer.get("allowed_ips") or []):
                changes.setdefault(f"{name}'s address (now {planned['address']})", set()).add(out)
    if changes:
        needed = sorted(set().union(*changes.values()))
        what = "; ".join(f"{c} is used by {', '.join(sorted(h))}" for c, h in sorted(changes.items()))
        raise MeshError(f"--limit leaves out hosts that depend on values this run changes: {what}",
                        fix=f"hosts that must be in the play: {', '.join(needed)} (add them to --limit or drop it)")


def _check_keys(names: list[str], keys: Mapping[str, Any], require_keys: bool) -> None:
    seen: dict[str, str] = {}
    for h in names:
        pub = keys.get(h)
        if pub in (None, ""):
            if require_keys:
                raise MeshError(f"host {h} has no WireGuard public key yet; run the role on it")
            continue
        if not is_valid_key(pub):
            raise MeshError(f"host {h}: the public key read from the node is malformed ({pub!r}); fix or remove the "
                            "node's key file so it is regenerated")
        if is_low_order_key(pub):
            raise MeshError(f"host {h}: the public key {pub!r} is a low-order Curve25519 point, not a real key",
                            fix=f"remove the node's key file so it is regenerated, or rotate it with "
                                f"{PREFIX}rotate_keys")
        if pub in seen:
            raise MeshError(f"hosts {seen[pub]} and {h} have the same public key; "
                            f"rotate one of them with {PREFIX}rotate_keys")
        seen[pub] = h


def plan_peers(layout: Mapping[str, Any], keys: Mapping[str, Any], require_keys: bool = False) -> dict[str, Any]:
    """The second half: each host's peer list, given every host's public key (None: not known yet)."""
    hosts, psk_dir, play = layout["hosts"], layout.get("psk_dir"), layout.get("play_hosts")
    names = sorted(hosts)
    _check_keys(names, keys, require_keys)
    out: dict[str, Any] = {}
    for me in names:
        peers: list[dict[str, Any]] = []
        for link in hosts[me]["links"]:
            peer = link["name"]
            if not keys.get(peer):
                continue  # not provisioned yet: listed in "pending"
            entry = {"name": peer, "public_key": keys[peer], "endpoint": hosts[peer]["endpoint"],
                     "allowed_ips": list(link["allowed_ips"]), "persistent_keepalive": link["persistent_keepalive"]}
            if psk_dir:
                entry["preshared_key_file"] = "{}/{}.psk".format(psk_dir.rstrip("/"), peer)
            peers.append(entry)
        host = {k: v for k, v in hosts[me].items() if k not in ("links", "owns")}
        names_ = [p["name"] for p in peers]
        # One key per pair, owned by the lower name: the owner creates it (psk_create) and the other side writes
        # the copy it gets from the owner's result (psk_copies: peer -> its owner), one call on each node.
        host.update(peers=peers, peer_names=names_, psk_create=sorted(n for n in names_ if me < n),
                    psk_copies=sorted(n for n in names_ if n < me))
        out[me] = host
    pending = sorted(h for h in names if not keys.get(h))
    # Under --limit, owners outside the play are asked for the keys of their pairs with hosts in the play
    # (delegated, one call per such owner; none without --limit).
    outside: dict[str, list[str]] = {}
    if play is not None:
        in_play = set(play)
        for me in sorted(in_play & set(out)):
            for owner in out[me]["psk_copies"]:
                if owner not in in_play:
                    outside.setdefault(owner, []).append(me)
    return {"hosts": out, "pending": pending, "hubs": layout["hubs"], "edges": layout["edges"],
            "cidr": layout["cidr"], "addresses": layout["addresses"], "psk_outside_owners": outside,
            "topology": layout.get("topology", "full-mesh")}


def plan_mesh(nodes: Mapping[str, Mapping[str, Any]], cidr: Any, keepalive: int = 25,
              psk_dir: str | None = None, require_keys: bool = False,
              rotate: list[str] | None = None, play_hosts: list[str] | None = None,
              full_mesh_max: int = 0, hub_count: int = 3) -> dict[str, Any]:
    """Both halves at once; *nodes* also carry each host's ``public_key``.

    Returns ``{"hosts": {host: {...}}, "pending": [...], "hubs": [...], "edges": [...], "cidr", "addresses"}``.
    """
    layout = layout_mesh(nodes, cidr, keepalive=keepalive, psk_dir=psk_dir, rotate=rotate, play_hosts=play_hosts,
                         full_mesh_max=full_mesh_max, hub_count=hub_count)
    return plan_peers(layout, {h: nodes[h].get("public_key") for h in nodes}, require_keys=require_keys)
