# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stable address assignment from one CIDR (IPv4 or IPv6). Pure logic, no I/O.

Order of precedence, each step checked for collisions with the ones before it:

1. explicit per-host addresses (``fedmesh_wireguard_mesh_address``);
2. the address a node already uses (read from the node), when it is inside the CIDR and still free;
3. a slot derived from SHA-256 of the inventory hostname, with linear probing to the next free slot,
   hosts taken in name order.

Because (2) pins every provisioned node and (3) depends only on the hostname, the result does not depend on
inventory order, on ``--limit``, or on other hosts joining or leaving.
"""
from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError


class IpamError(FedmeshError):
    """Bad input or no room left; the message names the host, the variable and the fix."""


def parse_cidr(cidr: Any, var: str = "fedmesh_wireguard_mesh_cidr") -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        net = ipaddress.ip_network(str(cidr).strip(), strict=True)
    except ValueError as exc:
        raise IpamError(f"{var}: {cidr!r} is not a network in CIDR notation with host bits zero, "
                        f"e.g. 10.80.0.0/24 ({exc})") from None
    return net


def usable_range(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int]:
    """First usable address as an integer, and the number of usable addresses."""
    first, count = int(net.network_address), net.num_addresses
    if net.version == 4 and net.prefixlen < 31:
        return first + 1, count - 2  # no network, no broadcast address
    if net.version == 6 and net.prefixlen < 127:
        return first + 1, count - 1  # no subnet-router anycast address
    return first, count


def slot_of(name: str, count: int) -> int:
    """Stable slot of a hostname in ``range(count)``."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:16], "big") % count


def _address(value: Any, net: ipaddress.IPv4Network | ipaddress.IPv6Network, host: str,
             var: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        addr = ipaddress.ip_interface(str(value).strip()).ip
    except ValueError:
        raise IpamError(f"host {host}: {var}={value!r} is not an IP address") from None
    first, count = usable_range(net)
    if addr.version != net.version or not first <= int(addr) < first + count:
        raise IpamError(f"host {host}: {var}={addr} is outside the usable range of {net} "
                        "(network, broadcast and anycast "
                        "addresses excluded); choose an address inside it")
    return addr


def allocate(cidr: Any, hosts: Iterable[str], explicit: Mapping[str, Any] | None = None,
             in_use: Mapping[str, Any] | None = None,
             explicit_var: str = "fedmesh_wireguard_mesh_address") -> dict[str, str]:
    """Return ``{host: "address"}`` (no prefix) for every host in *hosts*.

    *explicit* maps hosts to requested addresses; *in_use* maps hosts to the address their node already has
    (entries for hosts outside *hosts*, or outside the CIDR, are ignored).
    """
    net = parse_cidr(cidr)
    names = sorted(set(hosts))
    first, count = usable_range(net)
    if count < len(names):
        raise IpamError(f"fedmesh_wireguard_mesh_cidr {net} has {count} usable addresses but the mesh has {len(names)} "
                        "hosts; use a larger network (smaller prefix length)")
    explicit = {h: v for h, v in (explicit or {}).items() if h in names and v not in (None, "")}
    in_use = dict(in_use or {})
    taken: dict[int, str] = {}
    result: dict[str, str] = {}

    for host in sorted(explicit):
        addr = _address(explicit[host], net, host, explicit_var)
        if int(addr) in taken:
            raise IpamError(f"hosts {taken[int(addr)]} and {host} both ask for {explicit_var}={addr}; "
                            "give each host its own address")
        taken[int(addr)] = host
        result[host] = str(addr)

    # Addresses in use on nodes that would clash with an explicit address: refuse rather than renumber silently.
    for host in names:
        if host in explicit or in_use.get(host) in (None, ""):
            continue
        try:
            addr = _address(in_use[host], net, host, "address in use")
        except IpamError:
            continue  # outside the (possibly new) CIDR: the host is renumbered below
        owner = taken.get(int(addr))
        if owner is not None and owner in explicit:
            raise IpamError(f"host {owner}: {explicit_var}={addr} is already in use on node {host}; "
                            f"choose a free address or renumber {host} "
                            "explicitly")

    for host in names:
        if host in result or in_use.get(host) in (None, ""):
            continue
        try:
            addr = _address(in_use[host], net, host, "address in use")
        except IpamError:
            continue
        if int(addr) not in taken:
            taken[int(addr)] = host
            result[host] = str(addr)

    for host in names:
        if host in result:
            continue
        slot = slot_of(host, count)
        for step in range(count):
            candidate = first + (slot + step) % count
            if candidate not in taken:
                break
        else:  # pragma: no cover - excluded by the size check above
            raise IpamError(f"fedmesh_wireguard_mesh_cidr {net} is exhausted")
        taken[candidate] = host
        result[host] = str(ipaddress.ip_address(candidate))
    return result
