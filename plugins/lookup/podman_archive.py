# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: podman_archive
short_description: Image ID and tags of a container image archive on the controller
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Reads the index of each image archive (C(podman save) - docker-archive or oci-archive) on the controller,
    without extracting layers, and returns its image ID and tags.
  - With the ID, M(fedmesh.cluster.podman_image_archive) in check mode tells whether a node already has the
    image, so a role copies the archive only to nodes that lack it.
options:
  _terms:
    description: Archive paths on the controller.
    type: list
    elements: path
    required: true
"""

EXAMPLES = r"""
- name: The image ID of an archive
  ansible.builtin.debug:
    msg: "{{ lookup('fedmesh.cluster.podman_archive', 'images/fl-client.tar').id }}"
"""

RETURN = r"""
_raw:
  description: One dictionary per archive - C(id) (64 hex), C(tags), C(format).
  type: list
  elements: dict
"""

from typing import Any

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.podman.archive import archive_info


class LookupModule(LookupBase):
    def run(self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        self.set_options(var_options=variables, direct=kwargs)
        try:
            return [archive_info(str(term), field="archive") for term in terms]
        except FedmeshError as exc:
            raise AnsibleLookupError(exc.message) from None
