"""Pure NumPy kernels for the robust rules (no aggregator state).

All of them work on ``rows``: a 2-D float32 ``(n, P)`` array whose row ``i`` is client
``i``'s flat update (a view of the update block).  Column statistics are computed in
column chunks: the chunk is transposed into a small contiguous ``(chunk, n)`` buffer and
sorted along its last axis (NumPy's vectorised sort), which is far faster than
``np.median(axis=0)``'s strided per-column selection and gives exactly the same order
statistics.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache

import numpy as np

F32 = np.float32


NETWORK_MAX_N = 24  # up to this many rows a sorting network beats np.sort on the transposed chunk


def _col_chunk(n: int) -> int:
    return max(1024, (1 << 19) // max(1, n))


@lru_cache(maxsize=64)
def sorting_network(n: int) -> tuple[tuple[int, int], ...]:
    """Batcher's odd-even merge sort comparators ``(a, b)``, a < b, for ``n`` inputs
    (built for the next power of two; comparators touching padding are dropped, which is
    exact because the padding behaves as +inf)."""
    p2 = 1
    while p2 < n:
        p2 *= 2
    out: list[tuple[int, int]] = []
    p = 1
    while p < p2:
        k = p
        while k >= 1:
            for j in range(k % p, p2 - k, 2 * k):
                for i in range(min(k, p2 - j - k)):
                    a, b = i + j, i + j + k
                    if a // (2 * p) == b // (2 * p) and b < n:
                        out.append((a, b))
            k //= 2
        p *= 2
    return tuple(out)


def _network_sort(part: np.ndarray, buf: np.ndarray) -> np.ndarray:
    """Sort the columns of ``part`` (n, w) with elementwise min/max; returns an (n, w) array."""
    n, w = part.shape
    rows = [buf[i, :w] for i in range(n + 1)]
    for i in range(n):
        rows[i][...] = part[i]
    spare = rows[n]
    for a, b in sorting_network(n):
        ra, rb = rows[a], rows[b]
        np.minimum(ra, rb, out=spare)
        np.maximum(ra, rb, out=rb)
        rows[a], spare = spare, ra
    return np.stack(rows[:n])


def sorted_columns(rows: np.ndarray, select: Sequence[int] | None = None
                   ) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(c0, c1, s)``: ``s`` is ``(n, c1 - c0)`` with column ``j`` = column ``c0 + j`` of the
    (selected) rows in ascending order.  Small ``n``: sorting network on row vectors; otherwise
    transpose the chunk to ``(w, n)`` contiguous and ``np.sort`` its last axis (SIMD sort)."""
    n = rows.shape[0] if select is None else len(select)
    P = rows.shape[1]
    idx = None if select is None else np.asarray(select, dtype=np.intp)
    use_net = 1 < n <= NETWORK_MAX_N
    step = 16384 if use_net else _col_chunk(n)
    buf = np.empty((n + 1, min(step, max(P, 1))), rows.dtype) if use_net else None
    for c0 in range(0, P, step):
        c1 = min(P, c0 + step)
        part = rows[:, c0:c1] if idx is None else rows[idx, c0:c1]
        if buf is not None:
            yield c0, c1, _network_sort(part, buf)
        else:
            t = np.ascontiguousarray(part.T)
            t.sort(axis=1)
            yield c0, c1, t.T


def _median_of_sorted(s: np.ndarray, out: np.ndarray) -> None:
    """Exactly what ``np.median`` computes: middle value, or float32 mean of the two middle ones."""
    n = s.shape[0]
    k = n // 2
    if n % 2:
        out[...] = s[k]
    else:
        np.add(s[k - 1], s[k], out=out)
        np.divide(out, s.dtype.type(2), out=out)


def column_median(rows: np.ndarray) -> np.ndarray:
    """Coordinate-wise median, bit-identical to ``np.median(rows, axis=0)``."""
    out = np.empty(rows.shape[1], rows.dtype)
    for c0, c1, s in sorted_columns(rows):
        _median_of_sorted(s, out[c0:c1])
    return out


def trim_count(n: int, beta: float) -> int:
    """Values cut from each side: ``int(beta * n)`` (scipy/Flower convention)."""
    return int(beta * n)


def column_trimmed_mean(rows: np.ndarray, beta: float) -> np.ndarray:
    """Mean of each column after dropping the ``int(beta*n)`` smallest and largest values."""
    n = rows.shape[0]
    lo = trim_count(n, beta)
    hi = n - lo
    if lo >= hi:
        raise ValueError(f"trimmed_mean: beta={beta} trims every one of the {n} updates")
    out = np.empty(rows.shape[1], rows.dtype)
    for c0, c1, s in sorted_columns(rows):
        np.sum(s[lo:hi], axis=0, out=out[c0:c1])
    np.divide(out, rows.dtype.type(hi - lo), out=out)
    return out


def pairwise_sq_distances(rows: np.ndarray, ref: np.ndarray | None = None) -> np.ndarray:
    """``D[i, j] = ||rows[i] - rows[j]||^2`` (float64 ``(n, n)``) from one Gram matrix.

    The rows are centred on ``ref`` (the global model) chunk by chunk before the float32
    GEMM, so the ``|a|^2 + |b|^2 - 2 a.b`` form does not cancel catastrophically when all
    clients are close to the global model; chunk products are summed in float64.
    """
    n, P = rows.shape
    gram = np.zeros((n, n), np.float64)
    step = max(4096, (1 << 21) // max(1, n))
    scratch = np.empty((n, min(step, max(P, 1))), rows.dtype)
    for c0 in range(0, P, step):
        c1 = min(P, c0 + step)
        t = scratch[:, : c1 - c0]
        if ref is None:
            t[...] = rows[:, c0:c1]
        else:
            np.subtract(rows[:, c0:c1], ref[c0:c1], out=t)
        gram += t @ t.T
    sq = np.diag(gram).copy()
    d = sq[:, None] + sq[None, :] - 2.0 * gram
    np.maximum(d, 0.0, out=d)
    np.fill_diagonal(d, 0.0)
    return d


def krum_scores(dist: np.ndarray, f: int) -> np.ndarray:
    """Krum score of each row: sum of its ``max(1, n - f - 2)`` smallest distances to the others."""
    n = dist.shape[0]
    if n == 1:
        return np.zeros(1)
    k = min(max(1, n - f - 2), n - 1)
    d = dist.copy()
    np.fill_diagonal(d, np.inf)
    part = np.partition(d, k - 1, axis=1)[:, :k]  # the diagonal (inf) is never among the k
    return np.asarray(part.sum(axis=1))


def krum_select(dist: np.ndarray, f: int, m: int) -> np.ndarray:
    """Indices of the ``m`` rows with the lowest Krum scores, best first (ties: lower index)."""
    scores = krum_scores(dist, f)
    return np.argsort(scores, kind="stable")[:m]


def bulyan_select(dist: np.ndarray, f: int, theta: int) -> list[int]:
    """Pick ``theta`` rows by repeated Krum, deleting the picked row/column of the distance
    matrix each time (never recomputed); the neighbour count shrinks with the set as in Flower."""
    remaining = list(range(dist.shape[0]))
    d = dist
    picked: list[int] = []
    for _i in range(theta):
        j = int(krum_select(d, f, 1)[0])
        picked.append(remaining.pop(j))
        d = np.delete(np.delete(d, j, axis=0), j, axis=1)
    return picked


def column_closest_mean(rows: np.ndarray, select: Sequence[int], beta: int) -> np.ndarray:
    """Bulyan's second stage: per coordinate, the mean of the ``beta`` selected values closest
    to the coordinate-wise median of the selected rows.

    In sorted order those ``beta`` values are a contiguous window; it is found by dropping,
    ``len(select) - beta`` times, whichever end of the window is farther from the median.
    """
    theta = len(select)
    drop = theta - beta
    if not 1 <= beta <= theta:
        raise ValueError(f"bulyan: beta={beta} must be in [1, {theta}]")
    out = np.empty(rows.shape[1], rows.dtype)
    win = np.arange(beta)[:, None]
    for c0, c1, s in sorted_columns(rows, select):
        w = c1 - c0
        med = np.empty(w, rows.dtype)
        _median_of_sorted(s, med)
        lo = np.zeros(w, np.intp)
        hi = np.full(w, theta - 1, np.intp)
        ar = np.arange(w)
        for _i in range(drop):
            drop_hi = (s[hi, ar] - med) > (med - s[lo, ar])
            lo += ~drop_hi
            hi -= drop_hi
        vals = np.take_along_axis(s, lo[None, :] + win, axis=0)
        np.sum(vals, axis=0, out=out[c0:c1])
    np.divide(out, rows.dtype.type(beta), out=out)
    return out
