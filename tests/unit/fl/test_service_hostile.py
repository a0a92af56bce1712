"""Hostile input to the service: sample counts, overflowing aggregates, rounds that could never close,
operator input out of range.  Every answer is a 4xx naming the field, and the service keeps working."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_service import SHAPES, Server, make_config, status_of, update

from fedmesh_fl import wire
from fedmesh_fl.core import MAX_NUM_SAMPLES

REPO = Path(__file__).resolve().parents[3]
BIG = {k: np.full(v, 3e38, np.float32) for k, v in SHAPES.items()}  # finite, near float32 max


def _json_lines(err: str) -> list[dict[str, Any]]:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    for ln in lines:  # every stderr line is one JSON object: no raw NumPy warning, no traceback
        assert ln.startswith("{"), f"non-JSON line on stderr: {ln[:200]}"
    return [json.loads(ln) for ln in lines]


@pytest.fixture
def srv(tmp_path: Path):
    s = Server(make_config(tmp_path / "st", round={"rule": "fedavg", "quorum": 2, "deadline_s": 60},
                           log_level="info", auto_rounds=1))
    yield s
    s.stop()


@pytest.mark.parametrize("ns", [MAX_NUM_SAMPLES + 1, 10**40, 10**400])
@pytest.mark.hostile(
    "aggregator",
    "`num_samples` over 10**12 (10**40, 10**400) in an update",
    "422 `samples`, naming the field; no 500",
)
def test_num_samples_over_the_maximum_is_422_naming_the_field(srv: Server, ns: int) -> None:
    c1 = srv.client("c1")
    st, body = status_of(lambda: c1.submit(1, update(0), ns, 0))
    assert st == 422 and body["reason"] == "samples" and "num_samples" in body["message"]
    assert str(MAX_NUM_SAMPLES) in body["message"]
    assert c1.round_info()["accepted"] == 0
    assert c1.submit(1, update(0), MAX_NUM_SAMPLES, 0)["accepted"]  # the maximum itself is fine


@pytest.mark.hostile(
    "aggregator",
    "finite updates near float32's maximum whose FedAvg overflows",
    "round `failed` (logged), previous model kept, next round opens",
)
def test_overflowing_aggregate_fails_the_round_and_keeps_the_model(tmp_path: Path, capsys: Any) -> None:
    srv = Server(make_config(tmp_path / "st", round={"rule": "fedavg", "quorum": 2, "deadline_s": 60},
                             log_level="info", auto_rounds=2))
    try:
        _overflow_round(srv, capsys)
    finally:
        srv.stop()


def _overflow_round(srv: Server, capsys: Any) -> None:
    c1, c2, admin = srv.client("c1"), srv.client("c2"), srv.client()
    _v, before = c1.get_model_bytes()
    assert c1.submit(1, BIG, 1000, 0)["accepted"]
    st, body = status_of(lambda: c2.submit(1, BIG, 1000, 0))  # the quorum close fails: no 202 for it
    assert st == 409 and body["error"] == "round_failed" and "version 0" in body["message"]
    info = c1.wait_for_round(after=1, timeout=5, poll=0.02)
    assert info["id"] == 2 and info["status"] == "open" and info["base_version"] == 0  # next round opened
    assert c1.get_model_bytes() == (0, before)  # the previous model stays; no version 1
    assert [m["version"] for m in c1.list_models()] == [0]
    # the failed round is recorded as such, and a later round aggregates normally (a server optimiser too)
    admin.close_round()
    admin.open_round(rule="fedadam", quorum=2, deadline_s=60)
    for i, c in enumerate(("c1", "c2")):
        srv.client(c).submit(3, update(i), 5, 0)
    assert srv.client("c1").wait_for_version(1, timeout=10, poll=0.02) == 1
    _v, model = c1.get_model(1)
    assert all(np.isfinite(a).all() for a in model.values())
    events = _json_lines(capsys.readouterr().err)
    failed = [e for e in events if e["event"] == "round_failed"]
    assert len(failed) == 1 and failed[0]["round"] == 1 and "NaN" in failed[0]["error"]


@pytest.mark.hostile(
    "aggregator",
    "a restart after a failed round",
    "the service starts and opens the next round",
)
def test_round_failure_survives_a_restart(tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "st", round={"rule": "fedadam", "quorum": 1, "deadline_s": 60}, auto_rounds=3)
    s = Server(cfg)
    try:
        status_of(lambda: s.client("c1").submit(1, BIG, 1, 0))
        s.client("c1").wait_for_round(after=1, timeout=5, poll=0.02)
    finally:
        s.stop()
    s = Server(cfg)
    try:
        info = s.client("c1").round_info()
        assert info["id"] == 2 and info["status"] == "open" and info["base_version"] == 0
        s.client("c1").submit(2, update(1), 1, 0)
        assert s.client("c1").wait_for_version(1, timeout=10, poll=0.02) == 1
    finally:
        s.stop()


@pytest.mark.hostile(
    "aggregator",
    "operator opens `krum` f=2 with quorum 3",
    "400 naming `quorum` and the rule parameter",
)
def test_krum_round_that_could_never_close_is_refused_at_open(srv: Server) -> None:
    admin = srv.client()
    admin.close_round()
    st, body = status_of(lambda: admin.open_round(rule="krum", params={"f": 2}, quorum=3))
    assert st == 400 and "quorum" in body["message"] and "f=2" in body["message"] and "2f+3" in body["message"]
    st, body = status_of(lambda: admin.open_round(rule="median", params={"max_clients": 2, "grow": False}, quorum=3))
    assert st == 400 and "max_clients" in body["message"] and "quorum" in body["message"]
    r = admin.open_round(rule="krum", params={"f": 2}, quorum=7)  # the service can still open a round
    assert r["status"] == "open"


@pytest.mark.hostile(
    "aggregator",
    "admin close of a round the rule cannot aggregate",
    "200 `outcome: failed`; the service stays usable",
)
def test_admin_close_with_too_few_updates_ends_the_round_not_the_service(srv: Server) -> None:
    admin = srv.client()
    admin.close_round()
    r = admin.open_round(rule="krum", params={"f": 1}, quorum=5, min_at_deadline=1)
    srv.client("c1").submit(r["id"], update(0), 3, 0)
    out = admin.close_round()  # Krum needs 5: the round ends failed (not 500), with the reason
    assert out["status"] == "closed" and out["outcome"] == "failed" and "2f+3" in out["error"]
    assert admin.health()["model_version"] == 0
    assert admin.open_round(quorum=1)["status"] == "open"


def test_deadline_waits_for_what_the_rule_needs(tmp_path: Path) -> None:
    s = Server(make_config(tmp_path / "st", round={"rule": "krum", "params": {"f": 0}, "quorum": 3,
                                                   "deadline_s": 0.3, "min_at_deadline": 1}, auto_rounds=1))
    try:
        s.client("c1").submit(1, update(0), 3, 0)
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0.8), s.loop).result(5)
        info = s.client("c1").round_info()
        assert info["status"] == "open" and info["accepted"] == 1  # extended, not closed into a failure
    finally:
        s.stop()


@pytest.mark.parametrize(("body", "field"), [
    ({"quorum": 10**30}, "quorum"), ({"quorum": 0}, "quorum"), ({"deadline_s": 1e-9}, "deadline_s"),
    ({"deadline_s": float("inf")}, "deadline_s"), ({"min_at_deadline": -1}, "min_at_deadline"),
    ({"max_update_bytes": 10**20}, "max_update_bytes"), ({"max_staleness": 10**12}, "max_staleness"),
    ({"params": {"max_clients": 10**9}}, "max_clients"), ({"params": {"max_clients": 1e9}}, "max_clients"),
    ({"rule": "fedadam", "params": {"eta": 10**400}}, "eta"), ({"rule": ["x"]}, "rule"),
])
@pytest.mark.hostile(
    "aggregator",
    "operator numbers out of range (`max_clients` 1e9, `deadline_s` 1e-9, ...)",
    "400 naming the field",
)
def test_operator_input_out_of_range_is_400_naming_the_field(srv: Server, body: dict, field: str) -> None:
    admin = srv.client()
    admin.close_round()
    st, err = status_of(lambda: admin._json("POST", "/v1/rounds", body))
    assert st == 400 and field in err["message"], err
    assert admin.health()["round_status"] == "closed"  # nothing half-applied


@pytest.mark.hostile(
    "aggregator",
    "admin JSON nested deeper than 16 levels or over 64 KiB",
    "400 / 413, no RecursionError",
)
def test_deeply_nested_or_oversized_admin_json(srv: Server) -> None:
    admin = srv.client()
    admin.close_round()
    deep = b'{"params": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    st, _h, data = _raw(srv, "POST", "/v1/rounds", deep)
    assert st == 413
    deep = b'{"params": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    st, _h, data = _raw(srv, "POST", "/v1/rounds", deep)
    assert st == 400 and b"nested" in data
    nested: Any = 1
    for _i in range(20):
        nested = {"a": nested}
    st, _h, data = _raw(srv, "POST", "/v1/rounds", json.dumps({"params": nested}).encode())
    assert st == 400 and b"nested" in data
    st, _h, data = _raw(srv, "POST", "/v1/rounds", b'{"quorum": 1' + b" " * 70_000 + b"}",
                        chunked=True)
    assert st == 413  # the limit holds without a Content-Length too
    assert admin.health()["status"] == "ok"


def _raw(s: Server, method: str, path: str, body: bytes, token: str = "admin-secret",
         headers: dict[str, str] | None = None, chunked: bool = False) -> tuple[int, dict[str, str], bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=20)
    try:
        hdrs = {"Authorization": f"Bearer {token}", **(headers or {})}
        if chunked:
            conn.request(method, path, body=iter([body[i:i + 8192] for i in range(0, len(body), 8192)]),
                         headers=hdrs, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.mark.hostile(
    "aggregator",
    "many updates at once on a robust-rule round",
    "exactly `quorum` aggregated; the rest 410 `late`",
)
def test_exact_quorum_under_concurrent_updates(tmp_path: Path) -> None:
    """Updates folded in after the quorum was reached are refused (410), so a round aggregates exactly
    ``quorum`` updates even when many arrive at once (robust rule: median)."""
    clients = [f"k{i}" for i in range(8)]
    cfg = make_config(tmp_path / "st", round={"rule": "median", "quorum": 5, "deadline_s": 60}, ingest_slots=8,
                      auto_rounds=1)
    cfg["clients"].update({c: __import__("hashlib").sha256(("tok-" + c).encode()).hexdigest() for c in clients})
    s = Server(cfg)
    try:
        m = s.manager

        async def many() -> list[Any]:
            async def one(i: int, c: str) -> Any:
                buf = wire.encode_update(update(i), client=c, round_id=1, base_version=0, num_samples=1)
                seq = await m.apply(c, 1, wire.decode(bytes(buf), expect="update"))
                return await m.finish(c, 1, seq, 1)
            return await asyncio.gather(*(one(i, c) for i, c in enumerate(clients)), return_exceptions=True)

        results = asyncio.run_coroutine_threadsafe(many(), s.loop).result(30)
        ok = [r for r in results if isinstance(r, dict)]
        late = [r for r in results if getattr(r, "status", None) == 410]
        assert len(ok) == 5 and len(late) == 3, results
        assert s.client("c1").wait_for_version(1, timeout=10, poll=0.02) == 1
        entry = s.client("c1").round_info()
        assert entry["id"] == 1 and entry["accepted"] == 5
    finally:
        s.stop()


@pytest.mark.hostile(
    "aggregator",
    "a config the service cannot run (file or stdin)",
    "`--check-config` exits 2 naming the field; no state touched",
)
def test_check_config_cli(tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "st")
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(cfg))
    bad.write_text(json.dumps(dict(cfg, round={"rule": "krum", "params": {"f": 2}, "quorum": 3})))
    env = {"PYTHONPATH": str(REPO / "src")}
    run = [sys.executable, "-m", "fedmesh_fl.service", "--check-config"]
    r = subprocess.run([*run, str(good)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([*run, str(bad)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2 and "'quorum'=3" in r.stderr and "f=2" in r.stderr
    assert not (tmp_path / "st").exists()  # checking touches no state
    # "-" reads the config from stdin (the aggregator role's probe, which also runs in check mode)
    r = subprocess.run([*run, "-"], env=env, input=bad.read_text(), capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 2 and "'quorum'=3" in r.stderr, r.stderr
    r = subprocess.run([*run, "-"], env=env, input="x" * ((16 << 20) + 1), capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 2 and "16 MiB" in r.stderr, r.stderr


def test_borrowed_buffers_go_back_only_when_nothing_can_touch_them() -> None:
    from fedmesh_fl.service.buffers import BodyBuffers
    from fedmesh_fl.service.errors import ApiError

    pool = BodyBuffers(1)
    pool.fill(64)
    with pool.borrowed(10, safe=(ApiError,)) as b:
        first = b
    with pytest.raises(ApiError), pool.borrowed(10, safe=(ApiError,)) as b:
        assert b is first  # reused
        raise ApiError(400, "malformed", "x")
    with pytest.raises(asyncio.CancelledError), pool.borrowed(10, safe=(ApiError,)) as b:
        assert b is first
        raise asyncio.CancelledError  # a worker may still write into it: dropped, not pooled
    with pool.borrowed(10, safe=(ApiError,)) as b:
        assert b is not first
    with pool.borrowed(None, safe=(ApiError,)) as b:
        assert b is None


@pytest.mark.parametrize(("spec", "field"), [
    ({"layers": {"w": [10**9, 10**9]}}, "init_spec.layers"), ({"layers": {"w": ["x"]}}, "init_spec.layers.w"),
    ({"layers": {"w": [2]}, "scale": float("nan")}, "scale"), ({"layers": {"w": [2]}, "init": "ones"}, "init"),
    ({"layers": {}}, "init_spec"),
])
@pytest.mark.hostile(
    "aggregator",
    "an `init_spec` too large or malformed",
    "config error naming the field",
)
def test_init_spec_out_of_range_is_a_config_error(tmp_path: Path, spec: dict, field: str) -> None:
    from fedmesh_fl.service.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_config(make_config(tmp_path / "st", init_spec=spec))
