#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_info
short_description: Ceph cluster state - health with its checks, mons and quorum, mgr, OSDs, pools, PGs, filesystems
version_added: 0.2.0
description:
  - Reads C(ceph status), C(health detail), C(quorum_status), C(mgr dump), C(osd dump) and C(fs dump)
    with C(--format json) - the same number of calls whatever the cluster's size, all answered by the mons (so it
    does not block while no mgr is active, as C(ceph pg stat) would).
  - On a node without ceph, or where the cluster does not answer within O(connect_timeout), it returns
    RV(available=false) and the reason instead of failing, so playbooks can run it on fresh nodes.
  - RV(healthy) is true only when health is C(HEALTH_OK) and every PG is C(active+clean) (health turns OK
    before the PGs are clean).
  - O(gather_subset) reads less - a wait on quorum, on the OSDs or on health makes one or two calls a try
    instead of seven.
author:
  - fedmesh.cluster contributors (@fedmesh)
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.INFO_MODULE
  - fedmesh.cluster.ceph
options:
  gather_subset:
    description:
      - What to read. V(all) is everything below; a wait on one thing reads only that thing, for example
        V([mons]) (one C(quorum_status)) while waiting for quorum.
      - V(version) is the local C(ceph --version) only and is always read; with V([version]) alone the cluster
        is not asked at all (RV(available) is then not returned).
      - V(fsid) is the cluster's fsid (the call that tells whether the cluster answers, always made when
        anything beyond V(version) is asked); V(health) gives RV(health), RV(pgs) and RV(healthy) (C(status),
        C(health detail)); V(mons) RV(mons); V(mgr) RV(mgr); V(osds) RV(osds), RV(pools) and RV(flags)
        (C(osd dump)); V(filesystems) RV(filesystems) (C(fs dump), C(osd dump)).
    type: list
    elements: str
    choices: [all, version, fsid, health, mons, mgr, osds, filesystems]
    default: [all]
seealso:
  - module: fedmesh.cluster.ceph_pool
  - module: fedmesh.cluster.ceph_fs
"""

EXAMPLES = r"""
- name: Wait until the three mons are in quorum (one quorum_status a try)
  fedmesh.cluster.ceph_info:
    gather_subset: [mons]
  register: ceph
  until: ceph.available and ceph.mons.quorum | length == 3
  retries: 60
  delay: 1

- name: Wait until the cluster is healthy and every PG active+clean
  fedmesh.cluster.ceph_info:
  register: ceph
  until: ceph.healthy
  retries: 60
  delay: 2

- name: Show what is wrong
  ansible.builtin.debug:
    msg: "{{ ceph.health.checks | dict2items | map(attribute='value.summary') | list }}"
"""

RETURN = r"""
available:
  description: Whether the cluster answered.
  returned: always
  type: bool
reason:
  description: Why the cluster did not answer.
  returned: when RV(available) is false
  type: str
version:
  description: The local ceph's C(version), C(major) and C(release) name (from C(ceph --version)).
  returned: when ceph is installed
  type: dict
  sample: {"version": "16.2.15", "major": 16, "release": "pacific"}
fsid:
  description: Cluster fsid.
  returned: when available
  type: str
health:
  description: C(status) (V(HEALTH_OK), V(HEALTH_WARN), V(HEALTH_ERR)) and C(checks) by code, each with
    C(severity), C(summary), C(count), C(detail) (list of messages) and C(muted).
  returned: when available and its subset is gathered
  type: dict
  sample: {"status": "HEALTH_WARN", "checks": {"OSD_DOWN": {"severity": "HEALTH_WARN", "summary": "1 osds down",
           "count": 1, "detail": ["osd.2 (root=default,host=node3) is down"], "muted": false}}}
healthy:
  description: Health is V(HEALTH_OK) and every PG is active+clean.
  returned: when available and its subset is gathered
  type: bool
mons:
  description: C(mons) (names in the monmap), C(quorum), C(out_of_quorum) and C(leader).
  returned: when available and its subset is gathered
  type: dict
mgr:
  description: C(active) mgr name, C(available) and C(standbys).
  returned: when available and its subset is gathered
  type: dict
osds:
  description: C(total), C(up), C(in), C(down) and C(out) (OSD ids) and C(list) (id, uuid, up, in).
  returned: when available and its subset is gathered
  type: dict
pools:
  description: Pools by name - type, size, min_size, pg_num, pg_autoscale_mode, erasure_profile, applications,
    quotas.
  returned: when available and its subset is gathered
  type: dict
pgs:
  description: C(total), C(states) (state -> count), C(active_clean), C(all_active_clean), C(degraded_objects).
  returned: when available and its subset is gathered
  type: dict
filesystems:
  description: CephFS filesystems by name - metadata_pool, data_pools, max_mds, active and standby MDS counts,
    failed and damaged ranks.
  returned: when available and its subset is gathered
  type: dict
flags:
  description: OSD map flags set (C(noout), ...).
  returned: when available and its subset is gathered
  type: list
  elements: str
gathered:
  description: The subsets read (O(gather_subset) with V(all) spelled out).
  returned: when ceph is installed
  type: list
  elements: str
  sample: ["version", "fsid", "mons"]
calls:
  description: How many ceph calls the module made (constant for a given O(gather_subset)).
  returned: when ceph is installed
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.backend import COMMON_SPEC
from ansible_collections.fedmesh.cluster.plugins.module_utils.ceph.info import InfoBackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner

ARGUMENT_SPEC = dict(
    COMMON_SPEC,
    gather_subset=dict(type="list", elements="str", default=["all"],
                       choices=["all", "version", "fsid", "health", "mons", "mgr", "osds", "filesystems"]),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, InfoBackend(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
