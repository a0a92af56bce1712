# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Parser for ``wg show <if> dump`` and ``wg show all dump``.

The dump carries the interface's private key and every peer's preshared key. They are dropped here,
in the parser, so no caller can return them by mistake: what remains is whether a preshared key is set.
"""
from __future__ import annotations

import time
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError

NONE = "(none)"


class DumpError(FedmeshError):
    """Raised for a line that does not follow the documented dump format."""


def _int_or_none(value: str, off: str = "off") -> int | None:
    if value in (off, NONE, ""):
        return None
    return int(value, 0)


def _split_endpoint(value: str) -> str | None:
    return None if value == NONE else value


def _parse_interface(fields: list[str]) -> dict[str, Any]:
    # private-key public-key listen-port fwmark  (private key deliberately ignored)
    _private, public, port, fwmark = fields
    return {
        "public_key": None if public == NONE else public,
        "listen_port": int(port) or None,
        "fwmark": _int_or_none(fwmark),
        "peers": [],
    }


def _parse_peer(fields: list[str], now: float) -> dict[str, Any]:
    # public-key preshared-key endpoint allowed-ips latest-handshake transfer-rx transfer-tx persistent-keepalive
    public, psk, endpoint, allowed, handshake, rx, tx, keepalive = fields
    hs = int(handshake)
    return {
        "public_key": public,
        "preshared_key_set": psk not in (NONE, ""),
        "endpoint": _split_endpoint(endpoint),
        "allowed_ips": [] if allowed in (NONE, "") else [a.strip() for a in allowed.split(",") if a.strip()],
        "latest_handshake": hs or None,
        "latest_handshake_age": (max(0, int(now) - hs) if hs else None),
        "transfer_rx": int(rx),
        "transfer_tx": int(tx),
        "persistent_keepalive": _int_or_none(keepalive),
    }


def parse_dump(text: str, interface: str | None = None, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Parse a dump into ``{interface: {public_key, listen_port, fwmark, peers: [...]}}``.

    With *interface* given the text is the output of ``wg show <interface> dump`` (no interface column);
    without it, the output of ``wg show all dump`` (first column = interface name).
    """
    now = time.time() if now is None else now
    result: dict[str, dict[str, Any]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if interface is None:
            name, fields = fields[0], fields[1:]
        else:
            name = interface
        try:
            if len(fields) == 4:
                result[name] = _parse_interface(fields)
            elif len(fields) == 8:
                if name not in result:
                    raise DumpError("peer before its interface")
                result[name]["peers"].append(_parse_peer(fields, now))
            else:
                raise DumpError(f"{len(fields)} fields")
        except (ValueError, DumpError) as exc:
            # Never echo the line: it may hold a key.
            reason = str(exc) if isinstance(exc, DumpError) else "malformed number"
            raise DumpError(f"unexpected `wg show dump` output at line {lineno}: {reason}") from None
    return result
