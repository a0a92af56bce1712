#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: podman_image_archive
short_description: Load a container image into a rootless user's storage from an archive, idempotent by image ID
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Ensures the image O(name) with ID O(id) (default - the ID the archive holds) is in O(user)'s rootless
    Podman storage. When the user already has it with that ID, nothing is done (C(changed=false)) and the
    archive is not even read; otherwise the archive at O(path) (C(podman save) format, docker-archive or
    oci-archive) is loaded and tagged O(name).
  - Without O(path) the image is pulled by name (where a registry exists).
  - An O(path) that is not an image archive, or holds another image than O(id), is an error naming the field.
  - To copy an archive from the controller only when needed, run this module with C(check_mode=true) first
    (it reads the user's storage and reports C(changed) when the image is missing), copy, then run it. The
    role C(fedmesh.cluster.podman_workloads) does exactly that, with the lookup C(fedmesh.cluster.podman_archive)
    for the ID.
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.full_support
options:
  user:
    description: The rootless user whose storage holds the image.
    type: str
    required: true
  name:
    description: Image reference the image is tagged with, e.g. C(localhost/fedmesh-fl-client:1).
    type: str
    required: true
  path:
    description: Image archive on the node, readable by O(user). Omit to pull O(name) from a registry.
    type: path
  id:
    description: Expected image ID (64 hex digits). Default - the ID in the archive at O(path).
    type: str
  state:
    description: V(absent) removes the image from the user's storage.
    type: str
    choices: [present, absent]
    default: present
notes:
  - containers.podman.podman_load always reports changed (containers.podman#845); this module compares IDs.
seealso:
  - module: fedmesh.cluster.podman_kube_workload
"""

EXAMPLES = r"""
- name: Load the FL client image for user fl
  fedmesh.cluster.podman_image_archive:
    user: fl
    name: localhost/fedmesh-fl-client:latest
    path: /home/fl/.local/share/fedmesh/images/fl-client.tar
"""

RETURN = r"""
id:
  description: The image ID in the user's storage after the run (before it, in check mode).
  returned: always
  type: str
name:
  description: The image reference.
  returned: always
  type: str
user:
  description: The user.
  returned: always
  type: str
loaded:
  description: Whether the image was (or would be) loaded or pulled.
  returned: always
  type: bool
archive:
  description: What the archive holds (C(id), C(tags), C(format)); null when it is not on the node.
  returned: always
  type: dict
commands:
  description: What was (or in check mode would be) done.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.podman.image import ImageArchiveBackend

ARGUMENT_SPEC = dict(
    user=dict(type="str", required=True),
    name=dict(type="str", required=True),
    path=dict(type="path"),
    id=dict(type="str"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, ImageArchiveBackend(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
