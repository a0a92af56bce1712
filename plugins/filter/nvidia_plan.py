# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: nvidia_plan
short_description: Decide a node's NVIDIA driver steps - install, pin, hold, reboot, CDI, verification
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Pure computation on the facts of M(fedmesh.cluster.nvidia_gpu_info), used by the P(fedmesh.cluster.nvidia#role)
    role. The decisions live in C(plugins/module_utils/nvidia/decide.py) and are unit-tested.
  - Refuses (C(stop) in the result) to cross driver branches unless allowed, and to install an unsigned module under
    Secure Boot; requires a reboot only when the loaded module differs from the installed one or nouveau is
    loaded, and reboots only when allowed.
options:
  _input:
    description: The registered result of M(fedmesh.cluster.nvidia_gpu_info).
    type: dict
    required: true
  branch:
    description: The requested driver branch, e.g. V(535).
    type: str
    required: true
  pinned_packages:
    description: Packages pinned to the branch (apt preferences) and held when installed.
    type: list
    elements: str
    default: []
  hold_packages:
    description: Packages always held (the ones the role installs).
    type: list
    elements: str
    default: []
  reboot_ok:
    description: Whether the node may be rebooted when the new driver needs it.
    type: bool
    default: false
  allow_branch_change:
    description: Whether a node on another branch may be moved to O(branch).
    type: bool
    default: false
  secure_boot_signing:
    description: Whether a MOK key is configured so DKMS signs the module under Secure Boot.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Decide
  ansible.builtin.set_fact:
    nvidia_plan: "{{ gpu_info | fedmesh.cluster.nvidia_plan(branch='535', pinned_packages=['nvidia-driver']) }}"
"""

RETURN = r"""
_value:
  description:
    - C(has_gpu), C(install), C(stop) (why the role must stop, or null), C(reboot_required), C(reboot),
      C(reboot_reasons), C(messages), C(apt_preferences) and C(unattended_blacklist) (file contents), C(hold),
      C(driver_answers), C(cdi_reasons) (why the CDI spec must be generated), C(verify_problems), C(gpu_count),
      C(branch) and C(installed_branch).
  type: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.fedmesh.cluster.plugins.module_utils.nvidia.decide import node_plan


def nvidia_plan(facts: Any, branch: Any = None, pinned_packages: Any = None, hold_packages: Any = None,
                reboot_ok: bool = False, allow_branch_change: bool = False,
                secure_boot_signing: bool = False) -> dict[str, Any]:
    if not isinstance(facts, dict) or "gpus" not in facts:
        raise AnsibleFilterError("nvidia_plan: the input must be the registered result of nvidia_gpu_info")
    if branch is None or not str(branch).isdigit():
        raise AnsibleFilterError(f"nvidia_plan: branch must be a driver branch number such as 535, not {branch!r}")
    return node_plan(dict(facts), str(branch), list(pinned_packages or []), list(hold_packages or []),
                     reboot_ok=bool(reboot_ok), allow_branch_change=bool(allow_branch_change),
                     secure_boot_signing=bool(secure_boot_signing))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"nvidia_plan": nvidia_plan}
