"""The mesh plan at scale: hub-and-spoke above fedmesh_wireguard_mesh_full_mesh_max, planned for 1,000 hosts."""
from __future__ import annotations

import ipaddress

import pytest
from ansible_collections.fedmesh.cluster.plugins.filter.wg_mesh_layout import wg_mesh_layout
from ansible_collections.fedmesh.cluster.plugins.filter.wg_mesh_plan import wg_mesh_plan
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys

N = 1000
CIDR = "10.80.0.0/22"
HOSTS = [f"node{i:04d}" for i in range(N)]


def fake_key(i: int) -> str:
    # Well-formed distinct public keys, cheap to make (not low-order: the top bytes are set).
    return keys.placeholder_public_key(f"scale-{i}")


@pytest.fixture(scope="module")
def plan() -> dict:
    settings = {h: {"endpoint": h, "listen_port": 51820, "hub": False, "state": "present", "address": None}
                for h in HOSTS}
    layout = wg_mesh_layout(HOSTS, {}, cidr=CIDR, settings=settings, psk_dir="/etc/wireguard/fedmesh-psk",
                            play_hosts=HOSTS, full_mesh_max=64, hub_count=3)
    return wg_mesh_plan(layout, keys={h: {"public_key": fake_key(i)} for i, h in enumerate(HOSTS)})


def test_1000_hosts_become_hub_and_spoke_with_n_times_hubs_tunnels(plan: dict) -> None:
    hosts, hubs = plan["hosts"], plan["hubs"]
    assert plan["topology"] == "hub-and-spoke" and len(hubs) == 3
    tunnels = sum(len(h["peers"]) for h in hosts.values()) // 2
    assert tunnels == 3 * (N - 3) + 3  # spokes x hubs, plus the hubs' own full mesh
    for name, h in hosts.items():
        if name in hubs:
            assert h["role"] == "hub" and h["forwarding"] and len(h["peers"]) == N - 1
        else:
            assert h["role"] == "spoke" and sorted(h["peer_names"]) == hubs and h["primary_hub"] in hubs


def test_every_spoke_routes_the_whole_mesh_one_network_per_peer(plan: dict) -> None:
    net = ipaddress.ip_network(CIDR)
    addrs = plan["addresses"]
    assert len(set(addrs.values())) == N
    for h in plan["hosts"].values():
        if h["role"] != "spoke":
            continue
        nets = [ipaddress.ip_network(a) for p in h["peers"] for a in p["allowed_ips"]]
        # disjoint, and together the whole CIDR: every other host is reached through exactly one hub
        assert sum(n.num_addresses for n in nets) == net.num_addresses
        for i, a in enumerate(nets):
            assert all(not a.overlaps(b) for b in nets[i + 1:])
        assert all(p["persistent_keepalive"] is None for p in h["peers"])  # spokes have endpoints


def test_each_pair_key_has_one_owner_and_one_copy(plan: dict) -> None:
    created = sorted((h, p) for h, v in plan["hosts"].items() for p in v["psk_create"])
    copied = sorted((p, h) for h, v in plan["hosts"].items() for p in v["psk_copies"])
    assert created == copied and len(created) == 3 * (N - 3) + 3
    assert all(a < b for a, b in created)


def test_a_small_mesh_stays_full_and_marked_hubs_win() -> None:
    small = HOSTS[:5]
    s = {h: {"endpoint": h, "listen_port": 51820, "hub": h == HOSTS[4], "state": "present"} for h in small}
    full = wg_mesh_layout(small, {}, cidr=CIDR, settings=s, full_mesh_max=64)
    assert full["topology"] == "full-mesh" and all(len(h["links"]) == 4 for h in full["hosts"].values())
    spoke = wg_mesh_layout(small, {}, cidr=CIDR, settings=s, full_mesh_max=2)
    assert spoke["hubs"] == [HOSTS[4]] and spoke["hosts"][HOSTS[0]]["role"] == "spoke"


@pytest.mark.hostile("wireguard", "`fedmesh_wireguard_mesh_full_mesh_max: -1` / a bad port, planned once (run_once)",
                     "errors=return hands back the message, so every host fails with it; strict raises")
def test_errors_return_gives_the_message_instead_of_raising() -> None:
    s = {h: {"endpoint": h, "listen_port": 0, "state": "present"} for h in HOSTS[:3]}
    out = wg_mesh_layout(HOSTS[:3], {}, cidr=CIDR, settings=s, errors="return")
    assert list(out) == ["error"] and "listen_port=0 is out of range" in out["error"]
    out = wg_mesh_layout(HOSTS[:3], {h: {} for h in HOSTS[:3]}, cidr=CIDR, full_mesh_max=-1, errors="return")
    assert "full_mesh_max=-1 must be an integer >= 0" in out["error"]
    same = keys.placeholder_public_key("dup")
    layout = wg_mesh_layout(HOSTS[:2], {h: {} for h in HOSTS[:2]}, cidr=CIDR)
    bad = wg_mesh_plan(layout, keys={h: {"public_key": same} for h in HOSTS[:2]}, errors="return")
    assert "have the same public key" in bad["error"]
