# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: fl_client_files
short_description: The FL client's folders, token file and unit, for fedmesh.cluster.files
version_added: 0.2.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Used by the P(fedmesh.cluster.fl_client#role) role - the config folder (root, V(0755)), the data folder
    (root and the client group, V(0750)), the token file (the client user, V(0600); in C(secret_files) while
    O(secure) is true) and the systemd unit. The role writes them in the same M(fedmesh.cluster.files) call as
    the package (P(fedmesh.cluster.fl_package#role)'s C(fedmesh_fl_package_extra_paths)).
positional: data_dir
options:
  _input:
    description: The config folder.
    type: str
    required: true
  data_dir:
    description: The data folder.
    type: str
    required: true
  user:
    description: The client user and group.
    type: str
    required: true
  token_file:
    description: Path of the token file.
    type: str
    required: true
  token:
    description: The client's bearer token.
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
    description: Put the token in C(secret_files) (never logged or shown); V(false) shows it in the diff.
    type: bool
    required: true
"""

EXAMPLES = r"""
- name: The client's paths
  ansible.builtin.debug:
    msg: "{{ '/etc/fedmesh' | fedmesh.cluster.fl_client_files('/var/lib/fedmesh-fl-client', user='fedmesh-fl',
             token_file='/etc/fedmesh/fl-client.token', token=token,
             unit_file='/etc/systemd/system/fedmesh-fl-client.service', unit=unit, secure=true) }}"
"""

RETURN = r"""
_value:
  description: C(directories), C(files) and C(secret_files), the options of M(fedmesh.cluster.files).
  type: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.fl_files import FlFilesError, client_files


def fl_client_files(config_dir: str, data_dir: str, **kwargs: Any) -> dict[str, list]:
    try:
        return client_files(config_dir=config_dir, data_dir=data_dir, **kwargs)
    except FlFilesError as exc:
        raise AnsibleFilterError(f"fl_client_files: {exc}") from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"fl_client_files": fl_client_files}
