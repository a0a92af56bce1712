"""Kubernetes Pod/Deployment YAML: the supported subset, rendering, and the unit files made from it."""
from __future__ import annotations

import json

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.podman import kube, units

POD = """
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
    - name: http
      image: localhost/web:1
      command: [/usr/bin/python3, -m, http.server, "8080"]
      ports: [{containerPort: 8080, hostPort: 8080}]
      volumeMounts: [{name: www, mountPath: /srv, readOnly: true}]
  volumes:
    - {name: www, hostPath: {path: /home/fl/www}}
"""
GPU_POD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: infer}
spec:
  replicas: 1
  template:
    spec:
      containers:
        - name: model
          image: localhost/infer:2
          args: [--port, "9000"]
          env: [{name: MODEL, value: /models/m.onnx}]
          ports: [{containerPort: 9000, hostPort: 9000}]
          resources: {limits: {nvidia.com/gpu: 2}}
"""


def test_a_pod_renders_to_the_same_bytes_whatever_the_key_order() -> None:
    doc = kube.load(POD)
    kube.pod_spec(doc)
    reordered = json.loads(json.dumps(doc, sort_keys=False))
    reordered = {k: reordered[k] for k in reversed(list(reordered))}
    assert kube.render(doc) == kube.render(reordered)
    assert json.loads(kube.render(doc)) == doc  # JSON: YAML that kube play and kubectl read as is


def test_mapping_and_text_give_the_same_definition() -> None:
    assert kube.load(kube.load(POD)) == kube.load(POD) == kube.load(kube.render(kube.load(POD)))


@pytest.mark.hostile("podman", "`podman_kube_workload` `definition` that is not YAML, or several documents",
                     "error naming `definition`, nothing changed")
@pytest.mark.parametrize("text, words", [("kind: Pod\n  bad: [", "not valid YAML"),
                                         ("a: 1\n---\nb: 2\n", "2 YAML documents"),
                                         ("- just\n- a list\n", "must be a mapping"), ("  ", "mapping or as YAML")])
def test_invalid_yaml_is_an_error_naming_the_definition(text: str, words: str) -> None:
    with pytest.raises(FedmeshError) as err:
        kube.load(text)
    assert err.value.field == "definition" and words in err.value.message


@pytest.mark.parametrize("patch, path", [
    ({"kind": "Service"}, "kind"),
    ({"metadata": {"name": "Web_1"}}, "metadata.name"),
    ({"spec": {"containers": []}}, "spec.containers"),
    ({"spec": {"containers": [{"name": "a"}]}}, "spec.containers[0].image"),
    ({"spec": {"containers": [{"name": "a", "image": "i", "lifecycle": {}}]}}, "spec.containers[0].lifecycle"),
    ({"spec": {"containers": [{"name": "a", "image": "i", "ports": [{"containerPort": 70000}]}]}},
     "spec.containers[0].ports[0].containerPort"),
    ({"spec": {"containers": [{"name": "a", "image": "i", "volumeMounts": [{"name": "x", "mountPath": "/x"}]}]}},
     "spec.containers[0].volumeMounts[0].name"),
    ({"spec": {"containers": [{"name": "a", "image": "i"}], "volumes": [{"name": "s", "secret": {}}]}},
     "spec.volumes[0].secret"),
    ({"spec": {"containers": [{"name": "a", "image": "i"}], "nodeSelector": {}}}, "spec.nodeSelector"),
])
def test_fields_outside_the_subset_are_refused_by_path(patch: dict, path: str) -> None:
    doc = {**kube.load(POD), **patch}
    with pytest.raises(FedmeshError) as err:
        kube.pod_spec(doc)
    assert err.value.field == "definition" and f"definition: {path}" in err.value.message


def test_a_deployment_of_more_than_one_replica_is_refused() -> None:
    doc = kube.load(GPU_POD)
    doc["spec"]["replicas"] = 3
    with pytest.raises(FedmeshError, match="spec.replicas"):
        kube.pod_spec(doc)


def test_gpus_images_and_ports_are_read_from_the_spec() -> None:
    spec = kube.pod_spec(kube.load(GPU_POD))
    assert kube.gpu_count(spec) == 2 and kube.images(spec) == ["localhost/infer:2"] and kube.host_ports(spec) == [9000]


# ------------------------------------------------------------------ units
def test_systemd_escape_matches_systemd_escape() -> None:
    # `systemd-escape /home/fl/.config/fedmesh/workloads/my-web.yaml` on Debian 12 (systemd 252)
    assert units.systemd_escape("/home/fl/.config/fedmesh/workloads/my-web.yaml") == \
        "-home-fl-.config-fedmesh-workloads-my\\x2dweb.yaml"
    assert units.kube_unit("/a/b.yaml") == "podman-kube@-a-b.yaml.service"


def test_the_dropin_restarts_on_failure() -> None:
    text = units.dropin(2, 10)
    assert "Restart=always" in text and "RestartSec=2" in text and "TimeoutStopSec=10" in text


@pytest.mark.parametrize("version, gpus, containers, want", [
    ((4, 3, 1), 0, 2, "kube"), ((4, 3, 1), 1, 1, "run"), ((5, 4, 0), 1, 2, "kube"), ((5, 3, 2), 2, 1, "run")])
def test_the_path_follows_podman_version_and_gpus(version, gpus, containers, want) -> None:
    assert units.choose_path(version, gpus, containers) == want


@pytest.mark.parametrize("version, gpus, containers, requested, field", [
    ((4, 3, 1), 1, 2, "auto", "definition"), ((4, 3, 1), 1, 1, "kube", "gpu_path"), ((4, 1, 0), 0, 1, "auto", None)])
def test_what_this_podman_cannot_express_is_a_clear_error(version, gpus, containers, requested, field) -> None:
    with pytest.raises(FedmeshError) as err:
        units.choose_path(version, gpus, containers, requested)
    assert err.value.field == field


def test_gpu_unit_runs_the_single_container_with_cdi_devices() -> None:
    """The GPU path on Podman 4.x, rendered only (no GPU here): podman run --device nvidia.com/gpu=N."""
    spec = kube.pod_spec(kube.load(GPU_POD))
    devices = units.gpu_devices(2, None, ["nvidia.com/gpu=0", "nvidia.com/gpu=1", "nvidia.com/gpu=all"])
    text = units.gpu_unit("infer", spec, devices, 2, 10)
    start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert "--device=nvidia.com/gpu=0 --device=nvidia.com/gpu=1" in start
    assert "--publish=9000:9000/tcp" in start and "--env=MODEL=/models/m.onnx" in start
    assert start.endswith("localhost/infer:2 --port 9000") and "--name=infer-model" in start
    assert "--cidfile=%t/%n.ctr-id" in start and "Restart=always" in text and "WantedBy=default.target" in text


def test_gpu_devices_asked_for_must_be_in_the_cdi_spec() -> None:
    with pytest.raises(FedmeshError) as err:
        units.gpu_devices(1, ["nvidia.com/gpu=7"], ["nvidia.com/gpu=0"])
    assert err.value.field == "gpus"
    with pytest.raises(FedmeshError, match="asks for 3 GPUs"):
        units.gpu_devices(3, None, ["nvidia.com/gpu=0", "nvidia.com/gpu=all"])


def test_the_hash_changes_with_the_yaml_and_with_the_options() -> None:
    a = units.digest("x", {"restart_sec": 2})
    assert a == units.digest("x", {"restart_sec": 2})
    assert a != units.digest("y", {"restart_sec": 2}) and a != units.digest("x", {"restart_sec": 3})


def test_percent_signs_in_arguments_are_escaped_for_systemd() -> None:
    spec = kube.pod_spec(kube.load(GPU_POD))
    spec["containers"][0]["args"] = ["--fmt", "%d"]
    start = next(line for line in units.gpu_unit("infer", spec, [], 2, 10).splitlines() if "ExecStart=" in line)
    assert "%%d" in start and "%t/%n.ctr-id" in start
