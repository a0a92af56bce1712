# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Normalised WireGuard interface snapshots, and the wg-quick config format (render and parse).

A *snapshot* is the one shape the planner compares::

    {"addresses": ["10.0.0.1/24"], "listen_port": 51820, "mtu": None, "fwmark": None,
     "private_key": "<base64>" | None,
     "peers": {"<public key>": {"name": "n2", "preshared_key": "<base64>" | None, "endpoint": "n2:51820" | None,
                               "allowed_ips": ["10.0.0.2/32"], "persistent_keepalive": 25 | None}}}

Secrets (``private_key``, ``preshared_key``) live only inside the module process and the 0600 config file;
:func:`render` with ``redact=True`` produces the text shown in diffs.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.keys import is_low_order_key, is_valid_key

HEADER = "# Managed by fedmesh.cluster.wireguard_interface. Local changes are overwritten.\n"
REDACTED = "<redacted>"
REDACTED_CHANGED = "<redacted; changed>"
_NAME_RE = re.compile(r"^#\s*fedmesh-name:\s*(?P<name>\S+)\s*$")
_ENDPOINT_RE = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.%a-zA-Z]+)\]|(?P<host>[A-Za-z0-9_.-]+)):(?P<port>\d{1,5})$")

INTERFACE_KEYS = ("addresses", "listen_port", "mtu", "fwmark", "private_key")
PEER_KEYS = ("name", "preshared_key", "endpoint", "allowed_ips", "persistent_keepalive")


class ConfigError(FedmeshError):
    """Bad input; the message names the field and the fix."""


IFNAME_RULE = "1-15 characters of A-Z a-z 0-9 _ = + . -, not . or .."
_IFNAME_CHARS = re.compile(r"[^A-Za-z0-9_=+.-]")


def interface_name_problem(name: Any) -> str | None:
    """Which rule an interface name breaks (None: it is valid). The rules: a string, 1-15 characters, only
    A-Z a-z 0-9 _ = + . - (what wg-quick accepts), and not ``.`` or ``..`` (the kernel refuses those)."""
    if not isinstance(name, str):
        return f"{name!r} is not a string; an interface name is {IFNAME_RULE}"
    if not name:
        return f"the name is empty; an interface name is {IFNAME_RULE}"
    if len(name) > 15:
        return f"{name!r} has {len(name)} characters, more than 15 (the kernel's limit); use a shorter name"
    bad = sorted(set(_IFNAME_CHARS.findall(name)))
    if bad:
        return (f"{name!r} contains {', '.join(repr(c) for c in bad)}; an interface name may hold only "
                "A-Z a-z 0-9 _ = + . -")
    if name in (".", ".."):
        return f"{name!r} is reserved by the kernel; an interface name is {IFNAME_RULE}"
    return None


# --- normalisation / validation ------------------------------------------------------------------------
def norm_address(value: str, field: str) -> str:
    try:
        return str(ipaddress.ip_interface(str(value).strip()))
    except ValueError:
        raise ConfigError(f"{field}: {value!r} is not an IP address with prefix, e.g. 10.80.0.1/24") from None


def norm_network(value: str, field: str) -> str:
    try:
        return str(ipaddress.ip_network(str(value).strip(), strict=False))
    except ValueError:
        raise ConfigError(f"{field}: {value!r} is not an IP network, e.g. 10.80.0.2/32") from None


def norm_endpoint(value: str | None, field: str) -> str | None:
    if value in (None, ""):
        return None
    value = str(value).strip()
    m = _ENDPOINT_RE.match(value)
    if not m or not 1 <= int(m.group("port")) <= 65535:
        raise ConfigError(f"{field}: {value!r} is not HOST:PORT or [IPv6]:PORT, e.g. 203.0.113.5:51820")
    return value


def _int_range(value: Any, field: str, lo: int, hi: int, none_values: tuple[Any, ...] = (None, "")) -> int | None:
    if value in none_values:
        return None
    try:
        iv = int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{field}: {value!r} is not an integer") from None
    if not lo <= iv <= hi:
        raise ConfigError(f"{field}: {iv} is out of range {lo}..{hi}")
    return iv


def _key(value: Any, field: str, secret: bool) -> str | None:
    if value in (None, ""):
        return None
    value = str(value).strip()
    if not is_valid_key(value):
        shown = "the value" if secret else repr(value)
        raise ConfigError(f"{field}: {shown} is not a base64-encoded 32-byte WireGuard key "
                          "(44 characters ending in '=')")
    return value


def normalize_peer(peer: dict[str, Any], field: str) -> tuple[str, dict[str, Any]]:
    pub = _key(peer.get("public_key"), field + ".public_key", secret=False)
    if pub is None:
        raise ConfigError(f"{field}.public_key is required")
    if is_low_order_key(pub):
        raise ConfigError(f"{field}.public_key: {pub!r} is a low-order Curve25519 point (all-zero, order 2, 4 or "
                          "8), not a real public key; anyone could compute the handshake with it",
                          fix="give the peer's real public key (wg pubkey < its private key)")
    allowed = peer.get("allowed_ips") or []
    if isinstance(allowed, str):
        allowed = [a for a in allowed.split(",") if a.strip()]
    nets = sorted({norm_network(a, field + ".allowed_ips") for a in allowed}, key=_net_sort_key)
    return pub, {
        "name": peer.get("name") or None,
        "preshared_key": _key(peer.get("preshared_key"), field + ".preshared_key", secret=True),
        "endpoint": norm_endpoint(peer.get("endpoint"), field + ".endpoint"),
        "allowed_ips": nets,
        "persistent_keepalive": _int_range(peer.get("persistent_keepalive"), field + ".persistent_keepalive",
                                           0, 65535, (None, "", "off")) or None,
    }


def _check_overlap(net: Any, peer: tuple[str, str], field: str, seen: list[tuple[Any, str, str, str]]) -> None:
    """A network belongs to one peer: refuse the same network, or one inside another, on two peers."""
    pub, owner = peer
    for other, other_pub, other_owner, other_field in seen:
        if other_pub != pub and net.version == other.version and net.overlaps(other):
            how = "is the same network as" if net == other else "overlaps"
            raise ConfigError(f"{field}: {net} (peer {owner}) {how} {other} of peer {other_owner} ({other_field}); "
                              "a network can belong to one peer only",
                              fix="route each network to one peer (split the larger network or drop one)")
    seen.append((net, pub, owner, field))


def _net_sort_key(net: str) -> tuple[int, int, int]:
    n = ipaddress.ip_network(net)
    return (n.version, int(n.network_address), n.prefixlen)


def normalize(spec: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise a desired or parsed interface description into a snapshot."""
    addresses = spec.get("addresses") or []
    peers: dict[str, dict[str, Any]] = {}
    seen_ips: list[tuple[Any, str, str, str]] = []  # (network, public key, owner shown, field)
    for i, peer in enumerate(spec.get("peers") or []):
        field = f"peers[{i}]"
        pub, norm = normalize_peer(peer, field)
        if pub in peers:
            raise ConfigError(f"{field}.public_key: the same public key is listed twice; list each peer once")
        for net in norm["allowed_ips"]:
            _check_overlap(ipaddress.ip_network(net), (pub, norm["name"] or pub), f"{field}.allowed_ips", seen_ips)
        peers[pub] = norm
    return {
        "addresses": [norm_address(a, "addresses") for a in addresses],
        "listen_port": _int_range(spec.get("listen_port"), "listen_port", 1, 65535),
        "mtu": _int_range(spec.get("mtu"), "mtu", 1280, 9000),
        "fwmark": _int_range(spec.get("fwmark"), "fwmark", 1, 2**32 - 1, (None, "", "off", 0, "0")),
        "private_key": _key(spec.get("private_key"), "private_key", secret=True),
        "peers": peers,
    }


# --- rendering ----------------------------------------------------------------------------------------
def _secret(value: str | None, redact: bool, changed: bool) -> str | None:
    if value is None:
        return None
    if not redact:
        return value
    return REDACTED_CHANGED if changed else REDACTED


def render(snapshot: dict[str, Any], redact: bool = False, changed_secrets: frozenset[str] = frozenset()) -> str:
    """Render a snapshot as a wg-quick config.

    ``changed_secrets`` names secrets shown as changed in a redacted render: ``"private_key"`` and
    ``"psk:<public key>"``.
    """
    lines = [HEADER.rstrip("\n"), "[Interface]"]
    for addr in snapshot["addresses"]:
        lines.append(f"Address = {addr}")
    if snapshot.get("listen_port"):
        lines.append(f"ListenPort = {snapshot['listen_port']}")
    if snapshot.get("mtu"):
        lines.append(f"MTU = {snapshot['mtu']}")
    if snapshot.get("fwmark"):
        lines.append(f"FwMark = {snapshot['fwmark']:#x}")
    pk = _secret(snapshot.get("private_key"), redact, "private_key" in changed_secrets)
    if pk:
        lines.append(f"PrivateKey = {pk}")
    for pub in sorted(snapshot["peers"], key=lambda k: (snapshot["peers"][k]["name"] or "~", k)):
        peer = snapshot["peers"][pub]
        lines.append("")
        lines.append("[Peer]")
        if peer.get("name"):
            lines.append("# fedmesh-name: {}".format(peer["name"]))
        lines.append(f"PublicKey = {pub}")
        psk = _secret(peer.get("preshared_key"), redact, ("psk:" + pub) in changed_secrets)
        if psk:
            lines.append(f"PresharedKey = {psk}")
        if peer.get("allowed_ips"):
            lines.append("AllowedIPs = {}".format(", ".join(peer["allowed_ips"])))
        if peer.get("endpoint"):
            lines.append("Endpoint = {}".format(peer["endpoint"]))
        if peer.get("persistent_keepalive"):
            lines.append(f"PersistentKeepalive = {peer['persistent_keepalive']}")
    return "\n".join(lines) + "\n"


# --- parsing ------------------------------------------------------------------------------------------
_IF_MAP = {"address": "addresses", "listenport": "listen_port", "mtu": "mtu", "fwmark": "fwmark",
           "privatekey": "private_key"}
_PEER_MAP = {"publickey": "public_key", "presharedkey": "preshared_key", "endpoint": "endpoint",
             "allowedips": "allowed_ips", "persistentkeepalive": "persistent_keepalive"}


def parse(text: str) -> dict[str, Any]:
    """Parse a wg-quick config into ``{"spec": <normalize() input>, "unmanaged": [keys we do not manage]}``.

    Raises :class:`ConfigError` (never quoting a secret) on a malformed file.
    """
    spec: dict[str, Any] = {"addresses": [], "peers": []}
    unmanaged: list[str] = []
    section: str | None = None
    peer: dict[str, Any] | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        m = _NAME_RE.match(line)
        if m and section == "peer" and peer is not None:
            peer["name"] = m.group("name")
            continue
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.lower() == "[interface]":
            section, peer = "interface", None
            continue
        if line.lower() == "[peer]":
            section = "peer"
            peer = {"allowed_ips": []}
            spec["peers"].append(peer)
            continue
        if "=" not in line or section is None:
            raise ConfigError(f"config line {lineno}: expected `Key = Value` inside [Interface] or [Peer]")
        key, value = (p.strip() for p in line.split("=", 1))
        lkey = key.lower()
        if section == "interface" and lkey in _IF_MAP:
            target = _IF_MAP[lkey]
            if target == "addresses":
                spec["addresses"].extend(a.strip() for a in value.split(",") if a.strip())
            else:
                spec[target] = value
        elif section == "peer" and peer is not None and lkey in _PEER_MAP:
            target = _PEER_MAP[lkey]
            if target == "allowed_ips":
                peer["allowed_ips"].extend(a.strip() for a in value.split(",") if a.strip())
            else:
                peer[target] = value
        else:
            unmanaged.append(f"{section}.{key}")
    return {"spec": spec, "unmanaged": unmanaged}


def parse_snapshot(text: str) -> tuple[dict[str, Any], list[str]]:
    parsed = parse(text)
    try:
        return normalize(parsed["spec"]), parsed["unmanaged"]
    except ConfigError as exc:
        raise ConfigError(f"existing config: {exc}") from None


def public_view(snapshot: dict[str, Any], public_key: str | None = None) -> dict[str, Any]:
    """The snapshot without secrets: safe to return and log."""
    return {
        "addresses": list(snapshot["addresses"]),
        "listen_port": snapshot["listen_port"],
        "mtu": snapshot["mtu"],
        "fwmark": snapshot["fwmark"],
        "public_key": public_key,
        "peers": [
            {"public_key": pub, "name": p["name"], "endpoint": p["endpoint"], "allowed_ips": list(p["allowed_ips"]),
             "persistent_keepalive": p["persistent_keepalive"], "preshared_key_set": p["preshared_key"] is not None}
            for pub, p in sorted(snapshot["peers"].items())
        ],
    }
