"""Test-bed nodes: privileged systemd containers on a user-defined Podman network, reached over SSH.

One :class:`Testbed` is one named set of nodes (``node1``..``nodeN``) on its own network.  Names
and labels carry a per-checkout prefix (see :func:`engine.checkout_prefix`), so two checkouts on
one host never collide, and ``down()`` / ``gc()`` can find everything they made, even after a
crash of the process that made it.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import engine, netfix
from .engine import HERE, LABEL, STATE_ROOT, checkout_prefix, podman, podman_json
from .image import ensure_image

DAEMON_LOGS = ("/var/log/glusterfs/glusterd.log",)


@dataclass
class Node:
    name: str        # inventory name, hostname and network alias (node1, ...)
    container: str   # Podman container name (carries the prefix)
    address: str = ""


class Testbed:
    """A named group of test-bed nodes.  Safe to ``up()`` again: existing nodes are reused."""

    __test__ = False  # not a pytest test class

    def __init__(self, name: str = "default", nodes: int = 3, layer: str = "full",
                 group_vars: dict | None = None, groups: dict[str, list[str]] | None = None,
                 inventory: Path | None = None) -> None:
        self.name = name
        self.count = nodes
        self.layer = layer
        self.prefix = f"{checkout_prefix()}-{name}"
        self.network = f"{self.prefix}-net"
        self.state_dir = STATE_ROOT / name
        self.key_file = self.state_dir / "id_ed25519"
        self.inventory = inventory or self.state_dir / "inventory.yml"
        self.group_vars = group_vars or {}
        self.groups = groups or {}
        self.nodes: dict[str, Node] = {}

    # ---------------------------------------------------------------- lifecycle
    def up(self) -> Testbed:
        image = ensure_image(self.layer)
        engine.ensure_inotify_instances()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self.key_file.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.prefix,
                            "-f", str(self.key_file)], check=True)
        with netfix.network_lock():  # no other test bed's netavark call between the sweep and the create
            engine.sweep_stale_nat(exclude=self.network)
            if self.network not in engine.networks_with_label(self.prefix):
                podman("network", "create", "--label", f"{LABEL}={self.prefix}", self.network)
        for i in range(1, self.count + 1):
            self._start_node(f"node{i}", image)
        self.check_nat()
        self.wait_ready(list(self.nodes))
        self.write_inventory()
        return self

    def _start_node(self, name: str, image: str) -> Node:
        container = f"{self.prefix}-{name}"
        if container not in engine.containers_with_label(self.prefix):
            podman("run", "-d", "--name", container, "--hostname", name, "--network", self.network,
                   "--network-alias", name, "--privileged", "--systemd=always",
                   "--label", f"{LABEL}={self.prefix}",
                   "-v", f"{self.key_file}.pub:/root/.ssh/authorized_keys:ro",
                   "-v", f"{HERE / 'rootless-devices.conf'}:/etc/tmpfiles.d/fedmesh-testbed-rootless.conf:ro",
                   image, "/sbin/init")
        else:
            podman("start", container, check=False)
        node = Node(name=name, container=container)
        self.nodes[name] = node
        return node

    def add_node(self) -> str:
        """Start one more node (named after the highest existing one) and return its name."""
        self._discover()
        taken = {int(n[4:]) for n in self.nodes}
        name = f"node{max(taken, default=0) + 1}"
        self._start_node(name, ensure_image(self.layer))
        self.count = len(self.nodes)
        self.wait_ready([name])
        self.write_inventory()
        return name

    def remove_node(self, name: str) -> None:
        podman("rm", "-f", "-t", "0", self.nodes[name].container, check=False)
        del self.nodes[name]
        self.count = len(self.nodes)
        self.write_inventory()

    def down(self) -> list[str]:
        """Remove every container, network and volume of this test bed."""
        removed = engine.remove_everything(self.prefix)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        return removed

    def _discover(self) -> None:
        for container in engine.containers_with_label(self.prefix):
            name = container[len(self.prefix) + 1:]
            self.nodes.setdefault(name, Node(name=name, container=container))

    def check_nat(self) -> None:
        """Make sure traffic between this test bed's nodes is not masqueraded (see netfix); fail with the cause."""
        own = engine.network_subnets(only=self.network)
        with netfix.network_lock():
            for attempt in range(2):
                rules = netfix.read_nat_rules()
                if rules is None:
                    return
                stale = set(netfix.stale_jumps(rules))
                bad = [j for s in sorted(own) if (j := netfix.first_jump(rules, s)) in stale]
                if not bad:
                    return
                if attempt == 0:  # a stale chain on our own subnet is garbage: ours is the one with the ACCEPT
                    engine.sweep_stale_nat(exclude=self.network)
        raise engine.EngineError(
            f"test bed {self.name}: traffic inside {', '.join(j.subnet for j in bad)} would be masqueraded by a "
            f"stale netavark chain ({', '.join(j.chain for j in bad)} lacks its ACCEPT rule) that could not be "
            "removed; see tests/testbed/netfix.py")

    # ---------------------------------------------------------------- readiness
    def _address(self, node: Node) -> str:
        info = podman_json("inspect", node.container)
        nets = info[0]["NetworkSettings"]["Networks"]
        return str(nets[self.network]["IPAddress"]) if self.network in nets else ""

    def wait_ready(self, names: list[str], timeout: float = 300) -> None:
        """Wait until each node has an address and answers SSH (systemd may still be settling)."""
        deadline = time.monotonic() + timeout
        for name in names:
            node = self.nodes[name]
            while True:
                node.address = self._address(node)
                if node.address and self._ssh_ok(node):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"node {name} not reachable over SSH after {timeout}s:\n"
                                       + self.logs(name, lines=40))
                time.sleep(0.5)

    def _ssh_ok(self, node: Node) -> bool:
        proc = subprocess.run(["ssh", *self.ssh_options(), f"root@{node.address}", "true"],
                              capture_output=True, timeout=20, check=False)
        return proc.returncode == 0

    def ssh_options(self) -> list[str]:
        return ["-i", str(self.key_file), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", "-o", "BatchMode=yes"]

    # ---------------------------------------------------------------- inventory
    def write_inventory(self) -> Path:
        hosts = {n.name: {"ansible_host": n.address} for n in sorted(self.nodes.values(), key=lambda n: n.name)}
        common = {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.key_file),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            "ansible_python_interpreter": "/usr/bin/python3",
        }
        children: dict[str, dict] = {g: {"hosts": {h: {} for h in members if h in hosts}}
                                     for g, members in self.groups.items()}
        inv = {"all": {"hosts": hosts, "vars": {**common, **self.group_vars}, "children": children}}
        self.inventory.write_text("---\n" + yaml.safe_dump(inv, sort_keys=False))
        return self.inventory

    # ---------------------------------------------------------------- node operations
    def exec(self, name: str, command: str, check: bool = True,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a shell command on a node (through the engine, so it works even when the node is cut off)."""
        proc = podman("exec", self.nodes[name].container, "/bin/bash", "-c", command, check=False,
                      timeout=timeout)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(errors="replace"),
                                             proc.stderr.decode(errors="replace"))
        if check and result.returncode != 0:
            raise AssertionError(f"{name}: `{command}` failed rc={result.returncode}\n"
                                 f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    def stop(self, name: str) -> None:
        podman("stop", "-t", "5", self.nodes[name].container)

    def start(self, name: str) -> None:
        podman("start", self.nodes[name].container)
        self.wait_ready([name])
        self.write_inventory()

    def cut(self, name: str) -> None:
        """Cut a node off the test-bed network (its processes keep running)."""
        podman("network", "disconnect", "-f", self.network, self.nodes[name].container)

    def restore(self, name: str) -> None:
        node = self.nodes[name]
        podman("network", "connect", "--alias", name, self.network, node.container)
        self.wait_ready([name])
        self.write_inventory()

    def logs(self, name: str, lines: int = 200) -> str:
        """The node's journal (falls back to the container log when journald is not up)."""
        node = self.nodes[name]
        proc = podman("exec", node.container, "journalctl", "--no-pager", "-n", str(lines), check=False,
                      timeout=30)
        if proc.returncode == 0:
            return proc.stdout.decode(errors="replace")
        return podman("logs", "--tail", str(lines), node.container, check=False).stdout.decode(errors="replace")

    def save_logs(self, dest: Path) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        written = []
        for name in self.nodes:
            path = dest / f"{self.name}-{name}.journal.txt"
            text = self.logs(name, lines=2000)
            # Daemons that log to files of their own (glusterd: its peer state machine) go along.
            for log in DAEMON_LOGS:
                proc = podman("exec", self.nodes[name].container, "tail", "-n", "400", log, check=False, timeout=30)
                if proc.returncode == 0:
                    text += f"\n===== {log} (last 400 lines)\n" + proc.stdout.decode(errors="replace")
            path.write_text(text)
            written.append(path)
        return written

    def describe(self) -> str:
        return json.dumps({n.name: n.address for n in self.nodes.values()}, sort_keys=True)


def gc() -> list[str]:
    """Remove everything any test bed of this checkout left behind (after a crash, say)."""
    return engine.remove_everything(checkout_prefix())
