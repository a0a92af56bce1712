"""Guards against a netavark 1.4 defect that makes nodes of one test bed see each other as the gateway.

What happens (measured here, 2026-12-02): netavark gives each bridge network a NAT chain reached from
``POSTROUTING -s SUBNET``; the chain first ACCEPTs traffic that stays in ``SUBNET`` and MASQUERADEs the rest.
When several netavark processes change the ruleset at once (two test beds starting and stopping nodes side by
side, or ``podman rm`` of several containers, which Podman tears down in parallel), a teardown can stop half way:
the ACCEPT rule is gone, the MASQUERADE rule and the POSTROUTING jump stay.  Podman still sees the subnet as
free and hands it to the next network; that network's own jump comes *after* the stale one, so traffic between
two of its nodes is masqueraded to the bridge's gateway (10.89.X.1).  glusterd then answers a probe to
``host.containers.internal`` and the peer stays in "Accepted peer request"; anything that checks the peer's
address fails the same way.

Two defences, both here:

* :func:`network_lock` serialises, across every test bed on the host, the Podman calls that make netavark set up
  or tear down a network (run -d, start, stop, rm, network ...), so two teardowns never interleave.
* :func:`stale_jumps` reads ``iptables -t nat -S`` and finds NAT chains that would masquerade traffic inside
  their own subnet; :func:`sweep` deletes those that no live network of another owner still uses, before a
  test bed creates its network and after it checks that its own subnet is sound.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LOCK_PATH = Path(os.environ.get("FEDMESH_TESTBED_NETLOCK", "/run/lock/fedmesh-testbed-network.lock"))

# Podman verbs whose work includes a netavark setup or teardown (``run`` only when detached: a foreground
# run holds the lock for as long as its command runs, which is how long an image build takes).
NETWORK_VERBS = frozenset({"start", "stop", "restart", "rm", "kill", "network"})

_JUMP = re.compile(r"^-A POSTROUTING -s (?P<subnet>\S+) -j (?P<chain>NETAVARK-[0-9A-F]+)$")
_ACCEPT = re.compile(r"^-A (?P<chain>NETAVARK-[0-9A-F]+) -d (?P<subnet>\S+) -j ACCEPT$")


def needs_lock(args: tuple[str, ...]) -> bool:
    """Whether a Podman command line (without ``podman``) sets up or tears down container networking."""
    if not args:
        return False
    if args[0] == "run":
        return "-d" in args or "--detach" in args
    return args[0] in NETWORK_VERBS


_held = threading.local()


@contextmanager
def network_lock() -> Iterator[None]:
    """Hold the host-wide test-bed network lock (a flock, released when the process dies); re-entrant."""
    if getattr(_held, "depth", 0):
        _held.depth += 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_PATH, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _held.depth = 1
        try:
            yield
        finally:
            _held.depth = 0
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Jump:
    subnet: str
    chain: str


def stale_jumps(nat_rules: str) -> list[Jump]:
    """POSTROUTING jumps into netavark chains that lack the ACCEPT for their own subnet (they masquerade it)."""
    accepts = set()
    for line in nat_rules.splitlines():
        m = _ACCEPT.match(line.strip())
        if m:
            accepts.add((m["chain"], m["subnet"]))
    stale = []
    for line in nat_rules.splitlines():
        m = _JUMP.match(line.strip())
        if m and (m["chain"], m["subnet"]) not in accepts:
            stale.append(Jump(subnet=m["subnet"], chain=m["chain"]))
    return stale


def first_jump(nat_rules: str, subnet: str) -> Jump | None:
    """The POSTROUTING jump that traffic from ``subnet`` takes first (the one that decides its NAT)."""
    for line in nat_rules.splitlines():
        m = _JUMP.match(line.strip())
        if m and m["subnet"] == subnet:
            return Jump(subnet=subnet, chain=m["chain"])
    return None


def removal_commands(jump: Jump, nat_rules: str) -> list[list[str]]:
    """iptables calls that delete a stale jump, and its chain when no other rule jumps to it."""
    cmds = [["iptables", "-t", "nat", "-D", "POSTROUTING", "-s", jump.subnet, "-j", jump.chain]]
    others = [ln for ln in nat_rules.splitlines() if f"-j {jump.chain}" in ln and f"-s {jump.subnet} " not in ln]
    if not others:
        cmds += [["iptables", "-t", "nat", "-F", jump.chain], ["iptables", "-t", "nat", "-X", jump.chain]]
    return cmds


def read_nat_rules() -> str | None:
    """``iptables -t nat -S``, or None where iptables is absent or not ours to read (rootless)."""
    if shutil.which("iptables") is None or os.geteuid() != 0:
        return None
    proc = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 else None


def sweep(live_foreign_subnets: set[str]) -> list[Jump]:
    """Delete stale jumps whose subnet no live network of another owner uses; returns what was deleted.

    Call with the network lock held.  A stale chain on a subnet some other live network uses is left alone: it
    is that network owner's to fix, and our own subnet never overlaps it.
    """
    rules = read_nat_rules()
    if rules is None:
        return []
    removed = []
    for jump in stale_jumps(rules):
        if jump.subnet in live_foreign_subnets:
            continue
        for cmd in removal_commands(jump, rules):
            subprocess.run(cmd, capture_output=True, check=False)
        removed.append(jump)
    return removed
