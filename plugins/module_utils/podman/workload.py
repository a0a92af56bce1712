# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Backend of ``podman_kube_workload``: a Pod/Deployment run by the user's systemd.

Files (all owned by the user):  ``~/.config/fedmesh/workloads/NAME.yaml`` (the rendered definition), the unit
(``podman-kube@<escaped path>.service`` + drop-in ``fedmesh.conf``, or ``fedmesh-NAME.service`` on the run
path), and ``~/.config/systemd/user/fedmesh-NAME.hash`` beside it: the hash of the rendered YAML and the
options plus which unit it belongs to.  Same hash, unit enabled and active: nothing is written or restarted.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import json
import os
import re
import time
from typing import Any, Dict, List, Optional

from ..common.errors import FedmeshError
from ..common.result import Plan, Result
from ..common.runner import Runner
from . import kube, units
from .node import UserSession, lookup_user, read_text, remove, write_owned

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")


class KubeWorkloadBackend:
    def __init__(self, params: Dict[str, Any], runner: Runner) -> None:
        self.p = params
        self.runner = runner

    # ------------------------------------------------------------------ read
    def read(self) -> Dict[str, Any]:
        p = self.p
        if not NAME_RE.match(p["name"] or ""):
            raise FedmeshError(f"{p['name']!r} must be a-z, 0-9 and '-' (at most 42)", field="name")
        doc = spec = None
        if p["state"] == "present":
            if p["definition"] is None:
                raise FedmeshError("is required with state=present", field="definition")
            doc = kube.load(p["definition"])
            spec = kube.pod_spec(doc)
        user = lookup_user(p["user"])
        if user is None:
            raise FedmeshError(f"no user {p['user']} on this node", field="user",
                               fix="prepare it with fedmesh.cluster.podman_rootless_user first")
        if not os.path.isdir(user["home"]):
            raise FedmeshError(f"user {p['user']} has no home directory ({user['home']})", field="user",
                               fix="prepare it with fedmesh.cluster.podman_rootless_user")
        session = UserSession(self.runner, user)
        if p["state"] == "present" and session.systemctl("show-environment")[0] != 0:
            raise FedmeshError(f"the systemd user manager of {p['user']} is not running", field="user",
                               fix="enable linger with fedmesh.cluster.podman_rootless_user first")
        snap: Dict[str, Any] = {"user": user, "doc": doc, "spec": spec, "session": session}
        snap["paths"] = self._paths(user["home"])
        rc, out, _err = self.runner(["podman", "--version"])
        snap["version"] = units.parse_version(out) if rc == 0 else (0, 0, 0)
        recorded = read_text(snap["paths"]["hash"])
        try:
            snap["recorded"] = json.loads(recorded) if recorded else None
        except ValueError:
            snap["recorded"] = None
        snap["yaml"] = read_text(snap["paths"]["yaml"])
        snap["gpus_available"] = self._cdi()
        snap["pod_running"] = self._pod_running(session, doc) if doc else None
        return snap

    @staticmethod
    def _pod_running(session: UserSession, doc: Dict[str, Any]) -> bool:
        """Every container of the workload's pod runs (kube play names a Deployment's pod NAME-pod[-N])."""
        name = doc["metadata"]["name"]
        rc, out, _err = session.run(["podman", "ps", "-a", "--pod", "--format", "json"])
        try:
            rows = json.loads(out) if rc == 0 and out.strip() else []
        except ValueError:
            rows = []
        mine = [r for r in rows if str(r.get("PodName", "")) in (name, f"{name}-pod")
                or str(r.get("PodName", "")).startswith(f"{name}-pod-")]
        return bool(mine) and all(r.get("State") == "running" for r in mine)

    def _paths(self, home: str) -> Dict[str, str]:
        name = self.p["name"]
        unitdir = f"{home}/.config/systemd/user"
        yaml_path = f"{home}/.config/fedmesh/workloads/{name}.yaml"
        kube_unit = units.kube_unit(yaml_path)
        return {"yaml": yaml_path, "unitdir": unitdir, "hash": f"{unitdir}/fedmesh-{name}.hash",
                "kube_unit": kube_unit, "dropin": f"{unitdir}/{kube_unit}.d/fedmesh.conf",
                "run_unit": units.run_unit(name), "run_file": f"{unitdir}/{units.run_unit(name)}"}

    def _cdi(self) -> List[str]:
        import glob

        from .host import cdi_devices
        files = [f for g in ("/etc/cdi/*", "/var/run/cdi/*") for f in sorted(glob.glob(g))]
        return cdi_devices([(f, read_text(f) or "") for f in files])

    # ------------------------------------------------------------------ plan
    def _desired(self, snap: Dict[str, Any]) -> Dict[str, Any]:
        p, spec, paths = self.p, snap["spec"], snap["paths"]
        gpus = kube.gpu_count(spec) or (len(p["gpus"]) if p["gpus"] else 0)
        path = units.choose_path(snap["version"], gpus, len(spec["containers"]), p["gpu_path"])
        rendered = kube.render(snap["doc"])
        devices = units.gpu_devices(gpus, p["gpus"], snap["gpus_available"]) if gpus else []
        options = {"path": path, "restart_sec": p["restart_sec"], "timeout_stop_sec": p["timeout_stop_sec"],
                   "devices": devices}
        files = {paths["yaml"]: rendered}
        if path == "kube":
            unit = paths["kube_unit"]
            files[paths["dropin"]] = units.dropin(p["restart_sec"], p["timeout_stop_sec"])
        else:
            unit = paths["run_unit"]
            files[paths["run_file"]] = units.gpu_unit(snap["doc"]["metadata"]["name"], spec, devices,
                                                      p["restart_sec"], p["timeout_stop_sec"])
        digest = units.digest(rendered, options)
        files[paths["hash"]] = json.dumps({"hash": digest, "unit": unit, "path": path}, sort_keys=True) + "\n"
        return {"path": path, "unit": unit, "files": files, "hash": digest, "devices": devices}

    def plan(self, snap: Dict[str, Any]) -> Plan:
        recorded = snap["recorded"] or {}
        old_unit = recorded.get("unit")
        if self.p["state"] == "absent":
            return self._plan_absent(snap, old_unit)
        want = self._desired(snap)
        session = snap["session"]
        state = session.unit_state(want["unit"])
        stale = {path for path, text in want["files"].items() if read_text(path) != text}
        commands: List[str] = []
        if old_unit and old_unit != want["unit"]:
            commands.append(f"systemctl --user disable --now {old_unit}; remove its files")
        commands += [f"write {path}" for path in sorted(stale)]
        if stale:
            commands.append("systemctl --user daemon-reload")
        if self.p["enabled"] and state["enabled"] != "enabled":
            commands.append(f"systemctl --user enable {want['unit']}")
        always = snap["spec"].get("restartPolicy", "Always") == "Always"
        broken = want["path"] == "kube" and state["active"] == "active" and always and not snap["pod_running"]
        if (stale or broken) and state["active"] == "active":
            commands.append(f"systemctl --user restart {want['unit']} (kube play --replace)"
                            + ("" if stale else ": the unit is active but not every container of the pod runs"))
        elif state["active"] != "active":
            commands.append(f"systemctl --user start {want['unit']}")
        values = {"unit": want["unit"], "path": want["path"], "yaml_path": snap["paths"]["yaml"],
                  "hash": want["hash"], "devices": want["devices"], "images": kube.images(snap["spec"]),
                  "podman_version": ".".join(map(str, snap["version"])), "user": self.p["user"],
                  "replaced": bool(stale) and state["active"] == "active", "host_ports": kube.host_ports(snap["spec"])}
        plan = Plan(before=snap["yaml"] or "", after=want["files"][snap["paths"]["yaml"]], commands=commands,
                    values=values)
        plan.want, plan.stale, plan.state, plan.old_unit = want, stale, state, old_unit  # type: ignore[attr-defined]
        plan.broken = broken  # type: ignore[attr-defined]
        plan.snap = snap  # type: ignore[attr-defined]
        return plan

    def _plan_absent(self, snap: Dict[str, Any], old_unit: Optional[str]) -> Plan:
        paths = snap["paths"]
        present = [f for f in (paths["yaml"], paths["hash"], paths["dropin"], paths["run_file"]) if os.path.exists(f)]
        commands = ([f"systemctl --user disable --now {old_unit}"] if old_unit else []) + \
            [f"remove {f}" for f in present] + (["systemctl --user daemon-reload"] if present else [])
        plan = Plan(before=snap["yaml"] or "", after="", commands=commands,
                    values={"unit": old_unit, "user": self.p["user"], "yaml_path": paths["yaml"]})
        plan.snap, plan.present, plan.old_unit = snap, present, old_unit  # type: ignore[attr-defined]
        return plan

    # ------------------------------------------------------------------ apply
    def apply(self, plan: Plan) -> Result:
        snap = plan.snap  # type: ignore[attr-defined]
        session: UserSession = snap["session"]
        done: List[str] = []
        if self.p["state"] == "absent":
            self._remove(session, plan.old_unit, plan.present, done)  # type: ignore[attr-defined]
            return plan.result(commands=done)
        self._check_images(session, kube.images(snap["spec"]))
        want, state = plan.want, plan.state  # type: ignore[attr-defined]
        if plan.old_unit and plan.old_unit != want["unit"]:  # type: ignore[attr-defined]
            old = [f for f in (snap["paths"]["dropin"], snap["paths"]["run_file"]) if os.path.exists(f)]
            self._remove(session, plan.old_unit, old, done)  # type: ignore[attr-defined]
        user = snap["user"]
        for path in sorted(plan.stale):  # type: ignore[attr-defined]
            write_owned(path, want["files"][path], user["uid"], user["gid"])
            done.append(f"write {path}")
        if plan.stale:  # type: ignore[attr-defined]
            self._systemctl(session, done, "daemon-reload")
        if self.p["enabled"] and state["enabled"] != "enabled":
            self._systemctl(session, done, "enable", want["unit"])
        if (plan.stale or plan.broken) and state["active"] == "active":  # type: ignore[attr-defined]
            self._systemctl(session, done, "restart", want["unit"])
        elif state["active"] != "active":
            self._systemctl(session, done, "start", want["unit"])
        self._wait_active(session, want["unit"], done, snap["doc"] if want["path"] == "kube" else None)
        return plan.result(commands=done)

    def _systemctl(self, session: UserSession, done: List[str], *args: str) -> None:
        rc, out, err = session.systemctl(*args)
        cmd = "systemctl --user " + " ".join(args)
        if rc != 0:
            unit = args[-1]
            raise FedmeshError(f"{cmd} failed (rc={rc}): {(err or out).strip()[-300:]}; journal: "
                               f"{self._journal(unit)}", field="definition", changed=True,
                               remains="files written; see the returned commands", commands=done + [cmd])
        done.append(cmd)

    def _journal(self, unit: str) -> str:
        argv = ["journalctl", "--no-pager", "-o", "cat", "-n", "12", f"_SYSTEMD_USER_UNIT={unit}"]
        _rc, out, _err = self.runner(argv)
        return " | ".join(line for line in out.splitlines() if line.strip())[-800:]

    def _wait_active(self, session: UserSession, unit: str, done: List[str], doc: Optional[Dict[str, Any]],
                     timeout: float = 60) -> None:
        """The unit is active and (kube path) every container of the pod runs: podman-kube@'s service container
        keeps the unit active even when kube play could not start the pod."""
        deadline = time.monotonic() + timeout
        while True:
            state = session.unit_state(unit)
            if state["active"] == "active" and (doc is None or self._pod_running(session, doc)):
                return
            if time.monotonic() > deadline or state["active"] == "failed":
                what = "the pod's containers are not all running" if state["active"] == "active" else \
                    f"{unit} is {state['active']} ({state['sub']})"
                raise FedmeshError(f"{what}; journal: {self._journal(unit)}",
                                   field="definition", changed=True, remains="see the returned commands",
                                   commands=done)
            time.sleep(0.5)

    @staticmethod
    def _check_images(session: UserSession, images: List[str]) -> None:
        missing = [i for i in images if session.run(["podman", "image", "exists", i])[0] != 0]
        if missing:
            raise FedmeshError(f"image {', '.join(missing)} is not in {session.user['name']}'s storage (no "
                               "registry is assumed)", field="definition",
                               fix="load it first with fedmesh.cluster.podman_image_archive")

    def _remove(self, session: UserSession, unit: Optional[str], files: List[str], done: List[str]) -> None:
        if unit:
            rc, out, err = session.systemctl("disable", "--now", unit)
            done.append(f"systemctl --user disable --now {unit}")
        for f in files:
            remove(f)
            done.append(f"remove {f}")
            parent = os.path.dirname(f)
            if parent.endswith(".service.d") and not os.listdir(parent):
                os.rmdir(parent)
        if files:
            session.systemctl("daemon-reload")
            done.append("systemctl --user daemon-reload")
