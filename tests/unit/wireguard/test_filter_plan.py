"""The wg_mesh_layout + wg_mesh_plan filters: how node state and registered key results (real and check-mode)
feed the plan."""
from __future__ import annotations

from typing import Any

from ansible_collections.fedmesh.cluster.plugins.filter.wg_mesh_layout import wg_mesh_layout
from ansible_collections.fedmesh.cluster.plugins.filter.wg_mesh_plan import wg_mesh_plan as _plan
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys

CIDR = "10.80.0.0/24"


def _hostvars(regs: dict) -> dict:
    return {h: {} for h in regs}


def wg_mesh_plan(hosts: list[str], hostvars: dict, cidr: str, current: Any = None, keys: Any = None,
                 **kw: Any) -> dict:
    """Both filters as the role chains them: layout (before any change), then the plan with the keys."""
    return _plan(wg_mesh_layout(hosts, hostvars, cidr=cidr, current=current, **kw), keys=keys)


def _interfaces(current: dict) -> dict:
    """{host: {public_key, address}} as the `interfaces` return of wireguard_info for wg0."""
    return {h: {"wg0": {"config_public_key": c["public_key"],
                        "addresses": [c["address"] + "/24"] if c["address"] else []}} for h, c in current.items()}


def test_check_mode_new_key_gets_a_placeholder_so_peers_see_the_new_node() -> None:
    known = {h: keys.public_key(keys.generate_private_key()) for h in ("n1", "n2")}
    regs = {h: {"changed": False, "public_key": k} for h, k in known.items()}
    regs["n3"] = {"changed": True, "public_key": None}  # what wireguard_key returns in check mode for a new key
    plan = wg_mesh_plan(["n1", "n2", "n3"], _hostvars(regs), cidr=CIDR, keys=regs)
    assert plan["placeholder_keys"] == ["n3"] and plan["pending"] == []
    n3_on_n1 = [p for p in plan["hosts"]["n1"]["peers"] if p["name"] == "n3"]
    assert n3_on_n1 and n3_on_n1[0]["public_key"] == keys.placeholder_public_key("n3")
    assert keys.is_valid_key(keys.placeholder_public_key("n3"))
    assert keys.placeholder_public_key("n3") != keys.placeholder_public_key("n4")
    assert {p["public_key"] for p in plan["hosts"]["n3"]["peers"]} == set(known.values())


def test_real_run_keys_win_and_failed_or_missing_results_leave_the_host_pending() -> None:
    k1 = keys.public_key(keys.generate_private_key())
    regs = {"n1": {"changed": True, "public_key": k1}, "n2": {"changed": True, "failed": True}, "n3": None}
    plan = wg_mesh_plan(["n1", "n2", "n3"], _hostvars(regs), cidr=CIDR, keys=regs)
    assert plan["placeholder_keys"] == [] and plan["pending"] == ["n2", "n3"]
    assert plan["hosts"]["n1"]["peers"] == []


def test_check_mode_rotation_plans_the_changed_key_on_every_peer() -> None:
    old = {h: keys.public_key(keys.generate_private_key()) for h in ("n1", "n2", "n3")}
    current = {h: {"public_key": k, "address": None} for h, k in old.items()}
    regs = {h: {"changed": False, "public_key": k} for h, k in old.items()}
    regs["n2"] = {"changed": True, "regenerated": True, "public_key": None}
    plan = wg_mesh_plan(["n1", "n2", "n3"], _hostvars(regs), cidr=CIDR, current=_interfaces(current), keys=regs,
                        rotate=["n2"], play_hosts=["n1", "n2", "n3"])
    n2_on_n3 = next(p for p in plan["hosts"]["n3"]["peers"] if p["name"] == "n2")
    assert n2_on_n3["public_key"] == keys.placeholder_public_key("n2") != old["n2"]


def test_a_host_that_cannot_be_read_keeps_the_key_and_address_its_peers_have() -> None:
    pubs = {h: keys.public_key(keys.generate_private_key()) for h in ("n1", "n2", "n3")}
    addr = {"n1": "10.80.0.11", "n2": "10.80.0.12", "n3": "10.80.0.13"}

    def read(host: str) -> dict:
        peers = [{"name": o, "public_key": pubs[o], "allowed_ips": [addr[o] + "/32"]} for o in pubs if o != host]
        wg0 = {"config_public_key": pubs[host], "addresses": [addr[host] + "/24"], "peers": peers}
        return {"item": host, "interfaces": {"wg0": wg0}}

    gathered = {"results": [read("n1"), read("n2"), {"item": "n3", "failed": True, "msg": "node went away"}]}
    hv = {h: {} for h in pubs}

    def current() -> dict:  # as the role passes it: each host's `interfaces`, false where it could not be read
        return {r["item"]: r.get("interfaces", False) for r in gathered["results"]}

    plan = wg_mesh_plan(["n1", "n2", "n3"], hv, cidr=CIDR, current=current())
    assert plan["pending"] == [] and plan["hosts"]["n3"]["address"] == "10.80.0.13"
    assert next(p for p in plan["hosts"]["n1"]["peers"] if p["name"] == "n3")["public_key"] == pubs["n3"]
    gathered["results"][2] = {"item": "n3", "unreachable": True}
    gathered["results"][0]["interfaces"]["wg0"]["peers"] = []  # nobody knows n3 -> it is pending, not invented
    gathered["results"][1]["interfaces"]["wg0"]["peers"] = []
    assert wg_mesh_plan(["n1", "n2", "n3"], hv, cidr=CIDR, current=current())["pending"] == ["n3"]
