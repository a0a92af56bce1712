#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nvidia_gpu_info
short_description: Facts about NVIDIA GPUs, the driver (loaded and installed), Secure Boot and the CDI spec
version_added: 0.1.0
description:
  - Reads every GPU from C(nvidia-smi --query-gpu=... --format=csv,noheader,nounits) (index, name, UUID, PCI bus
    id, memory total and used, driver and CUDA version, compute capability, MIG, ECC and persistence mode, power
    limit, temperature) and, where MIG is enabled, its MIG devices from C(nvidia-smi -L).
  - When no driver is loaded (or nvidia-smi is missing) the GPUs come from C(lspci -nn) (vendor C(10de)), named
    from their PCI id, so a fresh node still reports its GPUs.
  - Also reports the loaded module version (C(/sys/module/nvidia/version)) against the installed driver package,
    whether nouveau is loaded, whether a reboot is required and why, the Secure Boot state
    (C(mokutil --sb-state)), and whether a CDI spec exists and which devices it lists.
  - Never fails on a node without GPUs (RV(gpus) is empty); fields a GPU cannot report (C([N/A]),
    C([Not Supported])) are null.
author:
  - fedmesh.cluster contributors (@fedmesh)
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.INFO_MODULE
attributes:
  platform:
    description: Target operating systems this module is tested against.
    support: full
    platforms: debian
options:
  cdi_spec_dirs:
    description: Directories searched, in order, for C(nvidia.yaml) or C(nvidia.json).
    type: list
    elements: path
    default: [/etc/cdi, /var/run/cdi]
  sysfs_root:
    description: Where sysfs is mounted (C(module/nvidia/version), C(module/nouveau)); for chroots and tests.
    type: path
    default: /sys
notes:
  - Installed driver packages are read with C(dpkg-query), or with C(rpm -qa) where there is no dpkg (the RHEL
    family, where C(kmod-nvidia-latest-dkms) / C(kmod-nvidia-open-dkms) give the module version; C(held) is always
    false there, the hold is a dnf versionlock). Without either, C(installed_version) in RV(driver) is null.
  - The P(fedmesh.cluster.nvidia#role) role installs and pins the driver, the container toolkit and the CDI spec
    from these facts.
"""

EXAMPLES = r"""
- name: Read the GPUs
  fedmesh.cluster.nvidia_gpu_info:
  register: gpu

- name: Every GPU runs driver branch 535
  ansible.builtin.assert:
    that: gpu.gpus | map(attribute='driver_version') | map('regex_search', '^535[.]') | select | list | length
          == gpu.gpu_count
"""

RETURN = r"""
gpus:
  description: One entry per GPU (empty on a node without NVIDIA GPUs).
  returned: always
  type: list
  elements: dict
  sample: [{"index": 0, "name": "NVIDIA A100-SXM4-80GB", "uuid": "GPU-6a1c5a3e-3f86-c5d1-8d6e-5b8b2c3e7f21",
            "pci_bus_id": "0000:07:00.0", "pci_device_id": "20b2", "memory_total_mib": 81920, "memory_used_mib": 0,
            "driver_version": "535.216.01", "cuda_version": "12.2", "compute_capability": "8.0",
            "mig_mode": "enabled", "ecc_mode": "enabled", "persistence_mode": "enabled", "power_limit_w": 400.0,
            "temperature_c": 31, "mig_devices": [{"index": 0, "profile": "3g.40gb", "uuid": "MIG-..."}],
            "source": "nvidia-smi"}]
  contains:
    source:
      description: V(nvidia-smi), or V(lspci) when no driver answers (then only C(index), C(name),
        C(pci_bus_id), C(pci_device_id) and C(pci_class) are set).
      type: str
    mig_mode:
      description: V(enabled), V(disabled) or null (not supported); C(ecc_mode) and C(persistence_mode) alike.
      type: str
    mig_devices:
      description: MIG devices (C(index), C(profile), C(uuid)) when MIG is enabled.
      type: list
      elements: dict
gpu_count:
  description: Number of GPUs.
  returned: always
  type: int
driver:
  description:
    - C(loaded), C(loaded_version) (the kernel module), C(installed_package), C(installed_version),
      C(installed_branch), C(branch), C(nouveau_loaded), C(smi_available), C(smi_error) (why nvidia-smi did not
      answer), C(cuda_version), C(lspci_available), and C(packages) (installed NVIDIA packages with C(version),
      C(upstream) and C(held)).
  returned: always
  type: dict
secure_boot:
  description: C(state) (V(enabled), V(disabled), V(unsupported), V(unknown)), C(enabled) and the C(raw) answer.
  returned: always
  type: dict
cdi:
  description: C(exists), C(spec_path), C(kind), C(devices) (qualified names such as C(nvidia.com/gpu=0)),
    C(driver_version) (of the libraries the spec mounts) and C(nvidia_ctk) (the tool is installed).
  returned: always
  type: dict
reboot_required:
  description: Whether the installed driver needs a reboot to run (loaded module differs, or nouveau loaded).
  returned: always
  type: bool
kernel_release:
  description: The running kernel (C(uname -r)), for the matching kernel headers DKMS needs.
  returned: always
  type: str
reboot_reasons:
  description: Why a reboot is required.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.nvidia.info import GpuInfo

ARGUMENT_SPEC = dict(
    cdi_spec_dirs=dict(type="list", elements="path", default=["/etc/cdi", "/var/run/cdi"]),
    sysfs_root=dict(type="path", default="/sys"),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, GpuInfo(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
