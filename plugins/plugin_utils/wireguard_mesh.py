# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mesh planning for the ``wireguard_mesh`` role: addresses, roles (member/hub/edge) and peer lists.

Topology:

* *reachable* nodes (with an endpoint) form a full mesh;
* *edge* nodes (no endpoint, e.g. behind NAT) peer only with the *hubs* and keep the tunnels open with
  persistent keepalive. Hubs are reachable nodes with ``hub: true``; when edges exist and no hub is marked,
  every reachable node is a hub;
* each edge has one *primary* hub (stable hash of its name over the sorted hubs). On the edge, the primary
  hub's peer carries the whole mesh CIDR, other hubs only their own /32 (/128). On non-hub reachable nodes,
  the primary hub's peer also carries the edge's /32, so traffic to an edge is relayed by its primary hub
  (which forwards IP packets). Hubs peer with every edge directly.

Peers whose public key is unknown (hosts never provisioned and outside the play) are left out and listed
in ``pending``; nothing that exists is ever removed because a host is outside ``--limit``.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.keys import is_valid_key
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.ipam import IpamError, allocate, parse_cidr

PREFIX = "fedmesh_wireguard_mesh_"


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


def _host_net(addr: str, version: int) -> str:
    return f"{addr}/{32 if version == 4 else 128}"


def plan_mesh(nodes: Mapping[str, Mapping[str, Any]], cidr: Any, keepalive: int = 25,
              psk_dir: str | None = None, require_keys: bool = False,
              rotate: list[str] | None = None, play_hosts: list[str] | None = None) -> dict[str, Any]:
    """Plan the mesh.

    *nodes* maps every mesh host to ``{address, endpoint, listen_port, hub, public_key, current_address}``
    (``address``: explicit request; ``current_address``/``public_key``: read from the node).
    Returns ``{"hosts": {host: {...}}, "pending": [...], "hubs": [...], "edges": [...]}``.
    """
    if not nodes:
        raise MeshError(f"the mesh group is empty; add hosts to the group named by {PREFIX}group")
    net = parse_cidr(cidr)
    names = sorted(nodes)
    rotate = list(rotate or [])
    for h in rotate:
        if h not in nodes:
            raise MeshError(f"{PREFIX}rotate_keys names {h!r}, which is not in the mesh group; list mesh hosts only")
    if rotate and play_hosts is not None:
        missing = sorted(set(names) - set(play_hosts))
        if missing:
            raise MeshError("{}rotate_keys needs every mesh host in the play so all peers learn the new key; "
                            "hosts outside the play: {} (drop --limit for a rotation run)".format(
                                PREFIX, ", ".join(missing)))

    ports: dict[str, int] = {}
    endpoints: dict[str, str | None] = {}
    owners: dict[str, str] = {}
    for h in names:
        n = nodes[h]
        try:
            raw_port = n.get("listen_port")
            port = 51820 if raw_port in (None, "") else int(raw_port)
        except (TypeError, ValueError):
            raise MeshError(f"host {h}: {PREFIX}listen_port={n.get('listen_port')!r} is not an integer") from None
        if not 1 <= port <= 65535:
            raise MeshError(f"host {h}: {PREFIX}listen_port={port} is out of range 1..65535")
        ports[h] = port
        ep = _endpoint(h, n.get("endpoint"), port)
        endpoints[h] = ep
        if ep is not None:
            if ep in owners:
                raise MeshError(f"hosts {owners[ep]} and {h} both use endpoint {ep}; give them different "
                                f"{PREFIX}listen_port values "
                                "or endpoints")
            owners[ep] = h
        pub = n.get("public_key")
        if pub not in (None, "") and not is_valid_key(pub):
            raise MeshError(f"host {h}: the public key read from the node is malformed ({pub!r}); fix or remove the "
                            "node's key file so it is regenerated")

    seen_keys: dict[str, str] = {}
    for h in names:
        pub = nodes[h].get("public_key")
        if pub:
            if pub in seen_keys:
                raise MeshError(f"hosts {seen_keys[pub]} and {h} have the same public key; "
                                f"rotate one of them with {PREFIX}rotate_keys")
            seen_keys[pub] = h
        elif require_keys:
            raise MeshError(f"host {h} has no WireGuard public key yet; run the role on it")

    try:
        addresses = allocate(net, names, {h: nodes[h].get("address") for h in names},
                             {h: nodes[h].get("current_address") for h in names})
    except IpamError as exc:
        raise MeshError(str(exc)) from None

    reachable = [h for h in names if endpoints[h]]
    edges = [h for h in names if not endpoints[h]]
    for h in names:
        if nodes[h].get("hub") and not endpoints[h]:
            raise MeshError(f"host {h}: {PREFIX}hub=true needs an endpoint ({PREFIX}endpoint) so edges can reach it")
    hubs = [h for h in reachable if nodes[h].get("hub")]
    if edges and not hubs:
        hubs = list(reachable)
    if edges and not hubs:
        raise MeshError("hosts {} have no endpoint and no host has one; give at least one host an endpoint "
                        "({}endpoint) to act as hub".format(", ".join(edges), PREFIX))
    primary = {e: hubs[int.from_bytes(hashlib.sha256(e.encode()).digest()[:8], "big") % len(hubs)] for e in edges}
    served: dict[str, list[str]] = {h: sorted(e for e in edges if primary[e] == h) for h in hubs}

    def hostnet(h: str) -> str:
        return _host_net(addresses[h], net.version)

    pending = sorted(h for h in names if not nodes[h].get("public_key"))
    out: dict[str, Any] = {}
    for me in names:
        links: list[tuple[str, list[str], int | None]] = []  # (peer, allowed IPs, keepalive)
        if endpoints[me]:
            for other in reachable:
                if other == me:
                    continue
                allowed = [hostnet(other)]
                if other in served and me not in hubs:
                    allowed += [hostnet(e) for e in served[other]]
                links.append((other, allowed, None))
            if me in hubs:
                links.extend((e, [hostnet(e)], None) for e in edges)
        else:
            for hub in hubs:
                links.append((hub, [str(net)] if primary[me] == hub else [hostnet(hub)], keepalive or None))
        peers: list[dict[str, Any]] = []
        for peer, allowed, ka in links:
            if not nodes[peer].get("public_key"):
                continue  # not provisioned yet: listed in "pending"
            entry = {"name": peer, "public_key": nodes[peer]["public_key"], "endpoint": endpoints[peer],
                     "allowed_ips": allowed, "persistent_keepalive": ka}
            if psk_dir:
                entry["preshared_key_file"] = "{}/{}.psk".format(psk_dir.rstrip("/"), peer)
            peers.append(entry)
        out[me] = {
            "address": addresses[me],
            "interface_address": f"{addresses[me]}/{net.prefixlen}",
            "listen_port": ports[me],
            "endpoint": endpoints[me],
            "role": "edge" if me in edges else ("hub" if me in hubs else "member"),
            "primary_hub": primary.get(me),
            "forwarding": me in hubs and bool(edges),
            "peers": peers,
            "peer_names": [p["name"] for p in peers],
            # Preshared-key pairs this host takes care of: the owner (lower name of the pair) creates the key
            # once, the other side gets a copy. The non-owner handles a pair; the owner does when the other
            # side is outside the play (--limit).
            "psk_pairs": [
                {"owner": min(me, p["name"]), "other": max(me, p["name"])}
                for p in sorted(peers, key=lambda x: x["name"])
                if p["name"] < me or (play_hosts is not None and p["name"] not in play_hosts)
            ],
            "rotate": me in rotate,
        }
    return {"hosts": out, "pending": pending, "hubs": hubs, "edges": edges, "cidr": str(net),
            "addresses": addresses}

