"""Scrape targets and listen addresses from the inventory (filter fedmesh.cluster.monitoring_targets)."""
from __future__ import annotations

import pytest
from ansible_collections.fedmesh.cluster.plugins.filter.monitoring_targets import monitoring_targets

MESH = {"n1": {"fedmesh_mesh_address": "10.99.0.1"}, "n2": {"fedmesh_mesh_address": "10.99.0.2"},
        "n3": {"fedmesh_mesh_address": "10.99.0.3", "fedmesh_aggregator_url": "http://10.99.0.3:8470"}}


def _jobs(plan: dict) -> dict[str, list[tuple[str, str]]]:
    return {c["job_name"]: [(s["labels"]["instance"], s["targets"][0]) for s in c["static_configs"]]
            for c in plan["scrape_configs"]}


def test_targets_on_mesh_addresses_named_by_inventory() -> None:
    plan = monitoring_targets(["n1", "n2", "n3"], MESH, ["n1"], aggregators=["n3"], ceph_mgrs=["n2", "nX"])
    assert plan["errors"] == []
    jobs = _jobs(plan)
    assert jobs["node"] == [("n1", "10.99.0.1:9100"), ("n2", "10.99.0.2:9100"), ("n3", "10.99.0.3:9100")]
    assert jobs["prometheus"] == [("n1", "10.99.0.1:9090")]
    assert jobs["alertmanager"] == [("n1", "10.99.0.1:9093")]
    assert jobs["fl_aggregator"] == [("n3", "10.99.0.3:8470")]
    assert jobs["ceph"] == [("n2", "10.99.0.2:9283")], "Ceph managers outside the nodes are ignored"
    assert plan["alertmanagers"] == ["10.99.0.1:9093"]
    assert plan["bind"] == {"n1": "10.99.0.1", "n2": "10.99.0.2", "n3": "10.99.0.3"}


def test_layers_that_did_not_run_add_no_job() -> None:
    hv = {h: {k: v for k, v in d.items() if k != "fedmesh_aggregator_url"} for h, d in MESH.items()}
    jobs = _jobs(monitoring_targets(["n1", "n2", "n3"], hv, ["n1"], aggregators=["n3"]))
    assert set(jobs) == {"prometheus", "alertmanager", "node"}


def test_https_aggregator_and_ipv6_addresses() -> None:
    hv = {"a": {"fedmesh_mesh_address": "fd00::1", "fedmesh_aggregator_url": "https://[fd00::1]:8443"}}
    plan = monitoring_targets(["a"], hv, ["a"], aggregators=["a"], aggregator_ca_file="/etc/ca.pem")
    agg = next(c for c in plan["scrape_configs"] if c["job_name"] == "fl_aggregator_tls")
    assert agg["scheme"] == "https" and agg["tls_config"] == {"ca_file": "/etc/ca.pem"}
    assert agg["static_configs"][0]["targets"] == ["[fd00::1]:8443"]
    assert plan["bind"] == {"a": "[fd00::1]"}


def test_single_node_without_mesh_uses_loopback() -> None:
    plan = monitoring_targets(["solo"], {"solo": {}}, ["solo"])
    assert plan["errors"] == [] and plan["bind"] == {"solo": "127.0.0.1"}


@pytest.mark.hostile("monitoring", "no mesh and no `fedmesh_monitoring_listen_address` on a multi-node cluster",
                     "error naming `fedmesh_monitoring_listen_address` and the host; nothing changed")
def test_no_mesh_on_several_nodes_is_an_error() -> None:
    plan = monitoring_targets(["n1", "n2"], {"n1": {}, "n2": {}}, ["n1"])
    assert len(plan["errors"]) == 1
    assert plan["errors"][0].startswith("fedmesh_monitoring_listen_address (host n2)")
    assert plan["scrape_configs"] == []


@pytest.mark.hostile("monitoring", "`fedmesh_monitoring_listen_address: 0.0.0.0`",
                     "refused (names the variable) unless `fedmesh_monitoring_allow_any_address`")
def test_every_interface_is_refused_by_default() -> None:
    hv = {"n1": {"fedmesh_monitoring_listen_address": "0.0.0.0"}}
    plan = monitoring_targets(["n1"], hv, ["n1"])
    assert "fedmesh_monitoring_listen_address (host n1): '0.0.0.0' listens on every interface" in plan["errors"][0]
    assert monitoring_targets(["n1"], hv, ["n1"], allow_any_address=True)["errors"] == []


@pytest.mark.hostile("monitoring", "extra scrape config reusing a generated job name, or without `job_name`",
                     "error naming `fedmesh_monitoring_extra_scrape_configs[i].job_name`; nothing changed")
def test_extra_scrape_configs_shape() -> None:
    extra = [{"job_name": "node"}, {"static_configs": []}, {"job_name": "mine"}]
    plan = monitoring_targets(["n1"], MESH, ["n1"], extra_scrape_configs=extra)
    assert [e.split(":", maxsplit=1)[0] for e in plan["errors"]] == [
        "fedmesh_monitoring_extra_scrape_configs[0].job_name", "fedmesh_monitoring_extra_scrape_configs[1].job_name"]
    assert monitoring_targets(["n1"], MESH, ["n1"], extra_scrape_configs="x")["errors"]


def test_bad_ports_groups_and_urls() -> None:
    plan = monitoring_targets(["n1"], MESH, ["n1"], ports={"node_exporter": 70000})
    assert plan["errors"][0].startswith("fedmesh_monitoring_node_exporter_port: 70000")
    assert monitoring_targets(["n1"], MESH, []) == {"errors": [], "addresses": {}, "bind": {},
                                                    "scrape_configs": [], "alertmanagers": []}
    hv = {"n1": {"fedmesh_mesh_address": "10.99.0.1", "fedmesh_aggregator_url": "ftp://x"}}
    assert monitoring_targets(["n1"], hv, ["n1"], aggregators=["n1"])["errors"][0].startswith(
        "fedmesh_aggregator_url (host n1)")
