# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Backend of ``podman_rootless_user``: packages, subid ranges (allocated, never rewritten), linger *waited
for* (``user@UID.service`` active and ``/run/user/UID`` present), the user's storage.conf/containers.conf.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import glob
import os
import re
import time
from typing import Any, Callable, Dict, List, Optional

from ..common.errors import FedmeshError
from ..common.result import Plan, Result
from ..common.runner import Runner
from ..node.facts import cgroup_version, find_binary
from ..packages.dpkg import Dpkg
from . import host, subid
from .node import UserSession, lookup_user, read_text, write_owned
from .units import KUBE_MIN, parse_version

NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
CDI_GLOBS = ("/etc/cdi/*", "/var/run/cdi/*")


def _fuse_usable(user: Optional[Dict[str, Any]]) -> bool:
    """/dev/fuse readable and writable by the user (udev makes it 0666 on Debian; a container may not)."""
    try:
        st = os.stat("/dev/fuse")
    except OSError:
        return False
    return (st.st_mode & 0o006) == 0o006 or (user is not None and st.st_uid == user["uid"])


class RootlessUserBackend:
    def __init__(self, params: Dict[str, Any], runner: Runner, sleep: Callable[[float], None] = time.sleep) -> None:
        self.p = params
        self.runner = runner
        self.sleep = sleep
        self.dpkg = Dpkg({"name": host.PACKAGES if params.get("install_packages", True) else [],
                          "cache_valid_time": params.get("apt_cache_valid_time", 3600)}, runner)

    # ------------------------------------------------------------------ read
    def read(self) -> Dict[str, Any]:
        p = self.p
        if not NAME_RE.match(p["name"] or ""):
            raise FedmeshError(f"{p['name']!r} is not a valid user name", field="name")
        defs = host.login_defs(read_text("/etc/login.defs"))
        user = lookup_user(p["name"])
        if user is None and not p["create"]:
            raise FedmeshError(f"no user {p['name']} on this node", field="name",
                               fix="create it first or set create=true")
        if user is not None:
            if user["uid"] < defs["UID_MIN"]:
                raise FedmeshError(f"{p['name']} is a system account (uid {user['uid']} < UID_MIN "
                                   f"{defs['UID_MIN']}): systemd starts no user manager for it by design here",
                                   field="name", fix="use a regular (login) user for rootless workloads")
            if not user["home"] or not os.path.isdir(user["home"]) or user["home"] == "/nonexistent":
                raise FedmeshError(f"user {p['name']} has no home directory ({user['home']!r}); rootless "
                                   "Podman keeps its storage and configuration there", field="name",
                                   fix="give the user a home (usermod -d DIR -m) or use another user")
        snap: Dict[str, Any] = {"defs": defs, "user": user, "packages": self.dpkg.read()}
        snap["subuid"] = subid.parse(read_text("/etc/subuid") or "", "/etc/subuid")
        snap["subgid"] = subid.parse(read_text("/etc/subgid") or "", "/etc/subgid")
        snap["linger"] = os.path.exists(f"/var/lib/systemd/linger/{p['name']}")
        home = user["home"] if user else (p["home"] or f"/home/{p['name']}")
        snap["home"] = home
        snap["files"] = {path: read_text(path) for path in self._conf_paths(home)}
        snap["podman"] = self._podman_version()
        snap["cgroup"] = cgroup_version(read_text("/proc/self/mounts") or "")
        snap["gpus"] = host.cdi_devices([(f, read_text(f) or "") for g in CDI_GLOBS for f in sorted(glob.glob(g))])
        return snap

    @staticmethod
    def _conf_paths(home: str) -> List[str]:
        return [f"{home}/.config/containers/storage.conf", f"{home}/.config/containers/containers.conf"]

    def _podman_version(self) -> Optional[str]:
        if not find_binary("podman"):
            return None
        rc, out, _err = self.runner(["podman", "--version"])
        return ".".join(map(str, parse_version(out))) if rc == 0 else None

    # ------------------------------------------------------------------ plan
    def _desired_files(self, snap: Dict[str, Any]) -> Dict[str, str]:
        release = os.uname().release
        in_container = os.path.exists("/run/.containerenv") or os.path.exists("/.dockerenv") or \
            "container=" in (read_text("/proc/1/environ") or "").replace("\0", " ")
        fuse = find_binary("fuse-overlayfs") or "/usr/bin/fuse-overlayfs"
        driver = host.storage_driver(self.p["storage_driver"], host.kernel_version(release), in_container,
                                     bool(find_binary("fuse-overlayfs")) or bool(self.p["install_packages"]),
                                     _fuse_usable(snap["user"]))
        manager = host.cgroup_manager(self.p["cgroup_manager"], snap["cgroup"]["version"])
        runtime = self.p["runtime"] if self.p["runtime"] != "auto" else "crun"
        snap["chosen"] = {"storage_driver": driver, "cgroup_manager": manager, "runtime": runtime}
        if driver == "vfs" and self.p["storage_driver"] == "auto":
            snap["warnings"] = ["storage driver vfs (slow, every container copies its image): no native rootless "
                                "overlay here and /dev/fuse is missing or not usable by the user (Debian's udev "
                                "makes it 0666)"]
        storage, containers = self._conf_paths(snap["home"])
        return {storage: host.storage_conf(driver, fuse), containers: host.containers_conf(manager, runtime)}

    def plan(self, snap: Dict[str, Any]) -> Plan:
        p, user = self.p, snap["user"]
        commands: List[str] = []
        if user is None:
            commands.append(f"useradd --create-home --user-group --shell /bin/bash -K SUB_UID_COUNT=0 "
                            f"-K SUB_GID_COUNT=0 --home-dir {snap['home']} {p['name']}")
        pkg_plan = self.dpkg.plan(snap["packages"])
        commands = pkg_plan.commands + commands
        uid = user["uid"] if user else -1
        defs = snap["defs"]
        add = subid.decide(snap["subuid"], snap["subgid"], p["name"], uid, p["subid_count"] or defs["SUB_UID_COUNT"],
                           p["subid_start"], defs["SUB_UID_MIN"], defs["SUB_UID_MAX"])
        for kind, flag in (("subuid", "--add-subuids"), ("subgid", "--add-subgids")):
            if add[kind]:
                start, count = add[kind]  # type: ignore[misc]
                commands.append(f"usermod {flag} {start}-{start + count - 1} {p['name']}")
        if p["linger"] and not snap["linger"]:
            commands.append(f"loginctl enable-linger {p['name']}; wait for user@UID.service and /run/user/UID")
        files = self._desired_files(snap)
        before_files, after_files = [], []
        for path, text in files.items():
            before_files.append(f"# {path}\n{snap['files'].get(path) or '(absent)'}\n")
            after_files.append(f"# {path}\n{text}\n")
            if snap["files"].get(path) != text:
                commands.append(f"write {path}")
        self._version_ok(snap, pkg_plan)
        values = self._values(snap, add)
        plan = Plan(before=self._describe(snap, before_files, {}), after=self._describe(snap, after_files, add),
                    commands=commands, values=values, warnings=snap.get("warnings"))
        plan.pkg_plan, plan.add, plan.files = pkg_plan, add, files  # type: ignore[attr-defined]
        return plan

    @staticmethod
    def _version_ok(snap: Dict[str, Any], pkg_plan: Plan) -> None:
        version = snap["podman"]
        if version is None and not pkg_plan.changed:
            raise FedmeshError("podman is not installed", field="install_packages",
                               fix="set install_packages=true or install podman")
        if version is not None and parse_version(version)[:2] < KUBE_MIN:
            raise FedmeshError(f"Podman {version} is too old (no kube play, no podman-kube@.service)",
                               fix="install Podman 4.2 or later (Debian 12 ships 4.3.1)")

    def _values(self, snap: Dict[str, Any], add: Dict[str, Any]) -> Dict[str, Any]:
        user = snap["user"] or {}
        name, uid = self.p["name"], user.get("uid", -1)
        ranges = {k: subid.owned(snap[k], name, uid) or ([add[k]] if add.get(k) else []) for k in ("subuid", "subgid")}
        return {"user": name, "uid": user.get("uid"), "home": snap["home"],
                "subuid": subid.render_ranges(ranges["subuid"]), "subgid": subid.render_ranges(ranges["subgid"]),
                "podman_version": snap["podman"], "cgroup_version": snap["cgroup"]["version"],
                "runtime_dir": f"/run/user/{uid}" if uid >= 0 else None, "linger": bool(self.p["linger"]),
                "gpus": snap["gpus"], "gpus_usable": bool(snap["gpus"]), **snap["chosen"]}

    @staticmethod
    def _describe(snap: Dict[str, Any], files: List[str], add: Dict[str, Any]) -> str:
        extra = "".join(f"{k}: +{v[0]}-{v[0] + v[1] - 1}\n" for k, v in add.items() if v)
        return extra + "".join(files)

    # ------------------------------------------------------------------ apply
    def _must(self, argv: List[str], done: List[str], field: Optional[str] = None) -> str:
        rc, out, err = self.runner(argv)
        if rc != 0:
            raise FedmeshError(f"{' '.join(argv)} failed (rc={rc}): {(err or out).strip()[-400:]}", field=field,
                               changed=bool(done), remains="done before: " + "; ".join(done) if done else None,
                               commands=done)
        done.append(" ".join(argv))
        return out

    def apply(self, plan: Plan) -> Result:
        p, done = self.p, []  # type: ignore[var-annotated]
        if plan.pkg_plan.changed:  # type: ignore[attr-defined]
            done += self.dpkg.apply(plan.pkg_plan).commands  # type: ignore[attr-defined]
        user = lookup_user(p["name"])
        if user is None:
            home = p["home"] or f"/home/{p['name']}"
            self._must(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", "-K", "SUB_UID_COUNT=0",
                        "-K", "SUB_GID_COUNT=0", "--home-dir", home, p["name"]], done, "name")
            user = lookup_user(p["name"])
            if user is None:
                raise FedmeshError(f"useradd reported success but there is no user {p['name']}", field="name",
                                   changed=True, remains="see the returned commands", commands=done)
        for kind, flag in (("subuid", "--add-subuids"), ("subgid", "--add-subgids")):
            rng = plan.add[kind]  # type: ignore[attr-defined]
            if rng:
                self._must(["usermod", flag, f"{rng[0]}-{rng[0] + rng[1] - 1}", p["name"]], done, "subid_start")
        for path, text in plan.files.items():  # type: ignore[attr-defined]
            if read_text(path) != text:
                write_owned(path, text, user["uid"], user["gid"])
                done.append(f"write {path}")
        if p["linger"]:
            if not os.path.exists(f"/var/lib/systemd/linger/{p['name']}"):
                self._must(["loginctl", "enable-linger", p["name"]], done, "linger")
            self._wait_for_manager(user, done)
        values = {"uid": user["uid"], "runtime_dir": f"/run/user/{user['uid']}",
                  "podman_version": self._podman_version()}
        return plan.result(commands=done, values=values)

    def _wait_for_manager(self, user: Dict[str, Any], done: List[str]) -> None:
        """``loginctl enable-linger`` returns before the user's systemd is up; the next task needs its bus."""
        deadline = time.monotonic() + float(self.p["linger_timeout"])
        unit = f"user@{user['uid']}.service"
        session = UserSession(self.runner, user)
        while True:
            rc, out, _err = self.runner(["systemctl", "is-active", unit])
            ready = out.strip() == "active" and os.path.exists(f"{session.runtime_dir}/bus")
            if ready and session.systemctl("show-environment")[0] == 0:  # the user bus answers
                return
            if time.monotonic() > deadline:
                raise FedmeshError(f"{unit} is {out.strip() or 'not active'} {self.p['linger_timeout']} s after "
                                   "enable-linger", field="linger_timeout", changed=True,
                                   remains="linger is enabled; check systemd-logind and the user's journal",
                                   commands=done)
            self.sleep(0.5)
