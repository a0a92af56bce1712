# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs ``ceph`` on the node through the Runner: ``--format json`` reads, changing commands, errors.

Secrets go on stdin (``data``) or in keyring files named by path, never in ``argv``.  Every call is
logged (as text, without stdin) so modules can return the commands they ran.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError

from .parse import CephError, loads, parse_osd_dump, parse_version

# Options every ceph module takes (documented by the fedmesh.cluster.ceph doc fragment).
COMMON_SPEC: Dict[str, dict] = dict(
    cluster=dict(type="str", default="ceph"),
    conf=dict(type="path"),
    user=dict(type="str", default="client.admin"),
    keyring=dict(type="path"),
    connect_timeout=dict(type="int", default=20),
)
ENOENT = 2


class Ceph:
    def __init__(self, run: Callable[..., tuple], params: Optional[Dict[str, Any]] = None) -> None:
        p = dict(COMMON_SPEC_DEFAULTS)
        p.update({k: v for k, v in (params or {}).items() if k in COMMON_SPEC and v is not None})
        self.run = run
        self.base = ["ceph", "--cluster", p["cluster"], "--name", p["user"],
                     "--connect-timeout", str(p["connect_timeout"])]
        if p.get("conf"):
            self.base += ["--conf", p["conf"]]
        if p.get("keyring"):
            self.base += ["--keyring", p["keyring"]]
        self.cluster: str = str(p["cluster"])
        self.calls: List[str] = []
        self.applied: List[str] = []

    # ---------------------------------------------------------------- commands
    def call(self, args: List[str], data: Optional[str] = None, ok_rc: tuple = (0,)) -> tuple:
        argv = self.base + list(args)
        command = "ceph " + " ".join(args)
        self.calls.append(command)
        try:
            rc, out, err = self.run(argv, data=data) if data is not None else self.run(argv)
        except OSError as exc:
            raise CephError(f"cannot run ceph: {exc}", command=command) from None
        if rc not in ok_rc:
            raise CephError((err or out or f"exit code {rc}").strip(), command=command, rc=rc)
        return rc, out, err

    def json(self, args: List[str]) -> Any:
        out = self.call(list(args) + ["--format", "json"])[1]
        return loads(out, command="ceph " + " ".join(args))

    def json_or_none(self, args: List[str]) -> Any:
        """JSON, or None when ceph says the object does not exist (ENOENT)."""
        rc, out = self.call(list(args) + ["--format", "json"], ok_rc=(0, ENOENT))[:2]
        return None if rc == ENOENT else loads(out, command="ceph " + " ".join(args))

    def change(self, args: List[str], data: Optional[str] = None) -> str:
        out = self.call(args, data=data)[1]
        self.applied.append("ceph " + " ".join(args))
        return out

    # ---------------------------------------------------------------- reads
    def fsid(self) -> str:
        """The cluster's fsid: the cheapest call that proves the cluster answers (``CephError.reason`` says why
        not: no ceph, no config, no quorum within the timeout)."""
        return self.call(["fsid"])[1].strip()

    def osd_dump(self) -> dict:
        return parse_osd_dump(self.json(["osd", "dump"]))

    def version(self) -> dict:
        rc, out, err = self.run(["ceph", "--version"])
        return parse_version(out or err)


COMMON_SPEC_DEFAULTS = {k: v.get("default") for k, v in COMMON_SPEC.items()}


def unreachable(reason: str) -> FedmeshError:
    return FedmeshError(f"the Ceph cluster does not answer ({reason})",
                        fix="bootstrap it first (role fedmesh.cluster.ceph) or give conf/user/keyring of a "
                            "cluster that runs")


def failed(exc: CephError, field: Optional[str], ceph: Ceph, commands: List[str]) -> FedmeshError:
    """A changing ceph command failed: name the field, say what ran before it."""
    problem = f"`{exc.command}` failed: {exc.problem}"
    if ceph.applied:
        return FedmeshError(problem, field=field, changed=True, commands=commands, ran=list(ceph.applied),
                            remains=f"these commands ran: {ceph.applied}; fix {field or 'the request'} and run "
                                    "again (the module continues from the current state)")
    return FedmeshError(problem, field=field, commands=commands)
