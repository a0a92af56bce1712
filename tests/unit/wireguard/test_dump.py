"""`wg show dump` parsing; the dump's private and preshared keys never leave the parser."""
from __future__ import annotations

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.dump import DumpError, parse_dump

NOW = 1_700_000_000
PRIV = keys.generate_private_key()
PUB = keys.public_key(PRIV)
P1 = keys.public_key(keys.generate_private_key())
P2 = keys.public_key(keys.generate_private_key())
P3 = keys.public_key(keys.generate_private_key())
PSK1 = keys.generate_preshared_key()
PSK3 = keys.generate_preshared_key()

# wg show wg0 dump: interface line, then one line per peer, tab-separated (wg(8), "dump").
SINGLE = "\n".join([
    "\t".join([PRIV, PUB, "51820", "off"]),
    "\t".join([P1, PSK1, "192.0.2.1:51820", "10.80.0.2/32,10.80.0.7/32", str(NOW - 42), "1234", "5678", "25"]),
    "\t".join([P2, "(none)", "(none)", "10.80.0.3/32", "0", "0", "0", "off"]),
    "\t".join([P3, PSK3, "[2001:db8::1]:51820", "(none)", str(NOW - 3600), "1", "2", "off"]),
]) + "\n"

ALL = "\n".join([
    "\t".join(["wg0", PRIV, PUB, "51820", "0xca6c"]),
    "\t".join(["wg0", P1, PSK1, "192.0.2.1:51820", "10.80.0.2/32", str(NOW - 5), "10", "20", "off"]),
    "\t".join(["wg1", "(none)", "(none)", "0", "off"]),
])


def test_single_interface_dump() -> None:
    res = parse_dump(SINGLE, interface="wg0", now=NOW)
    wg0 = res["wg0"]
    assert wg0["public_key"] == PUB and wg0["listen_port"] == 51820 and wg0["fwmark"] is None
    p1, p2, p3 = wg0["peers"]
    assert p1 == {"public_key": P1, "preshared_key_set": True, "endpoint": "192.0.2.1:51820",
                  "allowed_ips": ["10.80.0.2/32", "10.80.0.7/32"], "latest_handshake": NOW - 42,
                  "latest_handshake_age": 42, "transfer_rx": 1234, "transfer_tx": 5678, "persistent_keepalive": 25}
    assert p2["endpoint"] is None and p2["latest_handshake"] is None and p2["latest_handshake_age"] is None
    assert p2["persistent_keepalive"] is None and p2["preshared_key_set"] is False
    assert p3["allowed_ips"] == [] and p3["endpoint"] == "[2001:db8::1]:51820" and p3["latest_handshake_age"] == 3600


def test_all_dump_with_interface_column() -> None:
    res = parse_dump(ALL, now=NOW)
    assert set(res) == {"wg0", "wg1"}
    assert res["wg0"]["fwmark"] == 0xCA6C and len(res["wg0"]["peers"]) == 1
    assert res["wg1"] == {"public_key": None, "listen_port": None, "fwmark": None, "peers": []}


@pytest.mark.parametrize("text", [SINGLE, ALL])
def test_secrets_are_stripped(text: str) -> None:
    res = parse_dump(text, interface="wg0" if text is SINGLE else None, now=NOW)
    dumped = repr(res)
    for secret in (PRIV, PSK1, PSK3):
        assert secret not in dumped


def test_malformed_lines_fail_without_echoing_them() -> None:
    bad = "\t".join([PRIV, PUB, "notaport", "off"])
    with pytest.raises(DumpError) as exc:
        parse_dump(bad, interface="wg0")
    assert PRIV not in str(exc.value) and "line 1" in str(exc.value)
    with pytest.raises(DumpError, match="5 fields"):
        parse_dump("\t".join(["a", "b", "c", "d", "e"]), interface="wg0")
    with pytest.raises(DumpError, match="peer before its interface"):
        parse_dump("\t".join([P1, PSK1, "(none)", "(none)", "0", "0", "0", "off"]), interface="wg0")


def test_empty_dump() -> None:
    assert parse_dump("", interface="wg0") == {}
