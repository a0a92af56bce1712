"""The shipped Grafana dashboard and its provisioning (no Grafana runs here: docs/monitoring.md)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import jinja2
import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "monitoring"
DASHBOARD = json.loads((ROLE / "files" / "dashboards" / "fedmesh-overview.json").read_text())
METRIC = re.compile(r"\b(fedmesh_[a-z_]+|up|ALERTS|ceph_[a-z_]+)\b")


def test_dashboard_shape() -> None:
    assert DASHBOARD["uid"] == "fedmesh-overview" and DASHBOARD["schemaVersion"] == 39
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids)) >= 10
    for panel in DASHBOARD["panels"]:
        assert panel["datasource"]["uid"] == "fedmesh-prometheus", panel["title"]
        assert panel["targets"], panel["title"]


def test_dashboard_uses_only_metrics_that_are_exported() -> None:
    collector = (ROLE.parents[1] / "plugins" / "module_utils" / "metrics" / "collect.py").read_text()
    service = (ROLE.parents[1] / "src" / "fedmesh_fl" / "service" / "metrics.py").read_text()
    exported = set(re.findall(r'"(fedmesh_[a-z_]+)"', collector))
    exported |= {f"{n}_total" for n in re.findall(r'Counter\(\s*"(fedmesh_[a-z_]+)"', service)}
    exported |= {f"{n}_bucket" for n in re.findall(r'Histogram\(\s*"(fedmesh_[a-z_]+)"', service)}
    exported |= set(re.findall(r'Gauge\("(fedmesh_[a-z_]+)"', service)) | {"up", "ALERTS"}
    used = {m for p in DASHBOARD["panels"] for t in p["targets"] for m in METRIC.findall(t["expr"])}
    assert used <= exported, f"dashboard queries metrics nobody exports: {used - exported}"


def test_provisioning_points_at_the_dashboard_and_datasource() -> None:
    text = jinja2.Template((ROLE / "templates" / "grafana-datasource.yml.j2").read_text()).render(
        ansible_managed="x", __fedmesh_monitoring_bind="10.99.0.1", fedmesh_monitoring_prometheus_port=9090)
    source = yaml.safe_load(text)["datasources"][0]
    assert source["uid"] == "fedmesh-prometheus" and source["url"] == "http://10.99.0.1:9090"
    provider = (ROLE / "templates" / "grafana-dashboard.yml.j2").read_text()
    assert "path: {{ fedmesh_monitoring_grafana_dashboards_dir }}" in provider
    assert "allowUiUpdates: false" in provider
