"""fedmesh.cluster WireGuard modules and the wireguard_mesh role on real test-bed nodes (userspace WireGuard).

One test bed for the module; the tests build on each other in file order: converge, -vvv secrecy, adding a
node under load, --limit, key rotation, removing a node.
"""
from __future__ import annotations

import base64
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import converge_cycle, play
from testbed import Testbed

pytestmark = pytest.mark.testbed

CONVERGE = "wireguard_mesh.yml"  # tests/integration/playbooks/
MODULES = "wireguard_modules.yml"


@pytest.fixture(scope="module")
def tb(testbed_factory) -> Testbed:
    return testbed_factory("wireguard", nodes=3, groups={"mesh": [f"node{i}" for i in range(1, 6)]})


def sh(tb: Testbed, node: str, cmd: str) -> str:
    return tb.exec(node, cmd).stdout.strip()


def mesh_address(tb: Testbed, node: str) -> str:
    return sh(tb, node, "ip -4 -o addr show dev wg0 | awk '{print $4}' | cut -d/ -f1")


def peers(tb: Testbed, node: str) -> set[str]:
    return set(sh(tb, node, "wg show wg0 peers").split())


def public_key(tb: Testbed, node: str) -> str:
    return sh(tb, node, "wg show wg0 public-key")


def reaches(tb: Testbed, src: str, addr: str, attempts: int = 8) -> subprocess.CompletedProcess[str]:
    """One ping at a time, a bounded number of times: a handshake initiation lost on a loaded host is retried
    by WireGuard only after its 5 s REKEY_TIMEOUT, which a single ``ping -c 2 -W 2`` does not wait for."""
    res = tb.exec(src, f"ping -c 1 -W 2 {addr}", check=False)
    while res.returncode != 0 and attempts > 1:
        attempts -= 1
        res = tb.exec(src, f"ping -c 1 -W 2 {addr}", check=False)
    return res


def assert_full_mesh(tb: Testbed) -> None:
    names = sorted(tb.nodes)
    keys = {n: public_key(tb, n) for n in names}
    addrs = {n: mesh_address(tb, n) for n in names}
    assert len(set(addrs.values())) == len(names)
    for n in names:
        assert peers(tb, n) == {keys[o] for o in names if o != n}, f"{n} peers"
        for o in names:
            if o != n:
                res = reaches(tb, n, addrs[o])
                assert res.returncode == 0, f"{n} cannot reach {o} ({addrs[o]}): {res.stdout}"


def secrets(tb: Testbed) -> list[str]:
    found = []
    for n in tb.nodes:
        out = sh(tb, n, "cat /etc/wireguard/wg0.key /etc/wireguard/fedmesh-psk/*.psk 2>/dev/null")
        found += [line.strip() for line in out.splitlines() if line.strip()]
    return found


def test_module_level_check_run_check_run(tb: Testbed) -> None:
    first_check, run, _second_check, _rerun = converge_cycle(tb, MODULES)
    assert first_check.changed("node1") >= 1 and run.changed("node1") >= 1
    assert sh(tb, "node1", "stat -c %a /etc/wireguard/wgt.conf /etc/wireguard/wgt.key") == "600\n600"
    assert sh(tb, "node1", "systemctl is-enabled wg-quick@wgt") == "enabled"
    res = play(tb, MODULES, extra_vars={"__it_absent": True})
    assert res.rc == 0
    # On the node, not only in the module's report: the unit is stopped and disabled, the device and config gone.
    assert tb.exec("node1", "systemctl is-active --quiet wg-quick@wgt", check=False).returncode != 0
    assert tb.exec("node1", "systemctl is-enabled --quiet wg-quick@wgt", check=False).returncode != 0
    assert tb.exec("node1", "ip link show wgt", check=False).returncode != 0
    assert tb.exec("node1", "test -e /etc/wireguard/wgt.conf", check=False).returncode != 0


def test_mesh_converges_idempotent_and_checkable(tb: Testbed) -> None:
    converge_cycle(tb, CONVERGE)
    assert_full_mesh(tb)
    for n in tb.nodes:
        assert sh(tb, n, "stat -c %a /etc/wireguard/wg0.conf /etc/wireguard/wg0.key /etc/wireguard/fedmesh-psk") \
            == "600\n600\n700"
        # every pair shares one preshared key, stored on the two nodes only
        for o in tb.nodes:
            if o != n:
                assert sh(tb, n, f"cat /etc/wireguard/fedmesh-psk/{o}.psk") == \
                    sh(tb, o, f"cat /etc/wireguard/fedmesh-psk/{n}.psk")


def test_no_secret_in_verbose_output(tb: Testbed) -> None:
    res = play(tb, CONVERGE, verbosity=3, diff=True).assert_ok()
    found = secrets(tb)
    assert len(found) >= 3 * 3  # 3 private keys + 2 PSK files per node
    for s in found:
        for form in (s, base64.b64encode((s + "\n").encode()).decode(), base64.b64encode(s.encode()).decode()):
            assert form not in res.output, "a secret appears in the -vvv output"


def _ping_replies(tb: Testbed) -> int:
    return int(sh(tb, "node1", "grep -c 'bytes from' /tmp/ping.log || true").strip() or 0)


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:.0f} s")
        time.sleep(0.2)


def test_add_node_keeps_existing_tunnels_up(tb: Testbed) -> None:
    target = mesh_address(tb, "node2")
    tb.exec("node1", f"setsid nohup ping -i 0.2 -W 1 {target} > /tmp/ping.log 2>&1 < /dev/null & "
                     "echo $! > /tmp/ping.pid")
    new = tb.add_node()
    assert new == "node4"
    # Check mode on the changed inventory reports the change (node4 joins every peer list) and applies nothing.
    peers_before = peers(tb, "node1")
    check = play(tb, CONVERGE, check=True, diff=True).assert_ok()
    assert all(check.changed(h) > 0 for h in ("node1", "node2", "node3", "node4")), check.stats
    assert "+# fedmesh-name: node4" in check.output, "the interface diff on existing nodes lacks the new peer"
    assert peers(tb, "node1") == peers_before, "check mode changed a live interface"
    assert tb.exec("node4", "test -e /etc/wireguard/wg0.conf", check=False).returncode != 0
    play(tb, CONVERGE).assert_ok()
    # After the converge: 5 more replies (the tunnel still carries traffic), then ping's own summary; both are
    # read from its log, never waited for with a fixed sleep.
    wanted = _ping_replies(tb) + 5
    _wait_until(lambda: _ping_replies(tb) >= wanted, "5 more ping replies after the converge")
    tb.exec("node1", "kill -INT $(cat /tmp/ping.pid)")
    _wait_until(lambda: "packets transmitted" in sh(tb, "node1", "cat /tmp/ping.log"), "ping's summary line")
    log = sh(tb, "node1", "cat /tmp/ping.log")
    m = re.search(r"(\d+) packets transmitted, (\d+) received", log)
    assert m, log
    sent, received = int(m[1]), int(m[2])
    assert sent >= 20 and sent - received <= 3, f"lost {sent - received} of {sent} packets during the converge"
    assert_full_mesh(tb)


def test_limit_run_keeps_every_peer(tb: Testbed) -> None:
    before = {n: peers(tb, n) for n in tb.nodes}
    conf_before = {n: sh(tb, n, "md5sum /etc/wireguard/wg0.conf") for n in tb.nodes}
    res = play(tb, CONVERGE, limit="node2").assert_ok()
    assert set(res.stats) == {"node2"} and res.changed() == 0
    assert {n: peers(tb, n) for n in tb.nodes} == before
    assert {n: sh(tb, n, "md5sum /etc/wireguard/wg0.conf") for n in tb.nodes} == conf_before
    assert_full_mesh(tb)


def test_rotation_under_limit_is_refused_before_any_change(tb: Testbed) -> None:
    key_before = sh(tb, "node3", "md5sum /etc/wireguard/wg0.key")
    res = play(tb, CONVERGE, limit="node3", extra_vars={"fedmesh_wireguard_mesh_rotate_keys": ["node3"]})
    assert res.rc != 0 and "rotate_keys needs every mesh host in the play" in res.output
    assert sh(tb, "node3", "md5sum /etc/wireguard/wg0.key") == key_before


def test_bad_input_fails_before_any_change(tb: Testbed) -> None:
    confs = {n: sh(tb, n, "md5sum /etc/wireguard/wg0.conf") for n in tb.nodes}
    res = play(tb, CONVERGE, extra_vars={"fedmesh_wireguard_mesh_cidr": "10.99.0.0/30"})
    assert res.rc != 0 and "usable addresses but the mesh has 4 hosts" in res.output
    assert res.changed() == 0
    assert {n: sh(tb, n, "md5sum /etc/wireguard/wg0.conf") for n in tb.nodes} == confs


def test_key_rotation_updates_every_peer(tb: Testbed) -> None:
    old = public_key(tb, "node3")
    started = int(sh(tb, "node1", "date +%s"))
    rotate = {"fedmesh_wireguard_mesh_rotate_keys": ["node3"]}
    peers_before = {n: peers(tb, n) for n in tb.nodes}
    check = play(tb, CONVERGE, check=True, extra_vars=rotate).assert_ok()  # every peer of node3 would change
    assert all(check.changed(n) > 0 for n in tb.nodes), check.stats
    assert public_key(tb, "node3") == old and {n: peers(tb, n) for n in tb.nodes} == peers_before
    play(tb, CONVERGE, extra_vars=rotate).assert_ok()
    new = public_key(tb, "node3")
    assert new != old
    for n in tb.nodes:
        if n != "node3":
            assert new in peers(tb, n) and old not in peers(tb, n)
    assert_full_mesh(tb)  # pings drive fresh handshakes with the new key
    for n in tb.nodes:
        if n != "node3":
            dump = sh(tb, n, "wg show wg0 latest-handshakes")
            hs = dict(line.split("\t") for line in dump.splitlines())
            assert int(hs[new]) >= started, f"{n} has no handshake with node3's new key"
    res = play(tb, CONVERGE).assert_ok()
    assert res.changed() == 0


def test_remove_node_drops_it_everywhere(tb: Testbed) -> None:
    gone = public_key(tb, "node4")
    tb.remove_node("node4")
    play(tb, CONVERGE).assert_ok()
    for n in tb.nodes:
        assert gone not in peers(tb, n)
        assert sh(tb, n, "ls /etc/wireguard/fedmesh-psk").split() == sorted(f"{o}.psk" for o in tb.nodes if o != n)
    assert_full_mesh(tb)


def peer_endpoints(tb: Testbed, node: str) -> dict[str, str]:
    """Peer name -> Endpoint, from the node's wg-quick config (what the role wrote, not the roamed live value)."""
    out, name = {}, None
    for line in sh(tb, node, "cat /etc/wireguard/wg0.conf").splitlines():
        if line.startswith("# fedmesh-name:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("Endpoint = ") and name:
            out[name] = line.split("=", 1)[1].strip()
    return out


def test_a_host_var_port_is_that_hosts_port_only(tb: Testbed) -> None:
    host_vars = Path(tb.inventory).parent / "host_vars"
    host_vars.mkdir(exist_ok=True)
    (host_vars / "node1.yml").write_text("fedmesh_wireguard_mesh_listen_port: 51821\n")
    play(tb, CONVERGE).assert_ok()
    assert sh(tb, "node1", "wg show wg0 listen-port") == "51821"
    for n in tb.nodes:
        for peer, endpoint in peer_endpoints(tb, n).items():
            assert endpoint.endswith(":51821" if peer == "node1" else ":51820"), (n, peer, endpoint)
    assert_full_mesh(tb)


def test_limit_refuses_a_change_hosts_outside_the_play_depend_on(tb: Testbed) -> None:
    host_vars = Path(tb.inventory).parent / "host_vars"
    host_vars.mkdir(exist_ok=True)
    confs = {n: sh(tb, n, "md5sum /etc/wireguard/wg0.conf") for n in tb.nodes}
    (host_vars / "node1.yml").write_text("fedmesh_wireguard_mesh_listen_port: 51822\n")
    try:
        res = play(tb, CONVERGE, limit="node1")
    finally:
        (host_vars / "node1.yml").write_text("fedmesh_wireguard_mesh_listen_port: 51821\n")
    assert res.rc != 0 and "hosts that must be in the play: node2, node3" in res.output, res.output[-3000:]
    assert res.changed() == 0
    assert {n: sh(tb, n, "md5sum /etc/wireguard/wg0.conf") for n in tb.nodes} == confs
    assert sh(tb, "node1", "wg show wg0 listen-port") == "51821"


def test_a_bad_host_var_fails_on_every_host_before_any_change(tb: Testbed) -> None:
    host_vars = Path(tb.inventory).parent / "host_vars"
    host_vars.mkdir(exist_ok=True)
    confs = {n: sh(tb, n, "md5sum /etc/wireguard/wg0.conf") for n in tb.nodes}
    (host_vars / "node2.yml").write_text("fedmesh_wireguard_mesh_listen_port: 0\n")
    try:
        res = play(tb, CONVERGE)
    finally:
        (host_vars / "node2.yml").unlink()
    assert res.rc != 0 and res.changed() == 0
    # The same answer on every host (not "unset" on the others): each fails at the layout, before any change.
    assert sorted(res.failed_hosts()) == sorted(tb.nodes), res.stats
    flat = " ".join(res.output.split())
    assert "host node2: fedmesh_wireguard_mesh_listen_port=0 is out of range 1..65535" in flat
    for n in tb.nodes:
        assert f"fatal: [{n}]: FAILED!" in flat
    assert {n: sh(tb, n, "md5sum /etc/wireguard/wg0.conf") for n in tb.nodes} == confs


# --- edges behind NAT, reached through a hub -------------------------------------------------------------------
@pytest.fixture(scope="module")
def edge_tb(testbed_factory) -> Testbed:
    tb = testbed_factory("wg-edge", nodes=3, groups={"mesh": ["node1", "node2", "node3"]})
    host_vars = Path(tb.inventory).parent / "host_vars"
    host_vars.mkdir(exist_ok=True)
    (host_vars / "node1.yml").write_text("fedmesh_wireguard_mesh_hub: true\n")
    (host_vars / "node3.yml").write_text("fedmesh_wireguard_mesh_endpoint: ''\n")  # an edge: no endpoint
    return tb


def test_edge_is_reached_through_its_hub(edge_tb: Testbed) -> None:
    tb = edge_tb
    converge_cycle(tb, CONVERGE)
    keys = {n: public_key(tb, n) for n in tb.nodes}
    # the edge peers only with the hub; the member does not peer with the edge
    assert peers(tb, "node3") == {keys["node1"]}
    assert peers(tb, "node2") == {keys["node1"]}
    assert peers(tb, "node1") == {keys["node2"], keys["node3"]}
    assert sh(tb, "node1", "sysctl -n net.ipv4.ip_forward") == "1"
    assert "25" in sh(tb, "node3", "wg show wg0 persistent-keepalive")
    addrs = {n: mesh_address(tb, n) for n in tb.nodes}
    for src, dst in [("node2", "node3"), ("node3", "node2"), ("node3", "node1"), ("node1", "node3")]:
        res = reaches(tb, src, addrs[dst])
        assert res.returncode == 0, f"{src} cannot reach {dst} through the hub: {res.stdout}"
