# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each mesh host still has to do, from what ``wireguard_mesh_prepare`` / ``wireguard_mesh_read`` found on
it (controller side).

A run with nothing to change makes one module call per host (``wireguard_mesh_prepare``): the key task runs only
on hosts whose key ``wireguard_key`` would still create, rotate or fix (``ensure_key``), the preshared-key task
only on hosts that own a pair key they do not hold yet (``psk_missing``), an owner outside ``--limit`` is asked by
delegation only for keys it does not hold yet, and ``wireguard_mesh_apply`` runs only on hosts whose desired state
differs from the secret-free view their read returned (``apply_hosts``). Without node reads, everything is
ensured and applied. The pair keys the reads returned are compared here, in memory; no key or hash leaves.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.view import config_view, desired_snapshot


def node_reads(nodes: Any) -> dict[str, dict[str, Any]]:
    """The readable entries of *nodes* (host -> registered wireguard_mesh_read result)."""
    out: dict[str, dict[str, Any]] = {}
    for host, node in dict(nodes or {}).items():
        if isinstance(node, Mapping) and isinstance(node.get("key"), Mapping) and not node.get("failed") \
                and isinstance(node.get("preshared_keys"), Mapping):
            out[host] = {"key": dict(node["key"]), "held": {n for n, k in node["preshared_keys"].items() if k},
                         "psk": dict(node["preshared_keys"]), "psk_dir_mode": node.get("psk_dir_mode"),
                         "view": node.get("view") if isinstance(node.get("view"), Mapping) else None}
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


def mark_apply(result: dict[str, Any], read: Mapping[str, Mapping[str, Any]], pubs: Mapping[str, Any],
               play: Any, mtu: int | None = None, psk_dir: str | None = None) -> None:
    """Add ``apply_reasons`` per host and ``apply_hosts``: the hosts in the play whose ``wireguard_mesh_apply``
    call would change something - everything else is skipped, so a run with nothing to change makes one call per
    host (the read).

    The desired state of each host is built by the same function the apply uses (``view.desired_snapshot``)
    from the plan, its public key and the pair keys (the owner's read holds the key; the copy's hash comes from
    the other side's read) and compared, as a secret-free ``view.config_view``, with the view the host's read
    returned; so are its pair-key files, the forwarding drop-in and what the read says the apply would fix
    whatever its arguments (``local``). A host without a usable read always applies. Reasons name no secret.
    """
    hosts = result["hosts"]
    in_play = set(hosts) if play is None else set(play) & set(hosts)
    family = "ipv6" if ":" in str(result.get("cidr") or "") else "ipv4"
    for name, host in hosts.items():
        host["apply_reasons"] = _reasons(name, host, read, pubs.get(name), family, (mtu, psk_dir))
    result["apply_hosts"] = sorted(h for h in in_play if hosts[h]["apply_reasons"])


def _pair_keys(name: str, host: Mapping[str, Any], read: Mapping[str, Mapping[str, Any]],
               reasons: list[str]) -> dict[str, Any]:
    """The pair key each peer's config entry must hold (None: not known before this run creates it)."""
    own = read[name]["psk"]
    keys: dict[str, Any] = {peer: own.get(peer) for peer in host["psk_create"]}
    for owner in host["psk_copies"]:
        source = read.get(owner)
        key = own.get(owner) if source is None else source["psk"].get(name)  # owner unread: the copy stays
        if not key:
            reasons.append(f"the pair key with {owner} is not created yet")
        elif own.get(owner) != key:
            reasons.append(f"the copy of the pair key {owner} owns differs")
        keys[owner] = key
    extra = sorted(set(own) - set(host["psk_create"]) - set(host["psk_copies"]))
    if extra:
        reasons.append("pair-key files of former peers: " + ", ".join(extra))
    return keys


def _reasons(name: str, host: Mapping[str, Any], read: Mapping[str, Mapping[str, Any]], public_key: Any,
             family: str, options: tuple[int | None, str | None]) -> list[str]:
    mtu, psk_dir = options
    node = read.get(name)
    if node is None or node.get("view") is None:
        return ["no read of this host"]
    view = node["view"]
    reasons = list(view.get("local") or [])
    if host.get("ensure_key"):
        reasons.append("the private key is created or rotated")
    if host.get("psk_missing"):
        reasons.append("pair keys to create: " + ", ".join(host["psk_missing"]))
    if psk_dir and node.get("psk_dir_mode") != "0700":
        reasons.append("the pair-key directory is missing or not 0700")
    if view.get("forwarding") != (family if host.get("forwarding") else None):
        reasons.append("the forwarding drop-in")
    keys = _pair_keys(name, host, read, reasons)
    if any(not keys.get(p["name"]) for p in host["peers"] if p.get("preshared_key_file")):
        return reasons or ["a pair key is not known yet"]
    params = {"addresses": [host["interface_address"]], "listen_port": host["listen_port"], "mtu": mtu or None,
              "fwmark": None, "peers": host["peers"]}
    try:
        desired = config_view(desired_snapshot(params, None, lambda _i, peer: keys[peer["name"]]), public_key)
    except FedmeshError as exc:  # a bad value the apply reports (the plan validated what it could)
        return reasons + [f"the desired config is invalid ({exc.problem})"]
    if desired != view.get("config"):
        reasons.append("the interface config differs" if view.get("config") else "no interface config yet")
    return reasons
