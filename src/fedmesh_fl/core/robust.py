"""Byzantine-robust rules: they need every update, kept in ONE preallocated 2-D block.

* ``median``        coordinate-wise median (bit-identical to Flower's ``aggregate_median``).
* ``trimmed_mean``  drop ``int(beta*n)`` values per side and coordinate, average the rest.
* ``krum``          the update with the lowest Krum score (Blanchard et al. 2017).
* ``multi_krum``    sample-weighted mean of the ``m`` best-scored updates.
* ``bulyan``        ``theta = n - 2f`` Krum picks, then per coordinate the mean of the
                    ``beta = theta - 2f`` values closest to the median (El Mhamdi et al. 2018).
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import kernels
from .base import CHUNK, MAX_CLIENTS, Param, RoundAggregator, register
from .blas import single_threaded
from .spec import F32, Layers, ModelSpec, UpdateRejected, check_finite

#: A finalized round's block is kept (one, up to this size) for the next round of the same shape:
#: a fresh block costs a page fault per page on its first fill (~3 ms per 40 MB here, and up to
#: ten times that on a VM whose memory the hypervisor has not backed yet), more than the Gram
#: matrix of small cohorts.  :func:`drop_spare_block` frees it.
SPARE_MAX_BYTES = 4 << 30
_spare: np.ndarray | None = None
_spare_lock = threading.Lock()


def _take_block(rows: int, num_params: int) -> np.ndarray:
    global _spare
    with _spare_lock:
        if _spare is not None and _spare.shape == (rows, num_params):
            data, _spare = _spare, None
            return data
    return np.empty((rows, num_params), F32)


def drop_spare_block() -> None:
    """Free the block kept from the last finalized round (see :data:`SPARE_MAX_BYTES`)."""
    global _spare
    with _spare_lock:
        _spare = None


class UpdateBlock:
    """``(capacity, P)`` float32 rows; row ``i`` is the i-th accepted update.  Grows by doubling."""

    def __init__(self, num_params: int, capacity: int) -> None:
        self.data = _take_block(max(1, capacity), num_params)
        self.n = 0

    def release(self) -> None:
        """The round is over: hand the rows to the next round's block (nothing may read them after)."""
        global _spare
        data, self.data, self.n = self.data, np.empty((0, self.data.shape[1]), F32), 0
        if data.base is None and data.nbytes <= SPARE_MAX_BYTES:
            with _spare_lock:
                _spare = data

    @property
    def capacity(self) -> int:
        return int(self.data.shape[0])

    @property
    def rows(self) -> np.ndarray:
        return self.data[: self.n]

    def reserve(self, n: int) -> None:
        """Make room for ``n`` rows (allocates before touching the old data: safe on MemoryError)."""
        if n <= self.capacity:
            return
        cap = self.capacity
        while cap < n:
            cap *= 2
        new = np.empty((cap, self.data.shape[1]), F32)
        new[: self.n] = self.data[: self.n]
        self.data = new

    def append(self, parts: list[tuple[int, np.ndarray]], checked: tuple[ModelSpec, str] | None = None) -> None:
        """Copy an update into the next row.  With ``checked=(spec, client)`` the NaN/Inf check is
        fused into the copy: each cache-sized chunk is dotted with itself right after it lands
        (one read of the client's bytes instead of two); a bad update raises
        :class:`UpdateRejected` and leaves ``n`` (the visible rows) unchanged."""
        self.reserve(self.n + 1)
        row = self.data[self.n]
        ok = True
        with np.errstate(over="ignore", invalid="ignore"), single_threaded():
            for off, v in parts:
                m = v.shape[0]
                if checked is None:
                    row[off : off + m] = v
                    continue
                for c0 in range(0, m, CHUNK):
                    dst = row[off + c0 : off + min(m, c0 + CHUNK)]
                    np.copyto(dst, v[c0 : c0 + CHUNK])
                    if ok and not np.isfinite(np.dot(dst, dst)):
                        ok = False  # NaN/Inf, or finite values whose squares overflow: confirm below
        if not ok and checked is not None:
            check_finite(checked[0], checked[1], row)
        self.n += 1


#: Rows preallocated when a round opens are capped at this many bytes; the block grows by doubling
#: past it (so ``max_clients`` up to its maximum cannot allocate terabytes up front).
PREALLOC_MAX_BYTES = 256 << 20


class _BlockRule(RoundAggregator):
    CHECKS_FINITE = True
    NEEDS_ALL_UPDATES = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        row = max(1, self.spec.nbytes)
        self.block = UpdateBlock(self.spec.num_params,
                                 min(self.params["max_clients"], max(1, PREALLOC_MAX_BYTES // row)))

    def _accept(self, client: str, parts: list[tuple[int, np.ndarray]], num_samples: int,
                staleness: int, base: Layers | None) -> None:
        try:
            self.block.reserve(self.block.n + 1)
        except MemoryError:
            raise UpdateRejected(
                "capacity", client, None,
                f"no memory to grow the update block past {self.block.capacity} rows; lower the cohort size.",
            ) from None
        self.block.append(parts, (self.spec, client))

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"block": self.block.rows}

    def finalize(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """As :meth:`RoundAggregator.finalize`; then the update block is recycled (the result owns
        its memory)."""
        first = self._result is None
        out = super().finalize()
        if first:
            self.block.release()
        return out

    def _load_state(self, meta: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        rows = np.asarray(arrays["block"])
        n = len(meta["clients"])
        if rows.shape != (n, self.spec.num_params) or rows.dtype != F32:
            raise ValueError(
                f"snapshot: block has shape {rows.shape}/{rows.dtype}, expected ({n}, {self.spec.num_params})/float32"
            )
        self.block.reserve(n)
        self.block.data[:n] = rows
        self.block.n = n


@register
class Median(_BlockRule):
    rule = "median"

    def _finalize(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return kernels.column_median(self.block.rows), {}


@register
class TrimmedMean(_BlockRule):
    rule = "trimmed_mean"
    PARAMS = {"beta": Param(0.1, "float", lo=0.0, hi=0.5, hi_open=True, doc="fraction trimmed on each side")}

    def _finalize(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return kernels.column_trimmed_mean(self.block.rows, self.params["beta"]), {}


F_PARAM = Param(1, "int", lo=0, hi=MAX_CLIENTS, doc="number of Byzantine clients tolerated")


class _KrumBase(_BlockRule):
    def distances(self) -> np.ndarray:
        return kernels.pairwise_sq_distances(self.block.rows, self.global_flat)


@register
class Krum(_KrumBase):
    """The single update whose ``n - f - 2`` nearest neighbours are closest (needs n >= 2f + 3)."""

    rule = "krum"
    PARAMS = {"f": F_PARAM}

    @classmethod
    def min_updates(cls, params: Mapping[str, Any]) -> tuple[int, str]:
        f = params["f"]
        return 2 * f + 3, f"at least 2f+3 = {2 * f + 3} updates (Krum with f={f})"

    def selected(self) -> list[int]:
        self.require_min_updates()
        return [int(i) for i in kernels.krum_select(self.distances(), self.params["f"], 1)]

    def _finalize(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self.block.rows[self.selected()[0]].copy(), {}


@register
class MultiKrum(_KrumBase):
    """Sample-weighted mean (as Flower's ``aggregate``) of the ``m`` lowest-scored updates."""

    rule = "multi_krum"
    PARAMS = {"f": F_PARAM, "m": Param(1, "int", lo=1, hi=MAX_CLIENTS, doc="number of updates kept")}

    @classmethod
    def min_updates(cls, params: Mapping[str, Any]) -> tuple[int, str]:
        f, m = params["f"], params["m"]
        n = max(2 * f + 3, m)
        return n, f"at least max(2f+3, m) = {n} updates (Multi-Krum with f={f}, m={m})"

    def selected(self) -> list[int]:
        self.require_min_updates()
        f, m = self.params["f"], self.params["m"]
        return [int(i) for i in kernels.krum_select(self.distances(), f, m)]

    def _finalize(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        sel = self.selected()
        total = sum(self.samples[i] for i in sel)
        return kernels.weighted_row_sum(self.block.rows, sel, [self.samples[i] / total for i in sel]), {}


@register
class Bulyan(_KrumBase):
    """Bulyan over Krum (needs n >= 4f + 3), as Flower's ``aggregate_bulyan(..., aggregate_krum)``."""

    rule = "bulyan"
    PARAMS = {"f": F_PARAM}

    @classmethod
    def min_updates(cls, params: Mapping[str, Any]) -> tuple[int, str]:
        f = params["f"]
        return 4 * f + 3, f"at least 4f+3 = {4 * f + 3} updates (Bulyan with f={f})"

    def selected(self) -> list[int]:
        self.require_min_updates()
        f = self.params["f"]
        return kernels.bulyan_select(self.distances(), f, self.count - 2 * f)

    def _finalize(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        sel = self.selected()
        beta = len(sel) - 2 * self.params["f"]
        return kernels.column_closest_mean(self.block.rows, sel, beta), {}
