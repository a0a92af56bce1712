"""Crash durability: a real ``python -m fedmesh_fl.service`` subprocess is SIGKILLed mid-round."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedmesh_fl import wire
from fedmesh_fl.client import Client, ServiceError

REPO = Path(__file__).resolve().parents[3]
SHAPES = {"w": (32, 8), "b": (8,)}
TOK = {c: "secret-" + c for c in ("a", "b", "c")}


def _h(t: str) -> str:
    return hashlib.sha256(t.encode()).hexdigest()


def _update(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v).astype(np.float32) for k, v in SHAPES.items()}


class Proc:
    def __init__(self, cfg_path: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        self.p = subprocess.Popen([sys.executable, "-m", "fedmesh_fl.service", "--config", str(cfg_path)],
                                  stderr=subprocess.PIPE, text=True, env=env)
        self.port = 0
        self.lines: list[str] = []
        end = time.monotonic() + 20
        assert self.p.stderr is not None
        while time.monotonic() < end:
            line = self.p.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            rec = json.loads(line)
            if rec["event"] == "listening":
                self.port = rec["port"]
                threading.Thread(target=self._drain, daemon=True).start()  # never let the pipe fill up
                return
        self.kill()
        raise AssertionError(f"service did not start: {self.lines}")

    def _drain(self) -> None:
        assert self.p.stderr is not None
        for line in self.p.stderr:
            self.lines.append(line)

    def client(self, who: str) -> Client:
        return Client(f"http://127.0.0.1:{self.port}", TOK[who], timeout=20)

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
        self.p.wait(10)


def _write_config(tmp_path: Path, rule: str = "fedavg") -> Path:
    c: dict[str, Any] = {
        "host": "127.0.0.1", "port": 0, "state_dir": str(tmp_path / "state"),
        "clients": {k: _h(v) for k, v in TOK.items()}, "admin_token_sha256": _h("adm"),
        "init_spec": {"layers": {k: list(v) for k, v in SHAPES.items()}, "init": "normal"},
        "round": {"rule": rule, "quorum": 3, "deadline_s": 300}, "auto_rounds": 1,
    }
    p = tmp_path / "fl.json"
    p.write_text(json.dumps(c))
    return p


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return _write_config(tmp_path)


def test_sigkill_mid_round_loses_no_accepted_update(cfg: Path) -> None:
    ups = {c: _update(i) for i, c in enumerate(TOK)}
    ns = {"a": 5, "b": 7, "c": 11}
    s = Proc(cfg)
    try:
        for c in ("a", "b"):
            assert s.client(c).submit(1, ups[c], ns[c], 0)["accepted"]
    finally:
        s.kill()  # SIGKILL right after the 202s: they must already be durable
    state = cfg.parent / "state"
    (state / ".round.ckpt.999.tmp").write_text("torn")  # a stray temp file from a crashed writer
    s = Proc(cfg)
    try:
        a = s.client("a")
        info = a.round_info()
        assert info["id"] == 1 and info["status"] == "open" and info["accepted_clients"] == ["a", "b"]
        with pytest.raises(ServiceError) as ei:
            a.submit(1, ups["a"], ns["a"], 0)
        assert ei.value.status == 409 and ei.value.error == "duplicate"
        assert not (state / ".round.ckpt.999.tmp").exists()
        s.client("c").submit(1, ups["c"], ns["c"], 0)
        a.wait_for_version(1, timeout=10, poll=0.05)
        version, data = a.get_model_bytes()
        assert version == 1
        entry = a.list_models()[-1]
        assert entry["version"] == 1 and entry["sha256"] == hashlib.sha256(data).hexdigest()
        _version, model = wire.decode_model(data)
        total = sum(ns.values())
        for k in SHAPES:
            ref = sum(ups[c][k].astype(np.float64) * ns[c] for c in TOK) / total
            np.testing.assert_allclose(model[k], ref, rtol=0, atol=1e-6)
    finally:
        s.kill()
    # a third start sees the closed round and the same model (nothing re-aggregated)
    s = Proc(cfg)
    try:
        info = s.client("a").round_info()
        assert info["id"] == 1 and info["status"] == "closed" and info["version"] == 1
        assert s.client("a").get_model_bytes()[1] == data
    finally:
        s.kill()


def test_crash_between_model_write_and_round_close_is_recovered(tmp_path: Path) -> None:
    from test_service import Server, make_config, update

    from fedmesh_fl.service.store import RoundStore

    cfg = make_config(tmp_path / "st", auto_rounds=1)
    s = Server(cfg)
    try:
        for i, c in enumerate(("c1", "c2")):
            s.client(c).submit(1, update(i), 1, 0)
        store = RoundStore(s.manager.cfg.state_dir)
        before_close = store.load()  # round 1 open with 2 durable updates
        s.client("c3").submit(1, update(2), 1, 0)
        s.client("c1").wait_for_version(1, timeout=10, poll=0.02)
    finally:
        s.stop()
    assert before_close is not None
    store.save(*before_close)  # as if killed after v1 + index were written, before round.ckpt said closed
    s = Server(cfg)
    try:
        info = s.client("c1").round_info()
        assert info["id"] == 1 and info["status"] == "closed" and info["version"] == 1
        assert s.client("c1").get_model()[0] == 1
    finally:
        s.stop()


def test_an_acknowledged_version_missing_from_the_index_is_adopted_at_start(tmp_path: Path) -> None:
    """The last updates are acknowledged once v1's file is durable, before its SHA-256 reaches the
    index: a crash in between must neither lose v1 nor reopen its round."""
    from test_service import Server, make_config, update

    from fedmesh_fl.service.store import RoundStore

    cfg = make_config(tmp_path / "st", auto_rounds=1)
    s = Server(cfg)
    try:
        for i, c in enumerate(("c1", "c2")):
            s.client(c).submit(1, update(i), 1, 0)
        before_close = RoundStore(s.manager.cfg.state_dir).load()
        s.client("c3").submit(1, update(2), 1, 0)
        s.client("c1").wait_for_version(1, timeout=10, poll=0.02)
        v1 = s.client("c1").get_model_bytes()[1]
    finally:
        s.stop()
    assert before_close is not None
    models = tmp_path / "st" / "models"
    index = json.loads((models / "index.json").read_text())
    (models / "index.json").write_text(json.dumps(index[:1]))  # killed after write(), before publish()
    RoundStore(tmp_path / "st").save(*before_close)
    s = Server(cfg)
    try:
        assert s.manager.models.adopted == [1]
        info = s.client("c1").round_info()
        assert info["id"] == 1 and info["status"] == "closed" and info["version"] == 1
        assert s.client("c1").get_model_bytes()[1] == v1
        assert s.manager.models.latest()["sha256"] == hashlib.sha256(v1).hexdigest()
        assert s.manager.models.latest()["round"] == 1
    finally:
        s.stop()


def test_a_damaged_unindexed_model_file_is_left_alone(tmp_path: Path) -> None:
    from fedmesh_fl.service.store import ModelStore

    store = ModelStore(tmp_path)
    store.add(0, {"w": np.zeros(4, np.float32)}, None, None)
    (store.dir / "v1.fmw").write_bytes(b"FMW\x00 not a model")
    again = ModelStore(tmp_path)
    assert again.adopted == [] and [e["version"] for e in again.entries] == [0]
    assert (store.dir / "v1.fmw").exists()  # evidence kept for the operator


def test_failed_checkpoint_answers_503_and_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_service import Server, make_config, update

    from fedmesh_fl.service import store

    s = Server(make_config(tmp_path / "st"))
    try:
        s.client("c1").submit(1, update(0), 1, 0)
        real = store.RoundStore.commit
        calls = {"n": 0}

        def failing(self: store.RoundStore, pending: store.PendingCheckpoint) -> None:
            calls["n"] += 1
            pending.discard()
            raise OSError("disk full")

        monkeypatch.setattr(store.RoundStore, "commit", failing)
        with pytest.raises(ServiceError) as ei:
            s.client("c2").submit(1, update(1), 1, 0)
        assert ei.value.status == 503 and calls["n"] == 1
        assert s.client("c2").round_info()["accepted_clients"] == ["c1"]
        monkeypatch.setattr(store.RoundStore, "commit", real)
        assert s.client("c2").submit(1, update(1), 1, 0)["accepted"]  # not a duplicate: it was rolled back
        s.client("c3").submit(1, update(2), 1, 0)
        s.client("c1").wait_for_version(1, timeout=10, poll=0.02)
        _version, model = s.client("c1").get_model()
        ref = sum(update(i)["w"].astype(np.float64) for i in range(3)) / 3
        np.testing.assert_allclose(model["w"], ref, atol=1e-6)
    finally:
        s.stop()


def test_bad_config_fails_at_start_with_one_json_line(tmp_path: Path) -> None:
    c = {"state_dir": str(tmp_path / "s"), "clients": {"a": _h("x")}, "port": 0,
         "init_spec": {"layers": {"w": [2]}}, "round": {"rule": "fedavg", "params": {"nope": 1}}}
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(c))
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    r = subprocess.run([sys.executable, "-m", "fedmesh_fl.service", "--config", str(p)], env=env,
                       capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 2
    last = json.loads(r.stderr.strip().splitlines()[-1])
    assert last["event"] == "startup_failed" and "nope" in last["error"]
    p.write_text(json.dumps(dict(c, clients={"a": "not-a-hash"})))
    r = subprocess.run([sys.executable, "-m", "fedmesh_fl.service", "--config", str(p)], env=env,
                       capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 2 and "SHA-256" in json.loads(r.stderr.strip().splitlines()[-1])["error"]


def test_robust_rule_checkpoints_append_each_update_once(tmp_path: Path) -> None:
    """The update block is checkpointed as row segments: each checkpoint writes only the rows added
    since the previous one (O(n) bytes per round, not O(n^2)), and loads back whole."""
    from fedmesh_fl.service.store import RoundStore

    st = RoundStore(tmp_path)
    rows = np.arange(5 * 1000, dtype=np.float32).reshape(5, 1000)
    meta = {"id": 7, "status": "open", "accepted": ["a", "b"]}
    st.save(meta, {"block": rows[:2], "other": np.ones(3)})
    st.save(dict(meta, accepted=list("abcde")), {"block": rows})
    files = sorted(p.name for p in (tmp_path / "rounds").iterdir())
    assert files == ["r7-0-2.npy", "r7-2-5.npy"]
    sizes = {p.name: p.stat().st_size for p in (tmp_path / "rounds").iterdir()}
    assert sizes["r7-2-5.npy"] - 3 * 4000 == sizes["r7-0-2.npy"] - 2 * 4000  # same header: rows only
    (tmp_path / "rounds" / "r7-5-9.npy").write_bytes(b"orphan of a crash before round.ckpt")
    reader = RoundStore(tmp_path).load()  # a plain reader removes nothing
    assert reader is not None and (tmp_path / "rounds" / "r7-5-9.npy").exists()
    again = RoundStore(tmp_path)
    loaded = again.load(prune=True)  # the service at start
    assert loaded is not None
    got_meta, arrays = loaded
    np.testing.assert_array_equal(arrays["block"], rows)
    assert got_meta["accepted"] == list("abcde") and "row_segments" not in got_meta
    assert not (tmp_path / "rounds" / "r7-5-9.npy").exists()  # not listed: removed
    again.save(dict(meta, accepted=list("abcdef")), {"block": np.vstack([rows, rows[:1]])})
    assert (tmp_path / "rounds" / "r7-5-6.npy").exists()  # appends after a restart too
    again.save({"id": 7, "status": "closed", "accepted": list("abcdef")})
    assert not list((tmp_path / "rounds").iterdir())  # the closed round needs no rows
    again.save({"id": 8, "status": "open", "accepted": []}, {"block": np.empty((0, 1000), np.float32)})
    loaded = RoundStore(tmp_path).load()
    assert loaded is not None and loaded[1]["block"].shape == (0, 1000)


def test_sigkill_mid_round_keeps_a_robust_rounds_updates(tmp_path: Path) -> None:
    cfg = _write_config(tmp_path, rule="median")
    ups = {k: _update(10 + i) for i, k in enumerate(TOK)}
    s = Proc(cfg)
    try:
        for k in ("a", "b"):
            assert s.client(k).submit(1, ups[k], 3, 0)["accepted"]
    finally:
        s.kill()
    assert len(list((tmp_path / "state" / "rounds").glob("r1-*.npy"))) == 2  # one row per checkpoint here
    s = Proc(cfg)
    try:
        assert s.client("a").round_info()["accepted_clients"] == ["a", "b"]
        s.client("c").submit(1, ups["c"], 3, 0)
        s.client("a").wait_for_version(1, timeout=10, poll=0.05)
        _v, model = s.client("a").get_model()
        for k in SHAPES:
            np.testing.assert_array_equal(model[k], np.median(np.stack([ups[x][k] for x in TOK]), axis=0))
    finally:
        s.kill()
    assert not list((tmp_path / "state" / "rounds").iterdir())  # round 1 closed: its rows are gone


@pytest.mark.hostile("aggregator", "a state dir whose latest model holds Inf (written by a version before the "
                     "non-finite check)", "at start the newest finite version is published again as a new version "
                     "(logged `model_nonfinite_replaced`); rounds go on from it")
def test_a_non_finite_latest_model_is_replaced_at_start(cfg: Path) -> None:
    from fedmesh_fl.service.store import ModelStore
    conf = json.loads(cfg.read_text())
    cfg.write_text(json.dumps(dict(conf, auto_rounds=10)))  # the models name round 1: let round 2 open at start
    state = cfg.parent / "state"
    state.mkdir()
    store = ModelStore(state)
    good = _update(1)
    store.add(0, good, None, None)
    store.add(1, {k: np.full(v, np.inf, np.float32) for k, v in SHAPES.items()}, 1, None)
    s = Proc(cfg)
    try:
        a = s.client("a")
        version, data = a.get_model_bytes()
        assert version == 2
        _v, model = wire.decode_model(data)
        for k in SHAPES:
            np.testing.assert_array_equal(model[k], good[k])
        assert [e["version"] for e in a.list_models()] == [0, 1, 2]  # history kept, append-only
        for c in TOK:  # the next round closes on the repaired model
            a2 = s.client(c)
            a2.submit(a2.round_info()["id"], _update(7), 3, 2)
        a.wait_for_version(3, timeout=10, poll=0.05)
        _v, nxt = wire.decode_model(a.get_model_bytes()[1])
        assert all(np.isfinite(nxt[k]).all() for k in SHAPES)
    finally:
        s.kill()
    assert any('"model_nonfinite_replaced"' in ln and '"bad_version":1,' in ln for ln in s.lines), s.lines
