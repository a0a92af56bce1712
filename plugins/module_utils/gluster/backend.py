# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs gluster commands on the node, reads the current state, applies a plan and waits (bounded).

``run`` is ``(argv) -> (rc, stdout, stderr)`` (the module's ``run_command``), so tests drive this class
with recorded outputs.  Host names are compared through name resolution, so a peer probed by its mesh
address and named by hostname (or the reverse) is recognised.
"""

# Module utils run on managed nodes with Python 3.8+: keep typing.Optional/List/Dict, not X | None.
# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import errno
import os
import socket
import time
from typing import Callable, Dict, Iterable, List, Optional

from .parse import (
    GlusterError,
    cli_root,
    parse_get,
    parse_heal,
    parse_peers,
    parse_set_help,
    parse_status,
    parse_task,
    parse_volumes,
    split_brick,
)
from .plan import status_args

UNREACHABLE = ("Connection failed", "gluster daemon is operational", "not found")
DONE = ("completed",)
FAILED = ("failed", "stopped")
# Errors glusterd gives (in staging, before any change) while pool members are still connecting to each other.
TRANSIENT_PEER_ERRORS = (" not connected", "is not in 'Peer in Cluster' state")


class Gluster:
    def __init__(self, run: Callable[[List[str]], tuple], sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, poll: float = 2.0) -> None:
        self.run = run
        self.sleep = sleep
        self.clock = clock
        self.poll = poll
        self.log: List[str] = []
        self.applied: List[str] = []

    # ---------------------------------------------------------------- commands
    def cli(self, args: List[str], ok: Iterable[str] = ()):
        argv = ["gluster", "--mode=script", "--xml", *args]
        command = " ".join(argv)
        try:
            rc, out, err = self.run(argv)
        except OSError as exc:
            raise GlusterError(f"cannot run gluster: {exc}", command=command) from exc
        self.log.append(command)
        if "<cliOutput" not in (out or ""):
            raise GlusterError((out or err or f"gluster exited {rc}").strip(), command=command)
        return cli_root(out, command=command, ok_errors=tuple(ok))

    def plain(self, args: List[str]) -> str:
        """A command whose output is text whatever the mode; its exit code tells success."""
        argv = ["gluster", "--mode=script", *args]
        rc, out, err = self.run(argv)
        self.log.append(" ".join(argv))
        if rc != 0:
            raise GlusterError((err or out or f"exit code {rc}").strip(), command=" ".join(argv))
        return out

    def plain_retry(self, args: List[str], tries: int = 5) -> str:
        """``heal full`` right after add-brick can find the self-heal daemon restarting: retry a few times."""
        for attempt in range(tries):
            try:
                return self.plain(args)
            except GlusterError:
                if attempt == tries - 1:
                    raise
                self.sleep(self.poll)
        return ""

    def cli_until_peers_connected(self, args: List[str], ok: Iterable[str], timeout: float):
        """Run a changing command; retry while another pool member does not see a peer connected yet.

        Right after a probe, the probing node sees every peer connected while the others may still be
        connecting to each other; glusterd then fails the command in its staging phase (before anything
        is committed), e.g. ``Staging failed on B. Error: Host C not connected``. Bounded by *timeout*.
        """
        deadline = self.clock() + min(timeout, 120.0)
        while True:
            try:
                return self.cli(args, ok=ok)
            except GlusterError as exc:
                transient = any(m in exc.message for m in TRANSIENT_PEER_ERRORS)
                if not transient or self.clock() >= deadline:
                    raise
                self.sleep(self.poll)

    def reachable(self) -> Optional[str]:
        """None when glusterd answers, else the reason (not installed, not running)."""
        try:
            self.cli(["peer", "status"])
        except GlusterError as exc:
            return exc.problem
        return None

    # ---------------------------------------------------------------- reading state
    def pool(self) -> List[dict]:
        return parse_peers(self.cli(["pool", "list"]))

    def volumes(self, name: Optional[str] = None) -> Dict[str, dict]:
        try:
            return parse_volumes(self.cli(["volume", "info", *([name] if name else [])]))
        except GlusterError as exc:
            if "does not exist" in exc.message:
                return {}
            raise

    def volume(self, name: str, effective: bool = True) -> Optional[dict]:
        vol = self.volumes(name).get(name)
        if vol is not None and effective:
            vol["effective_options"] = parse_get(self.cli(["volume", "get", name, "all"]))
        return vol

    def status(self, name: str) -> dict:
        try:
            return parse_status(self.cli(["volume", "status", name])).get(name, {})
        except GlusterError as exc:
            if "is not started" in exc.message:
                return {}
            raise

    def heal(self, name: str) -> Optional[dict]:
        """Heal backlog (``heal info summary``, falling back to ``heal info``); None when not applicable."""
        for args in (["volume", "heal", name, "info", "summary"], ["volume", "heal", name, "info"]):
            try:
                return parse_heal(self.cli(args))
            except GlusterError:
                continue
        return None

    def known_options(self, ask_volume: bool = True) -> tuple:
        """(option names, complete): ``volume set help-xml`` plus ``volume get VOL all`` of a volume if any
        (``ask_volume=False`` when the caller already has the target volume's ``volume get``)."""
        names: set = set()
        try:
            rc, out, err = self.run(["gluster", "volume", "set", "help-xml"])
            if rc == 0:
                names |= set(parse_set_help(out))
        except (OSError, GlusterError):
            pass
        complete = False
        for name in sorted(self.volumes())[:1] if ask_volume else []:
            names |= set(parse_get(self.cli(["volume", "get", name, "all"])))
            complete = True
        return sorted(names), complete

    # ---------------------------------------------------------------- applying
    def apply(self, steps: List[dict], timeout: float) -> List[dict]:
        """Run the steps in order; waiting steps poll their status until completed (bounded by timeout)."""
        results = []
        for st in steps:
            if st.get("plain"):
                self.plain_retry(st["args"])
            else:
                self.cli_until_peers_connected(st["args"], st["ok"], timeout)
            self.applied.append("gluster " + " ".join(st["args"]))
            entry = {"args": st["args"]}
            if st["wait"]:
                entry["task"] = self.wait_task(st, timeout)
            results.append(entry)
        return results

    def wait_task(self, st: dict, timeout: float) -> dict:
        args = status_args(st)
        deadline = self.clock() + timeout
        while True:
            task = parse_task(self.cli(args))
            if task["status"] in DONE:
                if task["failures"]:
                    raise GlusterError(f"`gluster {' '.join(args)}` completed with {task['failures']} failed "
                                       "file(s); nothing was committed: check the rebalance log, then run again",
                                       command=" ".join(args))
                return task
            if task["status"] in FAILED:
                raise GlusterError(f"`gluster {' '.join(args)}` reports {task['status']}; nothing was committed",
                                   command=" ".join(args))
            if self.clock() > deadline:
                raise GlusterError(f"still {task['status']} after {timeout:.0f}s (timeout); nothing was committed: "
                                   f"watch `gluster {' '.join(args)}` and run again when it completes",
                                   command=" ".join(args))
            self.sleep(self.poll)

    def wait_peers(self, names: List[str], timeout: float) -> List[dict]:
        """Poll ``pool list`` until every name is a connected peer in the cluster; return the pool."""
        deadline = self.clock() + timeout
        while True:
            pool = self.pool()
            waiting = [n for n in names if not any(p["in_cluster"] for p in match_peers(n, pool))]
            if not waiting:
                return pool
            if self.clock() > deadline:
                states = {n: [(p["hostname"], p["state"], p["connected"]) for p in match_peers(n, pool)]
                          for n in waiting}
                raise GlusterError(f"peers {waiting} not 'Peer in Cluster (Connected)' after {timeout:.0f}s: "
                                   f"{states}; {stuck_hint(waiting, pool)}")
            self.sleep(self.poll)


def stuck_hint(waiting: List[str], pool: List[dict]) -> str:
    """How to get the waiting peers into the cluster, from the states they are in."""
    accepted = [n for n in waiting if any(p["connected"] and p["state"] == "Accepted peer request"
                                          for p in match_peers(n, pool))]
    if accepted:
        return (f"{accepted} answered but never completed the handshake: check that each name resolves, on "
                "every server, to that server's own address (not another machine's) and that no NAT sits between "
                "the servers (a peer that sees the probe come from another address cannot answer it)")
    return "check glusterd on them and that TCP 24007 is reachable"


# ---------------------------------------------------------------- host names
def resolve(host: str) -> set:
    try:
        return {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError):
        return set()


def is_local(host: str) -> bool:
    """Whether ``host`` names this node: localhost, its hostname, or an address a socket can bind to."""
    if host in ("localhost", socket.gethostname(), socket.getfqdn()):
        return True
    for addr in resolve(host):
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((addr, 0))
            return True
        except OSError as exc:
            if exc.errno not in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                return False
        finally:
            sock.close()
    return False


def match_peers(host: str, pool: List[dict]) -> List[dict]:
    """Pool entries that are ``host``: by one of their names, else by a shared resolved address."""
    direct = [p for p in pool if host in p["hostnames"]]
    if direct:
        return direct
    addrs = resolve(host)
    if not addrs:
        return []
    return [p for p in pool if p["hostname"] != "localhost"
            and any(addrs & resolve(h) for h in p["hostnames"])]


def unresolved(hosts: Iterable[str], pool: Optional[List[dict]] = None) -> List[str]:
    """Names that do not resolve (and that the pool does not know by that very name): gluster would only say
    "Transport endpoint is not connected" for them."""
    known = {n for p in pool or [] for n in p["hostnames"]}
    return sorted({h for h in hosts if h not in known and h != socket.gethostname() and not resolve(h)})


def missing_hosts(bricks: List[str], pool: List[dict]) -> List[str]:
    hosts = sorted({split_brick(b)[0] for b in bricks})
    return [h for h in hosts if not is_local(h) and not match_peers(h, pool)]


def root_bricks(bricks: List[str]) -> List[str]:
    """This node's bricks whose directory is (or would be created) on the root filesystem."""
    root_dev = os.stat("/").st_dev
    found = []
    for brick in bricks:
        host, path = split_brick(brick)
        if not is_local(host):
            continue
        probe = path
        while probe and not os.path.exists(probe):
            probe = os.path.dirname(probe.rstrip("/")) or "/"
        if os.stat(probe or "/").st_dev == root_dev:
            found.append(brick)
    return found
