# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each mesh host still has to do, from what ``wireguard_mesh_read`` found on it (controller side).

A run with nothing to change makes two module calls per host (``wireguard_mesh_read``, ``wireguard_mesh_apply``):
the key task runs only on hosts whose key ``wireguard_key`` would create, rotate or fix (``ensure_key``), the
preshared-key task only on hosts that own a pair key they do not hold yet (``psk_missing``), and an owner outside
``--limit`` is asked by delegation only for keys it does not hold yet. Without node reads, everything is ensured.
No secret is read here beyond the names of the key files.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def node_reads(nodes: Any) -> dict[str, dict[str, Any]]:
    """The readable entries of *nodes* (host -> registered wireguard_mesh_read result)."""
    out: dict[str, dict[str, Any]] = {}
    for host, node in dict(nodes or {}).items():
        if isinstance(node, Mapping) and isinstance(node.get("key"), Mapping) and not node.get("failed") \
                and isinstance(node.get("preshared_keys"), Mapping):
            out[host] = {"key": dict(node["key"]), "held": {n for n, k in node["preshared_keys"].items() if k}}
    return out


def skip_done(result: dict[str, Any], read: Mapping[str, Mapping[str, Any]], play: Any) -> None:
    """Add ``ensure_key``/``psk_missing`` per host and ``key_hosts``; trim ``psk_outside_owners`` to what is missing.

    A host without a read entry ensures everything (its key and every key it owns), as when nothing was read.
    """
    hosts = result["hosts"]
    in_play = set(hosts) if play is None else set(play) & set(hosts)
    for name, host in hosts.items():
        node = read.get(name)
        host["ensure_key"] = True if node is None else bool(node["key"].get("ensure"))
        host["psk_missing"] = list(host["psk_create"]) if node is None else \
            [p for p in host["psk_create"] if p not in node["held"]]
    result["key_hosts"] = sorted(h for h in in_play if hosts[h]["ensure_key"])
    outside: dict[str, list[str]] = {}
    for owner, peers in (result.get("psk_outside_owners") or {}).items():
        node = read.get(owner)
        missing = list(peers) if node is None else [p for p in peers if p not in node["held"]]
        if missing:
            outside[owner] = missing
    result["psk_outside_owners"] = outside
