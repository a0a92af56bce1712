# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: monitoring_targets
short_description: Prometheus listen addresses and scrape targets from the inventory and the layers that ran
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Pure computation on the controller, used by the P(fedmesh.cluster.monitoring#role) role.
  - The listen address of each node is its C(fedmesh_monitoring_listen_address) host variable, else its WireGuard
    mesh address (fact C(fedmesh_mesh_address); without the mesh role in the run, the address the monitoring role
    read from the interface, C(__fedmesh_monitoring_mesh_address)), else C(127.0.0.1) - which is an error when
    another host would have to scrape it. C(0.0.0.0) and C(::) are refused unless O(allow_any_address=true).
  - Scrape jobs - C(prometheus) and C(alertmanager) on the monitoring hosts, C(node) on every node,
    C(fl_aggregator) from the fact C(fedmesh_aggregator_url) of each aggregator host where the FL layer ran,
    C(ceph) (the mgr C(prometheus) module) on the Ceph manager hosts. The C(instance) label is the inventory name.
positional: hostvars, monitors
options:
  _input:
    description: The nodes (every host that runs node exporter).
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
  monitors:
    description: The monitoring hosts (Prometheus and Alertmanager).
    type: list
    elements: str
    required: true
  aggregators:
    description: Hosts of the aggregator group.
    type: list
    elements: str
    default: []
  ceph_mgrs:
    description: Hosts running a Ceph manager with its C(prometheus) module.
    type: list
    elements: str
    default: []
  ports:
    description: Ports by name - C(node_exporter), C(prometheus), C(alertmanager), C(ceph_mgr).
    type: dict
    default: {node_exporter: 9100, prometheus: 9090, alertmanager: 9093, ceph_mgr: 9283}
  aggregator_ca_file:
    description: CA file on the monitoring host for an HTTPS aggregator.
    type: str
  allow_any_address:
    description: Accept C(0.0.0.0) or C(::) as a listen address.
    type: bool
    default: false
  extra_scrape_configs:
    description:
      - Scrape configs the user adds; only their shape and job names are checked here (a list of dicts, each
        with a C(job_name) that the filter does not generate itself). promtool checks the rest on the node.
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Compute the scrape targets
  ansible.builtin.set_fact:
    targets: "{{ groups['all'] | fedmesh.cluster.monitoring_targets(hostvars, groups['monitoring']) }}"
"""

RETURN = r"""
_value:
  description:
    - "C(errors) - messages, each C(<variable>: <problem>; <fix>; nothing was changed); when there are any the
      other keys are empty."
    - C(addresses) - node to listen address.
    - C(scrape_configs) - Prometheus scrape configs (static targets).
    - C(bind) - node to listen address ready for C(ADDRESS:PORT) (IPv6 in brackets).
    - C(alertmanagers) - C(host:port) of every Alertmanager.
  type: dict
"""

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError, AnsibleUndefinedVariable
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.monitoring import check_extra_jobs, plan_targets

DEFAULT_PORTS = {"node_exporter": 9100, "prometheus": 9090, "alertmanager": 9093, "ceph_mgr": 9283}
_MISSING = object()


def _get(hv: Mapping[str, Any], key: str, host: str) -> Any:
    try:
        value = hv.get(key, _MISSING)
    except AnsibleUndefinedVariable:
        return None
    except Exception as exc:  # a host var whose template fails: say so, never fall back to another address
        raise AnsibleFilterError(f"monitoring_targets: host {host}: {key} cannot be evaluated: {exc}") from None
    if value is _MISSING or value is None or value == "" or type(value).__name__.startswith("AnsibleUndefined"):
        return None
    return value


def monitoring_targets(nodes: Any, hostvars: Any, monitors: list[str], aggregators: list[str] | None = None,
                       ceph_mgrs: list[str] | None = None, ports: dict[str, Any] | None = None,
                       aggregator_ca_file: str | None = None, allow_any_address: bool = False,
                       extra_scrape_configs: Any = None) -> dict[str, Any]:
    nodes = [str(h) for h in (nodes or [])]
    hosts: dict[str, dict[str, Any]] = {}
    for host in nodes:
        try:
            hv = hostvars[host]
        except KeyError:
            raise AnsibleFilterError(f"monitoring_targets: host {host} is not in the inventory") from None
        address = (_get(hv, "fedmesh_monitoring_listen_address", host) or _get(hv, "fedmesh_mesh_address", host)
                   or _get(hv, "__fedmesh_monitoring_mesh_address", host))
        hosts[host] = {"address": address, "aggregator_url": _get(hv, "fedmesh_aggregator_url", host)}
    merged = dict(DEFAULT_PORTS, **(ports or {}))
    extra = check_extra_jobs([] if extra_scrape_configs is None else extra_scrape_configs)
    if extra:
        return {"errors": extra, "addresses": {}, "bind": {}, "scrape_configs": [], "alertmanagers": []}
    return plan_targets(hosts, nodes, list(monitors or []), list(aggregators or []), list(ceph_mgrs or []),
                        {k: int(v) if isinstance(v, str) and v.isdigit() else v for k, v in merged.items()},
                        aggregator_ca_file=aggregator_ca_file or None, allow_any_address=bool(allow_any_address))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"monitoring_targets": monitoring_targets}
