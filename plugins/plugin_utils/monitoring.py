# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-only: Prometheus scrape targets and listen addresses from the inventory and the layers that ran.

Input per host (already read from hostvars by the filter): ``address`` (explicit listen address, else the
mesh address, else None) and ``aggregator_url`` (fact ``fedmesh_aggregator_url`` when the aggregator role ran).
Every problem is returned in ``errors``, each naming the variable, so the role stops before it changes anything.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
VAR = "fedmesh_monitoring_listen_address"
JOB = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_-]*$")


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _bad_address(value: str) -> str | None:
    if value in ("0.0.0.0", "::", "[::]"):
        return "listens on every interface; give one address (the mesh address is the default)"
    if not re.match(r"^[A-Za-z0-9.:_-]+$", value):
        return "is not an address or host name"
    return None


def addresses(hosts: dict[str, dict[str, Any]], nodes: list[str], monitors: list[str],
              allow_any: bool = False) -> tuple[dict[str, str], list[str]]:
    """Listen address of every node; loopback only when each node is its own (single) monitoring host."""
    out: dict[str, str] = {}
    errors: list[str] = []
    for host in nodes:
        value = (hosts.get(host) or {}).get("address")
        if value:
            problem = None if allow_any else _bad_address(str(value))
            if problem:
                errors.append(f"{VAR} (host {host}): {value!r} {problem}; nothing was changed")
            out[host] = str(value)
        else:
            out[host] = LOOPBACK
            if any(m != host for m in monitors):
                errors.append(f"{VAR} (host {host}): no WireGuard mesh address (fact fedmesh_mesh_address) and no "
                              f"{VAR}; the monitoring host cannot reach 127.0.0.1 of another node; run the mesh "
                              f"layer first or set {VAR} for this host; nothing was changed")
    return out, errors


def _static(job: str, targets: list[tuple[str, str]], **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"job_name": job}
    config.update(extra)
    config["static_configs"] = [{"targets": [t], "labels": {"instance": host}} for host, t in targets]
    return config


def aggregator_jobs(hosts: dict[str, dict[str, Any]], aggregators: list[str],
                    ca_file: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    by_scheme: dict[str, list[tuple[str, str]]] = {}
    errors: list[str] = []
    for host in aggregators:
        url = (hosts.get(host) or {}).get("aggregator_url")
        if not url:
            continue  # the FL layer did not run on this host in this run
        parts = urlsplit(str(url))
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.port is None:
            errors.append(f"fedmesh_aggregator_url (host {host}): {url!r} is not http(s)://host:port; "
                          "run the aggregator role again; nothing was changed")
            continue
        by_scheme.setdefault(parts.scheme, []).append((host, _host_port(parts.hostname, parts.port)))
    jobs = []
    for scheme, targets in sorted(by_scheme.items()):
        extra: dict[str, Any] = {"scheme": scheme, "metrics_path": "/metrics"}
        if scheme == "https":
            extra["tls_config"] = {"ca_file": ca_file} if ca_file else {"insecure_skip_verify": False}
        jobs.append(_static("fl_aggregator" if scheme == "http" else "fl_aggregator_tls", targets, **extra))
    return jobs, errors


def plan_targets(hosts: dict[str, dict[str, Any]], nodes: list[str], monitors: list[str], aggregators: list[str],
                 ceph_mgrs: list[str], ports: dict[str, int], aggregator_ca_file: str | None = None,
                 allow_any_address: bool = False) -> dict[str, Any]:
    """Addresses and scrape configs; ``errors`` non-empty means: change nothing."""
    nodes = list(dict.fromkeys(nodes))
    monitors = [m for m in dict.fromkeys(monitors) if m in nodes]
    errors: list[str] = []
    for name in ("node_exporter", "prometheus", "alertmanager", "ceph_mgr"):
        port = ports.get(name)
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            errors.append(f"fedmesh_monitoring_{name}_port: {port!r} is not a TCP port (1-65535); nothing was changed")
    if not monitors:  # no monitoring host in the inventory: the layer does nothing
        return {"errors": errors, "addresses": {}, "bind": {}, "scrape_configs": [], "alertmanagers": []}
    addr, problems = addresses(hosts, nodes, monitors, allow_any=allow_any_address)
    errors += problems
    agg_jobs, problems = aggregator_jobs(hosts, [a for a in aggregators if a in nodes], aggregator_ca_file)
    errors += problems
    if errors:
        return {"errors": errors, "addresses": {}, "bind": {}, "scrape_configs": [], "alertmanagers": []}
    configs = [
        _static("prometheus", [(h, _host_port(addr[h], ports["prometheus"])) for h in monitors]),
        _static("alertmanager", [(h, _host_port(addr[h], ports["alertmanager"])) for h in monitors]),
        _static("node", [(h, _host_port(addr[h], ports["node_exporter"])) for h in nodes]),
        *agg_jobs,
    ]
    mgrs = [h for h in dict.fromkeys(ceph_mgrs) if h in nodes]
    if mgrs:
        configs.append(_static("ceph", [(h, _host_port(addr[h], ports["ceph_mgr"])) for h in mgrs],
                               honor_labels=True))
    return {"errors": [], "addresses": addr, "bind": {h: _host_port(a, 0)[:-2] for h, a in addr.items()},
            "scrape_configs": configs,
            "alertmanagers": [_host_port(addr[h], ports["alertmanager"]) for h in monitors]}


def check_extra_jobs(extra: Any) -> list[str]:
    """Shape of fedmesh_monitoring_extra_scrape_configs (promtool checks the rest before any reload)."""
    if not isinstance(extra, list):
        return ["fedmesh_monitoring_extra_scrape_configs: must be a list of scrape configs; nothing was changed"]
    errors = []
    reserved = {"prometheus", "alertmanager", "node", "fl_aggregator", "fl_aggregator_tls", "ceph"}
    for i, job in enumerate(extra):
        name = job.get("job_name") if isinstance(job, dict) else None
        if not isinstance(name, str) or not JOB.match(name):
            errors.append(f"fedmesh_monitoring_extra_scrape_configs[{i}].job_name: missing or not a job name; "
                          "nothing was changed")
        elif name in reserved:
            errors.append(f"fedmesh_monitoring_extra_scrape_configs[{i}].job_name: {name!r} is a job the role "
                          "generates; choose another name; nothing was changed")
    return errors
