# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side layout of a Ceph cluster for the ``ceph`` role: which hosts run mons, mgrs and MDS,
their addresses, ``mon_host`` and the public network; every problem named by its variable."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

UNIT_PATH = re.compile(r"^(/[A-Za-z0-9_.]+)+$")
FS_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def mount_unit(path: str) -> str:
    """``systemd-escape --path --suffix=mount`` for plain paths (the role refuses others)."""
    return path.strip("/").replace("-", "\\x2d").replace("/", "-") + ".mount"


def _networks(parsed: dict[str, Any], public_network: str, cluster_network: str, mesh_cidr: str,
              errors: list[str]) -> tuple[str, str, str]:
    """``(public, cluster, source)``: explicit networks are checked against the hosts' addresses; without one,
    the mesh CIDR when every address is in it, else the addresses as host routes."""
    def explicit(name: str, value: str) -> str:
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            errors.append(f"fedmesh_ceph_{name}: {value!r} is not a network (CIDR)")
            return value
        outside = [h for h, a in parsed.items() if a.version != net.version or a not in net]
        if outside:
            errors.append(f"fedmesh_ceph_{name}: {value} does not contain the addresses of {outside}")
        return str(net)

    source = "hosts"
    if public_network:
        public, source = explicit("public_network", public_network), "explicit"
    else:
        public = ",".join(f"{a}/{a.max_prefixlen}" for a in parsed.values())
        try:
            mesh = ipaddress.ip_network(mesh_cidr, strict=False) if mesh_cidr else None
        except ValueError:
            mesh = None
        if mesh is not None and parsed and all(a.version == mesh.version and a in mesh for a in parsed.values()):
            public, source = str(mesh), "mesh"
    cluster = explicit("cluster_network", cluster_network) if cluster_network else public
    return public, cluster, source


def plan_layout(hosts: list[str], addresses: dict[str, str], mon_count: int, mgr_count: int, mds_count: int,
                public_network: str, mounts: list[dict], host: str, mesh_cidr: str = "",
                cluster_network: str = "") -> dict[str, Any]:
    errors: list[str] = []
    if not hosts:
        errors.append("fedmesh_ceph_group: the group has no hosts; put the Ceph servers in it")
    for name in ("mon_count", "mgr_count", "mds_count"):
        value = {"mon_count": mon_count, "mgr_count": mgr_count, "mds_count": mds_count}[name]
        if not isinstance(value, int) or value < (1 if name != "mds_count" else 0):
            errors.append(f"fedmesh_ceph_{name}: {value!r} must be an integer >= {1 if name != 'mds_count' else 0}")
    if isinstance(mon_count, int) and mon_count % 2 == 0:
        errors.append(f"fedmesh_ceph_mon_count: {mon_count} mons cannot outvote a split; use an odd number")
    parsed: dict[str, Any] = {}
    for h in hosts:
        try:
            parsed[h] = ipaddress.ip_address(str(addresses.get(h, "")))
        except ValueError:
            errors.append(f"fedmesh_ceph_address: host {h}: {addresses.get(h)!r} is not an IP address (mons need "
                          "one); set fedmesh_ceph_address or run the mesh first")
    network, cluster, source = _networks(parsed, public_network, cluster_network, mesh_cidr, errors)
    seen = set()
    for i, m in enumerate(mounts):
        if not isinstance(m, dict) or not FS_NAME.match(str(m.get("fs", ""))):
            errors.append(f"fedmesh_ceph_mounts[{i}]: needs fs (a filesystem name of letters, digits, - and _)")
            continue
        if not UNIT_PATH.match(str(m.get("path", ""))) or m["path"] in seen:
            errors.append(f"fedmesh_ceph_mounts[{i}]: path {m.get('path')!r} must be a unique plain absolute path")
        seen.add(m.get("path"))
    mons = hosts[:mon_count] if isinstance(mon_count, int) else []
    fmt = "[v2:{a}:3300,v1:{a}:6789]"
    fmt6 = "[v2:[{a}]:3300,v1:[{a}]:6789]"
    mon_host = ",".join((fmt6 if parsed[h].version == 6 else fmt).format(a=parsed[h]) for h in mons if h in parsed)
    return {
        "errors": errors,
        "mons": mons,
        "first_mon": mons[0] if mons else None,
        "mgrs": hosts[:mgr_count] if isinstance(mgr_count, int) else [],
        "mds": hosts[:mds_count] if isinstance(mds_count, int) else [],
        # The mon, mgr and MDS units of this host (its OSDs' units are ceph_osd's).
        "daemon_units": [f"ceph-{kind}@{host}" for kind, members in
                         (("mon", mons), ("mgr", hosts[:mgr_count] if isinstance(mgr_count, int) else []),
                          ("mds", hosts[:mds_count] if isinstance(mds_count, int) else [])) if host in members],
        "addresses": {h: str(a) for h, a in parsed.items()},
        "address": str(parsed.get(host, "")),
        "mon_host": mon_host,
        "public_network": network,
        "cluster_network": cluster,
        "network_source": source,
        "mounts": [dict(m, unit=mount_unit(m["path"])) for m in mounts if isinstance(m, dict) and "path" in m],
    }


def mesh_from_wireguard(info: Any, interface: str) -> dict[str, str]:
    """``{interface, address, cidr}`` of the mesh interface from ``fedmesh.cluster.wireguard_info``'s result (the
    fallback for the mesh role's facts when that role did not run in this run); ``{}`` without one."""
    iface = ((info or {}).get("interfaces") or {}).get(interface) or {} if isinstance(info, dict) else {}
    for addr in iface.get("addresses") or []:
        try:
            parsed = ipaddress.ip_interface(str(addr))
        except ValueError:
            continue
        return {"interface": interface, "address": str(parsed.ip), "cidr": str(parsed.network)}
    return {}
