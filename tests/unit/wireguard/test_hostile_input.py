"""Hostile or unlucky per-host input: each case broke the mesh (or passed silently) before, with rc=0."""
from __future__ import annotations

import base64
import os

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.fedmesh.cluster.plugins.filter.wg_mesh_layout import wg_mesh_layout
from ansible_collections.fedmesh.cluster.plugins.filter.wg_mesh_plan import wg_mesh_plan
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import config, keys
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.wireguard_mesh import MeshError, plan_mesh

CIDR = "10.80.0.0/24"
HOSTS = ["node1", "node2", "node3"]
P = 2**255 - 19


def pub() -> str:
    return keys.public_key(keys.generate_private_key())


def own(port: int = 51820, **over: object) -> dict:
    """What one host publishes as its own settings (the role's per-host set_fact)."""
    return dict({"address": None, "endpoint": None, "listen_port": port, "hub": False, "state": "present"}, **over)


def settings(**ports: int) -> dict:
    return {h: own(ports.get(h, 51820), endpoint=h) for h in HOSTS}


def interfaces(keys_: dict, addr: dict, port: dict, endpoints: dict) -> dict:
    """The `interfaces` return of wireguard_info on each node of a converged mesh."""
    out = {}
    for h in HOSTS:
        peers = [{"name": o, "public_key": keys_[o], "endpoint": endpoints[o], "allowed_ips": [addr[o] + "/32"]}
                 for o in HOSTS if o != h]
        out[h] = {"wg0": {"config_public_key": keys_[h], "addresses": [addr[h] + "/24"], "listen_port": port[h],
                          "peers": peers, "config": {"peers": peers}}}
    return out


@pytest.fixture
def converged() -> dict:
    k = {h: pub() for h in HOSTS}
    addr = {"node1": "10.80.0.11", "node2": "10.80.0.12", "node3": "10.80.0.13"}
    port = dict.fromkeys(HOSTS, 51820)
    return interfaces(k, addr, port, {h: f"{h}:51820" for h in HOSTS})


# --- 1. one host's listen_port is that host's only -------------------------------------------------------
@pytest.mark.hostile(
    "wireguard",
    "host var `fedmesh_wireguard_mesh_listen_port: 51821` on one host",
    "only that host listens on 51821; every peer's endpoint uses that peer's own port",
)
def test_a_host_var_port_on_one_host_is_that_hosts_endpoint_port_only(converged) -> None:
    layout = wg_mesh_layout(HOSTS, {h: {} for h in HOSTS}, cidr=CIDR, settings=settings(node1=51821),
                            current=converged)
    plan = wg_mesh_plan(layout)
    for me in HOSTS:
        for peer in plan["hosts"][me]["peers"]:
            assert peer["endpoint"] == f"{peer['name']}:{51821 if peer['name'] == 'node1' else 51820}", (me, peer)
    assert plan["hosts"]["node1"]["listen_port"] == 51821 and plan["hosts"]["node2"]["listen_port"] == 51820


def test_hosts_outside_the_play_keep_their_own_or_inventory_port() -> None:
    hv = {"node1": {"fedmesh_wireguard_mesh_listen_port": 51821}, "node2": {}, "node3": {}}
    plan = wg_mesh_plan(wg_mesh_layout(HOSTS, hv, cidr=CIDR))
    assert {h: plan["hosts"][h]["endpoint"] for h in HOSTS} == {
        "node1": "node1:51821", "node2": "node2:51820", "node3": "node3:51820"}


# --- 2. --limit must not half-apply a change others depend on ------------------------------------------------
@pytest.mark.parametrize(("over", "what"), [
    ({"listen_port": 51821}, "node1's endpoint (node1:51820 -> node1:51821)"),
    ({"endpoint": "n1.example.net"}, "node1's endpoint (node1:51820 -> n1.example.net:51820)"),
    ({"address": "10.80.0.99"}, "node1's address (now 10.80.0.99)"),
])
@pytest.mark.hostile(
    "wireguard",
    "a host's port, address or endpoint changed under `--limit` that leaves out hosts depending on it",
    "fails before any change, naming the hosts that must be in the play",
)
def test_limit_refuses_a_change_hosts_outside_the_play_depend_on(converged, over: dict, what: str) -> None:
    s = settings()
    s["node1"].update(over)
    with pytest.raises(AnsibleFilterError) as exc:
        wg_mesh_layout(HOSTS, {h: {} for h in HOSTS}, cidr=CIDR, settings={"node1": s["node1"]}, current=converged,
                       play_hosts=["node1"])
    msg = str(exc.value)
    assert what in msg and "hosts that must be in the play: node2, node3" in msg and "nothing was changed" in msg


def test_limit_refuses_changing_a_host_outside_the_play(converged) -> None:
    hv = {"node1": {}, "node2": {"fedmesh_wireguard_mesh_listen_port": 51900}, "node3": {}}
    with pytest.raises(AnsibleFilterError, match=r"node2's listen port \(51820 -> 51900\).*must be in the play: node2"):
        wg_mesh_layout(HOSTS, hv, cidr=CIDR, settings={"node1": own(endpoint="node1")}, current=converged,
                       play_hosts=["node1"])


def test_limit_without_changes_and_a_full_play_with_changes_pass(converged) -> None:
    wg_mesh_layout(HOSTS, {h: {} for h in HOSTS}, cidr=CIDR, settings={"node2": own(endpoint="node2")},
                   current=converged, play_hosts=["node2"])
    layout = wg_mesh_layout(HOSTS, {h: {} for h in HOSTS}, cidr=CIDR, settings=settings(node1=51821),
                            current=converged, play_hosts=HOSTS)
    assert layout["hosts"]["node1"]["endpoint"] == "node1:51821"


# --- 3. every host's variables are validated identically ---------------------------------------------------------
@pytest.mark.parametrize(("var", "value", "message"), [
    ("listen_port", 0, "host node1: fedmesh_wireguard_mesh_listen_port=0 is out of range 1..65535"),
    ("listen_port", "x", "host node1: fedmesh_wireguard_mesh_listen_port='x' is not an integer"),
    ("hub", "maybe", "host node1: fedmesh_wireguard_mesh_hub='maybe' is not true or false"),
    ("state", "gone", "host node1: fedmesh_wireguard_mesh_state='gone' is not present or absent"),
])
@pytest.mark.hostile(
    "wireguard",
    "`listen_port: 0`, `hub: maybe` or `state: gone` on one host",
    "every host fails with the same message naming host and variable; nothing changed",
)
def test_a_bad_host_var_fails_on_every_host(var: str, value: object, message: str) -> None:
    hv = {"node1": {f"fedmesh_wireguard_mesh_{var}": value}, "node2": {}, "node3": {}}
    # Whichever host evaluates it (the filter has no notion of "this host"), from the inventory or from settings.
    for s in (None, {"node1": dict(own(endpoint="node1"), **{var: value})}):
        with pytest.raises(AnsibleFilterError, match=message.replace("(", r"\(").replace(".", r"\.")):
            wg_mesh_layout(HOSTS, hv, cidr=CIDR, settings=s)


@pytest.mark.hostile(
    "wireguard",
    "a host var template that cannot be evaluated",
    "error naming the host and the variable (never a silent default)",
)
def test_a_host_var_that_cannot_be_evaluated_is_an_error_not_a_default() -> None:
    class Broken(dict):
        def get(self, key: str, default: object = None) -> object:
            if key == "fedmesh_wireguard_mesh_endpoint":
                raise RuntimeError("'undefined_thing' is undefined")
            return super().get(key, default)

    hv = {"node1": Broken(), "node2": {}, "node3": {}}
    with pytest.raises(AnsibleFilterError, match="host node1: fedmesh_wireguard_mesh_endpoint cannot be evaluated"):
        wg_mesh_layout(HOSTS, hv, cidr=CIDR)


# --- 4. low-order Curve25519 points are not public keys -----------------------------------------------------------
LOW_ORDER = {
    "zero": 0, "one": 1, "order8a": 325606250916557431795983626356110631294008115727848805560023387167927233504,
    "order8b": 39382357235489614581723060781553021112529911719440698176882885853963445705823,
    "p-1": P - 1, "p": P, "p+1": P + 1, "one+top-bit": 1 | (1 << 255), "p-1+top-bit": (P - 1) | (1 << 255),
}


def b64(u: int) -> str:
    return base64.b64encode(u.to_bytes(32, "little")).decode()


@pytest.mark.parametrize("name", sorted(LOW_ORDER))
@pytest.mark.hostile(
    "wireguard",
    "a peer public key that is a low-order Curve25519 point (all zeros, 1, order 8, p-1, p, p+1, top bit set)",
    "\"is a low-order Curve25519 point\", in the module and the mesh plan",
)
def test_low_order_points_are_refused(name: str) -> None:
    key = b64(LOW_ORDER[name])
    assert keys.is_low_order_key(key)
    # every such point makes the shared secret all-zero (the reason to refuse it)
    assert keys.x25519_pure(os.urandom(32), base64.b64decode(key)) == bytes(32)
    with pytest.raises(config.ConfigError, match=r"peers\[0\]\.public_key: .* is a low-order Curve25519 point"):
        config.normalize({"addresses": ["10.80.0.1/24"], "peers": [{"public_key": key}]})
    n = {h: {"endpoint": h, "public_key": pub()} for h in HOSTS}
    n["node2"]["public_key"] = key
    with pytest.raises(MeshError, match="host node2: the public key .* is a low-order Curve25519 point"):
        plan_mesh(n, CIDR)


def test_real_keys_are_not_low_order() -> None:
    assert not any(keys.is_low_order_key(pub()) for _i in range(20))


# --- 5. interface names: which rule failed -------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "message"), [
    ("", "the name is empty"),
    ("a-very-long-name0", "has 17 characters, more than 15"),
    ("wg 0", "contains ' '; an interface name may hold only A-Z a-z 0-9 _ = + . -"),
    ("wg/0", "contains '/'"),
    ("..", "is reserved by the kernel"),
    (7, "is not a string"),
])
@pytest.mark.hostile(
    "wireguard",
    "an interface name too long, with a bad character, empty, `.` or `..`",
    "the one rule it breaks, e.g. \"has 17 characters, more than 15\"",
)
def test_interface_name_says_which_rule_failed(name: object, message: str) -> None:
    problem = config.interface_name_problem(name)
    assert problem is not None and message in problem
    with pytest.raises(AnsibleFilterError, match="fedmesh_wireguard_mesh_interface: "):
        wg_mesh_layout(HOSTS, {h: {} for h in HOSTS}, cidr=CIDR, interface=name)  # type: ignore[arg-type]


def test_valid_interface_names() -> None:
    assert all(config.interface_name_problem(n) is None for n in ("wg0", "a", "x" * 15, "mesh_1.=+-"))


# --- 6. a network belongs to one peer ---------------------------------------------------------------------------
@pytest.mark.parametrize(("a", "b", "how"), [
    ("10.80.0.0/24", "10.80.0.7/32", "overlaps"),
    ("10.80.0.7/32", "10.80.0.0/24", "overlaps"),
    ("fd00::/64", "fd00::1/128", "overlaps"),
])
@pytest.mark.hostile(
    "wireguard",
    "`allowed_ips` /24 on one peer and a /32 inside it on another",
    "error naming both peers and networks; nothing changed",
)
def test_overlapping_allowed_ips_on_two_peers_are_refused(a: str, b: str, how: str) -> None:
    peers = [{"name": "alpha", "public_key": pub(), "allowed_ips": [a]},
             {"name": "beta", "public_key": pub(), "allowed_ips": [b]}]
    with pytest.raises(config.ConfigError) as exc:
        config.normalize({"addresses": ["10.80.0.1/24"], "peers": peers})
    msg = str(exc.value)
    assert msg.startswith("peers[1].allowed_ips: ") and "peer beta" in msg and "of peer alpha" in msg and how in msg


def test_disjoint_allowed_ips_and_one_peers_own_overlap_pass() -> None:
    peers = [{"name": "alpha", "public_key": pub(), "allowed_ips": ["10.80.0.0/25"]},
             {"name": "beta", "public_key": pub(), "allowed_ips": ["10.80.0.128/25", "10.80.0.130/32"]}]
    assert len(config.normalize({"addresses": ["10.80.0.1/24"], "peers": peers})["peers"]) == 2


def test_mesh_plans_never_overlap_between_peers() -> None:
    n = {h: {"endpoint": None if h.startswith("e") else h, "public_key": pub(), "hub": h.startswith("h")}
         for h in ("h1", "h2", "h3", "m1", "e1", "e2")}
    plan = plan_mesh(n, CIDR)
    for host in plan["hosts"].values():  # what wireguard_interface is then given must pass its own check
        config.normalize({"addresses": [host["interface_address"]], "peers": host["peers"]})
