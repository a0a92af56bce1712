#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_config
short_description: Ceph central configuration (ceph config set/rm), compared as Ceph normalises values
version_added: 0.2.0
description:
  - Reads the option's type with C(ceph config help OPTION) (an unknown option is refused, nothing changes)
    and the current value with one C(ceph config dump --format json).
  - Compares the wanted value as Ceph stores it - sizes in bytes (V(1G) is V(1073741824)), floats with six
    decimals, integers without leading zeros, booleans as V(true)/V(false) - so a re-run changes nothing.
  - Refuses values Ceph cannot parse for the type, and values outside the option's min/max (Ceph ignores
    some of those silently, e.g. C(osd_memory_target) below 896M).
  - Works against the monitors only; no C(cephadm shell).
author:
  - fedmesh.cluster contributors (@fedmesh)
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.FULL_SUPPORT
  - fedmesh.cluster.ceph
options:
  who:
    description: Section - V(global), V(mon), V(mgr), V(osd), V(mds), V(client), a daemon such as V(osd.3),
      optionally with a mask (V(osd/host:node1)).
    type: str
    required: true
  option:
    description: Option name (underscore form).
    type: str
    required: true
    aliases: [name]
  value:
    description: Wanted value (required with O(state=present)).
    type: raw
  state:
    description: V(absent) removes the option from the section (C(ceph config rm)).
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Give each OSD 1 GiB
  fedmesh.cluster.ceph_config:
    who: osd
    option: osd_memory_target
    value: 1G
"""

RETURN = r"""
config:
  description: "C({who: {option: value}}) after the run, as Ceph stores it; null when unset."
  returned: always
  type: dict
  sample: {"osd": {"osd_memory_target": "1073741824"}}
commands:
  description: The ceph commands run (in check mode, that would run).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.backend import COMMON_SPEC
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.config import ConfigBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner

ARGUMENT_SPEC = dict(
    COMMON_SPEC,
    who=dict(type="str", required=True),
    option=dict(type="str", required=True, aliases=["name"]),
    value=dict(type="raw"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, ConfigBackend(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
