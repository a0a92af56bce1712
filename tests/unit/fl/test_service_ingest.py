"""Update bodies read straight off the socket (plain HTTP) and the group commit of acknowledgements."""
from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
from test_service import Server, make_config, status_of, wait_version

from fedmesh_fl import wire

N = 1_500_000  # 6 MB: more than aiohttp buffers before the handler runs


def _config(tmp_path: Path, quorum: int = 2) -> dict:
    return make_config(tmp_path / "st", init_spec={"layers": {"w": [N]}, "init": "zeros"},
                       round={"rule": "fedavg", "quorum": quorum, "deadline_s": 60})


def _payload(value: float, client: str = "") -> bytes:
    return bytes(wire.encode_update({"w": np.full(N, value, np.float32)}, client=client, round_id=1,
                                    base_version=0, num_samples=1))


def _assert_v1_is(s: Server, value: float) -> None:
    """Model version 1 becomes visible and every weight equals ``value``."""
    wait_version(s.client("c1"), 1)
    _v, model = s.client("c1").get_model(1)
    np.testing.assert_array_equal(model["w"], np.full(N, value, np.float32))


def _request_head(token: str, length: int) -> bytes:
    return (f"POST /v1/rounds/1/updates HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n").encode()


def _post_slowly(port: int, token: str, body: bytes, send: int | None = None) -> bytes:
    """POST ``body[:send]`` in paced pieces (the handler starts before the body is there), return the
    raw response (or b"" if ``send`` < len(body): the socket is closed after the short body)."""
    head = _request_head(token, len(body))
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(head + body[:4096])
        time.sleep(0.1)
        end = len(body) if send is None else send
        for i in range(4096, end, 1 << 20):
            s.sendall(body[i:min(end, i + (1 << 20))])
            time.sleep(0.01)
        if send is not None:
            return b""
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_direct_body_read_accepts_and_closes_the_connection(tmp_path: Path) -> None:
    s = Server(_config(tmp_path))
    try:
        raw = _post_slowly(s.port, "tok-c1", _payload(1.0))
        head = raw.split(b"\r\n\r\n", 1)[0].lower()
        assert head.startswith(b"http/1.1 202") and b"connection: close" in head  # recv ended: closed
        assert s.client("c2").submit_payload(1, _payload(3.0))["accepted"]
        _assert_v1_is(s, 2.0)
    finally:
        s.stop()


def test_direct_body_reads_can_be_switched_off(tmp_path: Path) -> None:
    s = Server({**_config(tmp_path), "direct_body_reads": False})
    try:
        raw = _post_slowly_keepalive(s.port, "tok-c1", _payload(1.0))
        head = raw.split(b"\r\n\r\n", 1)[0].lower()
        assert head.startswith(b"http/1.1 202") and b"connection: close" not in head  # aiohttp's stream
        assert s.client("c2").submit_payload(1, _payload(3.0))["accepted"]
        wait_version(s.client("c1"), 1)
        np.testing.assert_array_equal(s.client("c1").get_model(1)[1]["w"], np.full(N, 2.0, np.float32))
    finally:
        s.stop()


def _post_slowly_keepalive(port: int, token: str, body: bytes) -> bytes:
    """Like _post_slowly, but reads only the response head (the connection stays open)."""
    head = _request_head(token, len(body))
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(head + body)
        out = b""
        while b"\r\n\r\n" not in out and (chunk := s.recv(65536)):
            out += chunk
        return out


def test_direct_body_cut_short_changes_nothing(tmp_path: Path) -> None:
    s = Server(_config(tmp_path))
    try:
        _post_slowly(s.port, "tok-c1", _payload(100.0), send=3_000_000)  # client leaves mid-body
        deadline = time.monotonic() + 5
        while s.manager._inflight and time.monotonic() < deadline:  # noqa: SLF001 - wait for the handler
            time.sleep(0.02)
        assert s.client("c1").round_info()["accepted"] == 0
        bad = _payload(5.0, client="c3")  # for another client: rejected after a full direct read
        assert status_of(lambda: s.client("c1").submit_payload(1, bad))[0] == 403
        for c, v in (("c1", 1.0), ("c2", 2.0)):  # the pooled buffers carry no trace of either
            assert s.client(c).submit_payload(1, _payload(v))["accepted"]
        _assert_v1_is(s, 1.5)
    finally:
        s.stop()


def test_the_quorum_update_is_acknowledged_by_the_new_model_not_a_checkpoint(tmp_path: Path) -> None:
    """Once the quorum close is on its way no checkpoint is written: the new version covers the update."""
    s = Server(_config(tmp_path, quorum=3))
    saved: list[int] = []
    orig = s.manager.rounds.prepare

    def prepare(meta, arrays=None):  # type: ignore[no-untyped-def]
        if meta.get("status") == "open" and meta.get("accepted"):  # an update checkpoint
            saved.append(len(meta.get("accepted", [])))
        return orig(meta, arrays)

    s.manager.rounds.prepare = prepare  # type: ignore[method-assign]
    try:
        for c, v in (("c1", 1.0), ("c2", 2.0), ("c3", 6.0)):
            assert s.client(c).submit_payload(1, _payload(v))["accepted"]
        assert (tmp_path / "st" / "models" / "v1.fmw").exists()  # acked only once v1 was durable ...
        _assert_v1_is(s, 3.0)
        assert saved == [1, 2]  # one checkpoint per lone update, none for the quorum one
    finally:
        s.stop()


def test_direct_body_reads_must_be_a_boolean(tmp_path: Path) -> None:
    import pytest

    from fedmesh_fl.service.config import ConfigError, parse_config

    assert parse_config(_config(tmp_path)).direct_body_reads is True
    with pytest.raises(ConfigError, match="'direct_body_reads' must be true or false"):
        parse_config({**_config(tmp_path), "direct_body_reads": "yes"})


def test_an_upload_that_completes_the_quorum_holds_back_the_checkpoint(tmp_path: Path, monkeypatch) -> None:
    """c2's upload is under way when c1's update is folded in: c1's acknowledgement waits for the
    quorum close (bounded by GROUP_WAIT_S, raised here so a slow box cannot flake) instead of
    writing a checkpoint of the whole accumulator that the close would make moot."""
    import threading

    from fedmesh_fl.service import commit

    monkeypatch.setattr(commit, "GROUP_WAIT_S", 5.0)
    s = Server(_config(tmp_path, quorum=2))
    saved: list[int] = []
    orig = s.manager.rounds.prepare

    def prepare(meta, arrays=None):  # type: ignore[no-untyped-def]
        if meta.get("status") == "open" and meta.get("accepted"):
            saved.append(len(meta["accepted"]))
        return orig(meta, arrays)

    s.manager.rounds.prepare = prepare  # type: ignore[method-assign]
    try:
        slow: list[bytes] = []
        t = threading.Thread(target=lambda: slow.append(_post_slowly(s.port, "tok-c2", _payload(3.0))))
        t.start()
        deadline = time.monotonic() + 5
        while "c2" not in s.manager._inflight and time.monotonic() < deadline:  # noqa: SLF001
            time.sleep(0.005)
        assert "c2" in s.manager._inflight  # noqa: SLF001 - c2 is uploading
        assert s.client("c1").submit_payload(1, _payload(1.0))["accepted"]
        t.join(20)
        assert slow and slow[0].split(b"\r\n", 1)[0].startswith(b"HTTP/1.1 202")
        assert saved == []  # both acknowledged by the new model version
        _assert_v1_is(s, 2.0)
    finally:
        s.stop()


def test_the_new_model_file_is_staged_when_the_round_opens(tmp_path: Path) -> None:
    """The round's model version is written into a file prepared at open (page cache allocated off
    the acknowledgement path); no staged file outlives its round, closed or aborted."""
    s = Server(_config(tmp_path, quorum=2))
    models = tmp_path / "st" / "models"
    try:
        staged = list(models.glob(".v1.fmw.*.tmp"))
        assert len(staged) == 1 and staged[0].stat().st_size >= N * 4
        for c, v in (("c1", 1.0), ("c2", 3.0)):
            assert s.client(c).submit_payload(1, _payload(v))["accepted"]
        wait_version(s.client("c1"), 1)
        deadline = time.monotonic() + 5  # round 2 (auto_rounds) opens right after v1 is published
        while not list(models.glob(".v2.fmw.*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [p.name.split(".")[1] for p in models.glob(".*.tmp")] == ["v2"]  # v1's staged file is gone
        _v, model = s.client("c1").get_model(1)
        np.testing.assert_array_equal(model["w"], np.full(N, 2.0, np.float32))
        data = (models / "v1.fmw").read_bytes()
        assert wire.decode_model(data)[0] == 1  # truncated to the payload: decodes exactly
        assert s.manager.models.latest()["sha256"] == __import__("hashlib").sha256(data).hexdigest()
        round2 = list(models.glob(".v2.fmw.*.tmp"))
        assert len(round2) == 1  # round 2 opened on v1
        s.client().close_round()  # aborted: nothing to write, its staged file is removed ...
        assert not round2[0].exists()
        assert len(list(models.glob(".*.tmp"))) == 1  # ... and round 3 (auto_rounds) staged its own
    finally:
        s.stop()
