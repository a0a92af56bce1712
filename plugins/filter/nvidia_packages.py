# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: nvidia_packages
short_description: Where a node's NVIDIA driver comes from, what its packages are called and how they are held
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Pure computation on the C(os) facts of M(fedmesh.cluster.node_info), used by the P(fedmesh.cluster.nvidia#role)
    role. The decisions live in C(plugins/module_utils/nvidia/distro.py) and are unit-tested.
  - Debian 12 (C(non-free) C(nvidia-driver), or NVIDIA's CUDA repository), Ubuntu 22.04/24.04
    (C(nvidia-driver-NNN[-server][-open]) from C(restricted), or the CUDA repository), RHEL family 8/9 (the CUDA
    repository, the C(nvidia-driver) DNF module stream and versionlock entries).
  - Fails naming the variable (C(fedmesh_nvidia_source), C(fedmesh_nvidia_flavour), C(fedmesh_nvidia_branch)) for
    an unsupported system or a wrong value.
options:
  _input:
    description: The C(os) facts of M(fedmesh.cluster.node_info) (C(id), C(id_like), C(version_id)).
    type: dict
    required: true
  branch:
    description: The driver branch, e.g. V(535).
    type: str
    required: true
  source:
    description: V(distribution) or V(cuda) (NVIDIA's CUDA repository).
    type: str
    default: distribution
  flavour:
    description: V(''), V(open), V(server) or V(server-open) (the last two on Ubuntu only).
    type: str
    default: ''
  kernel_release:
    description: The running kernel (C(uname -r)), for the headers package DKMS builds against.
    type: str
  packages:
    description: Operator's override of the packages to install (null keeps the planned ones).
    type: list
    elements: str
  pinned_packages:
    description: Operator's override of the packages pinned and held (null keeps the planned ones).
    type: list
    elements: str
  repositories:
    description: Operator's override of the apt source lines (null keeps the planned ones).
    type: list
    elements: str
  keys:
    description: Operator's override of the signing keys (C(url), C(dest)) to download (null keeps the planned ones).
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Plan the driver's packages
  ansible.builtin.set_fact:
    nvidia_source: "{{ node.node.os | fedmesh.cluster.nvidia_packages(branch='535', flavour='server') }}"
"""

RETURN = r"""
_value:
  description:
    - C(family) (debian, ubuntu, redhat), C(packages), C(pinned), C(hold_method) (apt-mark or dnf-versionlock),
      C(repositories) and C(apt_keys) (apt), C(repo_file), C(repo_path), C(module_stream) and C(versionlock) (RHEL),
      C(headers), C(initramfs) (argv), C(dkms_signing) (framework.conf.d or framework.conf) and C(tested).
  type: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.nvidia.distro import driver_source


def nvidia_packages(os_facts: Any, branch: Any = None, source: Any = "distribution", flavour: Any = "",
                    kernel_release: Any = None, packages: Any = None, pinned_packages: Any = None,
                    repositories: Any = None, keys: Any = None) -> dict[str, Any]:
    if not isinstance(os_facts, dict) or "id" not in os_facts:
        raise AnsibleFilterError("nvidia_packages: the input must be the os facts of node_info")
    try:
        out = driver_source(dict(os_facts), str(branch), str(source or "distribution"), str(flavour or ""),
                            kernel_release=str(kernel_release) if kernel_release else None)
    except FedmeshError as exc:
        raise AnsibleFilterError(exc.message) from exc
    overrides = {"packages": packages, "pinned": pinned_packages, "repositories": repositories, "apt_keys": keys}
    out.update({k: list(v) for k, v in overrides.items() if v is not None})
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"nvidia_packages": nvidia_packages}
