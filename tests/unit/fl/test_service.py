"""Service tests against the real aiohttp app on 127.0.0.1 (ephemeral port), driven by the stdlib client."""
from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedmesh_fl import wire
from fedmesh_fl.client import Client, ServiceError
from fedmesh_fl.service.app import MANAGER, start
from fedmesh_fl.service.config import parse_config

CLIENTS = ("c1", "c2", "c3")
ADMIN = "admin-secret"
SHAPES = {"w": (16, 4), "b": (4,)}


def _h(t: str) -> str:
    return hashlib.sha256(t.encode()).hexdigest()


def make_config(state_dir: Path, **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "host": "127.0.0.1", "port": 0, "state_dir": str(state_dir),
        "admin_token_sha256": _h(ADMIN), "clients": {c: _h("tok-" + c) for c in CLIENTS},
        "init_spec": {"layers": {k: list(v) for k, v in SHAPES.items()}, "init": "normal", "seed": 1},
        "round": {"rule": "fedavg", "quorum": 3, "deadline_s": 60}, "auto_rounds": 5, "log_level": "warning",
    }
    cfg.update(over)
    return cfg


class Server:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner, self.port = asyncio.run_coroutine_threadsafe(start(parse_config(cfg)), self.loop).result(30)
        self.url = f"http://127.0.0.1:{self.port}"
        self.manager = self.runner.app[MANAGER]

    def client(self, name: str | None = None, token: str | None = None) -> Client:
        return Client(self.url, token if token is not None else ("tok-" + name if name else ADMIN), timeout=20)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def server(tmp_path: Path):
    s = Server(make_config(tmp_path / "state"))
    yield s
    s.stop()


def update(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v).astype(np.float32) for k, v in SHAPES.items()}


def wait_version(c: Client, v: int, timeout: float = 10.0) -> dict[str, Any]:
    c.wait_for_version(v, timeout=timeout, poll=0.02)
    return c.round_info()


def status_of(fn: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ServiceError) as ei:
        fn()
    return ei.value.status, ei.value.body


def test_health_model_download_and_first_round(server: Server) -> None:
    c = server.client("c1")
    assert c.health()["status"] == "ok"
    info = c.round_info()
    assert info["id"] == 1 and info["status"] == "open" and info["base_version"] == 0 and info["quorum"] == 3
    v, data = c.get_model_bytes()
    assert v == 0
    listed = c.list_models()
    assert [m["version"] for m in listed] == [0] and listed[0]["sha256"] == hashlib.sha256(data).hexdigest()
    _version, layers = c.get_model()
    assert layers["w"].shape == (16, 4) and layers["w"].dtype == np.float32
    assert status_of(lambda: c.get_model(7))[0] == 404


def test_fedavg_quorum_closes_round_with_reference_result(server: Server) -> None:
    ups = {c: update(i) for i, c in enumerate(CLIENTS)}
    ns = {"c1": 10, "c2": 30, "c3": 60}
    for c in CLIENTS[:2]:
        r = server.client(c).submit(1, ups[c], ns[c], base_version=0)
        assert r["accepted"] and r["round"] == 1
    assert server.client("c1").round_info()["accepted"] == 2
    server.client("c3").submit(1, ups["c3"], ns["c3"], base_version=0)
    wait_version(server.client("c1"), 1)
    info = server.client("c1").wait_for_round(after=1, timeout=5, poll=0.02)
    assert info["id"] == 2 and info["status"] == "open" and info["base_version"] == 1  # auto_rounds opened round 2
    v, data = server.client("c1").get_model_bytes(1)
    entry = [m for m in server.client("c1").list_models() if m["version"] == 1][0]
    assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["round"] == 1
    _version, model = wire.decode_model(data)
    total = sum(ns.values())
    for k in SHAPES:
        ref = sum(ups[c][k].astype(np.float64) * ns[c] for c in CLIENTS) / total
        np.testing.assert_allclose(model[k], ref, rtol=0, atol=1e-6)
    assert server.client("c1").get_model()[0] == 1
    from fedmesh_fl.service.store import RoundStore

    loaded = RoundStore(server.manager.cfg.state_dir).load()
    assert loaded is not None and loaded[0]["id"] == 2 and loaded[0]["status"] == "open"  # next round is durable too


def test_auth_errors(server: Server) -> None:
    payload = wire.encode_update(update(0), client="c1", round_id=1, base_version=0, num_samples=1)
    assert status_of(lambda: server.client(token="").submit_payload(1, payload))[0] == 401
    assert status_of(lambda: server.client(token="nope").submit_payload(1, payload))[0] == 401
    assert status_of(lambda: server.client(token=ADMIN).submit_payload(1, payload))[0] == 403
    assert status_of(lambda: server.client("c2").submit_payload(1, payload))[0] == 403  # payload names c1
    assert status_of(lambda: server.client("c1").open_round())[0] == 403
    assert status_of(lambda: server.client(token="bad").close_round())[0] == 401
    assert server.client("c1").round_info()["accepted"] == 0


@pytest.mark.parametrize("path", ["/v1/model", "/v1/models", "/v1/models/0"])
def test_model_downloads_need_a_client_or_admin_token(server: Server, path: str) -> None:
    for token in ("", "nope"):
        st, body = status_of(lambda token=token: server.client(token=token).request("GET", path))
        assert st == 401 and body["error"] == "auth", (token, body)
    for who in ("c2", None):  # a client token or the admin token
        status, _hdrs, data = server.client(who).request("GET", path)
        assert status == 200 and data
    anon = server.client(token="")
    assert anon.health()["status"] == "ok" and anon.round_info()["id"] == 1  # these stay open
    status, _hdrs, _data = anon.request("GET", "/metrics")
    assert status == 200


def test_malformed_oversized_and_core_rejections(server: Server) -> None:
    c1 = server.client("c1")
    st, body = status_of(lambda: c1.submit_payload(1, b"FMW\x00garbage"))
    assert st == 400 and body["error"] == "malformed" and "payload" in body["message"]
    good = wire.encode_update(update(0), client="c1", round_id=1, base_version=0, num_samples=5)
    assert status_of(lambda: c1.submit_payload(1, good[:-4]))[0] == 400
    wrong_round = wire.encode_update(update(0), client="c1", round_id=2, base_version=0, num_samples=5)
    assert status_of(lambda: c1.submit_payload(1, wrong_round))[0] == 400
    big = {"w": np.zeros((1000, 100), np.float32)}
    st, body = status_of(lambda: c1.submit(1, big, 5, 0))
    assert st == 413 and body["error"] == "too_large"
    bad = update(0)
    bad["b"][2] = np.nan
    st, body = status_of(lambda: c1.submit(1, bad, 5, 0))
    assert st == 422 and body["reason"] == "nonfinite" and body["layer"] == "b" and body["client"] == "c1"
    st, body = status_of(lambda: c1.submit(1, {"w": update(0)["w"][:, :3], "b": update(0)["b"]}, 5, 0))
    assert st == 422 and body["reason"] == "shape" and body["layer"] == "w"
    st, body = status_of(lambda: c1.submit(1, {"w": update(0)["w"]}, 5, 0))
    assert st == 422 and body["reason"] == "layout"
    assert status_of(lambda: c1.submit(1, update(0), 0, 0))[1]["reason"] == "samples"
    assert status_of(lambda: c1.submit(1, update(0), 5, 3))[0] == 400  # base version from the future
    # none of that changed state: the same client can still submit once
    assert c1.round_info()["accepted"] == 0
    assert c1.submit(1, update(0), 5, 0)["accepted"]
    st, body = status_of(lambda: c1.submit(1, update(1), 5, 0))
    assert st == 409 and body["error"] == "duplicate"
    assert c1.round_info()["accepted"] == 1


def test_late_and_future_rounds(server: Server) -> None:
    for i, c in enumerate(CLIENTS):
        server.client(c).submit(1, update(i), 1, 0)
    wait_version(server.client("c1"), 1)
    server.client("c1").wait_for_round(after=1, timeout=5, poll=0.02)
    st, body = status_of(lambda: server.client("c1").submit(1, update(9), 1, 0))
    assert st == 410 and body["error"] == "late"
    st, body = status_of(lambda: server.client("c1").submit(5, update(9), 1, 1))
    assert st == 409 and body["error"] == "not_open"
    st, body = status_of(lambda: server.client("c1").submit(2, update(9), 1, 0))  # trained on v0, round 2 is on v1
    assert st == 409 and body["error"] == "stale"


def test_admin_rounds_and_metrics(server: Server) -> None:
    admin = server.client()
    assert status_of(lambda: admin.open_round(quorum=2))[0] == 409  # round 1 still open
    r = admin.close_round()
    assert r["id"] == 1 and r["status"] == "closed" and r["outcome"] == "aborted"
    info = admin.round_info()  # auto_rounds opened round 2 on the same model
    assert info["id"] == 2 and info["base_version"] == 0
    admin.close_round()
    admin.close_round()
    admin.close_round()
    admin.close_round()  # round 5 closed; auto_rounds=5 opens no more
    assert admin.round_info()["status"] == "closed"
    assert status_of(admin.close_round)[0] == 409
    assert status_of(lambda: admin.open_round(rule="nosuch"))[0] == 400
    assert status_of(lambda: admin.open_round(rule="fedavg", params={"bogus": 1}))[0] == 400
    r = admin.open_round(rule="fedavg", quorum=1, deadline_s=30)
    assert r["id"] == 6 and r["quorum"] == 1
    server.client("c2").submit(6, update(2), 4, 0)
    wait_version(admin, 1)
    with pytest.raises(ServiceError):
        server.client("c2").submit(6, update(2), 4, 0)
    _status, _hdrs, text = admin.request("GET", "/metrics")
    m = text.decode()
    assert "fedmesh_updates_accepted_total 1.0" in m
    assert 'fedmesh_updates_rejected_total{reason="late"} 1.0' in m
    assert 'fedmesh_rounds_closed_total{outcome="aborted"} 5.0' in m
    assert "fedmesh_model_version 1.0" in m and "fedmesh_round_current 6.0" in m
    assert "fedmesh_aggregation_seconds_count 1.0" in m
    assert "fedmesh_update_bytes_received_total" in m and "fedmesh_update_bytes_received_total 0.0" not in m


def test_deadline_closes_with_min_updates_and_extends_when_empty(tmp_path: Path) -> None:
    s = Server(make_config(tmp_path / "st", round={"quorum": 3, "deadline_s": 0.4}, auto_rounds=2))
    try:
        c = s.client("c1")
        c.submit(1, update(0), 3, 0)
        wait_version(c, 1, timeout=5)
        info = c.wait_for_round(after=1, timeout=5, poll=0.02)
        assert info["id"] == 2
        r1 = s.manager.round
        assert r1 is not None and r1.id == 2
        time.sleep(1.0)  # round 2 has no updates: deadline is extended, round stays open
        info = c.round_info()
        assert info["id"] == 2 and info["status"] == "open" and info["deadline"] > time.time()
    finally:
        s.stop()


def test_concurrent_submissions_group_commit(server: Server) -> None:
    results: dict[str, Any] = {}

    def go(i: int, c: str) -> None:
        try:
            results[c] = server.client(c).submit(1, update(i), 1 + i, 0)
        except Exception as e:  # pragma: no cover - reported by the assert below
            results[c] = e

    threads = [threading.Thread(target=go, args=(i, c)) for i, c in enumerate(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert all(isinstance(r, dict) and r["accepted"] for r in results.values()), results
    wait_version(server.client("c1"), 1)
    _version, model = server.client("c1").get_model(1)
    ref = sum(update(i)["w"].astype(np.float64) * (1 + i) for i in range(3)) / 6
    np.testing.assert_allclose(model["w"], ref, atol=1e-6)


def test_tls_when_cert_and_key_are_given(tmp_path: Path) -> None:
    import shutil
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("openssl CLI not available")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    s = Server(make_config(tmp_path / "st", tls_cert=str(cert), tls_key=str(key)))
    try:
        c = Client(f"https://127.0.0.1:{s.port}", "tok-c1", ca_file=str(cert), timeout=10)
        assert c.health()["status"] == "ok"
        assert c.submit(1, update(0), 2, 0)["accepted"]
        import http.client

        with pytest.raises((OSError, http.client.HTTPException)):  # no plain HTTP; an unknown CA is refused
            Client(f"http://127.0.0.1:{s.port}", "tok-c1", timeout=5).health()
        import ssl

        with pytest.raises(ssl.SSLError):
            Client(f"https://127.0.0.1:{s.port}", "tok-c1", timeout=5).health()
    finally:
        s.stop()


def test_fedbuff_accepts_stale_updates_against_their_base_model(tmp_path: Path) -> None:
    s = Server(make_config(tmp_path / "st", round={"rule": "fedbuff", "quorum": 1, "deadline_s": 60,
                                                   "max_staleness": 1}, auto_rounds=3))
    try:
        c1, c2 = s.client("c1"), s.client("c2")
        _version, v0 = c1.get_model()
        c1.submit(1, update(0), 1, 0)
        wait_version(c1, 1)
        c1.wait_for_round(after=1, timeout=5, poll=0.02)
        _version, v1 = c1.get_model()
        x = update(1)
        assert c2.submit(2, x, 1, 0)["accepted"]  # trained on v0, one version behind: allowed, staleness 1
        wait_version(c1, 2)
        _version, v2 = c1.get_model(2)
        # fedbuff applies the client's delta against the model it trained on, damped by (1 + staleness)^-0.5
        for k in SHAPES:
            expect = v1[k] + (x[k] - v0[k]) / np.sqrt(2.0)
            np.testing.assert_allclose(v2[k], expect, rtol=1e-5, atol=1e-5)
        c1.wait_for_round(after=2, timeout=5, poll=0.02)
        st, body = status_of(lambda: c2.submit(3, update(2), 1, 0))  # two versions behind
        assert st == 409 and body["error"] == "stale"
    finally:
        s.stop()


def test_stalled_upload_times_out_and_frees_its_slot(tmp_path: Path) -> None:
    import socket

    s = Server(make_config(tmp_path / "st", body_timeout_s=1, ingest_slots=1))
    try:
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            sock.sendall(b"POST /v1/rounds/1/updates HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-c1\r\n"
                         b"Content-Length: 1000\r\n\r\n" + b"FMW\x00" + b"\x00" * 6)
            t0 = time.monotonic()
            head = sock.recv(4096)
            assert head.startswith(b"HTTP/1.1 408") and 0.5 < time.monotonic() - t0 < 5
        assert s.client("c1").submit(1, update(0), 1, 0)["accepted"]  # slot free, client not marked
    finally:
        s.stop()


def test_prefault_keeps_every_byte() -> None:
    from fedmesh_fl.service.buffers import prefault

    a = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    a[[0, 1024, 4999]] = [-0.0, np.nan, np.inf]
    before = a.tobytes()
    prefault(a)
    assert a.tobytes() == before
    prefault(np.empty(0, np.float32))  # nothing to touch
    ro = np.zeros(10, np.float32)
    ro.flags.writeable = False
    prefault(ro)  # read-only arrays are left alone


def test_pooled_body_buffers_are_reused_across_rejections_and_rounds(tmp_path: Path) -> None:
    s = Server(make_config(tmp_path / "st", ingest_slots=1))
    try:
        bufs = s.manager.buffers
        assert bufs.size > 0 and len(bufs._free) == 1  # filled (and pre-faulted) when round 1 opened
        pooled = bufs._free[0]
        c1 = s.client("c1")
        bad = update(5)
        bad["w"][3, 1] = np.inf
        assert status_of(lambda: c1.submit(1, bad, 7, 0))[0] == 422  # its buffer goes back to the pool ...
        assert bufs._free == [pooled]
        ups = {c: update(10 + i) for i, c in enumerate(CLIENTS)}
        for c in CLIENTS:  # ... and later bodies overwrite it: the rejected one leaves no trace
            assert s.client(c).submit(1, ups[c], 4, 0)["accepted"]
        wait_version(c1, 1)
        info = c1.wait_for_round(after=1, timeout=5, poll=0.02)
        assert info["id"] == 2 and bufs._free and bufs._free[0] is not pooled  # dropped at close, new for round 2
        _version, model = c1.get_model()
        for k in SHAPES:
            ref = sum(ups[c][k].astype(np.float64) for c in CLIENTS) / 3
            np.testing.assert_allclose(model[k], ref, rtol=0, atol=1e-6)
    finally:
        s.stop()
