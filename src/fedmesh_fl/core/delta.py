"""Rules that accumulate client *deltas* against a reference model (O(model) memory).

* ``clipped_fedavg`` central DP: clip each client's delta, average, add Gaussian noise.
* ``fedbuff``    buffered asynchronous aggregation with staleness weighting (the one
  ``BUFFERED`` rule: it takes updates trained on older model versions).
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import numpy as np

from .base import CHUNK, Param, axpy_parts, register
from .spec import F32, Layers, UpdateRejected, flat_model
from .streaming import PRECISE, _Accumulating


def _sq_norm_of_diff(parts: list[tuple[int, np.ndarray]], ref: np.ndarray, tmp: np.ndarray) -> float:
    """``||x - ref||^2`` in chunks (float32 products, float64 running total)."""
    total = 0.0
    for off, v in parts:
        n = v.shape[0]
        for c0 in range(0, n, CHUNK):
            c1 = min(n, c0 + CHUNK)
            t = np.subtract(v[c0:c1], ref[off + c0 : off + c1], out=tmp[: c1 - c0])
            with np.errstate(over="ignore"):
                s = float(np.dot(t, t))
            if not np.isfinite(s):
                s = float(np.dot(t.astype(np.float64), t.astype(np.float64)))
            total += s
    return total


@register
class ClippedFedAvg(_Accumulating):
    """Central differential privacy (DP-FedAvg with fixed clipping, McMahan et al. 2018).

    Each client's update delta ``d_i = x_i - global`` is scaled to norm at most
    ``clip_norm`` C (``d_i * min(1, C / ||d_i||)``); the clipped deltas are averaged
    **unweighted** over the n clients of the round (each client's influence is then
    bounded by C/n, the sensitivity the noise is calibrated to) and Gaussian noise
    ``N(0, (z * C / n)^2)`` is added to every coordinate, where ``z`` is
    ``noise_multiplier`` (0 disables the noise: clipping only).  The privacy budget
    (epsilon, delta) follows from z, the sampling rate and the number of rounds via
    a moments accountant; it is not computed here.

    ``seed`` (int) makes the noise reproducible; with ``seed=None`` a fresh 128-bit seed
    is drawn from the OS per round and recorded in :meth:`snapshot` metadata (so a restored
    round adds the same noise -- treat checkpoints as secret).
    """

    rule = "clipped_fedavg"
    PARAMS = {
        "clip_norm": Param(1.0, "float", lo=0.0, lo_open=True),
        "noise_multiplier": Param(0.0, "float", lo=0.0),
        "seed": Param(None, "optint", lo=0),
        "precise": PRECISE,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        seed = self.params["seed"]
        self.noise_seed: int = secrets.randbits(128) if seed is None else int(seed)
        self.clip_scales: list[float] = []
        self._dtmp = np.empty(min(CHUNK, max(1, self.spec.num_params)), F32)

    def _accept(self, client: str, parts: list[tuple[int, np.ndarray]], num_samples: int,
                staleness: int, base: Layers | None) -> None:
        g = self.global_flat
        norm = float(np.sqrt(_sq_norm_of_diff(parts, g, self._dtmp)))
        if not np.isfinite(norm):
            raise UpdateRejected("nonfinite", client, None, "the update's distance to the global model overflows.")
        c = self.params["clip_norm"]
        scale = 1.0 if norm <= c else c / norm
        axpy_parts(self.acc, self._tmp, self.acc.dtype.type(scale), parts, sub=g)
        self.total_weight += 1.0
        self.clip_scales.append(scale)

    def _finalize(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        n = self.count
        mean = self._mean()  # mean clipped delta
        z, c = self.params["noise_multiplier"], self.params["clip_norm"]
        if z > 0:
            rng = np.random.default_rng(self.noise_seed)
            noise = rng.standard_normal(self.spec.num_params, dtype=np.float32)
            mean += noise * F32.type(z * c / n)
        return mean + self.global_flat, {}

    def _state_meta(self) -> dict[str, Any]:
        # the seed as a string: JSON numbers lose precision past 2**53
        return {**super()._state_meta(), "noise_seed": str(self.noise_seed), "clip_scales": list(self.clip_scales)}

    def _load_state(self, meta: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        super()._load_state(meta, arrays)
        self.noise_seed = int(meta["noise_seed"])
        self.clip_scales = [float(s) for s in meta["clip_scales"]]


@register
class FedBuff(_Accumulating):
    """Buffered asynchronous aggregation (Nguyen et al. 2022, FedBuff).

    Each update contributes ``s(tau) * (x - base)`` where ``base`` is the global model the
    client started from (default: this round's global model), ``tau`` its staleness in
    server versions and ``s(tau) = (1 + tau) ** -staleness_exponent`` (0.5: 1/sqrt(1+tau)).
    At ``finalize`` the buffer of K updates is applied:
    ``new = global + server_lr * sum_i s_i d_i / K`` (or, with ``sample_weighted``,
    ``sum_i s_i n_i d_i / sum_i n_i``).
    """

    rule = "fedbuff"
    BUFFERED = True
    PARAMS = {
        "server_lr": Param(1.0, "float", lo=0.0, lo_open=True),
        "staleness_exponent": Param(0.5, "float", lo=0.0),
        "sample_weighted": Param(False, "bool"),
        "precise": PRECISE,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.staleness: list[int] = []
        self.denominator = 0.0

    def staleness_weight(self, staleness: int) -> float:
        return float((1.0 + staleness) ** -self.params["staleness_exponent"])

    def _accept(self, client: str, parts: list[tuple[int, np.ndarray]], num_samples: int,
                staleness: int, base: Layers | None) -> None:
        if isinstance(staleness, bool) or not isinstance(staleness, (int, np.integer)) or staleness < 0:
            raise ValueError(f"fedbuff: staleness must be a non-negative integer, got {staleness!r}")
        ref = self.global_flat if base is None else flat_model(self.spec, base, "fedbuff base")
        s = self.staleness_weight(int(staleness))
        w = s * num_samples if self.params["sample_weighted"] else s
        axpy_parts(self.acc, self._tmp, self.acc.dtype.type(w), parts, sub=ref)
        self.total_weight += w
        self.denominator += num_samples if self.params["sample_weighted"] else 1.0
        self.staleness.append(int(staleness))

    def _finalize(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        acc = self.acc
        np.multiply(acc, acc.dtype.type(self.params["server_lr"] / self.denominator), out=acc)
        return (acc + self.global_flat).astype(F32, copy=False), {}

    def _state_meta(self) -> dict[str, Any]:
        return {**super()._state_meta(), "staleness": list(self.staleness), "denominator": self.denominator}

    def _load_state(self, meta: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        super()._load_state(meta, arrays)
        self.staleness = [int(s) for s in meta["staleness"]]
        self.denominator = float(meta["denominator"])
