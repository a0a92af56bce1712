#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: podman_kube_workload
short_description: Run a Kubernetes Pod or Deployment YAML rootless under the user's systemd
version_added: 0.1.0
author:
  - fedmesh.cluster contributors (@fedmesh)
description:
  - Deploys a workload described as Kubernetes Pod (or single-replica Deployment) YAML for O(user), run by the
    user's systemd through C(podman-kube@.service) (Podman >= 4.2), enabled at boot (with linger) and restarted
    on failure (a drop-in adds C(Restart=always), C(RestartSec), C(TimeoutStopSec)).
  - Honest change detection - the rendered YAML and the options are hashed and the hash is kept beside the
    unit (C(~/.config/systemd/user/fedmesh-NAME.hash)). A changed definition is written and the unit restarted,
    which runs C(kube play --replace); an unchanged one reports ok and restarts nothing. Check mode runs
    nothing and shows the YAML diff.
  - The definition is validated against the supported subset (docs/podman.md) and refused naming the field
    path otherwise, so nothing is silently dropped. The same YAML applies unchanged to a Kubernetes cluster.
  - GPUs (C(resources.limits) C(nvidia.com/gpu)) - Podman >= 5.4 takes them from the kube YAML (path V(kube)).
    On older Podman (Debian 12 has 4.3.1) a user unit C(fedmesh-NAME.service) runs the pod's single container
    with C(podman run --device nvidia.com/gpu=N) (path V(run)); a multi-container pod with GPUs is refused
    there. RV(path) reports which.
  - Every image must already be in the user's storage (see M(fedmesh.cluster.podman_image_archive)); no pull.
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.full_support
options:
  name:
    description: Workload name (a-z, 0-9, '-'); names the files and the run-path unit.
    type: str
    required: true
  user:
    description: The rootless user (prepared by M(fedmesh.cluster.podman_rootless_user), linger enabled).
    type: str
    required: true
  definition:
    description: The Pod or Deployment, as a mapping or as YAML/JSON text (one document).
    type: raw
  state:
    description: V(absent) stops the workload, disables and removes its unit and files.
    type: str
    choices: [present, absent]
    default: present
  enabled:
    description: Start the workload at boot (C(default.target) of the user's systemd).
    type: bool
    default: true
  restart_sec:
    description: C(RestartSec) of the unit.
    type: int
    default: 2
  timeout_stop_sec:
    description: C(TimeoutStopSec) of the unit.
    type: int
    default: 10
  gpu_path:
    description:
      - V(auto) - kube YAML unless the pod asks for GPUs on Podman < 5.4, then V(run).
      - V(kube) forces C(podman-kube@) (an error for GPUs on Podman < 5.4); V(run) forces the C(podman run) unit.
    type: str
    choices: [auto, kube, run]
    default: auto
  gpus:
    description: CDI device names for the run path (default - the first N numbered GPUs of the CDI spec).
    type: list
    elements: str
notes:
  - containers.podman.podman_play runs C(kube play) for real under C(--check) and reports ok whenever the pod
    exists (an edited YAML is not applied); this module exists for that reason, see docs/podman.md.
seealso:
  - module: fedmesh.cluster.podman_rootless_user
  - module: fedmesh.cluster.podman_image_archive
"""

EXAMPLES = r"""
- name: A web server as user fl
  fedmesh.cluster.podman_kube_workload:
    name: web
    user: fl
    definition:
      apiVersion: v1
      kind: Pod
      metadata: {name: web}
      spec:
        containers:
          - name: web
            image: localhost/web:1
            ports: [{containerPort: 8080, hostPort: 8080}]

- name: From a YAML file shipped with the playbook
  fedmesh.cluster.podman_kube_workload:
    name: inference
    user: fl
    definition: "{{ lookup('ansible.builtin.file', 'inference.yaml') }}"
"""

RETURN = r"""
unit:
  description: The user unit that runs the workload.
  returned: always
  type: str
  sample: podman-kube@-home-fl-.config-fedmesh-workloads-web.yaml.service
path:
  description: V(kube) (podman-kube@, kube play) or V(run) (podman run with CDI devices).
  returned: state is present
  type: str
yaml_path:
  description: Where the rendered definition is kept.
  returned: always
  type: str
hash:
  description: SHA-256 of the rendered YAML and the options.
  returned: state is present
  type: str
replaced:
  description: Whether a running workload was (or would be) replaced by a changed definition.
  returned: state is present
  type: bool
devices:
  description: CDI devices of the run path.
  returned: state is present
  type: list
  elements: str
images:
  description: Images the definition uses.
  returned: state is present
  type: list
  elements: str
host_ports:
  description: Host ports the pod publishes.
  returned: state is present
  type: list
  elements: int
podman_version:
  description: Podman version on the node.
  returned: state is present
  type: str
user:
  description: The user.
  returned: always
  type: str
commands:
  description: What was (or in check mode would be) done.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.runner import module_runner
from ansible_collections.fedmesh.cluster.plugins.module_utils.podman.workload import KubeWorkloadBackend

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    user=dict(type="str", required=True),
    definition=dict(type="raw"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    enabled=dict(type="bool", default=True),
    restart_sec=dict(type="int", default=2),
    timeout_stop_sec=dict(type="int", default=10),
    gpu_path=dict(type="str", default="auto", choices=["auto", "kube", "run"]),
    gpus=dict(type="list", elements="str"),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_if=[("state", "present", ("definition",))])
    run_module(module, KubeWorkloadBackend(module.params, module_runner(module)))


if __name__ == "__main__":
    main()
