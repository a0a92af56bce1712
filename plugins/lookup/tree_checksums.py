# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: tree_checksums
short_description: SHA-1 checksums of the files under a directory on the controller
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Walks each directory given (recursively, on the controller) and returns one dictionary per directory that
    maps each matching file's path, relative to that directory, to its SHA-1 checksum.
  - The checksums are the ones M(ansible.builtin.find) and M(ansible.builtin.stat) return for files on a node
    (C(get_checksum)), so a role can compare a directory it ships with what a node has in one module call
    and copy only when they differ, instead of one round trip per file.
options:
  _terms:
    description: Directories on the controller.
    type: list
    elements: path
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
"""

EXAMPLES = r"""
- name: Compare a shipped directory with the node's copy
  ansible.builtin.set_fact:
    want: "{{ lookup('fedmesh.cluster.tree_checksums', role_path ~ '/files/app', patterns=['*.py']) }}"
"""

RETURN = r"""
_raw:
  description: One dictionary per directory, relative file path to SHA-1 checksum (hex).
  type: list
  elements: dict
"""

from typing import Any

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.fedmesh.cluster.plugins.plugin_utils.tree import tree_checksums


class LookupModule(LookupBase):
    def run(self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any) -> list[dict[str, str]]:
        self.set_options(var_options=variables, direct=kwargs)
        patterns, exclude = self.get_option("patterns"), self.get_option("exclude_dirs")
        try:
            return [tree_checksums(str(term), patterns, exclude) for term in terms]
        except (OSError, ValueError) as exc:
            raise AnsibleLookupError(str(exc)) from None
