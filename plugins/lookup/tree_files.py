# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: tree_files
short_description: A directory tree on the controller as the folders and files of one fedmesh.cluster.files call
version_added: 0.2.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Walks a directory on the controller (recursively) and returns what M(fedmesh.cluster.files) needs to install
    it on a node as O(dest) in one call - C(directories) (O(dest) and every sub-folder, parents first) and
    C(files) (every file whose name matches O(patterns), with its whole content) - where
    M(ansible.builtin.copy) of a directory takes one round trip per file.
  - The module compares each file's content with the node's, so a run that changes nothing writes nothing.
  - Files must be UTF-8 text; a binary file is an error naming it (narrow O(patterns) or copy it).
options:
  _terms:
    description: One directory on the controller.
    type: list
    elements: path
    required: true
  dest:
    description: The absolute path the directory becomes on the node.
    type: str
    required: true
  patterns:
    description: Shell-style patterns a file name must match (any of them).
    type: list
    elements: str
    default: ["*"]
  exclude_dirs:
    description: Directory names not descended into.
    type: list
    elements: str
    default: [__pycache__, .git]
  owner:
    description: Owner of every folder and file.
    type: str
    default: root
  group:
    description: Group of every folder and file.
    type: str
    default: root
  mode:
    description: Mode of every file.
    type: str
    default: "0644"
  directory_mode:
    description: Mode of every folder.
    type: str
    default: "0755"
  diff:
    description: Show the files' content in the diff (V(false) shows only size and hash).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Install a Python package shipped with the role, in one call
  fedmesh.cluster.files: "{{ lookup('fedmesh.cluster.tree_files', role_path ~ '/files/app', dest='/opt/app',
                               patterns=['*.py']) }}"
"""

RETURN = r"""
_raw:
  description: One dictionary per directory with C(directories) and C(files), options of M(fedmesh.cluster.files).
  type: list
  elements: dict
"""

from typing import Any

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.tree import tree_files


class LookupModule(LookupBase):
    def run(self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any) -> list[dict[str, list]]:
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleLookupError(f"tree_files: give one directory, got {len(terms)}")
        opts = {name: self.get_option(name) for name in ("patterns", "exclude_dirs", "owner", "group", "mode",
                                                         "directory_mode", "diff")}
        try:
            return [tree_files(str(terms[0]), str(self.get_option("dest")), **opts)]
        except (OSError, ValueError) as exc:
            raise AnsibleLookupError(str(exc)) from None
