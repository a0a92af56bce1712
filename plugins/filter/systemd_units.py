# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: systemd_units
short_description: Each unit's boot and run state from one systemctl show
version_added: 0.2.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - "Reads the output of C(systemctl show -p Id -p UnitFileState -p ActiveState U1 U2 ...) (one block per unit,
    in the order asked) into C({unit: {enabled, active, known}}), so a role calls
    C(ansible.builtin.systemd_service) only for the units that do not already start at boot and run."
  - When the blocks do not line up with the units asked, every unit is reported as neither enabled nor active,
    so the role does the work rather than skip it.
positional: units
options:
  _input:
    description: The command's standard output.
    type: str
    required: true
  units:
    description: The units asked, in the same order.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Read the units
  ansible.builtin.command:
    cmd: systemctl show -p Id -p UnitFileState -p ActiveState ceph.target ceph-mon@node1
  register: probe
  check_mode: false
  changed_when: false

- name: Start the mon unless it runs and starts at boot already
  ansible.builtin.systemd_service:
    name: ceph-mon@node1
    state: started
    enabled: true
  vars:
    units: "{{ probe.stdout | fedmesh.cluster.systemd_units(['ceph.target', 'ceph-mon@node1']) }}"
  when: not (units['ceph-mon@node1'].enabled and units['ceph-mon@node1'].active)
"""

RETURN = r"""
_value:
  description: C(enabled) (starts at boot), C(active) (runs now) and C(known) (systemctl answered) per unit.
  type: dict
"""

from typing import Any

from ansible_collections.fedmesh.cluster.plugins.plugin_utils.systemd_units import unit_states


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"systemd_units": unit_states}
