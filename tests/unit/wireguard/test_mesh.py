"""Mesh planning: full mesh, edges through hubs, preshared-key pairs, validation."""
from __future__ import annotations

import ipaddress

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.wireguard_mesh import MeshError, plan_mesh

CIDR = "10.80.0.0/24"


def pub() -> str:
    return keys.public_key(keys.generate_private_key())


def nodes(names: list[str], edges: tuple[str, ...] = (), hubs: tuple[str, ...] = ()) -> dict:
    return {n: {"endpoint": None if n in edges else n, "public_key": pub(), "hub": n in hubs} for n in names}


def test_full_mesh() -> None:
    plan = plan_mesh(nodes(["n1", "n2", "n3"]), CIDR, psk_dir="/etc/wireguard/fedmesh-psk")
    for me, host in plan["hosts"].items():
        assert host["role"] == "member"
        assert sorted(host["peer_names"]) == sorted({"n1", "n2", "n3"} - {me})
        for p in host["peers"]:
            assert p["allowed_ips"] == [plan["hosts"][p["name"]]["address"] + "/32"]
            assert p["endpoint"] == f"{p['name']}:51820" and p["persistent_keepalive"] is None
            assert p["preshared_key_file"] == f"/etc/wireguard/fedmesh-psk/{p['name']}.psk"
        assert host["interface_address"].endswith("/24")


def test_edges_through_hubs() -> None:
    n = nodes(["hub1", "hub2", "m1", "e1", "e2"], edges=("e1", "e2"), hubs=("hub1", "hub2"))
    plan = plan_mesh(n, CIDR, keepalive=25)
    h = plan["hosts"]
    assert plan["hubs"] == ["hub1", "hub2"] and plan["edges"] == ["e1", "e2"]
    for e in ("e1", "e2"):
        assert h[e]["role"] == "edge" and sorted(h[e]["peer_names"]) == ["hub1", "hub2"]
        prim = h[e]["primary_hub"]
        for p in h[e]["peers"]:
            assert p["persistent_keepalive"] == 25 and p["endpoint"]
            if p["name"] != prim:
                assert p["allowed_ips"] == [h[p["name"]]["address"] + "/32"]
                continue
            # the primary hub carries the mesh CIDR less the other hub's /32: together exactly the CIDR, no overlap
            nets = [ipaddress.ip_network(n) for n in p["allowed_ips"]]
            nets += [ipaddress.ip_network(h[o]["address"] + "/32") for o in ("hub1", "hub2") if o != prim]
            assert list(ipaddress.collapse_addresses(nets)) == [ipaddress.ip_network(CIDR)]
            assert sum(n.num_addresses for n in nets) == 256
    # hubs peer every edge directly, without endpoint; they forward
    for hub in ("hub1", "hub2"):
        assert h[hub]["forwarding"] and {"e1", "e2"} <= set(h[hub]["peer_names"])
        for p in h[hub]["peers"]:
            if p["name"].startswith("e"):
                assert p["endpoint"] is None and p["allowed_ips"] == [h[p["name"]]["address"] + "/32"]
    # members reach edges through the edge's primary hub; never peer edges
    m1 = {p["name"]: p for p in h["m1"]["peers"]}
    assert set(m1) == {"hub1", "hub2"}
    for e in ("e1", "e2"):
        assert h[e]["address"] + "/32" in m1[h[e]["primary_hub"]]["allowed_ips"]
    # no allowed IP routed to two peers on any host
    for host in h.values():
        ips = [ip for p in host["peers"] for ip in p["allowed_ips"]]
        assert len(ips) == len(set(ips))


def test_every_reachable_node_is_a_hub_when_none_is_marked() -> None:
    plan = plan_mesh(nodes(["a", "b", "e"], edges=("e",)), CIDR)
    assert plan["hubs"] == ["a", "b"]


def test_edges_without_any_endpoint_fail() -> None:
    with pytest.raises(MeshError, match="no endpoint and no host has one"):
        plan_mesh(nodes(["e1", "e2"], edges=("e1", "e2")), CIDR)


def test_hub_without_endpoint_fails() -> None:
    with pytest.raises(MeshError, match="e1: fedmesh_wireguard_mesh_hub=true needs an endpoint"):
        plan_mesh(nodes(["a", "e1"], edges=("e1",), hubs=("e1",)), CIDR)


def test_psk_owners_cover_each_pair_once_and_handle_limit() -> None:
    names = ["n1", "n2", "n3", "n4"]
    n = nodes(names)
    plan = plan_mesh(n, CIDR, play_hosts=names)
    created = [(h, p) for h, v in plan["hosts"].items() for p in v["psk_create"]]
    copied = [(p, h) for h, v in plan["hosts"].items() for p in v["psk_copies"]]
    every = sorted((a, b) for a in names for b in names if a < b)
    # each pair: created by its owner (the lower name) once, copied by the other side once
    assert sorted(created) == every and sorted(copied) == every
    assert plan["psk_outside_owners"] == {}
    # --limit n3: n1 and n2 own pairs with n3 and are outside the play: asked by delegation, n4 is not
    limited = plan_mesh(n, CIDR, play_hosts=["n3"])
    assert limited["psk_outside_owners"] == {"n1": ["n3"], "n2": ["n3"]}
    assert limited["hosts"]["n3"]["psk_create"] == ["n4"]


def test_hosts_without_keys_are_pending_not_peers() -> None:
    n = nodes(["n1", "n2", "n3"])
    n["n3"]["public_key"] = None
    plan = plan_mesh(n, CIDR)
    assert plan["pending"] == ["n3"] and "n3" not in plan["hosts"]["n1"]["peer_names"]
    with pytest.raises(MeshError, match="n3 has no WireGuard public key"):
        plan_mesh(n, CIDR, require_keys=True)


def test_addresses_are_stable_under_limit_and_order() -> None:
    n = nodes(["n1", "n2", "n3"])
    a = plan_mesh(n, CIDR, play_hosts=["n1", "n2", "n3"])["addresses"]
    b = plan_mesh(dict(reversed(list(n.items()))), CIDR, play_hosts=["n2"])["addresses"]
    assert a == b


def test_current_addresses_are_kept() -> None:
    n = nodes(["n1", "n2"])
    n["n1"]["current_address"] = "10.80.0.77"
    assert plan_mesh(n, CIDR)["addresses"]["n1"] == "10.80.0.77"


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda n: n["n1"].update(public_key="garbage"), "n1: the public key read from the node is malformed"),
    (lambda n: n["n2"].update(public_key=n["n1"]["public_key"]), "n1 and n2 have the same public key"),
    (lambda n: n["n2"].update(endpoint="n1"), "both use endpoint n1:51820"),
    (lambda n: n["n2"].update(listen_port=0), "n2: fedmesh_wireguard_mesh_listen_port=0 is out of range"),
    (lambda n: n["n2"].update(listen_port="x"), "listen_port='x' is not an integer"),
    (lambda n: n["n2"].update(endpoint="n2:abc"), "n2: fedmesh_wireguard_mesh_endpoint='n2:abc'"),
    (lambda n: n["n1"].update(address="10.99.0.1"), "outside the usable range"),
    (lambda n: (n["n1"].update(address="10.80.0.5"), n["n2"].update(address="10.80.0.5")), "both ask for"),
])
def test_bad_input_is_named(mutate, message: str) -> None:
    n = nodes(["n1", "n2", "n3"])
    mutate(n)
    with pytest.raises(MeshError, match=message.replace("(", r"\(").replace(".", r"\.")):
        plan_mesh(n, CIDR)


def test_cidr_too_small_for_group() -> None:
    with pytest.raises(MeshError, match="usable addresses but the mesh has 3 hosts"):
        plan_mesh(nodes(["a", "b", "c"]), "10.0.0.0/30")


def test_rotation_validation() -> None:
    n = nodes(["n1", "n2", "n3"])
    with pytest.raises(MeshError, match="names 'zz', which is not in the mesh group"):
        plan_mesh(n, CIDR, rotate=["zz"])
    with pytest.raises(MeshError, match="hosts outside the play: n3"):
        plan_mesh(n, CIDR, rotate=["n1"], play_hosts=["n1", "n2"])
    assert plan_mesh(n, CIDR, rotate=["n1"], play_hosts=["n1", "n2", "n3"])["hosts"]["n1"]["rotate"]


def test_endpoint_forms() -> None:
    n = nodes(["a", "b", "c", "d"])
    n["a"]["endpoint"] = "192.0.2.1:4000"
    n["b"]["endpoint"] = "2001:db8::2"
    n["c"]["endpoint"] = "[2001:db8::3]"
    n["d"]["listen_port"] = 51999
    plan = plan_mesh(n, CIDR)
    eps = {h: plan["hosts"][h]["endpoint"] for h in "abcd"}
    assert eps == {"a": "192.0.2.1:4000", "b": "[2001:db8::2]:51820", "c": "[2001:db8::3]:51820", "d": "d:51999"}


def test_ipv6_mesh() -> None:
    plan = plan_mesh(nodes(["a", "b"]), "fd42:80::/64")
    assert plan["hosts"]["a"]["peers"][0]["allowed_ips"][0].endswith("/128")
