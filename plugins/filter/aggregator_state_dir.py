# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: aggregator_state_dir
short_description: Choose the aggregator's state directory (explicit, shared storage, or where it already is)
version_added: 0.2.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Pure computation on the controller, used by the P(fedmesh.cluster.aggregator#role) role while it validates.
  - An explicit C(fedmesh_aggregator_state_dir) wins. Else C(<fedmesh_storage_path>/aggregator) when a storage
    role (GlusterFS or Ceph) published the host's storage path in this run. Else the state dir the deployed
    service already uses, read from its config, so that a run without the storage layer (C(playbooks/fl.yml)
    alone) does not move the state off the shared storage. Else C(/var/lib/fedmesh-aggregator).
positional: storage_path, deployed
options:
  _input:
    description: C(fedmesh_aggregator_state_dir) (empty for automatic).
    type: str
    required: true
  storage_path:
    description: The host's C(fedmesh_storage_path) fact (empty when no storage role ran in this run).
    type: str
    required: true
  deployed:
    description: An C(ansible.builtin.slurp) result of the deployed service's config (skipped or failed when
      there is none).
    type: dict
    required: false
"""

EXAMPLES = r"""
- name: Resolve the state dir
  ansible.builtin.set_fact:
    state: "{{ '' | fedmesh.cluster.aggregator_state_dir(fedmesh_storage_path | default(''), deployed_config) }}"
"""

RETURN = r"""
_value:
  description: C(path) (the state dir) and C(source) (which rule chose it).
  type: dict
"""

from typing import Any

from ansible_collections.fedmesh.cluster.plugins.plugin_utils.storage_paths import aggregator_state_dir


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"aggregator_state_dir": aggregator_state_dir}
