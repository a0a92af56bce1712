"""Rules that accumulate as updates arrive: O(model) memory whatever the client count.

* ``fedavg``     sample-weighted mean (Flower's ``aggregate``), float32 accumulator.
* ``fedavgm``, ``fedadam``, ``fedyogi``, ``fedadagrad``: server optimisers (Reddi et al. 2021,
  as in Flower) applied to the pseudo-gradient ``delta = fedavg(weights) - global``.

``clipped_fedavg`` and ``fedbuff`` (same accumulator, on deltas) are in :mod:`.delta`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from .base import CHUNK, Param, RoundAggregator, axpy_parts, register
from .spec import F32, Layers

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
