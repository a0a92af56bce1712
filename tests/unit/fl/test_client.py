"""Client library and CLI against the real service on 127.0.0.1."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_service import ADMIN, Server, make_config, update

from fedmesh_fl import wire
from fedmesh_fl.client import Client, ServiceError, main


@pytest.fixture
def server(tmp_path: Path):
    s = Server(make_config(tmp_path / "state", round={"quorum": 1, "deadline_s": 60}))
    yield s
    s.stop()


def _cli(server: Server, tmp_path: Path, token: str, *args: str, capsys: pytest.CaptureFixture[str]):
    tf = tmp_path / "tok"
    tf.write_text(token + "\n")
    capsys.readouterr()
    rc = main(["--url", server.url, "--token-file", str(tf), "--timeout", "20", *args])
    out, err = capsys.readouterr()
    last_err = err.strip().splitlines()[-1] if err.strip() else ""  # server logs share stderr in-process
    return rc, (json.loads(out) if out.strip() else None), last_err


def test_cli_round_trip(server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _err = _cli(server, tmp_path, "tok-c1", "health", capsys=capsys)
    assert rc == 0 and out["status"] == "ok"
    rc, out, _err = _cli(server, tmp_path, "tok-c1", "get-model", "--out", str(tmp_path / "m.npz"), capsys=capsys)
    assert rc == 0 and out["version"] == 0
    np.savez(tmp_path / "u.npz", **update(3))  # type: ignore[arg-type]
    rc, out, _err = _cli(server, tmp_path, "tok-c2", "submit", "--round", "1", "--file", str(tmp_path / "u.npz"),
                         "--num-samples", "4", "--base-version", "0", capsys=capsys)
    assert rc == 0 and out["accepted"] is True
    Client(server.url, "tok-c1").wait_for_version(1, timeout=10, poll=0.02)
    rc, out, _err = _cli(server, tmp_path, "tok-c1", "get-model", "--out", str(tmp_path / "m1.fmw"), capsys=capsys)
    assert rc == 0 and out["version"] == 1
    _version, layers = wire.decode_model((tmp_path / "m1.fmw").read_bytes())
    np.testing.assert_allclose(layers["w"], update(3)["w"], atol=1e-6)  # one client: fedavg = its weights
    rc, out, _err = _cli(server, tmp_path, "tok-c1", "models", capsys=capsys)
    assert [m["version"] for m in out] == [0, 1]
    rc, out, _err = _cli(server, tmp_path, "tok-c1", "wait-round", "--after", "1", "--wait", "5", capsys=capsys)
    assert rc == 0 and out["id"] == 2


def test_cli_surfaces_server_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = Server(make_config(tmp_path / "state", auto_rounds=1))
    try:
        _admin_flow(server, tmp_path, capsys)
    finally:
        server.stop()


def _admin_flow(server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _cli(server, tmp_path, "tok-c1", "open-round", "--quorum", "2", capsys=capsys)
    assert rc == 1 and out is None
    e = json.loads(err)
    assert e["status"] == 403 and "admin" in e["message"]
    rc, out, _err = _cli(server, tmp_path, ADMIN, "close-round", capsys=capsys)
    assert rc == 0 and out["outcome"] == "aborted"
    rc, out, _err = _cli(server, tmp_path, ADMIN, "open-round", "--rule", "median", "--quorum", "2",
                         "--params", '{"max_clients": 4}', capsys=capsys)
    assert rc == 0 and out["rule"] == "median" and out["quorum"] == 2 and out["id"] == 2
    rc, out, err = _cli(server, tmp_path, ADMIN, "open-round", capsys=capsys)
    assert rc == 1 and json.loads(err)["error"] == "round_open"


def test_library_errors_and_timeouts(server: Server) -> None:
    c = Client(server.url, "wrong", timeout=5)
    with pytest.raises(ServiceError) as ei:
        c.submit(1, update(0), 1, 0)
    assert ei.value.status == 401 and "token" in str(ei.value)
    with pytest.raises(TimeoutError):
        c.wait_for_round(after=99, timeout=0.2, poll=0.05)
    with pytest.raises(ValueError):
        Client("ftp://x")
    c1 = Client(server.url, "tok-c1", client_id="c1")
    assert c1.submit(1, update(1), 2, 0)["client"] == "c1"
