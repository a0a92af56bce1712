# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Installed Debian packages, read once per host and installed only when missing.

``read()`` asks dpkg for every installed package in one ``dpkg-query`` call (package_facts builds far more
through python-apt).  The result travels back as the fact ``fedmesh_packages`` with a stamp of
``/var/lib/dpkg/status``; a later call that is handed that fact back (``cache``) reuses it when the stamp
still matches, so one play reads dpkg once per host, however many roles install packages, and a package
installed or removed meanwhile (by anything) is noticed.  ``apply`` refreshes apt's lists only when they are
older than ``cache_valid_time``, installs what is missing in one ``apt-get install`` and reads dpkg again.
"""

# Module utils run on managed nodes with Python 3.8+: keep typing.Optional/List/Dict, not X | None.
# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, List, Optional

from ..common.errors import FedmeshError
from ..common.result import Plan, Result
from ..common.runner import Runner

DPKG_STATUS = "/var/lib/dpkg/status"
# apt's own "last successful update" stamp (APT::Periodic); the lists directory when it is missing.
APT_LISTS = "/var/lib/apt/lists"
APT_STAMPS = ("/var/lib/apt/periodic/update-success-stamp", APT_LISTS)
QUERY = ["dpkg-query", "-W", "-f", "${Package}\\t${Version}\\t${Architecture}\\t${db:Status-Abbrev}\\n"]
# db:Status-Abbrev's second letter: i installed, t/W triggers awaited/pending (installed and usable).
INSTALLED_STATES = ("i", "t", "W")
APT_OPTIONS = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}


def parse_dpkg_query(text: str) -> Dict[str, Dict[str, str]]:
    """``dpkg-query -W -f QUERY`` output -> {name: {version, arch}} of the installed packages."""
    out: Dict[str, Dict[str, str]] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 4 or len(fields[3]) < 2 or fields[3][1] not in INSTALLED_STATES:
            continue
        out[fields[0]] = {"version": fields[1], "arch": fields[2]}
    return out


def package_facts_format(installed: Dict[str, Dict[str, str]]) -> Dict[str, List[Dict[str, str]]]:
    """The same shape ansible.builtin.package_facts gives ``ansible_facts.packages`` (apt manager)."""
    return {name: [{"name": name, "version": p["version"], "arch": p["arch"], "source": "apt"}]
            for name, p in sorted(installed.items())}


def _stamp(stat: Callable[[str], Any], path: str) -> str:
    try:
        st = stat(path)
    except OSError:
        return ""
    return f"{st.st_mtime_ns}:{st.st_size}"


class Dpkg:
    """Backend of fedmesh.cluster.packages (read -> plan -> apply) for dpkg/apt nodes."""

    def __init__(self, params: Dict[str, Any], run: Runner, stat: Callable[[str], Any] = os.stat,
                 clock: Callable[[], float] = time.time, listdir: Callable[[str], List[str]] = os.listdir) -> None:
        self.wanted: List[str] = []
        for name in params.get("name") or []:
            name = str(name).strip()
            if name and name not in self.wanted:
                self.wanted.append(name)
        self.cache: Optional[Dict[str, Any]] = params.get("cache") or None
        self.cache_valid_time = int(params.get("cache_valid_time") or 0)
        self.install_recommends = bool(params.get("install_recommends"))
        self.run = run
        self.stat = stat
        self.clock = clock
        self.listdir = listdir
        self.reads = 0  # dpkg-query calls (tests count them)

    # ---------------------------------------------------------------- read
    def read_dpkg(self) -> Dict[str, Any]:
        stamp = _stamp(self.stat, DPKG_STATUS)
        rc, out, err = self.run(list(QUERY))
        self.reads += 1
        if rc != 0:
            raise FedmeshError(f"dpkg-query failed (rc {rc}): {(err or out).strip()[-400:]}",
                               fix="this module needs a dpkg-based node (Debian)")
        return {"stamp": stamp, "installed": parse_dpkg_query(out)}

    def read(self) -> Dict[str, Any]:
        cache = self.cache
        if (cache and isinstance(cache.get("installed"), dict) and cache.get("stamp")
                and cache["stamp"] == _stamp(self.stat, DPKG_STATUS)):
            return {"stamp": cache["stamp"], "installed": cache["installed"], "from_cache": True}
        state = self.read_dpkg()
        state["from_cache"] = False
        return state

    # ---------------------------------------------------------------- plan
    def lists_age(self) -> Optional[float]:
        """Seconds since apt's lists were last refreshed (None: never, or the lists were cleaned away)."""
        try:
            if not any("_Packages" in name for name in self.listdir(APT_LISTS)):
                return None  # `apt-get clean; rm -rf /var/lib/apt/lists/*` (images): nothing to install from
        except OSError:
            return None
        for path in APT_STAMPS:
            try:
                return max(0.0, self.clock() - self.stat(path).st_mtime)
            except OSError:
                continue
        return None

    def plan(self, current: Dict[str, Any]) -> Plan:
        installed = current["installed"]
        missing = [n for n in self.wanted if n not in installed]
        commands: List[str] = []
        if missing:
            age = self.lists_age()
            if age is None or age > self.cache_valid_time:
                commands.append("apt-get update")
            commands.append(" ".join(self.install_argv(missing)))
        values = {"missing": missing, "read_from_cache": current["from_cache"],
                  "ansible_facts": self.facts(current)}
        return Plan(before={"installed": sorted(n for n in self.wanted if n in installed)},
                    after={"installed": sorted(self.wanted)}, commands=commands, values=values)

    def install_argv(self, names: List[str]) -> List[str]:
        recommends = "--install-recommends" if self.install_recommends else "--no-install-recommends"
        return ["apt-get", "install", "-y", "-q", recommends, *APT_OPTIONS, "--", *names]

    @staticmethod
    def facts(state: Dict[str, Any]) -> Dict[str, Any]:
        return {"fedmesh_packages": {"stamp": state["stamp"], "installed": state["installed"]},
                "packages": package_facts_format(state["installed"])}

    # ---------------------------------------------------------------- apply
    def apply(self, plan: Plan) -> Result:
        missing: List[str] = plan.values["missing"]
        done: List[str] = []
        if plan.commands[0] == "apt-get update":
            rc, out, err = self.run(["apt-get", "update", "-q"])
            done.append("apt-get update")
            if rc != 0:
                raise FedmeshError(f"apt-get update failed (rc {rc}): {(err or out).strip()[-600:]}",
                                   field="name", fix="check the node's apt sources and network",
                                   commands=done)
        rc, out, err = self.run(self.install_argv(missing))
        done.append(plan.commands[-1])
        after = self.read_dpkg()
        still = [n for n in missing if n not in after["installed"]]
        if rc != 0 or still:
            got = [n for n in missing if n in after["installed"]]
            raise FedmeshError(
                f"apt-get install failed (rc {rc}), not installed: {', '.join(still) or 'none'}: "
                f"{(err or out).strip()[-600:]}",
                field="name", fix="check the package names and the node's apt sources",
                changed=bool(got), remains=f"installed before the error: {', '.join(got)}" if got else None,
                commands=done)
        return plan.result(commands=done, values={"ansible_facts": self.facts(after), "read_from_cache": False})
