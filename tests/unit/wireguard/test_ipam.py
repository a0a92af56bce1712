"""IPAM: stable, order-independent, --limit-independent address assignment."""
from __future__ import annotations

import ipaddress
import random

import pytest
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.ipam import IpamError, allocate, usable_range

CIDR = "10.80.0.0/24"
HOSTS = [f"node{i}" for i in range(20)]


def test_every_host_gets_a_unique_usable_address() -> None:
    res = allocate(CIDR, HOSTS)
    assert sorted(res) == sorted(HOSTS)
    assert len(set(res.values())) == len(HOSTS)
    for addr in res.values():
        ip = ipaddress.ip_address(addr)
        assert ip in ipaddress.ip_network(CIDR) and str(ip) not in ("10.80.0.0", "10.80.0.255")


def test_independent_of_host_order() -> None:
    base = allocate(CIDR, HOSTS)
    for seed in range(5):
        shuffled = HOSTS[:]
        random.Random(seed).shuffle(shuffled)
        assert allocate(CIDR, shuffled) == base


def test_stable_when_hosts_join_and_leave_given_node_state() -> None:
    first = allocate(CIDR, HOSTS)
    grown = allocate(CIDR, HOSTS + ["late1", "late2"], in_use=first)
    assert {h: grown[h] for h in HOSTS} == first
    shrunk = allocate(CIDR, HOSTS[5:], in_use=grown)
    assert {h: shrunk[h] for h in HOSTS[5:]} == {h: first[h] for h in HOSTS[5:]}


def test_stable_under_limit_style_partial_state() -> None:
    # Under --limit the role still reads every node; but even with state from only some nodes the pure
    # hash places the rest where a full run would.
    full = allocate(CIDR, HOSTS)
    partial_state = {h: full[h] for h in HOSTS[:7]}
    assert allocate(CIDR, HOSTS, in_use=partial_state) == full


def test_hash_slots_survive_additions_without_state_when_no_collision() -> None:
    small = allocate("10.0.0.0/16", ["a", "b", "c"])
    bigger = allocate("10.0.0.0/16", ["a", "b", "c", "d", "e"])
    assert {h: bigger[h] for h in "abc"} == small


def test_explicit_addresses_are_honoured() -> None:
    res = allocate(CIDR, HOSTS, explicit={"node3": "10.80.0.7", "node4": "10.80.0.8/24"})
    assert res["node3"] == "10.80.0.7" and res["node4"] == "10.80.0.8"
    assert len(set(res.values())) == len(HOSTS)


def test_explicit_address_wins_over_hash_slot() -> None:
    plain = allocate(CIDR, HOSTS)
    taken = plain["node1"]
    res = allocate(CIDR, HOSTS, explicit={"node2": taken})
    assert res["node2"] == taken and res["node1"] != taken


def test_duplicate_explicit_addresses_fail_naming_both_hosts() -> None:
    with pytest.raises(IpamError, match=r"node1 and node2 both ask for fedmesh_wireguard_mesh_address=10\.80\.0\.9"):
        allocate(CIDR, HOSTS, explicit={"node1": "10.80.0.9", "node2": "10.80.0.9"})


@pytest.mark.parametrize("addr", ["10.81.0.5", "10.80.0.0", "10.80.0.255", "fd00::1", "banana"])
def test_out_of_range_or_invalid_explicit_address_fails(addr: str) -> None:
    with pytest.raises(IpamError, match="node1"):
        allocate(CIDR, HOSTS, explicit={"node1": addr})


def test_explicit_address_in_use_on_another_node_fails() -> None:
    with pytest.raises(IpamError, match="already in use on node node2"):
        allocate(CIDR, ["node1", "node2"], explicit={"node1": "10.80.0.5"}, in_use={"node2": "10.80.0.5"})


def test_in_use_addresses_outside_a_new_cidr_are_renumbered() -> None:
    res = allocate("10.90.0.0/24", ["a", "b"], in_use={"a": "10.80.0.5", "b": "10.90.0.9"})
    assert res["b"] == "10.90.0.9" and res["a"].startswith("10.90.0.")


def test_duplicate_in_use_addresses_are_resolved_deterministically() -> None:
    res = allocate(CIDR, ["a", "b"], in_use={"a": "10.80.0.5", "b": "10.80.0.5"})
    assert res["a"] == "10.80.0.5" and res["b"] != "10.80.0.5"


def test_cidr_too_small() -> None:
    with pytest.raises(IpamError, match="has 2 usable addresses but the mesh has 3 hosts"):
        allocate("10.0.0.0/30", ["a", "b", "c"])


def test_exact_fit_uses_every_address() -> None:
    res = allocate("10.0.0.0/29", [f"h{i}" for i in range(6)])
    assert sorted(res.values()) == [f"10.0.0.{i}" for i in range(1, 7)]


def test_exhaustion_with_explicit_addresses() -> None:
    with pytest.raises(IpamError, match="usable addresses"):
        allocate("10.0.0.0/29", [f"h{i}" for i in range(7)], explicit={"h0": "10.0.0.1"})


@pytest.mark.parametrize("cidr", ["10.80.0.1/24", "10.80.0.0/33", "nonsense", ""])
def test_bad_cidr(cidr: str) -> None:
    with pytest.raises(IpamError, match="fedmesh_wireguard_mesh_cidr"):
        allocate(cidr, ["a"])


def test_ipv6() -> None:
    res = allocate("fd42:80::/64", HOSTS)
    assert len(set(res.values())) == len(HOSTS)
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("fd42:80::/64") for a in res.values())
    assert "fd42:80::" not in res.values()


def test_usable_range_edges() -> None:
    assert usable_range(ipaddress.ip_network("10.0.0.0/31")) == (int(ipaddress.ip_address("10.0.0.0")), 2)
    assert usable_range(ipaddress.ip_network("10.0.0.0/24"))[1] == 254
