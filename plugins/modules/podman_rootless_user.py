#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: podman_rootless_user
short_description: Prepare a user to run rootless Podman (packages, subid ranges, linger, storage)
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Installs the packages rootless Podman needs on Debian (podman, crun, uidmap, slirp4netns, fuse-overlayfs,
    dbus-user-session, catatonit) when missing, reading dpkg once.
  - Allocates subordinate UID and GID ranges for the user that overlap no range already in C(/etc/subuid) or
    C(/etc/subgid) (one start for both files where possible), with C(usermod --add-subuids/--add-subgids). A
    range once given is never rewritten.
  - Enables linger and B(waits) until C(user@UID.service) is active and the user's bus in C(/run/user/UID)
    answers, so the next task can use C(systemctl --user) (C(loginctl enable-linger) returns before that).
  - Writes the user's C(~/.config/containers/storage.conf) (a storage driver that works on this host - native
    overlay on kernels >= 5.13 outside containers, fuse-overlayfs where that is missing, else vfs) and
    C(containers.conf) (cgroup manager - systemd on cgroup v2, cgroupfs on v1/hybrid - and the OCI runtime).
  - Returns what it found - ranges, Podman version, storage driver, cgroup version, whether GPUs are usable (a
    CDI spec under C(/etc/cdi) or C(/var/run/cdi) lists devices).
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.full_support
options:
  name:
    description: The user. Must be a regular user (uid >= UID_MIN) with a home directory.
    type: str
    required: true
  create:
    description: Create the user (with a home, a user group and C(/bin/bash)) when missing.
    type: bool
    default: false
  home:
    description: Home directory of a user created by O(create). Default C(/home/NAME).
    type: path
  subid_count:
    description: Size of the subordinate UID/GID range to allocate. Default SUB_UID_COUNT of login.defs (65536).
    type: int
  subid_start:
    description:
      - Start of the ranges to give a user who has none. It must overlap no other user's range in either file.
      - Default - the lowest free block at or above SUB_UID_MIN.
    type: int
  linger:
    description: Enable linger (the user's systemd runs without a login, workloads start at boot).
    type: bool
    default: true
  linger_timeout:
    description: Seconds to wait for the user's systemd instance after enabling linger.
    type: int
    default: 60
  storage_driver:
    description: V(auto) picks what works here (see the description).
    type: str
    choices: [auto, overlay, fuse-overlayfs, vfs]
    default: auto
  cgroup_manager:
    description: V(auto) - systemd on cgroup v2, cgroupfs otherwise (rootless systemd delegation needs v2).
    type: str
    choices: [auto, systemd, cgroupfs]
    default: auto
  runtime:
    description: OCI runtime. V(auto) is crun (runc fails rootless inside nested containers).
    type: str
    choices: [auto, crun, runc]
    default: auto
  install_packages:
    description: Install the rootless packages when missing.
    type: bool
    default: true
  apt_cache_valid_time:
    description: Refresh apt's lists before installing when older than this many seconds.
    type: int
    default: 3600
notes:
  - containers.podman has no module for this - linux-system-roles/podman only checks that ranges exist and
    does not wait for the user manager after enabling linger; see docs/podman.md.
seealso:
  - module: fedmesh.cluster.podman_kube_workload
  - module: fedmesh.cluster.podman_image_archive
"""

EXAMPLES = r"""
- name: Prepare user fl for rootless workloads
  fedmesh.cluster.podman_rootless_user:
    name: fl
    create: true
  register: fl_user

- name: Use the user's systemd right away (linger was waited for)
  ansible.builtin.command: >-
    runuser -u fl -- env XDG_RUNTIME_DIR={{ fl_user.runtime_dir }} systemctl --user is-system-running
  changed_when: false
"""

RETURN = r"""
user:
  description: The user.
  returned: always
  type: str
uid:
  description: The user's UID (null in check mode for a user that would be created).
  returned: always
  type: int
home:
  description: The user's home.
  returned: always
  type: str
subuid:
  description: The user's subordinate UID ranges (after this run).
  returned: always
  type: list
  elements: dict
  sample: [{"start": 100000, "count": 65536, "end": 165535}]
subgid:
  description: The user's subordinate GID ranges (after this run).
  returned: always
  type: list
  elements: dict
podman_version:
  description: Installed Podman version (null in check mode before it is installed).
  returned: always
  type: str
  sample: 4.3.1
storage_driver:
  description: The storage driver written to storage.conf (C(fuse-overlayfs) is overlay with that mount program).
  returned: always
  type: str
  sample: fuse-overlayfs
cgroup_manager:
  description: The cgroup manager written to containers.conf.
  returned: always
  type: str
runtime:
  description: The OCI runtime written to containers.conf.
  returned: always
  type: str
cgroup_version:
  description: The host's cgroup version (1 also for hybrid).
  returned: always
  type: int
gpus:
  description: CDI device names the node's CDI specs list.
  returned: always
  type: list
  elements: str
  sample: ["nvidia.com/gpu=0", "nvidia.com/gpu=all"]
gpus_usable:
  description: Whether a CDI spec lists any device (rootless GPU containers can run).
  returned: always
  type: bool
runtime_dir:
  description: The user's XDG_RUNTIME_DIR.
  returned: always
  type: str
linger:
  description: Whether linger is (or would be) enabled.
  returned: always
  type: bool
commands:
  description: What was (or in check mode would be) done.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.podman.user import RootlessUserBackend

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    create=dict(type="bool", default=False),
    home=dict(type="path"),
    subid_count=dict(type="int"),
    subid_start=dict(type="int"),
    linger=dict(type="bool", default=True),
    linger_timeout=dict(type="int", default=60),
    storage_driver=dict(type="str", default="auto", choices=["auto", "overlay", "fuse-overlayfs", "vfs"]),
    cgroup_manager=dict(type="str", default="auto", choices=["auto", "systemd", "cgroupfs"]),
    runtime=dict(type="str", default="auto", choices=["auto", "crun", "runc"]),
    install_packages=dict(type="bool", default=True),
    apt_cache_valid_time=dict(type="int", default=3600),
)
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, RootlessUserBackend(module.params, module_runner(module, environ=APT_ENV)))


if __name__ == "__main__":
    main()
