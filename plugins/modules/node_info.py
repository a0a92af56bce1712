#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: node_info
short_description: Facts a federated-cluster provisioner needs about a node
version_added: 0.1.0
description:
  - Reports the operating system, kernel, cgroup layout, CPU and memory, virtualisation, whether the
    kernel has the WireGuard module (and whether the C(wg) tools and C(wireguard-go) are installed),
    whether C(/dev/net/tun) and C(/dev/fuse) exist, whether systemd is PID 1 and its state, and the GPUs
    that C(lspci) sees.
  - Other roles of this collection use these facts to choose, for example, kernel or userspace WireGuard.
author:
  - fedmesh.cluster contributors (@fedmesh)
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.info_module
options:
  include:
    description:
      - Which sections to collect. V(all) collects every section.
    type: list
    elements: str
    default: [all]
    choices: [all, os, kernel, cgroup, cpu, memory, virtualization, wireguard, devices, systemd, gpus]
notes:
  - GPU detection needs C(lspci) (Debian package C(pciutils)); without it RV(node.gpus) is empty and
    RV(node.gpus_lspci_available) is V(false).
"""

EXAMPLES = r"""
- name: Read node facts
  fedmesh.cluster.node_info:
  register: node

- name: Only what the WireGuard role needs
  fedmesh.cluster.node_info:
    include: [kernel, wireguard, devices]
  register: wg_node

- name: Refuse nodes without TUN when the kernel has no WireGuard module
  ansible.builtin.assert:
    that: wg_node.node.wireguard.kernel_module or wg_node.node.devices.tun
"""

RETURN = r"""
node:
  description: The collected sections (only those asked for in O(include)).
  returned: always
  type: dict
  contains:
    os:
      description: From C(/etc/os-release) (C(id), C(id_like), C(version_id), C(codename), C(pretty_name)).
      type: dict
      sample: {"id": "debian", "version_id": "12", "codename": "bookworm"}
    kernel:
      description: C(name), C(release) and C(machine) from uname.
      type: dict
      sample: {"name": "Linux", "release": "6.1.0-18-amd64", "machine": "x86_64"}
    cgroup:
      description: C(version) (1 or 2) and C(layout) (V(unified), V(hybrid), V(legacy)).
      type: dict
      sample: {"version": 2, "layout": "unified"}
    cpu:
      description: Usable CPU C(count) and C(model).
      type: dict
    memory:
      description: C(total_mb) and C(available_mb).
      type: dict
    virtualization:
      description: C(type) as C(systemd-detect-virt) names it, C(container) and C(guest) booleans.
      type: dict
      sample: {"type": "kvm", "container": false, "guest": true}
    wireguard:
      description:
        - C(kernel_module) (loaded or built in - C(/sys/module/wireguard) - or loadable with
          C(modprobe --dry-run)), C(module_loaded), C(tools) (C(wg) present),
          C(userspace) (C(wireguard-go) present).
        - The same probe decides C(implementation=auto) of M(fedmesh.cluster.wireguard_interface) and the
          packages of the C(fedmesh.cluster.wireguard_mesh) role.
      type: dict
    devices:
      description: Whether C(tun) (C(/dev/net/tun)) and C(fuse) (C(/dev/fuse)) exist.
      type: dict
    systemd:
      description: C(pid1) (systemd is PID 1) and C(state) (C(systemctl is-system-running)).
      type: dict
    gpus:
      description: Display/3D controllers from C(lspci -mm -n) with C(slot), C(vendor_id), C(device_id), C(vendor).
      type: list
      elements: dict
      sample: [{"slot": "00:1e.0", "class": "0302", "vendor_id": "10de", "device_id": "2330", "vendor": "nvidia"}]
    gpus_lspci_available:
      description: Whether C(lspci) could be run.
      type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.node.facts import SECTIONS, NodeInfo

ARGUMENT_SPEC = dict(
    include=dict(type="list", elements="str", default=["all"], choices=["all", *SECTIONS]),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, NodeInfo(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
