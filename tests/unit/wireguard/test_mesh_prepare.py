"""wireguard_mesh_prepare: the role's first call - the read, plus the private key and the pair keys the node
owns ensured as wireguard_key and wireguard_psk would (check -> run -> check -> run), on a fake node."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys
from ansible_collections.fedmesh.cluster.plugins.modules import wireguard_mesh_prepare

from .conftest import run_module
from .test_mesh_node_modules import node  # noqa: F401  # pylint: disable=unused-import


def prepare_args(tmp_path: Path, **over: Any) -> dict[str, Any]:
    args = {"interface": "wg0", "config_dir": str(tmp_path / "etc"), "key_file": str(tmp_path / "etc" / "wg0.key"),
            "psk_dir": str(tmp_path / "etc" / "psk"), "psk_create": ["n2", "n3"]}
    args.update(over)
    return args


def test_prepare_check_run_check_run(tmp_path, capsys, node) -> None:  # noqa: F811
    args = prepare_args(tmp_path)
    key = tmp_path / "etc" / "wg0.key"
    r = run_module(wireguard_mesh_prepare.main, dict(args, _ansible_check_mode=True, _ansible_diff=True), capsys)
    assert r["changed"] and any("generate a private key" in c for c in r["commands"])
    assert any(c.endswith("n3.psk (0600)") for c in r["commands"])
    assert r["key"]["ensure"] is True and r["key"]["public_key"] is None and r["preshared_keys"] == {}
    assert not key.exists() and not (tmp_path / "etc" / "psk").exists()  # check mode changes nothing

    r = run_module(wireguard_mesh_prepare.main, args, capsys)
    assert r["changed"] and key.exists() and oct(os.stat(key).st_mode & 0o777) == "0o600"
    priv = key.read_text().strip()
    assert r["key"]["ensure"] is False and r["key"]["public_key"] == keys.public_key(priv)
    assert sorted(r["preshared_keys"]) == ["n2", "n3"]
    assert all(keys.is_valid_key(k) for k in r["preshared_keys"].values())
    assert r["psk_dir_mode"] == "0700" and priv not in json.dumps(r)
    assert r["view"]["psk_sha256"]["n2"] and r["view"]["config"] is None  # the apply writes the config
    created = dict(r["preshared_keys"])

    for check in (True, False):
        again = run_module(wireguard_mesh_prepare.main, dict(args, _ansible_check_mode=check), capsys)
        assert not again["changed"] and again["commands"] == [] and again["preshared_keys"] == created
        assert again["key"]["ensure"] is False and again["key"]["public_key"] == r["key"]["public_key"]


def test_prepare_rotates_once_per_run_and_never_touches_other_key_files(tmp_path, capsys, node) -> None:  # noqa: F811
    args = prepare_args(tmp_path)
    first = run_module(wireguard_mesh_prepare.main, args, capsys)
    (tmp_path / "etc" / "psk" / "n1.psk").write_text(keys.generate_preshared_key() + "\n")  # a copy n1 owns
    rotated = run_module(wireguard_mesh_prepare.main, dict(args, regenerate="always"), capsys)
    assert rotated["changed"] and rotated["key"]["ensure"] is False  # done: the key task has nothing left
    assert rotated["key"]["public_key"] != first["key"]["public_key"]
    assert rotated["preshared_keys"]["n2"] == first["preshared_keys"]["n2"] and "n1" in rotated["preshared_keys"]
    without = run_module(wireguard_mesh_prepare.main, dict(args, key_file=None, psk_create=[]), capsys)
    assert not without["changed"] and without["key"]["ensure"] is False


@pytest.mark.hostile(
    "wireguard",
    "a pair-key peer name that is a path (`wireguard_mesh_prepare` `psk_create: ['../etc/passwd']`)",
    "fails naming `create[0]` before any change: no key, no directory is created",
)
def test_prepare_refuses_a_bad_peer_name_before_any_change(tmp_path, capsys, node) -> None:  # noqa: F811
    r = run_module(wireguard_mesh_prepare.main, prepare_args(tmp_path, psk_create=["../etc/passwd"]), capsys)
    assert r.get("failed") and "create[0]" in r["msg"]
    assert not (tmp_path / "etc" / "wg0.key").exists() and not (tmp_path / "etc" / "psk").exists()
