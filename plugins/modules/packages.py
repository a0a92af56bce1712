#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: packages
short_description: Install the OS packages that are missing, reading the installed set once per host
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Ensures every package in O(name) is installed on a Debian node. Only what is missing is installed, in one
    C(apt-get install) run; apt's package lists are refreshed first only then, and only when they are older
    than O(cache_valid_time).
  - The installed set is read with one C(dpkg-query) call and returned as the fact C(fedmesh_packages) (with
    a stamp of C(/var/lib/dpkg/status)) and, for compatibility, as C(packages) in the format of
    M(ansible.builtin.package_facts). Pass C(fedmesh_packages) back in O(cache) and the next call reuses it
    while the stamp matches, so a play reads dpkg once per host however many roles install packages; after
    an install the facts are read again.
  - In check mode it reports what it would install (RV(missing), the commands, the diff) and changes nothing;
    the facts then still describe the node as it is.
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.full_support
options:
  name:
    description: Packages that must be installed (Debian names). Duplicates and empty names are ignored.
    type: list
    elements: str
    required: true
  cache:
    description:
      - The C(fedmesh_packages) fact an earlier call returned (C(ansible_facts.fedmesh_packages)). Used instead
        of reading dpkg when its stamp still matches C(/var/lib/dpkg/status); otherwise dpkg is read again.
    type: dict
  cache_valid_time:
    description: Refresh apt's package lists before installing when they are older than this many seconds.
    type: int
    default: 3600
  install_recommends:
    description: Install the packages' recommended packages too.
    type: bool
    default: false
notes:
  - Only dpkg/apt nodes (Debian) are supported.
seealso:
  - module: ansible.builtin.apt
  - module: ansible.builtin.package_facts
"""

EXAMPLES = r"""
- name: Install the base packages (dpkg is read here ...)
  fedmesh.cluster.packages:
    name: [ca-certificates, iproute2]
    cache: "{{ ansible_facts.fedmesh_packages | default(omit) }}"

- name: Install the role's packages (... and not read again here)
  fedmesh.cluster.packages:
    name: [python3, python3-numpy]
    cache: "{{ ansible_facts.fedmesh_packages | default(omit) }}"
  register: pkgs

- name: Skip a step in check mode when its package would only now be installed
  ansible.builtin.debug:
    msg: numpy is there
  when: "'python3-numpy' not in pkgs.missing"
"""

RETURN = r"""
missing:
  description: The packages of O(name) that were not installed (installed now, or in check mode would be).
  returned: always
  type: list
  elements: str
  sample: [python3-numpy]
read_from_cache:
  description: Whether the installed set came from O(cache) rather than from dpkg.
  returned: always
  type: bool
commands:
  description: The commands run (in check mode, those that would run).
  returned: always
  type: list
  elements: str
  sample: ["apt-get update", "apt-get install -y -q --no-install-recommends -- python3-numpy"]
ansible_facts:
  description: Facts set on the host.
  returned: always
  type: dict
  contains:
    fedmesh_packages:
      description: C(stamp) (of C(/var/lib/dpkg/status)) and C(installed) (name -> C(version), C(arch)); pass it
        back in O(cache).
      type: dict
    packages:
      description: The installed packages in M(ansible.builtin.package_facts) format (name -> list of dicts).
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.packages.dpkg import APT_ENV, Dpkg

ARGUMENT_SPEC = dict(
    name=dict(type="list", elements="str", required=True),
    cache=dict(type="dict"),
    cache_valid_time=dict(type="int", default=3600),
    install_recommends=dict(type="bool", default=False),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, Dpkg(module.params, module_runner(module, environ=APT_ENV)))


if __name__ == "__main__":
    main()
