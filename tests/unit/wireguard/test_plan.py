"""Desired-vs-current planning: peer add/remove/change, restart vs syncconf."""
from __future__ import annotations

import copy

from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import config, keys
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard.plan import plan, summary


def base(keypair) -> dict:
    priv = keypair()[0]
    peers = []
    for i in range(3):
        pub = keypair()[1]
        peers.append({"public_key": pub, "name": f"n{i}", "endpoint": f"n{i}:51820",
                      "allowed_ips": [f"10.80.0.{i + 10}/32"], "preshared_key": keys.generate_preshared_key()})
    return config.normalize({"addresses": ["10.80.0.1/24"], "listen_port": 51820, "private_key": priv,
                             "peers": peers})


def test_create(keypair) -> None:
    d = base(keypair)
    p = plan(d, None)
    assert p["create"] and p["restart"] and p["file_changed"] and len(p["peers_added"]) == 3
    assert summary(p).startswith("create interface")


def test_no_change(keypair) -> None:
    d = base(keypair)
    p = plan(d, copy.deepcopy(d))
    assert not (p["restart"] or p["syncconf"] or p["file_changed"])
    assert summary(p) == "no change (apply: none)"


def test_peer_added_removed_changed_are_syncconf_only(keypair) -> None:
    cur = base(keypair)
    des = copy.deepcopy(cur)
    removed = sorted(des["peers"])[0]
    del des["peers"][removed]
    new = keypair()[1]
    des["peers"][new] = {"name": "new", "preshared_key": None, "endpoint": None, "allowed_ips": ["10.80.0.99/32"],
                         "persistent_keepalive": None}
    changed = sorted(des["peers"])[-1] if sorted(des["peers"])[-1] != new else sorted(des["peers"])[0]
    des["peers"][changed]["endpoint"] = "elsewhere:51820"
    p = plan(des, cur)
    assert p["syncconf"] and not p["restart"] and p["file_changed"]
    assert [x["public_key"] for x in p["peers_added"]] == [new]
    assert [x["public_key"] for x in p["peers_removed"]] == [removed]
    assert p["peers_changed"][0]["public_key"] == changed
    assert p["peers_changed"][0]["changes"]["endpoint"]["after"] == "elsewhere:51820"


def test_psk_change_is_reported_without_value(keypair) -> None:
    cur = base(keypair)
    des = copy.deepcopy(cur)
    pub = sorted(des["peers"])[0]
    new_psk = keys.generate_preshared_key()
    des["peers"][pub]["preshared_key"] = new_psk
    p = plan(des, cur)
    assert p["syncconf"] and not p["restart"]
    assert p["peers_changed"][0]["changes"] == {"preshared_key": "changed"}
    assert new_psk not in repr(p) and cur["peers"][pub]["preshared_key"] not in repr(p)
    assert p["changed_secrets"] == ["psk:" + pub]


def test_key_rotation_is_live_and_reports_public_keys_only(keypair) -> None:
    cur = base(keypair)
    des = copy.deepcopy(cur)
    priv, pub = keypair()
    des["private_key"] = priv
    p = plan(des, cur, desired_public_key=pub, current_public_key="OLD")
    assert p["syncconf"] and not p["restart"]
    assert p["interface_changes"] == {"public_key": {"before": "OLD", "after": pub}}
    assert priv not in repr(p)


def test_address_and_mtu_need_restart_port_and_fwmark_do_not(keypair) -> None:
    cur = base(keypair)
    for field, value, restart in [("addresses", ["10.80.0.2/24"], True), ("mtu", 1380, True),
                                  ("listen_port", 51821, False), ("fwmark", 7, False)]:
        des = copy.deepcopy(cur)
        des[field] = value
        p = plan(des, cur)
        assert p["restart"] is restart, field
        assert p["syncconf"] is (not restart), field
        assert field in p["interface_changes"]


def test_address_order_is_not_a_change(keypair) -> None:
    cur = base(keypair)
    cur["addresses"] = ["10.80.0.1/24", "fd00::1/64"]
    des = copy.deepcopy(cur)
    des["addresses"].reverse()
    assert not plan(des, cur)["file_changed"]


def test_name_only_change_rewrites_file_without_live_apply(keypair) -> None:
    cur = base(keypair)
    des = copy.deepcopy(cur)
    des["peers"][sorted(des["peers"])[0]]["name"] = "renamed"
    p = plan(des, cur)
    assert p["file_changed"] and not p["syncconf"] and not p["restart"]
