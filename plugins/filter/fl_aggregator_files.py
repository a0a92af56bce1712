# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: fl_aggregator_files
short_description: The aggregator's folders, config, URL record and unit, for one fedmesh.cluster.files call
version_added: 0.2.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Used by the P(fedmesh.cluster.aggregator#role) role after the rendered config passed C(--check-config) - the
    config folder (root, V(0755)), the state folder (the service user, V(0750)), the config (root and the
    service group, V(0640); token hashes, so in C(secret_files) while O(secure) is true), C(aggregator.url) and
    the systemd unit.
positional: state_dir
options:
  _input:
    description: The config folder.
    type: str
    required: true
  state_dir:
    description: The state folder.
    type: str
    required: true
  user:
    description: The service user and group.
    type: str
    required: true
  config_file:
    description: Path of the config.
    type: str
    required: true
  config:
    description: The rendered config.
    type: str
    required: true
  url:
    description: The URL clients use (recorded in C(aggregator.url)).
    type: str
    required: true
  unit_file:
    description: Path of the systemd unit.
    type: str
    required: true
  unit:
    description: The rendered unit.
    type: str
    required: true
  secure:
    description: Put the config in C(secret_files) (never logged or shown); V(false) shows it in the diff.
    type: bool
    required: true
"""

EXAMPLES = r"""
- name: The aggregator's paths
  ansible.builtin.debug:
    msg: "{{ '/etc/fedmesh' | fedmesh.cluster.fl_aggregator_files('/var/lib/fedmesh-aggregator', user='fedmesh-agg',
             config_file='/etc/fedmesh/aggregator.json', config=config, url='http://10.80.0.1:8470',
             unit_file='/etc/systemd/system/fedmesh-aggregator.service', unit=unit, secure=true) }}"
"""

RETURN = r"""
_value:
  description: C(directories), C(files) and C(secret_files), the options of M(fedmesh.cluster.files).
  type: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.fl_files import FlFilesError, aggregator_files


def fl_aggregator_files(config_dir: str, state_dir: str, **kwargs: Any) -> dict[str, list]:
    try:
        return aggregator_files(config_dir=config_dir, state_dir=state_dir, **kwargs)
    except FlFilesError as exc:
        raise AnsibleFilterError(f"fl_aggregator_files: {exc}") from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"fl_aggregator_files": fl_aggregator_files}
