"""Tiny pure-NumPy model for the federated demo: softmax regression on 8x8 digits.

Layers ``{"w": (64, 10), "b": (10,)}`` float32. The data arrays are passed in (the demo builds
an ``.npz`` with ``X`` (n, 64) float and ``y`` (n,) int, e.g. from sklearn's digits, elsewhere).

Demo client: ``python3 -m fedmesh_fl.train --url URL --token-file F --data shard.npz --rounds 5``
(``--poison flip|scale|noise`` makes it a malicious client for the robust-rule demo).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

N_FEATURES, N_CLASSES = 64, 10
Model = dict[str, np.ndarray]


def init_model(seed: int = 0) -> Model:
    rng = np.random.default_rng(seed)
    return {"w": (rng.standard_normal((N_FEATURES, N_CLASSES)) * 0.01).astype(np.float32),
            "b": np.zeros(N_CLASSES, np.float32)}


def _prep(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, np.float32).reshape(len(X), -1)
    if X.shape[1] != N_FEATURES:
        raise ValueError(f"expected {N_FEATURES} features per sample, got {X.shape[1]}")
    return X / 16.0 if X.max(initial=0.0) > 1.5 else X  # sklearn digits are 0..16


def _logits(model: Model, X: np.ndarray) -> np.ndarray:
    return X @ np.asarray(model["w"], np.float32) + np.asarray(model["b"], np.float32)


def local_train(model: Model, X: np.ndarray, y: np.ndarray, epochs: int = 1, lr: float = 0.5,
                batch: int = 32, seed: int = 0) -> tuple[Model, int]:
    """Mini-batch SGD on the cross-entropy loss; returns (new model, number of samples)."""
    X, y = _prep(X), np.asarray(y, np.int64)
    w = np.array(model["w"], np.float32)
    b = np.array(model["b"], np.float32)
    rng = np.random.default_rng(seed)
    n = len(X)
    for _epoch in range(epochs):
        order = rng.permutation(n)
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            xb, yb = X[idx], y[idx]
            z = xb @ w + b
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), yb] -= 1.0
            p /= len(idx)
            w -= lr * (xb.T @ p)
            b -= lr * p.sum(axis=0)
    return {"w": w, "b": b}, n


def evaluate(model: Model, X: np.ndarray, y: np.ndarray) -> float:
    if len(X) == 0:
        return 0.0
    return float(np.mean(np.argmax(_logits(model, _prep(X)), axis=1) == np.asarray(y)))


def non_iid_shards(X: np.ndarray, y: np.ndarray, n_clients: int, seed: int = 0,
                   classes_per_client: int = 2) -> list[tuple[np.ndarray, np.ndarray]]:
    """Label-skew split: client k holds ``classes_per_client`` classes (assigned round-robin so every
    class is covered), and each class's samples are divided among the clients holding it."""
    if n_clients < 1 or classes_per_client < 1:
        raise ValueError("n_clients and classes_per_client must be >= 1")
    y = np.asarray(y)
    classes = np.unique(y)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(classes)
    holders: dict[Any, list[int]] = {c: [] for c in classes}
    for k in range(n_clients):
        for j in range(min(classes_per_client, len(classes))):
            holders[perm[(k * classes_per_client + j) % len(classes)]].append(k)
    idx: list[list[int]] = [[] for _i in range(n_clients)]
    for c, ks in holders.items():
        if not ks:
            continue
        members = rng.permutation(np.flatnonzero(y == c))
        for k, part in zip(ks, np.array_split(members, len(ks)), strict=True):
            idx[k].extend(part.tolist())
    out = []
    for k in range(n_clients):
        ii = np.array(sorted(idx[k]), dtype=np.int64)
        out.append((X[ii], y[ii]))
    return out


def poison(model: Model, base: Model, mode: str, seed: int = 0) -> Model:
    """A malicious update: ``flip`` (sign-flipped, 10x delta), ``scale`` (100x delta) or ``noise`` (huge random)."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, v in model.items():
        delta = v - np.asarray(base[k], np.float32)
        if mode == "flip":
            out[k] = base[k] - 10.0 * delta
        elif mode == "scale":
            out[k] = base[k] + 100.0 * delta
        elif mode == "noise":
            out[k] = rng.standard_normal(v.shape) * 1e3
        else:
            raise ValueError(f"unknown poison mode {mode!r}")
        out[k] = np.asarray(out[k], np.float32)
    return out


def run_client(url: str, token_file: str, data_file: str, rounds: int = 5, *, epochs: int = 1, lr: float = 0.5,
               batch: int = 32, seed: int = 0, poison_mode: str | None = None, ca_file: str | None = None,
               wait_s: float = 600.0) -> list[dict[str, Any]]:
    """Fetch the global model, train locally, submit, wait for the next round; ``rounds`` times."""
    from .client import Client, ServiceError

    with open(token_file) as f:
        token = f.read().strip()
    with np.load(data_file, allow_pickle=False) as z:
        X, y = z["X"], z["y"]
        Xt, yt = (z["X_test"], z["y_test"]) if "X_test" in z.files else (X, y)
    c = Client(url, token, ca_file=ca_file)
    history: list[dict[str, Any]] = []
    last_round = 0
    for i in range(rounds):
        try:
            info = c.wait_for_round(after=last_round, timeout=wait_s)
        except TimeoutError as e:
            print(json.dumps({"event": "stopped", "reason": str(e)}), file=sys.stderr, flush=True)
            break
        version, global_model = c.get_model()
        new, n = local_train(global_model, X, y, epochs=epochs, lr=lr, batch=batch, seed=seed + i)
        if poison_mode:
            new = poison(new, global_model, poison_mode, seed=seed + i)
        rec: dict[str, Any] = {"round": info["id"], "base_version": version, "num_samples": n,
                               "local_acc": evaluate(new, Xt, yt), "global_acc": evaluate(global_model, Xt, yt)}
        try:
            rec["result"] = c.submit(info["id"], new, n, version)
        except ServiceError as e:
            rec["error"] = str(e)
        last_round = int(info["id"])
        history.append(rec)
        print(json.dumps(rec), flush=True)
    return history


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m fedmesh_fl.train", description="federated demo client")
    ap.add_argument("--url", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--data", required=True, help=".npz with X, y (and optionally X_test, y_test)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--poison", choices=["flip", "scale", "noise"])
    ap.add_argument("--ca-file")
    ap.add_argument("--wait", type=float, default=600.0, help="max seconds to wait for each round")
    a = ap.parse_args(argv)
    t0 = time.time()
    run_client(a.url, a.token_file, a.data, a.rounds, epochs=a.epochs, lr=a.lr, batch=a.batch, seed=a.seed,
               poison_mode=a.poison, ca_file=a.ca_file, wait_s=a.wait)
    print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 2)}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
