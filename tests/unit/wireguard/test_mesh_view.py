"""The secret-free view wireguard_mesh_read returns and the plan's apply decision (one call per host on a run
with nothing to change): the desired state the plan builds equals what the read sees after an apply, and every
difference the apply would fix makes the plan list the host (on a fake node: systemd and wg stand-ins)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.fedmesh.cluster.plugins.filter.wg_mesh_layout import wg_mesh_layout
from ansible_collections.fedmesh.cluster.plugins.filter.wg_mesh_plan import wg_mesh_plan
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys, mesh_read
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import view as wgview
from ansible_collections.fedmesh.cluster.plugins.modules import wireguard_mesh_apply, wireguard_mesh_read
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.wireguard_mesh_nodes import mark_apply, node_reads

from .conftest import run_module
from .test_mesh_node_modules import apply_args, node, secrets  # noqa: F401  # pylint: disable=unused-import
from .test_modules import FakeNode


@pytest.fixture
def applied(tmp_path, capsys, node: FakeNode, secrets, monkeypatch) -> dict[str, Any]:  # noqa: F811
    monkeypatch.setattr(mesh_read, "DROPIN_PATH", node.dropin)
    args = apply_args(tmp_path, secrets)
    assert run_module(wireguard_mesh_apply.main, args, capsys)["changed"]
    read_args = {"interface": "wg0", "config_dir": str(tmp_path / "etc"), "key_file": str(tmp_path / "wg0.key"),
                 "psk_dir": secrets["psk_dir"], "implementation": "userspace",
                 "forwarding_file": str(tmp_path / "sysctl.conf")}
    # the plan's entry for this host ("me": it owns the pair with n0, n1 owns the pair with it)
    host = {"interface_address": "10.80.0.1/24", "listen_port": 51820, "peers": args["peers"],
            "psk_create": ["n0"], "psk_copies": ["n1"], "forwarding": True, "ensure_key": False, "psk_missing": []}
    return {"read_args": read_args, "host": host, "secrets": secrets, "args": args}


def decide(capsys, applied: dict[str, Any], host: dict[str, Any] | None = None, n1_key: str | None = None,
           **plan: Any) -> list[str]:
    """The plan's apply reasons for "me" from a fresh read (n1 holds *n1_key*, by default the real pair key)."""
    r = run_module(wireguard_mesh_read.main, applied["read_args"], capsys)
    sec = applied["secrets"]
    n1 = {"key": {"public_key": sec["peers"][1]["public_key"]},
          "preshared_keys": {"me": n1_key or sec["peers"][1]["_psk"]}}
    result = {"hosts": {"me": dict(host or applied["host"])}, "cidr": "10.80.0.0/24"}
    mark_apply(result, node_reads({"me": r, "n1": n1}), {"me": keys.public_key(sec["priv"])}, ["me"],
               psk_dir=sec["psk_dir"], **plan)
    assert result["apply_hosts"] == (["me"] if result["hosts"]["me"]["apply_reasons"] else [])
    return result["hosts"]["me"]["apply_reasons"]


def test_after_an_apply_the_view_matches_and_holds_no_secret(tmp_path, capsys, applied) -> None:
    r = run_module(wireguard_mesh_read.main, applied["read_args"], capsys)
    view = r["view"]
    assert view["local"] == [] and view["forwarding"] == "ipv4" and r["implementation"] == "userspace"
    assert set(view["psk_sha256"]) == {"n0", "n1"} and len(view["config"]["peers"]) == 2
    text = json.dumps(view)
    assert applied["secrets"]["priv"] not in text
    assert all(p["_psk"] not in text for p in applied["secrets"]["peers"])
    assert decide(capsys, applied) == []


@pytest.mark.parametrize(("change", "reason"), [
    ("endpoint", "the interface config differs"),
    ("mtu", "the interface config differs"),
    ("copy", "the copy of the pair key n1 owns differs"),
    ("no_forwarding", "the forwarding drop-in"),
    ("former_peer", "pair-key files of former peers: gone"),
    ("key", "the private key is created or rotated"),
])
def test_a_difference_in_the_plan_lists_the_host(capsys, applied, change: str, reason: str) -> None:
    host = dict(applied["host"])
    n1_key = None
    plan: dict[str, Any] = {}
    if change == "endpoint":
        host["peers"] = [dict(applied["host"]["peers"][0], endpoint="n0:51999"), applied["host"]["peers"][1]]
    elif change == "mtu":
        plan["mtu"] = 1380
    elif change == "copy":
        n1_key = keys.generate_preshared_key()
    elif change == "no_forwarding":
        host["forwarding"] = False
    elif change == "former_peer":
        host["peers"] = host["peers"][:1] + [dict(host["peers"][1], name="gone")]
        host["psk_copies"] = ["n1"]
        Path(applied["secrets"]["psk_dir"], "gone.psk").write_text(keys.generate_preshared_key() + "\n")
    elif change == "key":
        host["ensure_key"] = True
    assert reason in decide(capsys, applied, host, n1_key, **plan)


@pytest.mark.parametrize(("change", "reason"), [
    ("mode", "config mode is not 0600"),
    ("stopped", "wg-quick@wg0 is not active"),
    ("dropin", "the userspace drop-in is missing"),
    ("drift", "the live interface differs from the config (syncconf)"),
    ("psk_dir", "the pair-key directory is missing or not 0700"),
    ("no_config", "no config"),
])
def test_what_the_apply_fixes_on_the_node_lists_the_host(capsys, applied, node: FakeNode,  # noqa: F811
                                                         monkeypatch, change: str, reason: str) -> None:
    if change == "mode":
        os.chmod(node.conf, 0o644)
    elif change == "stopped":
        node.active = False
    elif change == "dropin":
        os.unlink(node.dropin)
    elif change == "drift":
        from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import backend as wgbackend
        live = {"wg0": {"public_key": keys.public_key(applied["secrets"]["priv"]), "listen_port": 51820,
                        "fwmark": None, "peers": []}}
        monkeypatch.setattr(wgbackend.Backend, "dump", lambda self, interface=None: live)
    elif change == "psk_dir":
        os.chmod(applied["secrets"]["psk_dir"], 0o755)
    elif change == "no_config":
        os.unlink(node.conf)
    assert reason in decide(capsys, applied)
    # ... and the apply does change something there
    r = run_module(wireguard_mesh_apply.main, dict(applied["args"], _ansible_check_mode=True), capsys)
    assert r["changed"], change


def test_the_plan_lists_hosts_without_a_read_and_without_nodes() -> None:
    hosts = ["n1", "n2", "n3"]
    pubs = {h: keys.public_key(keys.generate_private_key()) for h in hosts}
    layout = wg_mesh_layout(hosts, {h: {} for h in hosts}, cidr="10.80.0.0/24", psk_dir="/p", play_hosts=hosts)
    legacy = wg_mesh_plan(layout, keys={h: {"public_key": k} for h, k in pubs.items()})
    assert legacy["apply_hosts"] == hosts
    reads = {h: {"key": {"public_key": pubs[h], "ensure": False}, "preshared_keys": {}, "psk_dir_mode": "0700",
                 "view": {"config": None, "local": [], "forwarding": None, "psk_sha256": {}}} for h in hosts}
    plan = wg_mesh_plan(layout, nodes=reads)
    assert plan["apply_hosts"] == hosts  # the owners create the pair keys, nobody has a config yet
    assert "pair keys to create: n2, n3" in plan["hosts"]["n1"]["apply_reasons"]
    assert "the pair key with n1 is not created yet" in plan["hosts"]["n2"]["apply_reasons"]


def test_digest_is_of_the_stripped_key() -> None:
    k = keys.generate_preshared_key()
    assert wgview.psk_digest(k + "\n") == wgview.psk_digest(k) != wgview.psk_digest(keys.generate_preshared_key())
    assert wgview.psk_digest(None) is None and wgview.forwarding_state(None) is None
    assert wgview.forwarding_state(wgview.forwarding_text("ipv6")) == "ipv6"
    assert wgview.forwarding_state("net.ipv4.ip_forward = 1\n") == "other"


def test_layout_says_which_pair_keys_each_host_owns_before_any_key() -> None:
    hosts = ["n1", "n2", "n3", "n4"]
    hv = {h: {} for h in hosts}
    full = wg_mesh_layout(hosts, hv, cidr="10.80.0.0/24", settings={h: {"endpoint": h} for h in hosts})
    assert [full["hosts"][h]["owns"] for h in hosts] == [["n2", "n3", "n4"], ["n3", "n4"], ["n4"], []]
    # n3 and n4 are edges (no endpoint): they peer with the hubs n1 and n2 only, so n3 owns no pair key
    edges = wg_mesh_layout(hosts, hv, cidr="10.80.0.0/24",
                           settings={h: {"endpoint": h if h in ("n1", "n2") else None} for h in hosts})
    assert [edges["hosts"][h]["owns"] for h in hosts] == [["n2", "n3", "n4"], ["n3", "n4"], [], []]
    plan = wg_mesh_plan(full, keys={h: {"public_key": keys.public_key(keys.generate_private_key())} for h in hosts})
    assert plan["hosts"]["n1"]["psk_create"] == full["hosts"]["n1"]["owns"] and "owns" not in plan["hosts"]["n1"]
