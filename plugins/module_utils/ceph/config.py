# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of ``ceph_config``: ``ceph config dump`` + ``ceph config help OPTION`` (its type), compared as
Ceph normalises values (``1G`` is ``1073741824``), so a re-run with the same input changes nothing."""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import re
from typing import Any

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError

from .parse import normalise, parse_config_dump
from .plan import plan_config
from .steps import StepBackend

WHO = re.compile(r"^(global|mon|mgr|osd|mds|client|mon\.\S+|mgr\.\S+|osd\.\d+|mds\.\S+|client\.\S+)(/\S+)?$")
OPTION = re.compile(r"^[a-z][a-z0-9_]*$")


class ConfigBackend(StepBackend):
    value_key = "config"

    def snapshot(self) -> Any:
        p = self.params
        if not WHO.match(p["who"]):
            raise FedmeshError(f"{p['who']!r} is not a config section", field="who",
                               fix="use global, mon, mgr, osd, mds, client, a daemon (osd.3) or SECTION/MASK")
        if not OPTION.match(p["option"]):
            raise FedmeshError(f"{p['option']!r} is not a Ceph option name", field="option",
                               fix="use the underscore form, e.g. osd_memory_target")
        info = self.ceph.json_or_none(["config", "help", p["option"]])
        if info is None:
            raise FedmeshError(f"Ceph has no option {p['option']!r}", field="option",
                               fix="see `ceph config ls` for the names this release knows")
        dump = parse_config_dump(self.ceph.json(["config", "dump"]))
        return {"type": info.get("type", "str"), "min": info.get("min"), "max": info.get("max"),
                "current": dump.get(p["who"], {}).get(p["option"])}

    def planned(self, snap: Any) -> dict:
        p = self.params
        wanted = None
        if p["state"] == "present":
            if p.get("value") is None:
                raise FedmeshError("a value is required with state=present", field="value")
            try:
                wanted = normalise(p["value"], snap["type"])
            except ValueError as exc:
                raise FedmeshError(f"{exc} (option {p['option']} is of type {snap['type']})", field="value") from None
            bounds_problem(wanted, snap)
        return plan_config(p, snap["current"], wanted)

    def final(self) -> Any:
        dump = parse_config_dump(self.ceph.json(["config", "dump"]))
        value = dump.get(self.params["who"], {}).get(self.params["option"])
        return None if value is None else {self.params["who"]: {self.params["option"]: value}}


def bounds_problem(wanted: str, snap: dict) -> None:
    """Ceph silently ignores some values below an option's minimum (osd_memory_target): refuse them here."""
    if snap["type"] not in ("size", "int", "uint", "float", "secs", "millisecs"):
        return
    number = float(wanted)
    for bound, bad in (("min", lambda b: number < b), ("max", lambda b: number > b)):
        raw = snap.get(bound)
        if raw not in (None, ""):
            try:
                limit = float(normalise(raw, snap["type"]))
            except ValueError:
                continue
            if bad(limit):
                raise FedmeshError(f"{wanted} is {'below the minimum' if bound == 'min' else 'above the maximum'} "
                                   f"{raw} of this option", field="value")
