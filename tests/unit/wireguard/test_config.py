"""wg-quick config: normalise, render, parse (round trip) and redaction."""
from __future__ import annotations

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import config, keys


def make_spec(keypair, n_peers: int = 2, psk: bool = True) -> dict:
    priv = keypair()[0]
    peers = []
    for i in range(n_peers):
        pub = keypair()[1]
        peers.append({"public_key": pub, "name": f"n{i + 2}", "endpoint": f"n{i + 2}:51820",
                      "allowed_ips": [f"10.80.0.{i + 2}/32"], "persistent_keepalive": 25 if i == 0 else None,
                      "preshared_key": keys.generate_preshared_key() if psk else None})
    return {"addresses": ["10.80.0.1/24", "fd42::1/64"], "listen_port": 51820, "mtu": 1420, "fwmark": 0x51,
            "private_key": priv, "peers": peers}


def test_round_trip(keypair) -> None:
    snap = config.normalize(make_spec(keypair))
    text = config.render(snap)
    parsed, unmanaged = config.parse_snapshot(text)
    assert parsed == snap and unmanaged == []
    assert text.startswith("# Managed by fedmesh.cluster")
    assert "FwMark = 0x51" in text and "MTU = 1420" in text


def test_render_is_deterministic_regardless_of_peer_order(keypair) -> None:
    spec = make_spec(keypair, 4)
    a = config.render(config.normalize(spec))
    spec["peers"].reverse()
    assert config.render(config.normalize(spec)) == a


def test_redacted_render_has_no_secret(keypair) -> None:
    spec = make_spec(keypair)
    snap = config.normalize(spec)
    text = config.render(snap, redact=True, changed_secrets=frozenset({"private_key"}))
    assert spec["private_key"] not in text
    for p in spec["peers"]:
        assert p["preshared_key"] not in text and p["public_key"] in text
    assert "PrivateKey = <redacted; changed>" in text and "PresharedKey = <redacted>" in text


def test_parse_accepts_wg_quick_variants(keypair) -> None:
    priv = keypair()[0]
    pub = keypair()[1]
    text = f"""
[interface]
address = 10.0.0.1/24, fd00::1/64
PrivateKey={priv}
DNS = 1.1.1.1
PostUp = echo hi   # comment
[Peer]
PublicKey = {pub}
AllowedIPs = 10.0.0.2/32
AllowedIPs = 10.0.1.0/24,10.0.0.3
Endpoint = [2001:db8::1]:51820
PersistentKeepalive = off
"""
    snap, unmanaged = config.parse_snapshot(text)
    assert snap["addresses"] == ["10.0.0.1/24", "fd00::1/64"]
    assert snap["peers"][pub]["allowed_ips"] == ["10.0.0.2/32", "10.0.0.3/32", "10.0.1.0/24"]
    assert snap["peers"][pub]["endpoint"] == "[2001:db8::1]:51820"
    assert snap["peers"][pub]["persistent_keepalive"] is None
    assert unmanaged == ["interface.DNS", "interface.PostUp"]


def test_malformed_file_errors_do_not_quote_secrets(keypair) -> None:
    priv = keypair()[0]
    with pytest.raises(config.ConfigError) as exc:
        config.parse_snapshot(f"PrivateKey = {priv}\n")
    assert priv not in str(exc.value)
    bad = priv[:-2] + "=="
    with pytest.raises(config.ConfigError) as exc:
        config.parse_snapshot(f"[Interface]\nPrivateKey = {bad}\n")
    assert bad not in str(exc.value) and "private_key" in str(exc.value)


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda s: s["peers"][0].update(public_key="nope"), "peers[0].public_key"),
    (lambda s: s["peers"][1].update(public_key=s["peers"][0]["public_key"]), "peers[1].public_key"),
    (lambda s: s["peers"][1].update(allowed_ips=["10.80.0.2/32"]), "peers[1].allowed_ips"),
    (lambda s: s["peers"][0].update(endpoint="no-port"), "peers[0].endpoint"),
    (lambda s: s["peers"][0].update(endpoint="h:99999"), "peers[0].endpoint"),
    (lambda s: s["peers"][0].update(allowed_ips=["10.0.0.300/32"]), "peers[0].allowed_ips"),
    (lambda s: s["peers"][0].update(preshared_key="short"), "peers[0].preshared_key"),
    (lambda s: s.update(listen_port=70000), "listen_port"),
    (lambda s: s.update(mtu=100), "mtu"),
    (lambda s: s.update(addresses=["10.80.0.1/40"]), "addresses"),
])
def test_validation_names_the_field(keypair, mutate, field: str) -> None:
    spec = make_spec(keypair)
    mutate(spec)
    with pytest.raises(config.ConfigError) as exc:
        config.normalize(spec)
    assert str(exc.value).startswith(field)
    for p in spec["peers"]:
        if p.get("preshared_key"):
            assert p["preshared_key"] not in str(exc.value)


def test_public_view_has_no_secret(keypair) -> None:
    spec = make_spec(keypair)
    view = config.public_view(config.normalize(spec), "PUB")
    text = repr(view)
    assert spec["private_key"] not in text
    assert all(p["preshared_key"] not in text for p in spec["peers"])
    assert view["peers"][0]["preshared_key_set"] is True
