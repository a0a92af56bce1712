"""Module level: argument validation, check mode, diff redaction, idempotence, apply classification.

The key module runs for real in a temporary directory. The interface module runs against a fake node (the
Backend's command methods are replaced), so no interface, unit or file outside tmp_path is touched.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import backend as wgbackend
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import config as wgconfig
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import interface as wginterface
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys
from ansible_collections.fedmesh.cluster.plugins.modules import wireguard_info, wireguard_interface, wireguard_key

from .conftest import run_module


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# --- wireguard_key ----------------------------------------------------------------------------------------
def test_key_check_run_check_run(tmp_path, capsys) -> None:
    path = str(tmp_path / "wg" / "wg0.key")
    args = {"path": path, "_ansible_check_mode": True, "_ansible_diff": True}
    r = run_module(wireguard_key.main, args, capsys)
    assert r["changed"] and r["public_key"] is None and not os.path.exists(path)
    r = run_module(wireguard_key.main, {"path": path, "_ansible_diff": True}, capsys)
    assert r["changed"] and keys.is_valid_key(r["public_key"]) and mode(path) == 0o600
    priv = Path(path).read_text().strip()
    assert keys.public_key(priv) == r["public_key"]
    assert priv not in json.dumps(r)
    r2 = run_module(wireguard_key.main, {"path": path, "_ansible_check_mode": True}, capsys)
    assert not r2["changed"] and r2["public_key"] == r["public_key"]
    r3 = run_module(wireguard_key.main, {"path": path}, capsys)
    assert not r3["changed"] and Path(path).read_text().strip() == priv


def test_key_regenerate_policies(tmp_path, capsys) -> None:
    path = str(tmp_path / "wg0.key")
    first = run_module(wireguard_key.main, {"path": path}, capsys)["public_key"]
    r = run_module(wireguard_key.main, {"path": path, "regenerate": "max_age", "max_age_days": 30}, capsys)
    assert not r["changed"] and r["public_key"] == first
    old = os.stat(path).st_mtime - 40 * 86400
    os.utime(path, (old, old))
    r = run_module(wireguard_key.main, {"path": path, "regenerate": "max_age", "max_age_days": 30}, capsys)
    assert r["changed"] and r["regenerated"] and r["public_key"] != first
    r2 = run_module(wireguard_key.main, {"path": path, "regenerate": "always"}, capsys)
    assert r2["changed"] and r2["public_key"] != r["public_key"]


def test_key_fixes_mode_and_refuses_garbage(tmp_path, capsys) -> None:
    path = tmp_path / "wg0.key"
    path.write_text(keys.generate_private_key() + "\n")
    path.chmod(0o644)
    r = run_module(wireguard_key.main, {"path": str(path)}, capsys)
    assert r["changed"] and not r["regenerated"] and mode(str(path)) == 0o600
    path.write_text("not a key\n")
    r = run_module(wireguard_key.main, {"path": str(path)}, capsys)
    assert r["failed"] and "does not hold a WireGuard key" in r["msg"] and path.read_text() == "not a key\n"


def test_preshared_key_content_is_no_log_and_idempotent(tmp_path, capsys) -> None:
    path = str(tmp_path / "psk" / "n2.psk")
    psk = keys.generate_preshared_key()
    r = run_module(wireguard_key.main, {"path": path, "type": "preshared", "content": psk, "_ansible_diff": True},
                   capsys)
    assert r["changed"] and "public_key" not in r and Path(path).read_text().strip() == psk
    assert psk not in json.dumps(r)
    r = run_module(wireguard_key.main, {"path": path, "type": "preshared", "content": psk}, capsys)
    assert not r["changed"]


@pytest.mark.parametrize(("args", "message"), [
    ({"regenerate": "max_age"}, "max_age_days"),
    ({"regenerate": "max_age", "max_age_days": 0}, "max_age_days must be 1 or more"),
    ({"content": "abc", "type": "preshared"}, "content is not a base64-encoded 32-byte WireGuard key"),
    ({"content": keys.generate_preshared_key(), "regenerate": "always"}, "mutually exclusive"),
    ({"type": "public"}, "type"),
])
def test_key_argument_errors_change_nothing(tmp_path, capsys, args: dict, message: str) -> None:
    path = str(tmp_path / "k")
    r = run_module(wireguard_key.main, dict(args, path=path), capsys)
    assert r["failed"] and message in r["msg"] and not os.path.exists(path)
    if "content" in args:
        assert args["content"] not in json.dumps(r)


# --- wireguard_interface on a fake node ---------------------------------------------------------------------
class FakeNode:
    """Stands in for systemd + wg: records commands, serves a live dump built from the config file."""

    def __init__(self, tmp_path) -> None:
        self.dir = tmp_path
        self.active = False
        self.enabled = False
        self.calls: list[str] = []
        self.conf = str(tmp_path / "etc" / "wg0.conf")
        self.dropin = str(tmp_path / "dropin.conf")

    def install(self, monkeypatch) -> None:
        node = self
        monkeypatch.setattr(wginterface, "DROPIN_PATH", self.dropin)
        monkeypatch.setattr(wgbackend.Backend, "has", lambda self, b: True)
        monkeypatch.setattr(wgbackend.Backend, "kernel_module_available", lambda self: False)
        monkeypatch.setattr(wgbackend.Backend, "unit_state",
                            lambda self, i: {"active": node.active, "enabled": node.enabled})

        def ensure_dropin(self) -> bool:
            wgbackend.write_private_file(node.dropin, wgbackend.DROPIN_TEXT, 0o644)
            node.calls.append("dropin")
            return True

        def systemctl(self, *args: str) -> None:
            node.calls.append("systemctl " + " ".join(args))
            if args[0] in ("start", "restart"):
                node.active = True
            if args[0] == "enable":
                node.enabled = True
            if args[0] == "disable":
                node.enabled = False
                node.active = node.active and "--now" not in args

        def syncconf(self, interface: str) -> None:
            node.calls.append("syncconf")

        def dump(self, interface: str | None = None) -> dict:
            if not node.active or not os.path.exists(node.conf):
                return {}
            snap = wgconfig.parse_snapshot(Path(node.conf).read_text())[0]
            return {"wg0": {"public_key": keys.public_key(snap["private_key"]), "listen_port": snap["listen_port"],
                            "fwmark": None, "peers": [{"public_key": k} for k in snap["peers"]]}}

        monkeypatch.setattr(wgbackend.Backend, "ensure_dropin", ensure_dropin)
        monkeypatch.setattr(wgbackend.Backend, "systemctl", systemctl)
        monkeypatch.setattr(wgbackend.Backend, "syncconf", syncconf)
        monkeypatch.setattr(wgbackend.Backend, "dump", dump)
        monkeypatch.setattr(wgbackend.Backend, "wait_up", lambda self, i, timeout=10.0: True)


@pytest.fixture
def node(tmp_path, monkeypatch) -> FakeNode:
    n = FakeNode(tmp_path)
    n.install(monkeypatch)
    return n


@pytest.fixture
def secrets(tmp_path) -> dict[str, Any]:
    priv = keys.generate_private_key()
    (tmp_path / "wg0.key").write_text(priv + "\n")
    peers = []
    for i in range(2):
        psk = keys.generate_preshared_key()
        (tmp_path / f"n{i}.psk").write_text(psk + "\n")
        peers.append({"name": f"n{i}", "public_key": keys.public_key(keys.generate_private_key()),
                      "endpoint": f"n{i}:51820", "allowed_ips": [f"10.80.0.{i + 10}/32"],
                      "preshared_key_file": str(tmp_path / f"n{i}.psk"), "_psk": psk})
    return {"priv": priv, "peers": peers}


def iface_args(tmp_path, secrets, **over: Any) -> dict[str, Any]:
    args = {"name": "wg0", "addresses": ["10.80.0.1/24"], "listen_port": 51820,
            "private_key_file": str(tmp_path / "wg0.key"), "implementation": "userspace",
            "config_dir": str(tmp_path / "etc"),
            "peers": [{k: v for k, v in p.items() if not k.startswith("_")} for p in secrets["peers"]]}
    args.update(over)
    return args


def assert_no_secret(result: dict, secrets: dict) -> None:
    text = json.dumps(result)
    assert secrets["priv"] not in text
    for p in secrets["peers"]:
        assert p["_psk"] not in text


def test_interface_check_run_check_run(tmp_path, capsys, node, secrets) -> None:
    args = iface_args(tmp_path, secrets)
    r = run_module(wireguard_interface.main, dict(args, _ansible_check_mode=True, _ansible_diff=True), capsys)
    assert r["changed"] and r["action"] == "started" and len(r["peers_added"]) == 2
    assert not os.path.exists(node.conf) and node.calls == []
    assert "PrivateKey = <redacted" in r["diff"]["after"]
    assert_no_secret(r, secrets)

    r = run_module(wireguard_interface.main, dict(args, _ansible_diff=True), capsys)
    assert r["changed"] and r["action"] == "started" and r["implementation"] == "userspace"
    assert node.calls == ["dropin", "systemctl start wg-quick@wg0.service", "systemctl enable wg-quick@wg0.service"]
    assert mode(node.conf) == 0o600 and mode(os.path.dirname(node.conf)) == 0o700
    written = wgconfig.parse_snapshot(Path(node.conf).read_text())[0]
    assert written["private_key"] == secrets["priv"]
    assert {p["preshared_key"] for p in written["peers"].values()} == {p["_psk"] for p in secrets["peers"]}
    assert r["public_key"] == keys.public_key(secrets["priv"])
    assert_no_secret(r, secrets)

    node.calls.clear()
    for check in (True, False):
        r = run_module(wireguard_interface.main, dict(args, _ansible_check_mode=check, _ansible_diff=True), capsys)
        assert not r["changed"] and r["action"] == "none", r["summary"]
    assert node.calls == []


def test_peer_changes_are_applied_live(tmp_path, capsys, node, secrets) -> None:
    args = iface_args(tmp_path, secrets)
    run_module(wireguard_interface.main, args, capsys)
    node.calls.clear()
    new_pub = keys.public_key(keys.generate_private_key())
    peers = args["peers"][1:] + [{"name": "n9", "public_key": new_pub, "allowed_ips": ["10.80.0.99/32"]}]
    peers[0] = dict(peers[0], endpoint="elsewhere:51820")
    r = run_module(wireguard_interface.main, dict(args, peers=peers), capsys)
    assert r["changed"] and r["action"] == "syncconf" and not r["restart_required"]
    assert [p["name"] for p in r["peers_added"]] == ["n9"]
    assert [p["name"] for p in r["peers_removed"]] == ["n0"]
    assert r["peers_changed"][0]["changes"] == {"endpoint": {"before": "n1:51820", "after": "elsewhere:51820"}}
    assert node.calls == ["syncconf"]


def test_rotated_private_key_is_live_psk_change_is_redacted(tmp_path, capsys, node, secrets) -> None:
    args = iface_args(tmp_path, secrets)
    run_module(wireguard_interface.main, args, capsys)
    node.calls.clear()
    new_priv = keys.generate_private_key()
    (tmp_path / "wg0.key").write_text(new_priv + "\n")
    new_psk = keys.generate_preshared_key()
    (tmp_path / "n0.psk").write_text(new_psk + "\n")
    r = run_module(wireguard_interface.main, dict(args, _ansible_diff=True), capsys)
    assert r["action"] == "syncconf" and node.calls == ["syncconf"]
    assert r["interface_changes"]["public_key"]["after"] == keys.public_key(new_priv)
    assert r["peers_changed"][0]["changes"] == {"preshared_key": "changed"}
    assert "<redacted; changed>" in r["diff"]["after"]
    text = json.dumps(r)
    assert new_priv not in text and new_psk not in text and secrets["priv"] not in text


def test_address_change_restarts(tmp_path, capsys, node, secrets) -> None:
    args = iface_args(tmp_path, secrets)
    run_module(wireguard_interface.main, args, capsys)
    node.calls.clear()
    r = run_module(wireguard_interface.main, dict(args, addresses=["10.80.0.2/24"]), capsys)
    assert r["action"] == "restarted" and node.calls == ["systemctl restart wg-quick@wg0.service"]


def test_failed_apply_restores_previous_config(tmp_path, capsys, node, secrets, monkeypatch) -> None:
    args = iface_args(tmp_path, secrets)
    run_module(wireguard_interface.main, args, capsys)
    before = Path(node.conf).read_text()
    calls = []

    def failing(self, interface: str) -> None:
        calls.append(interface)
        if len(calls) == 1:
            raise wgbackend.BackendError("wg syncconf failed")

    monkeypatch.setattr(wgbackend.Backend, "syncconf", failing)
    r = run_module(wireguard_interface.main, dict(args, peers=args["peers"][:1]), capsys)
    assert r["failed"] and "restored the previous config" in r["msg"]
    assert Path(node.conf).read_text() == before and len(calls) == 2


def test_state_absent(tmp_path, capsys, node, secrets) -> None:
    args = iface_args(tmp_path, secrets)
    run_module(wireguard_interface.main, args, capsys)
    node.calls.clear()
    absent = {"name": "wg0", "state": "absent", "config_dir": args["config_dir"]}
    r = run_module(wireguard_interface.main, dict(absent, _ansible_check_mode=True), capsys)
    assert r["changed"] and os.path.exists(node.conf) and node.calls == []
    r = run_module(wireguard_interface.main, dict(absent, _ansible_diff=True), capsys)
    assert r["changed"] and r["action"] == "removed" and not os.path.exists(node.conf)
    assert node.calls == ["systemctl disable --now wg-quick@wg0.service"]
    assert_no_secret(r, secrets)
    r = run_module(wireguard_interface.main, absent, capsys)
    assert not r["changed"]


@pytest.mark.parametrize(("over", "message"), [
    ({"addresses": ["10.80.0.1/99"]}, "addresses"),
    ({"name": "this-name-is-too-long"}, "name:"),
    ({"private_key_file": "/nonexistent/wg0.key"}, "private_key_file: /nonexistent/wg0.key does not exist"),
    ({"peers": [{"public_key": "bad", "allowed_ips": []}]}, "peers[0].public_key"),
    ({"peers": [{"public_key": keys.public_key(keys.generate_private_key()), "preshared_key": "not-a-key",
                 "preshared_key_file": "/x"}]}, "mutually exclusive"),
    ({"listen_port": 0}, "listen_port"),
    ({"peers": [{"public_key": "A" * 43 + "=", "allowed_ips": []}]}, "peers[0].public_key: 'AAAA"),  # all-zero
    ({"peers": [{"name": "a", "public_key": keys.public_key(keys.generate_private_key()),
                 "allowed_ips": ["10.9.0.0/24"]},
                {"name": "b", "public_key": keys.public_key(keys.generate_private_key()),
                 "allowed_ips": ["10.9.0.5/32"]}]}, "10.9.0.5/32 (peer b) overlaps 10.9.0.0/24 of peer a"),
    ({"implementation": "kernel"}, "implementation=kernel but the wireguard kernel module is not available"),
])
def test_interface_bad_input_changes_nothing(tmp_path, capsys, node, secrets, over: dict, message: str) -> None:
    r = run_module(wireguard_interface.main, iface_args(tmp_path, secrets, **over), capsys)
    assert r["failed"] and message in r["msg"], r["msg"]
    assert "nothing was changed" in r["msg"] or "mutually exclusive" in r["msg"]
    assert not os.path.exists(node.conf) and node.calls == []


def test_preshared_key_argument_is_no_log(tmp_path, capsys, node, secrets) -> None:
    psk = keys.generate_preshared_key()
    peer = {"public_key": keys.public_key(keys.generate_private_key()), "preshared_key": psk,
            "allowed_ips": ["10.80.0.50/32"]}
    r = run_module(wireguard_interface.main, iface_args(tmp_path, secrets, peers=[peer], _ansible_diff=True), capsys)
    assert r["changed"] and psk not in json.dumps(r)


# --- wireguard_info ------------------------------------------------------------------------------------------
def test_info_reads_config_without_secrets(tmp_path, capsys, node, secrets) -> None:
    args = iface_args(tmp_path, secrets)
    run_module(wireguard_interface.main, args, capsys)
    r = run_module(wireguard_info.main, {"interface": "wg0", "config_dir": args["config_dir"]}, capsys)
    wg0 = r["interfaces"]["wg0"]
    assert not r["changed"] and wg0["exists"] and wg0["active"]
    assert wg0["addresses"] == ["10.80.0.1/24"] and wg0["public_key"] == keys.public_key(secrets["priv"])
    assert {p["name"] for p in wg0["peers"]} == {"n0", "n1"}
    assert_no_secret(r, secrets)
