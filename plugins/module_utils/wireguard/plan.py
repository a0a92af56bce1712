# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

The one place that decides what differs between a desired and a current interface snapshot.

Classification:

* ``restart``: interface settings that wg-quick applies when it brings the interface up (``addresses``,
  ``mtu``), so the ``wg-quick@`` unit is restarted. Peers' tunnels drop for a moment.
* ``syncconf``: everything the ``wg`` tool owns (``private_key``, ``listen_port``, ``fwmark`` and all peer
  settings) is applied live with ``wg syncconf``; existing tunnels stay up.
* ``file_changed``: the config file must be rewritten (any of the above, or a cosmetic peer-name change).

Secrets are compared but never reported: a changed private key is reported through the public key,
a changed preshared key as ``preshared_key: changed``.
"""
from __future__ import annotations

from typing import Any

RESTART_FIELDS = ("addresses", "mtu")
SYNC_FIELDS = ("listen_port", "fwmark")
PEER_LIVE_FIELDS = ("endpoint", "allowed_ips", "persistent_keepalive")


def plan(desired: dict[str, Any], current: dict[str, Any] | None,
         desired_public_key: str | None = None, current_public_key: str | None = None) -> dict[str, Any]:
    """Compare two snapshots (see ``config``); *current* is None when no config exists yet."""
    result: dict[str, Any] = {
        "create": current is None,
        "restart": False,
        "syncconf": False,
        "file_changed": False,
        "interface_changes": {},
        "peers_added": [],
        "peers_removed": [],
        "peers_changed": [],
        "changed_secrets": [],
    }
    if current is None:
        result["file_changed"] = True
        result["restart"] = True
        result["peers_added"] = _peer_refs(desired, sorted(desired["peers"]))
        return result

    changes: dict[str, dict[str, Any]] = {}
    for field in RESTART_FIELDS + SYNC_FIELDS:
        before, after = current.get(field), desired.get(field)
        if field == "addresses":
            before, after = sorted(before or []), sorted(after or [])
        if before != after:
            changes[field] = {"before": before, "after": after}
            result["restart" if field in RESTART_FIELDS else "syncconf"] = True
    if current.get("private_key") != desired.get("private_key"):
        changes["public_key"] = {"before": current_public_key, "after": desired_public_key}
        result["syncconf"] = True
        result["changed_secrets"].append("private_key")
    result["interface_changes"] = changes

    cur_peers, des_peers = current["peers"], desired["peers"]
    added = sorted(set(des_peers) - set(cur_peers))
    removed = sorted(set(cur_peers) - set(des_peers))
    result["peers_added"] = _peer_refs(desired, added)
    result["peers_removed"] = _peer_refs(current, removed)
    if added or removed:
        result["syncconf"] = True
    cosmetic = False
    for pub in sorted(set(des_peers) & set(cur_peers)):
        before, after = cur_peers[pub], des_peers[pub]
        pchanges: dict[str, Any] = {}
        for field in PEER_LIVE_FIELDS:
            if before.get(field) != after.get(field):
                pchanges[field] = {"before": before.get(field), "after": after.get(field)}
        if before.get("preshared_key") != after.get("preshared_key"):
            pchanges["preshared_key"] = "changed"
            result["changed_secrets"].append("psk:" + pub)
        if pchanges:
            result["syncconf"] = True
            result["peers_changed"].append({"public_key": pub, "name": after.get("name"), "changes": pchanges})
        elif before.get("name") != after.get("name"):
            cosmetic = True
    result["file_changed"] = bool(result["restart"] or result["syncconf"] or cosmetic)
    return result


def _peer_refs(snapshot: dict[str, Any], keys: list[str]) -> list[dict[str, Any]]:
    return [{"public_key": k, "name": snapshot["peers"][k].get("name")} for k in keys]


def summary(p: dict[str, Any]) -> str:
    """One line for humans, e.g. for ``msg``."""
    if p["create"]:
        return f"create interface with {len(p['peers_added'])} peer(s)"
    parts = []
    if p["interface_changes"]:
        parts.append("interface: " + ", ".join(sorted(p["interface_changes"])))
    for label in ("peers_added", "peers_removed", "peers_changed"):
        if p[label]:
            parts.append(f"{label.replace('_', ' ')}: {len(p[label])}")
    if not parts and p["file_changed"]:
        parts.append("peer names")
    action = "restart" if p["restart"] else ("syncconf" if p["syncconf"] else "none")
    return ("; ".join(parts) or "no change") + f" (apply: {action})"
