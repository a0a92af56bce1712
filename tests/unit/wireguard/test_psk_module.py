"""wireguard_psk: one call per node for its preshared key files - owned keys, copies, purge, check mode."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys
from ansible_collections.fedmesh.cluster.plugins.modules import wireguard_psk

from .conftest import run_module


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_owner_check_run_check_run_returns_its_keys(tmp_path, capsys) -> None:
    d = tmp_path / "psk"
    args = {"dir": str(d), "create": ["n2", "n3"], "purge": True}
    r = run_module(wireguard_psk.main, {**args, "_ansible_check_mode": True, "_ansible_diff": True}, capsys)
    assert r["changed"] and r["created"] == ["n2", "n3"] and not d.exists()
    assert r["preshared_keys"] == {"n2": None, "n3": None}  # check mode: not created yet
    r = run_module(wireguard_psk.main, {**args, "_ansible_diff": True}, capsys)
    assert r["changed"] and mode(d) == 0o700
    for peer in ("n2", "n3"):
        f = d / f"{peer}.psk"
        assert mode(f) == 0o600 and f.read_text().strip() == r["preshared_keys"][peer]
        assert keys.is_valid_key(r["preshared_keys"][peer])
        assert r["preshared_keys"][peer] not in json.dumps({k: v for k, v in r.items() if k != "preshared_keys"})
    again = run_module(wireguard_psk.main, {**args, "_ansible_check_mode": True}, capsys)
    assert not again["changed"] and again["preshared_keys"] == r["preshared_keys"]
    again = run_module(wireguard_psk.main, args, capsys)
    assert not again["changed"] and again["preshared_keys"] == r["preshared_keys"]


def test_copies_are_written_once_and_purge_keeps_only_peers(tmp_path, capsys) -> None:
    d = tmp_path / "psk"
    d.mkdir(mode=0o700)
    (d / "gone.psk").write_text(keys.generate_preshared_key() + "\n")
    k1 = keys.generate_preshared_key()
    r = run_module(wireguard_psk.main, {"dir": str(d), "keys": {"n1": k1}, "_ansible_diff": True}, capsys)
    assert r["changed"] and r["written"] == ["n1"] and (d / "n1.psk").read_text().strip() == k1
    assert k1 not in json.dumps(r) and (d / "gone.psk").exists()  # no purge: nothing removed
    assert not run_module(wireguard_psk.main, {"dir": str(d), "keys": {"n1": k1}}, capsys)["changed"]
    r = run_module(wireguard_psk.main, {"dir": str(d), "create": ["n3"], "keep": ["n1"], "purge": True}, capsys)
    assert r["removed"] == ["gone"] and sorted(p.name for p in d.iterdir()) == ["n1.psk", "n3.psk"]


def test_a_copy_whose_owner_has_no_key_yet_is_a_change_in_check_mode_an_error_otherwise(tmp_path, capsys) -> None:
    d = tmp_path / "psk"
    r = run_module(wireguard_psk.main, {"dir": str(d), "keys": {"n1": None}, "_ansible_check_mode": True}, capsys)
    assert r["changed"] and r["written"] == ["n1"] and not d.exists()
    r = run_module(wireguard_psk.main, {"dir": str(d), "keys": {"n1": None}}, capsys)
    assert r.get("failed") and "n1" in r["msg"] and not (d / "n1.psk").exists()


@pytest.mark.hostile("wireguard", "wireguard_psk peer name `../../etc/cron.d/x` or a garbage key",
                     "fails naming the field; no file written anywhere")
@pytest.mark.parametrize(("args", "field"), [
    ({"create": ["../../etc/cron.d/x"]}, "create[0]"),
    ({"keys": {"a/b": keys.generate_preshared_key()}}, "keys"),
    ({"keys": {"n1": "not-a-key"}}, "keys[n1]"),
    ({"create": ["n1"], "keys": {"n1": keys.generate_preshared_key()}}, "both create and keys"),
])
def test_bad_input_names_the_field_and_changes_nothing(tmp_path, capsys, args: dict, field: str) -> None:
    d = tmp_path / "psk"
    r = run_module(wireguard_psk.main, {"dir": str(d), **args}, capsys)
    assert r.get("failed") and field in r["msg"], r
    assert not d.exists() and list(tmp_path.iterdir()) == []
