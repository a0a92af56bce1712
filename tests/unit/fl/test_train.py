"""The demo's NumPy softmax model, the non-IID splitter, poisoning, and the demo client loop."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from test_service import Server, make_config

from fedmesh_fl import train
from fedmesh_fl.client import Client


def _blobs(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0, 16, size=(10, 64))
    y = rng.integers(0, 10, size=n)
    X = np.clip(centers[y] + rng.normal(0, 3.0, size=(n, 64)), 0, 16)
    return X.astype(np.float32), y


def test_local_training_learns() -> None:
    X, y = _blobs()
    m0 = train.init_model(0)
    assert m0["w"].shape == (64, 10) and m0["b"].shape == (10,) and m0["w"].dtype == np.float32
    before = train.evaluate(m0, X, y)
    m1, n = train.local_train(m0, X, y, epochs=3, lr=0.5, batch=32, seed=1)
    assert n == len(X) and m1["w"].dtype == np.float32 and m1["b"].dtype == np.float32
    assert train.evaluate(m1, X, y) > max(0.9, before + 0.5)
    assert not np.shares_memory(m1["w"], m0["w"])  # input untouched
    m2, _n = train.local_train(m0, X, y, epochs=3, lr=0.5, batch=32, seed=1)
    np.testing.assert_array_equal(m1["w"], m2["w"])  # deterministic for a seed
    with pytest.raises(ValueError):
        train.local_train(m0, X[:, :10], y)


def test_non_iid_shards_partition_with_label_skew() -> None:
    X, y = _blobs(1000)
    shards = train.non_iid_shards(X, y, n_clients=5, seed=3, classes_per_client=2)
    assert len(shards) == 5
    assert sum(len(s[1]) for s in shards) == len(y)  # a partition: nothing lost or duplicated
    for _xs, ys in shards:
        assert len(np.unique(ys)) <= 2
    all_rows = np.concatenate([s[0] for s in shards])
    assert np.unique(all_rows, axis=0).shape[0] == np.unique(X, axis=0).shape[0]


def test_poison_modes() -> None:
    base = train.init_model(0)
    X, y = _blobs(200)
    honest, _n = train.local_train(base, X, y)
    flip = train.poison(honest, base, "flip")
    np.testing.assert_allclose(flip["w"] - base["w"], -10 * (honest["w"] - base["w"]), rtol=1e-4, atol=1e-5)
    assert np.abs(train.poison(honest, base, "noise")["w"]).max() > 100
    with pytest.raises(ValueError):
        train.poison(honest, base, "bogus")


def test_run_client_federated_rounds(tmp_path: Path) -> None:
    X, y = _blobs(600, seed=5)
    cfg = make_config(tmp_path / "st", init_spec={"layers": {"w": [64, 10], "b": [10]}},
                      round={"quorum": 2, "deadline_s": 30}, auto_rounds=2)
    s = Server(cfg)
    try:
        shards = train.non_iid_shards(X, y, 2, seed=0, classes_per_client=5)
        out: dict[str, list] = {}
        threads = []
        for i, c in enumerate(("c1", "c2")):
            (tmp_path / f"{c}.tok").write_text(f"tok-{c}\n")
            np.savez(tmp_path / f"{c}.npz", X=shards[i][0], y=shards[i][1], X_test=X, y_test=y)
            t = threading.Thread(target=lambda c=c: out.__setitem__(c, train.run_client(
                s.url, str(tmp_path / f"{c}.tok"), str(tmp_path / f"{c}.npz"), rounds=2, epochs=2, wait_s=15)))
            threads.append(t)
            t.start()
        for t in threads:
            t.join(30)
        assert all(len(out[c]) == 2 and all("result" in r for r in out[c]) for c in ("c1", "c2")), out
        Client(s.url, "tok-c1").wait_for_version(2, timeout=10, poll=0.05)
        _version, model = Client(s.url, "tok-c1").get_model()
        assert train.evaluate(model, X, y) > 0.8
    finally:
        s.stop()
