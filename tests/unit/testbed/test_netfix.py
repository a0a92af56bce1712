"""The test bed's guard against stale netavark NAT chains (recorded ``iptables -t nat -S`` of this host).

The fixture was recorded on 2026-12-02 with a chain left half torn down by an earlier run (NETAVARK-275A99B4227A1:
its MASQUERADE and POSTROUTING jump stayed, its ACCEPT went) and a new network given the same subnet; traffic
between two containers of that network was then seen as coming from 10.89.1.1, the gateway.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from testbed import netfix

FIXTURE = Path(__file__).parents[1] / "fixtures" / "testbed" / "nat-stale-netavark-1.4.txt"


def test_a_chain_without_its_accept_is_stale_and_decides_its_subnet_first() -> None:
    rules = FIXTURE.read_text()
    stale = netfix.stale_jumps(rules)
    assert stale == [netfix.Jump(subnet="10.89.1.0/24", chain="NETAVARK-275A99B4227A1")]
    # The new network's sound chain comes second, so the stale one wins for every packet of 10.89.1.0/24 ...
    assert netfix.first_jump(rules, "10.89.1.0/24") == stale[0]
    # ... while a network on a subnet of its own is fine.
    assert netfix.first_jump(rules, "10.89.0.0/24") == netfix.Jump("10.89.0.0/24", "NETAVARK-99DBA4238C83F")
    assert netfix.first_jump(rules, "10.89.9.0/24") is None


def test_removal_deletes_the_jump_and_an_orphaned_chain_only() -> None:
    rules = FIXTURE.read_text()
    jump = netfix.Jump(subnet="10.89.1.0/24", chain="NETAVARK-275A99B4227A1")
    assert netfix.removal_commands(jump, rules) == [
        ["iptables", "-t", "nat", "-D", "POSTROUTING", "-s", "10.89.1.0/24", "-j", "NETAVARK-275A99B4227A1"],
        ["iptables", "-t", "nat", "-F", "NETAVARK-275A99B4227A1"],
        ["iptables", "-t", "nat", "-X", "NETAVARK-275A99B4227A1"],
    ]
    shared = rules + "-A POSTROUTING -s 10.89.7.0/24 -j NETAVARK-275A99B4227A1\n"
    assert len(netfix.removal_commands(jump, shared)) == 1  # still used elsewhere: the chain stays


def test_sound_rules_have_nothing_stale() -> None:
    sound = "\n".join(ln for ln in FIXTURE.read_text().splitlines() if "275A99B4227A1" not in ln)
    assert netfix.stale_jumps(sound) == []


@pytest.mark.parametrize(("args", "locked"), [
    (("run", "-d", "--name", "x", "img"), True),
    (("run", "--rm", "img", "true"), False),  # a foreground run (an image build) would hold the lock for minutes
    (("rm", "-f", "x"), True), (("stop", "x"), True), (("start", "x"), True),
    (("network", "create", "n"), True), (("exec", "x", "true"), False), (("pause", "x"), False), ((), False),
])
def test_which_podman_calls_take_the_lock(args: tuple[str, ...], locked: bool) -> None:
    assert netfix.needs_lock(args) is locked


def test_the_lock_is_reentrant_and_excludes_other_holders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netfix, "LOCK_PATH", tmp_path / "net.lock")
    order: list[str] = []

    def other() -> None:
        with netfix.network_lock():
            order.append("other")

    with netfix.network_lock(), netfix.network_lock():  # nested in one thread: no deadlock
        worker = threading.Thread(target=other)
        worker.start()
        time.sleep(0.3)
        order.append("outer")
    worker.join(5)
    assert order == ["outer", "other"]
