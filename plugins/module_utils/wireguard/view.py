# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Secret-free views of one mesh node, so the ``wireguard_mesh`` role can decide on the controller, in Python,
whether a node needs its ``wireguard_mesh_apply`` call at all (a run with nothing to change then makes one call
per node, the read).

* :func:`desired_snapshot` builds an interface snapshot from the interface parameters and the keys - the one
  function both ``wireguard_interface``/``wireguard_mesh_apply`` (desired state, on the node) and the mesh plan
  (desired state of every node, on the controller) use;
* :func:`config_view` turns a snapshot into what the plan compares: every setting the planner compares, the
  public key instead of the private key and a SHA-256 of each preshared key instead of the key;
* :func:`live_drift` is the live-interface check of ``wireguard_interface`` (shared with the read);
* :func:`forwarding_text` / :func:`forwarding_state` the IP-forwarding drop-in of hubs.

A view holds no secret (hashes of 256-bit random keys), but the role still keeps it inside ``no_log`` results.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import config as wgconfig


def psk_digest(key: str | None) -> str | None:
    """SHA-256 (hex) of a preshared key as it is written (stripped); None for no key."""
    if not key:
        return None
    return hashlib.sha256(str(key).strip().encode()).hexdigest()


def desired_snapshot(params: dict[str, Any], private_key: str | None,
                     preshared_key: Callable[[int, dict[str, Any]], str | None]) -> dict[str, Any]:
    """The normalised snapshot of ``addresses``, ``listen_port``, ``mtu``, ``fwmark`` and ``peers`` in *params*.

    A peer with ``preshared_key_file`` gets ``preshared_key(index, peer)`` as its key (the file's content on the
    node; the pair key the controller knows for the plan).
    """
    peers_in = []
    for i, peer in enumerate(params.get("peers") or []):
        entry = dict(peer)
        if peer.get("preshared_key_file"):
            entry["preshared_key"] = preshared_key(i, peer)
        entry.pop("preshared_key_file", None)
        peers_in.append(entry)
    return wgconfig.normalize({
        "addresses": params.get("addresses"), "listen_port": params.get("listen_port"), "mtu": params.get("mtu"),
        "fwmark": params.get("fwmark"), "private_key": private_key, "peers": peers_in,
    })


def config_view(snapshot: dict[str, Any] | None, public_key: str | None) -> dict[str, Any] | None:
    """What the planner compares (``plan.plan``), without a secret: equal views mean no config change."""
    if snapshot is None:
        return None
    return {
        "addresses": sorted(snapshot["addresses"]),
        "listen_port": snapshot["listen_port"],
        "mtu": snapshot["mtu"],
        "fwmark": snapshot["fwmark"],
        "public_key": public_key,
        "peers": {pub: {"name": p["name"], "endpoint": p["endpoint"], "allowed_ips": list(p["allowed_ips"]),
                        "persistent_keepalive": p["persistent_keepalive"],
                        "preshared_key_sha256": psk_digest(p["preshared_key"])}
                  for pub, p in sorted(snapshot["peers"].items())},
    }


def live_drift(live: dict[str, Any] | None, peer_keys: set[str], public_key: str | None) -> str | None:
    """For an active unit: ``restart`` when the device is gone, ``syncconf`` when its peers or key differ from
    *peer_keys* / *public_key* (e.g. after ``wg set``), else None."""
    if live is None:
        return "restart"
    if {x["public_key"] for x in live.get("peers") or []} != set(peer_keys) or (
            public_key is not None and live.get("public_key") != public_key):
        return "syncconf"
    return None


def forwarding_text(family: str) -> str:
    key = "net.ipv6.conf.all.forwarding" if family == "ipv6" else "net.ipv4.ip_forward"
    return ("# Managed by fedmesh.cluster.wireguard_mesh_apply.\n"
            "# This host relays mesh traffic for edge nodes behind NAT.\n"
            f"{key} = 1\n")


def forwarding_state(text: str | None) -> str | None:
    """The forwarding drop-in as the apply would find it: None (absent), ``ipv4``/``ipv6`` (as written), ``other``."""
    if text is None:
        return None
    for family in ("ipv4", "ipv6"):
        if text == forwarding_text(family):
            return family
    return "other"
