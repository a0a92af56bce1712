# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: fl_package_files
short_description: The fedmesh_fl package and the calling role's paths, for one fedmesh.cluster.files call
version_added: 0.2.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Used by the internal P(fedmesh.cluster.fl_package#role) role - the library folder (root, V(0755)), the
    package's folders and files (lookup C(fedmesh.cluster.tree_files)) and the calling role's own paths, for
    one M(fedmesh.cluster.files) call.
  - A path listed twice with the same settings is kept once; with different settings it is an error naming
    both variables.
positional: lib_dir, extra
options:
  _input:
    description: The package tree, the lookup C(fedmesh.cluster.tree_files)'s result.
    type: dict
    required: true
  lib_dir:
    description: The library folder (the services' PYTHONPATH).
    type: str
    required: true
  extra:
    description: More C(directories), C(files) and C(secret_files) of the calling role.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: The package and the client's paths
  ansible.builtin.debug:
    msg: "{{ lookup('fedmesh.cluster.tree_files', src, dest='/opt/fedmesh/lib/fedmesh_fl')
             | fedmesh.cluster.fl_package_files('/opt/fedmesh/lib', {}) }}"
"""

RETURN = r"""
_value:
  description: C(directories), C(files), C(secret_files) (options of M(fedmesh.cluster.files)) and
    C(package_paths), the package's own paths (a change among them is a changed package).
  type: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.fl_files import FlFilesError, package_files


def fl_package_files(tree: dict[str, list], lib_dir: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        return package_files(tree, lib_dir, extra)
    except FlFilesError as exc:
        raise AnsibleFilterError(f"fl_package_files: {exc}") from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"fl_package_files": fl_package_files}
