"""Hostile connections and bodies, with real sockets on loopback (bounded in count and time):
encoded bodies, the connection cap, the header timeout, and what reaches stderr."""
from __future__ import annotations

import gzip
import json
import resource
import socket
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from test_service import Server, make_config, update

from fedmesh_fl import wire
from fedmesh_fl.service import bodyread, logs

HOLD_S = 0.6  # header timeout used below


def _payload(client: str = "c1") -> bytes:
    return bytes(wire.encode_update(update(0), client=client, round_id=1, base_version=0, num_samples=3))


def _post(port: int, head: str, body: bytes, timeout: float = 20) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.encode() + body)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
            if b"\r\n\r\n" in out and len(out) > 2000:
                break
        return out


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else 0


def _head(token: str | None, extra: str) -> str:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"POST /v1/rounds/1/updates HTTP/1.1\r\nHost: x\r\n{auth}Content-Encoding: gzip\r\n"
            f"Connection: close\r\n{extra}\r\n")


def _chunked(data: bytes) -> bytes:
    return b"".join(b"%x\r\n" % len(data[i:i + 65536]) + data[i:i + 65536] + b"\r\n"
                    for i in range(0, len(data), 65536)) + b"0\r\n\r\n"


@pytest.fixture
def srv(tmp_path: Path):
    s = Server(make_config(tmp_path / "st", header_timeout_s=HOLD_S, max_connections=8, log_level="info"))
    yield s
    s.stop()


@pytest.mark.hostile(
    "aggregator",
    "a 1 MB gzip body inflating to 1 GiB, without a token",
    "401 before any body byte is read; memory unchanged",
)
def test_gzip_bomb_without_a_token_is_not_inflated(srv: Server) -> None:
    bomb = gzip.compress(bytes(256 << 20), compresslevel=9)  # 256 MiB of zeros in ~250 kB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for extra, body in ((f"Content-Length: {len(bomb)}\r\n", bomb), ("Transfer-Encoding: chunked\r\n", _chunked(bomb))):
        assert _status(_post(srv.port, _head(None, extra), body)) == 401
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 64, f"peak RSS grew by {grown_mb:.0f} MB: the body was inflated"


@pytest.mark.hostile(
    "aggregator",
    "`Content-Encoding: gzip`, with or without Content-Length",
    "415 either way",
)
def test_encoded_updates_get_415_with_or_without_content_length(srv: Server) -> None:
    body = gzip.compress(_payload())
    with_len = _post(srv.port, _head("tok-c1", f"Content-Length: {len(body)}\r\n"), body)
    chunked = _post(srv.port, _head("tok-c1", "Transfer-Encoding: chunked\r\n"), _chunked(body))
    assert _status(with_len) == _status(chunked) == 415
    assert b"unsupported_encoding" in with_len and b"Content-Encoding" in chunked
    assert srv.client("c1").round_info()["accepted"] == 0
    assert srv.client("c1").submit(1, update(0), 3, 0)["accepted"]  # plain bodies still work


@pytest.mark.hostile(
    "aggregator",
    "more idle sockets than `max_connections`",
    "extra connections closed at once, logged once per interval; `/healthz` answers",
)
def test_connection_cap_keeps_the_service_answering(srv: Server, capsys: Any) -> None:
    socks = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _i in range(40)]
    try:
        time.sleep(0.2)
        closed = 0
        for s in socks[8:]:  # beyond max_connections: closed by the server at once
            s.settimeout(2)
            try:
                closed += s.recv(1) == b""
            except ConnectionResetError:
                closed += 1
        assert closed == 32
        time.sleep(HOLD_S + 0.5)  # the 8 admitted ones sent nothing: closed by the header timeout
        assert srv.client("c1").health()["status"] == "ok"
    finally:
        for s in socks:
            s.close()
    events = [json.loads(ln) for ln in capsys.readouterr().err.splitlines() if ln.startswith("{")]
    refused = [e for e in events if e["event"] == "connections_refused"]
    assert 1 <= len(refused) <= 2 and refused[0]["count"] >= 1  # one line per interval, not per socket
    assert len([e for e in events if e["event"] == "header_timeouts"]) <= 2


@pytest.mark.hostile(
    "aggregator",
    "request headers sent 1 byte/s",
    "connection closed after `header_timeout_s`",
)
def test_slow_headers_are_cut_off(srv: Server) -> None:
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        try:
            for b in head:  # one byte per 50 ms: would take 6 s
                s.sendall(bytes([b]))
                time.sleep(0.05)
            got = s.recv(100)
        except (BrokenPipeError, ConnectionResetError):
            got = b""
    assert got == b"" and time.monotonic() - t0 < HOLD_S + 2
    assert srv.client("c1").health()["status"] == "ok"


def test_keep_alive_requests_are_not_cut_off(srv: Server) -> None:
    """The header timer runs only until the headers are in: a slow handler or a reused connection is fine."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        for _i in range(3):
            conn.request("GET", "/healthz")
            assert conn.getresponse().read()
            time.sleep(HOLD_S / 3)
    finally:
        conn.close()


@pytest.mark.hostile(
    "aggregator",
    "arithmetic that makes NumPy warn",
    "a JSON log line, never raw stderr",
)
def test_numpy_and_python_warnings_become_json_lines(capsys: Any) -> None:
    import numpy as np

    logs.install()
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with np.errstate(over="warn"):
            np.float32(3e38) * np.float32(10)  # noqa: B018 - the overflow warning is the point
        for _i in range(50):
            warnings.warn("again and again", RuntimeWarning, stacklevel=1)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("{") for ln in lines), err[:500]
    assert "overflow" in err and len([ln for ln in lines if "again and again" in ln]) == 1


def test_direct_body_reads_fall_back_on_an_untested_aiohttp(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    assert bodyread.supported("3.8.4")[0] and bodyread.supported("3.13.2")[0]
    ok, why = bodyread.supported("4.0.0")
    assert not ok and "4.0.0" in why
    monkeypatch.setattr(bodyread, "_support", None)
    monkeypatch.setattr(bodyread.aiohttp, "__version__", "9.1.0")
    s = Server(make_config(tmp_path / "st", round={"rule": "fedavg", "quorum": 1, "deadline_s": 60},
                           log_level="info"))
    try:
        assert s.client("c1").submit(1, update(0), 3, 0)["accepted"]
    finally:
        s.stop()
    err = capsys.readouterr().err
    assert err.count('"direct_body_reads_unsupported"') == 1 and "9.1.0" in err
