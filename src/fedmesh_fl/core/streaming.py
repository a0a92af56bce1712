"""Rules that accumulate as updates arrive: O(model) memory whatever the client count.

* ``fedavg``     sample-weighted mean (Flower's ``aggregate``), float32 accumulator.
* ``fedavgm``, ``fedadam``, ``fedyogi``, ``fedadagrad``: server optimisers (Reddi et al. 2021,
  as in Flower) applied to the pseudo-gradient ``delta = fedavg(weights) - global``.
* ``clipped_fedavg`` central DP: clip each client's delta, average, add Gaussian noise.
* ``fedbuff``    buffered asynchronous aggregation with staleness weighting.
"""
from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from .base import CHUNK, Param, RoundAggregator, axpy_parts, register
from .spec import F32, Layers, UpdateRejected, flat_model

PRECISE = Param(False, "bool", doc="accumulate in float64 (2x accumulator memory)")


class _Accumulating(RoundAggregator):
    """Weighted running sum ``acc = sum_i w_i * x_i`` in place; no per-client copies."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        dt = np.float64 if self.params.get("precise") else np.float32
        self.acc = np.zeros(self.spec.num_params, dt)
        self._tmp = np.empty(min(CHUNK, max(1, self.spec.num_params)), dt)
        self.total_weight = 0.0  # sum of the weights actually used (python float: JSON-able)

    def _weight(self, num_samples: int) -> Any:
        return self.acc.dtype.type(num_samples)

    def _accept(self, client: str, parts: list[tuple[int, np.ndarray]], num_samples: int,
                staleness: int, base: Layers | None) -> None:
        w = self._weight(num_samples)
        axpy_parts(self.acc, self._tmp, w, parts)
        self.total_weight += float(w)

    def _mean(self) -> np.ndarray:
        """acc / total weight, in place (the round is consumed)."""
        np.divide(self.acc, self.acc.dtype.type(self.total_weight), out=self.acc)
        return self.acc if self.acc.dtype == F32 else self.acc.astype(F32)

    def _state_meta(self) -> dict[str, Any]:
        return {"total_weight": self.total_weight}

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"acc": self.acc}

    def _load_state(self, meta: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        acc = np.asarray(arrays["acc"])
        if acc.shape != self.acc.shape or acc.dtype != self.acc.dtype:
            raise ValueError(
                f"snapshot: acc has shape {acc.shape}/{acc.dtype}, expected {self.acc.shape}/{self.acc.dtype}"
            )
        self.acc[...] = acc
        self.total_weight = float(meta["total_weight"])


@register
class FedAvg(_Accumulating):
    """Sample-weighted average of the clients' weights (equal to Flower's ``aggregate`` bit for bit
    in float32 mode: same products ``x * n``, same summation order, same final division)."""

    rule = "fedavg"
    PARAMS = {"precise": PRECISE}

    def _finalize(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self._mean(), {}


class _ServerOpt(_Accumulating):
    """FedOpt family: ``delta = fedavg - global``; the optimiser state lives in ``server_state``
    as flat float32 vectors ``"m"`` (first moment / momentum) and ``"v"`` (second moment)."""

    STATE_KEYS: ClassVar[tuple[str, ...]] = ("m", "v")

    def _finalize(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        g = self.global_flat
        d = self._mean()
        d = np.subtract(d, g, out=d)  # pseudo-gradient (Reddi et al. sign convention)
        zeros = self.server_state_in.get
        m = zeros("m")
        v = zeros("v")
        m = np.zeros_like(g) if m is None else m
        v = np.zeros_like(g) if v is None else v
        new, state = self._step(g, d, m, v)
        return new, state

    def _steps_done(self) -> int:
        """Server-optimiser steps taken before this round (``server_state["t"]``, 0 if absent)."""
        t = self.server_state_in.get("t")
        return 0 if t is None else int(t[0])

    def _step(self, g: np.ndarray, d: np.ndarray, m: np.ndarray, v: np.ndarray
              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError


@register
class FedAvgM(_ServerOpt):
    """Server momentum (Hsu et al. 2019, Flower ``FedAvgM``): ``m = momentum*m + (global - avg)``,
    ``new = global - server_lr * m``."""

    rule = "fedavgm"
    STATE_KEYS = ("m",)
    PARAMS = {
        "server_lr": Param(1.0, "float", lo=0.0, lo_open=True),
        "momentum": Param(0.9, "float", lo=0.0, hi=1.0, hi_open=True),
        "precise": PRECISE,
    }

    def _step(self, g, d, m, v):  # type: ignore[no-untyped-def]
        p = self.params
        np.negative(d, out=d)
        m = m * F32.type(p["momentum"]) + d
        return g - F32.type(p["server_lr"]) * m, {"m": m}


def _first_moment(m: np.ndarray, d: np.ndarray, beta_1: float) -> np.ndarray:
    return m * F32.type(beta_1) + F32.type(1.0 - beta_1) * d


class _Adaptive(_ServerOpt):
    def _apply(self, g: np.ndarray, m: np.ndarray, v: np.ndarray) -> np.ndarray:
        p = self.params
        return g + F32.type(p["eta"]) * m / (np.sqrt(v) + F32.type(p["tau"]))


@register
class FedAdam(_Adaptive):
    """``m = b1 m + (1-b1) d``; ``v = b2 v + (1-b2) d^2``; ``new = g + eta_t m / (sqrt v + tau)``.

    Bias-corrected step size as Flower 1.42's ``FedAdam``: ``eta_t = eta * sqrt(1 - b2^(k+1)) /
    (1 - b1^(k+1))`` where ``k`` is the 1-based number of this optimiser step (Flower's
    ``server_round``; the ``+1`` is Flower's).  The step count is kept in ``server_state["t"]``.
    ``bias_correction=false``: ``eta_t = eta`` (Reddi et al. 2021 as written).
    """

    rule = "fedadam"
    STATE_KEYS = ("m", "v", "t")
    PARAMS = {
        "eta": Param(0.1, "float", lo=0.0, lo_open=True),
        "beta_1": Param(0.9, "float", lo=0.0, hi=1.0, hi_open=True),
        "beta_2": Param(0.99, "float", lo=0.0, hi=1.0, hi_open=True),
        "tau": Param(1e-9, "float", lo=0.0, lo_open=True),
        "bias_correction": Param(True, "bool", doc="Flower's bias-corrected step size"),
        "precise": PRECISE,
    }

    def _step(self, g, d, m, v):  # type: ignore[no-untyped-def]
        p = self.params
        k = self._steps_done() + 1
        m = _first_moment(m, d, p["beta_1"])
        v = v * F32.type(p["beta_2"]) + F32.type(1.0 - p["beta_2"]) * (d * d)
        eta = p["eta"]
        if p["bias_correction"]:
            eta = eta * math.sqrt(1.0 - p["beta_2"] ** (k + 1.0)) / (1.0 - p["beta_1"] ** (k + 1.0))
        new = g + F32.type(eta) * m / (np.sqrt(v) + F32.type(p["tau"]))
        return new, {"m": m, "v": v, "t": np.array([k], np.float64)}


@register
class FedYogi(_Adaptive):
    """As FedAdam but ``v = v - (1-b2) d^2 sign(v - d^2)``."""

    rule = "fedyogi"
    PARAMS = {
        "eta": Param(0.01, "float", lo=0.0, lo_open=True),
        "beta_1": Param(0.9, "float", lo=0.0, hi=1.0, hi_open=True),
        "beta_2": Param(0.99, "float", lo=0.0, hi=1.0, hi_open=True),
        "tau": Param(1e-3, "float", lo=0.0, lo_open=True),
        "precise": PRECISE,
    }

    def _step(self, g, d, m, v):  # type: ignore[no-untyped-def]
        m = _first_moment(m, d, self.params["beta_1"])
        d2 = d * d
        v = v - F32.type(1.0 - self.params["beta_2"]) * d2 * np.sign(v - d2)
        return self._apply(g, m, v), {"m": m, "v": v}


@register
class FedAdagrad(_Adaptive):
    """``m = b1 m + (1-b1) d``; ``v = v + d^2``; ``new = g + eta m / (sqrt v + tau)``."""

    rule = "fedadagrad"
    PARAMS = {
        "eta": Param(0.1, "float", lo=0.0, lo_open=True),
        "beta_1": Param(0.0, "float", lo=0.0, hi=1.0, hi_open=True),
        "tau": Param(1e-9, "float", lo=0.0, lo_open=True),
        "precise": PRECISE,
    }

    def _step(self, g, d, m, v):  # type: ignore[no-untyped-def]
        m = _first_moment(m, d, self.params["beta_1"])
        v = v + d * d
        return self._apply(g, m, v), {"m": m, "v": v}


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
