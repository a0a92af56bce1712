# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for the XML that ``gluster --mode=script --xml ...`` prints (verified against gluster 10.3).

The CLI exits 0 even when an operation fails: the outcome is ``<opRet>`` (0 or -1) with the reason in
``<opErrstr>`` (or ``<output>``).  :func:`cli_root` turns a failure into :class:`GlusterError`.
Every parser returns plain dicts/lists so results go straight into module output.
"""

# Module utils run on managed nodes with Python 3.8+: keep typing.Optional/List/Dict, not X | None.
# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Optional

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError

BOOL_ON = frozenset(("on", "yes", "true", "enable", "enabled", "1"))
BOOL_OFF = frozenset(("off", "no", "false", "disable", "disabled", "0"))
DEFAULT_SUFFIX = " (DEFAULT)"


class GlusterError(FedmeshError):
    """A gluster command that failed (opRet != 0, a non-zero exit, or output that is not XML).

    ``problem`` is gluster's own text; ``command`` the command line (no secrets: gluster takes none).
    """

    def __init__(self, message: str, errno: int = 0, command: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.errno = errno
        self.command = command


def _text(elem: Optional[ET.Element], tag: str, default: str = "") -> str:
    if elem is None:
        return default
    child = elem.find(tag)
    if child is None or child.text is None:
        return default
    return child.text.strip()


def _int(elem: Optional[ET.Element], tag: str, default: int = 0) -> int:
    value = _text(elem, tag)
    try:
        return int(value)
    except ValueError:
        return default


def cli_root(text: str, command: str = "", ok_errors: tuple = ()) -> ET.Element:
    """Parse CLI XML; raise GlusterError when gluster reports a failure.

    ``ok_errors`` are substrings of opErrstr that count as success (e.g. "already started").
    """
    start = text.find("<?xml")
    if start < 0:
        start = text.find("<cliOutput")
    if start < 0:
        raise GlusterError(text.strip() or "gluster printed nothing", command=command)
    try:
        root = ET.fromstring(text[start:].encode("utf-8"))
    except ET.ParseError as exc:
        raise GlusterError(f"unreadable gluster XML ({exc}): {text.strip()[:300]}", command=command) from exc
    if _int(root, "opRet", 0) != 0:
        message = _text(root, "opErrstr") or _text(root, "output") or "gluster reported a failure"
        if not any(ok in message for ok in ok_errors):
            raise GlusterError(message, errno=_int(root, "opErrno"), command=command)
    return root


def output_message(root: ET.Element) -> str:
    return _text(root, "output") or _text(root, "opErrstr")


# ---------------------------------------------------------------- peers
def parse_peers(root: ET.Element) -> List[dict]:
    """``peer status`` / ``pool list``: one dict per peer (pool list includes ``localhost``)."""
    peers = []
    for peer in root.iter("peer"):
        names = [h.text.strip() for h in peer.findall("hostnames/hostname") if h.text]
        hostname = _text(peer, "hostname")
        if hostname and hostname not in names:
            names.insert(0, hostname)
        state = _text(peer, "stateStr")
        connected = _text(peer, "connected") == "1"
        peers.append({
            "uuid": _text(peer, "uuid"),
            "hostname": hostname,
            "hostnames": names,
            "connected": connected,
            "state": state,
            # pool list has no state for the local node: it is trivially in the cluster
            "in_cluster": connected and (state == "Peer in Cluster" or (not state and hostname == "localhost")),
        })
    return peers


# ---------------------------------------------------------------- volumes
def split_brick(brick: str) -> tuple:
    host, _sep, path = brick.partition(":")
    return host, path


def parse_volumes(root: ET.Element) -> Dict[str, dict]:
    """``volume info [NAME]``: volumes by name, with bricks in order and reconfigured options."""
    volumes = {}
    for vol in root.findall("volInfo/volumes/volume"):
        bricks, arbiters = [], []
        for brick in vol.findall("bricks/brick"):
            name = _text(brick, "name") or (brick.text or "").strip()
            bricks.append(name)
            if _text(brick, "isArbiter") == "1":
                arbiters.append(name)
        options = {_text(o, "name"): _text(o, "value") for o in vol.findall("options/option")}
        name = _text(vol, "name")
        volumes[name] = {
            "name": name,
            "id": _text(vol, "id"),
            "status": _text(vol, "statusStr").lower() or "created",
            "type": _text(vol, "typeStr").lower(),
            "brick_count": _int(vol, "brickCount"),
            "dist_count": _int(vol, "distCount", 1),
            "replica": _int(vol, "replicaCount", 1),
            "arbiter": _int(vol, "arbiterCount"),
            "disperse": _int(vol, "disperseCount"),
            "redundancy": _int(vol, "redundancyCount"),
            "bricks": bricks,
            "arbiter_bricks": arbiters,
            "options": options,
        }
    return volumes


def parse_status(root: ET.Element) -> Dict[str, dict]:
    """``volume status [NAME|all]``: per volume, brick online state (by brick name) and running tasks."""
    result = {}
    for vol in root.findall("volStatus/volumes/volume"):
        bricks, daemons = {}, []
        for node in vol.findall("node"):
            host, path = _text(node, "hostname"), _text(node, "path")
            entry = {"online": _text(node, "status") == "1", "port": _text(node, "port"),
                     "pid": _int(node, "pid", -1), "peer_uuid": _text(node, "peerid")}
            if path.startswith("/"):
                bricks[f"{host}:{path}"] = entry
            else:
                daemons.append({"name": host, "host": path, **entry})
        tasks = [{"type": _text(t, "type"), "id": _text(t, "id"), "status": _text(t, "statusStr"),
                  "bricks": [b.text.strip() for b in t.findall("params/brick") if b.text]}
                 for t in vol.findall("tasks/task")]
        result[_text(vol, "volName")] = {"bricks": bricks, "daemons": daemons, "tasks": tasks}
    return result


def parse_heal(root: ET.Element) -> dict:
    """``volume heal NAME info summary`` (or ``info``): backlog per brick and totals.

    A brick that could not be reached has no counts; it is reported with ``connected: false`` and does
    not add to the totals (its backlog is unknown, the other bricks' backlog covers its missing writes).
    """
    bricks = {}
    totals = {"pending": 0, "split_brain": 0, "healing": 0, "total": 0}
    for brick in root.findall("healInfo/bricks/brick"):
        status = _text(brick, "status")
        connected = status == "Connected"
        total = _int(brick, "totalNumberOfEntries", _int(brick, "numberOfEntries"))
        counts = {
            "total": total,
            "pending": _int(brick, "numberOfEntriesInHealPending", total),
            "split_brain": _int(brick, "numberOfEntriesInSplitBrain"),
            "healing": _int(brick, "numberOfEntriesPossiblyHealing"),
        }
        bricks[_text(brick, "name")] = {"connected": connected, "status": status, **counts}
        if connected:
            for key in totals:
                totals[key] += counts[key]
    return {"bricks": bricks, **totals,
            "unreachable_bricks": sorted(n for n, b in bricks.items() if not b["connected"])}


def option_value(raw: str) -> tuple:
    """(value, is_default) from a ``volume get`` value such as ``on (DEFAULT)``."""
    if raw.endswith(DEFAULT_SUFFIX):
        return raw[: -len(DEFAULT_SUFFIX)], True
    return raw, False


def parse_get(root: ET.Element) -> Dict[str, dict]:
    """``volume get NAME all``: effective value of every option, and whether it is the default."""
    result = {}
    for opt in root.findall("volGetopts/Opt"):
        value, is_default = option_value(_text(opt, "Value"))
        result[_text(opt, "Option")] = {"value": value, "default": is_default}
    return result


def parse_set_help(text: str) -> Dict[str, str]:
    """``volume set help-xml`` (no cliOutput wrapper, needs no volume): settable option → default."""
    start = text.find("<options")
    if start < 0:
        raise GlusterError("unreadable output of `gluster volume set help-xml`")
    root = ET.fromstring(text[start:].encode("utf-8"))
    return {_text(o, "name"): _text(o, "defaultValue") for o in root.findall("option")}


def parse_task(root: ET.Element) -> dict:
    """``volume rebalance NAME status`` / ``volume remove-brick ... status``: aggregate state."""
    task = root.find("volRebalance")
    if task is None:
        task = root.find("volRemoveBrick")
    agg = task.find("aggregate") if task is not None else None
    nodes = [{"node": _text(n, "nodeName"), "status": _text(n, "statusStr"), "files": _int(n, "files"),
              "failures": _int(n, "failures"), "skipped": _int(n, "skipped")}
             for n in (task.findall("node") if task is not None else [])]
    return {
        "task_id": _text(task, "task-id"),
        "status": _text(agg, "statusStr") or "unknown",
        "files": _int(agg, "files"),
        "failures": _int(agg, "failures"),
        "skipped": _int(agg, "skipped"),
        "nodes": nodes,
    }


def normalise_value(value: object) -> str:
    """Comparable form of an option value: booleans in any spelling → on/off, else lower-case text."""
    if isinstance(value, bool):
        return "on" if value else "off"
    text = str(value).strip()
    low = text.lower()
    if low in BOOL_ON:
        return "on"
    if low in BOOL_OFF:
        return "off"
    return low
