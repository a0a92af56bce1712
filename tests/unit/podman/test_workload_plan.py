"""podman_kube_workload's plan from a recorded node (fake runner and files): the YAML -> unit path decision,
the GPU run unit on Podman 4.3.1 (rendered, never run: no GPU here), and honest change detection."""
from __future__ import annotations

import json
from typing import Any

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError
from ansible_collections.fedmesh.cluster.plugins.module_utils.podman import workload
from ansible_collections.fedmesh.cluster.plugins.module_utils.podman.node import UserSession

USER = {"name": "fl", "uid": 1000, "gid": 1000, "home": "/home/fl", "shell": "/bin/bash"}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
       "spec": {"containers": [{"name": "http", "image": "localhost/web:1",
                                "ports": [{"containerPort": 8080, "hostPort": 8080}]}]}}


class Node:
    """Files and command answers of one node; records commands."""

    def __init__(self, files: dict[str, str], active: str = "inactive", enabled: str = "disabled",
                 running: bool = False, version: str = "podman version 4.3.1") -> None:
        self.files, self.active, self.enabled, self.running, self.version = files, active, enabled, running, version
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], data: str | None = None) -> tuple[int, str, str]:
        self.calls.append(argv)
        cmd = argv[argv.index("--", 3) + 1:] if argv[0] == "runuser" else argv
        prefixes = ("env", "-C", "/home", "HOME=", "USER=", "XDG_", "DBUS_")
        cmd = cmd[next(i for i, a in enumerate(cmd) if not a.startswith(prefixes)):]
        if cmd[:2] == ["podman", "--version"]:
            return 0, self.version, ""
        if cmd[:3] == ["systemctl", "--user", "show-environment"]:
            return 0, "HOME=/home/fl\n", ""
        if cmd[:3] == ["systemctl", "--user", "show"]:
            return 0, f"ActiveState={self.active}\nUnitFileState={self.enabled}\nLoadState=loaded\nSubState=x\n", ""
        if cmd[:2] == ["podman", "ps"]:
            rows = [{"PodName": "web", "State": "running" if self.running else "exited"}]
            return 0, json.dumps(rows), ""
        raise AssertionError(f"unexpected command {cmd}")


@pytest.fixture
def node(monkeypatch: pytest.MonkeyPatch):
    def make(**kw: Any) -> Node:
        n = Node(**kw)
        monkeypatch.setattr(workload, "lookup_user", lambda name: USER if name == "fl" else None)
        monkeypatch.setattr(workload, "read_text", n.files.get)
        monkeypatch.setattr(workload.os.path, "isdir", lambda path: path == "/home/fl")
        monkeypatch.setattr(workload.KubeWorkloadBackend, "_cdi",
                            lambda self: ["nvidia.com/gpu=0", "nvidia.com/gpu=1", "nvidia.com/gpu=all"])
        return n
    return make


def params(**kw: Any) -> dict[str, Any]:
    return {"name": "web", "user": "fl", "definition": POD, "state": "present", "enabled": True, "restart_sec": 2,
            "timeout_stop_sec": 10, "gpu_path": "auto", "gpus": None, **kw}


def test_a_new_workload_is_written_enabled_and_started(node) -> None:
    n = node(files={})
    backend = workload.KubeWorkloadBackend(params(), n)
    plan = backend.plan(backend.read())
    assert plan.values["path"] == "kube"
    assert plan.values["unit"] == "podman-kube@-home-fl-.config-fedmesh-workloads-web.yaml.service"
    assert any(c.startswith("write /home/fl/.config/fedmesh/workloads/web.yaml") for c in plan.commands)
    assert plan.commands[-2:] == [f"systemctl --user enable {plan.values['unit']}",
                                  f"systemctl --user start {plan.values['unit']}"]
    assert '"hostPort": 8080' in plan.after and plan.before == ""


def test_unchanged_yaml_running_and_enabled_is_ok_with_nothing_to_do(node) -> None:
    first = node(files={})
    backend = workload.KubeWorkloadBackend(params(), first)
    want = backend._desired(backend.read())
    n = node(files=dict(want["files"]), active="active", enabled="enabled", running=True)
    backend = workload.KubeWorkloadBackend(params(), n)
    plan = backend.plan(backend.read())
    assert plan.commands == [] and not plan.changed and plan.values["replaced"] is False


def test_changed_yaml_replaces_through_the_unit(node) -> None:
    backend = workload.KubeWorkloadBackend(params(), node(files={}))
    files = dict(backend._desired(backend.read())["files"])
    edited = json.loads(json.dumps(POD))
    edited["metadata"]["labels"] = {"v": "2"}
    running = node(files=files, active="active", enabled="enabled", running=True)
    backend = workload.KubeWorkloadBackend(params(definition=edited), running)
    plan = backend.plan(backend.read())
    assert plan.values["replaced"] and any("restart" in c and "--replace" in c for c in plan.commands)


def test_an_active_unit_whose_pod_died_is_restarted(node) -> None:
    backend = workload.KubeWorkloadBackend(params(), node(files={}))
    files = dict(backend._desired(backend.read())["files"])
    backend = workload.KubeWorkloadBackend(params(), node(files=files, active="active", enabled="enabled",
                                                          running=False))
    plan = backend.plan(backend.read())
    assert len(plan.commands) == 1 and "not every container of the pod runs" in plan.commands[0]


def test_gpus_on_podman_4_render_a_podman_run_unit(node) -> None:
    gpu = json.loads(json.dumps(POD))
    gpu["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": 2}}
    backend = workload.KubeWorkloadBackend(params(definition=gpu), node(files={}))
    plan = backend.plan(backend.read())
    assert plan.values["path"] == "run" and plan.values["unit"] == "fedmesh-web.service"
    assert plan.values["devices"] == ["nvidia.com/gpu=0", "nvidia.com/gpu=1"]
    unit = plan.want["files"]["/home/fl/.config/systemd/user/fedmesh-web.service"]  # type: ignore[attr-defined]
    assert "--device=nvidia.com/gpu=0 --device=nvidia.com/gpu=1" in unit and "--publish=8080:8080/tcp" in unit


def test_gpus_on_podman_5_4_stay_in_the_kube_yaml(node) -> None:
    gpu = json.loads(json.dumps(POD))
    gpu["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": 1}}
    backend = workload.KubeWorkloadBackend(params(definition=gpu), node(files={}, version="podman version 5.4.0"))
    assert backend.plan(backend.read()).values["path"] == "kube"


@pytest.mark.hostile("podman", "`podman_kube_workload` for a user that does not exist",
                     "error naming `user`, nothing run")
def test_a_missing_user_is_an_error_naming_user(node) -> None:
    n = node(files={})
    with pytest.raises(FedmeshError) as err:
        workload.KubeWorkloadBackend(params(user="ghost"), n).read()
    assert err.value.field == "user" and n.calls == []


def test_user_session_runs_commands_as_the_user_with_its_bus() -> None:
    seen: list[list[str]] = []
    UserSession(lambda argv, data=None: (seen.append(argv), (0, "", ""))[1], USER).systemctl("daemon-reload")
    assert seen[0][:4] == ["runuser", "-u", "fl", "--"]
    assert "XDG_RUNTIME_DIR=/run/user/1000" in seen[0] and seen[0][-3:] == ["systemctl", "--user", "daemon-reload"]


def test_absent_stops_disables_and_removes_the_unit_and_files(node, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = workload.KubeWorkloadBackend(params(), node(files={}))
    files = dict(backend._desired(backend.read())["files"])
    n = node(files=files, active="active", enabled="enabled", running=True)
    monkeypatch.setattr(workload.os.path, "exists", lambda path: path in files)
    backend = workload.KubeWorkloadBackend(params(state="absent", definition=None), n)
    plan = backend.plan(backend.read())
    unit = "podman-kube@-home-fl-.config-fedmesh-workloads-web.yaml.service"
    assert plan.commands[0] == f"systemctl --user disable --now {unit}"
    assert {c for c in plan.commands if c.startswith("remove ")} == {f"remove {f}" for f in files}
    assert plan.after == "" and plan.before.startswith("{")
