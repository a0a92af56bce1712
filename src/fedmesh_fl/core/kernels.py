"""Pure NumPy kernels for the robust rules (no aggregator state).

All of them work on ``rows``: a 2-D float32 ``(n, P)`` array whose row ``i`` is client
``i``'s flat update (a view of the update block).  Column statistics are computed in
column chunks: the chunk is transposed into a small contiguous ``(chunk, n)`` buffer and
sorted along its last axis (NumPy's vectorised sort), which is far faster than
``np.median(axis=0)``'s strided per-column selection and gives exactly the same order
statistics.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np

from .blas import single_threaded

F32 = np.float32
#: Sorted order statistics of a column chunk: row ``k`` holds each column's k-th smallest value
#: (a list of contiguous rows from the sorting network, or a transposed ``(n, w)`` view).
Sorted = Sequence[np.ndarray] | np.ndarray


NETWORK_MAX_N = 24  # up to this many rows a sorting network beats np.sort on the transposed chunk
NETWORK_STEP = 16384  # columns per network chunk: (n + 1) rows of 64 KiB stay in L2


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


def _network_rows(rows: np.ndarray, idx: np.ndarray | None, c0: int, c1: int,
                  buf: np.ndarray) -> list[np.ndarray]:
    """Columns ``c0:c1`` of the (selected) rows sorted per column with elementwise min/max:
    the ascending order statistics as ``n`` contiguous row vectors (views of ``buf``).
    The network's first layer reads the block directly (no separate copy-in pass)."""
    n = rows.shape[0] if idx is None else idx.shape[0]
    w = c1 - c0
    out = [buf[i, :w] for i in range(n + 1)]
    spare = out[n]
    net = sorting_network(n)
    loaded = [False] * n
    first = 0
    for a, b in net:  # leading comparators on rows not loaded yet: min/max straight from the block
        if loaded[a] or loaded[b]:
            break
        ra = rows[a if idx is None else idx[a], c0:c1]
        rb = rows[b if idx is None else idx[b], c0:c1]
        np.minimum(ra, rb, out=out[a])
        np.maximum(ra, rb, out=out[b])
        loaded[a] = loaded[b] = True
        first += 1
    for i in range(n):
        if not loaded[i]:
            np.copyto(out[i], rows[i if idx is None else idx[i], c0:c1])
    for a, b in net[first:]:
        ra, rb = out[a], out[b]
        np.minimum(ra, rb, out=spare)
        np.maximum(ra, rb, out=rb)
        out[a], spare = spare, ra
    return out[:n]


def sorted_rows(rows: np.ndarray, select: Sequence[int] | None = None
                ) -> Iterator[tuple[int, int, Sorted]]:
    """Yield ``(c0, c1, s)``: ``s[k]`` is the k-th smallest value of each column ``c0:c1`` of the
    (selected) rows.  Small ``n``: a sorting network on contiguous row vectors (``s`` is a list);
    otherwise the chunk is transposed to ``(w, n)``, ``np.sort``-ed along its last axis (SIMD
    sort) and ``s`` is the ``(n, w)`` transposed view."""
    n = rows.shape[0] if select is None else len(select)
    P = rows.shape[1]
    idx = None if select is None else np.asarray(select, dtype=np.intp)
    use_net = 1 < n <= NETWORK_MAX_N
    step = NETWORK_STEP if use_net else _col_chunk(n)
    buf = np.empty((n + 1, min(step, max(P, 1))), rows.dtype) if use_net else None
    tbuf = None if use_net else np.empty((min(step, max(P, 1)), n), rows.dtype)
    for c0 in range(0, P, step):
        c1 = min(P, c0 + step)
        if buf is not None:
            yield c0, c1, _network_rows(rows, idx, c0, c1, buf)
        else:
            assert tbuf is not None
            yield c0, c1, _sort_chunk(tbuf, rows, idx, c0, c1)


def _sort_chunk(tbuf: np.ndarray, rows: np.ndarray, idx: np.ndarray | None, c0: int, c1: int) -> np.ndarray:
    """Columns ``c0:c1`` of the (selected) rows, each column sorted: the ``(n, c1 - c0)`` transposed
    view of ``tbuf``'s first rows (the sort path of :func:`sorted_rows`)."""
    t = tbuf[: c1 - c0]
    _transpose_into(t, rows, idx, c0, c1)
    t.sort(axis=1)
    return t.T


TRANSPOSE_GROUP = 40  # rows read at once by the chunk transpose (see _transpose_into)


def _transpose_into(t: np.ndarray, rows: np.ndarray, idx: np.ndarray | None, c0: int, c1: int) -> None:
    """``t[:, i] = rows[idx[i], c0:c1]``.  Up to ``TRANSPOSE_GROUP`` rows at a time: one strided
    copy that reads 100 rows at once ran at a third of the speed here (too many concurrent
    streams for the hardware prefetcher and the cache sets), 40 at a time at full speed."""
    n = t.shape[1]
    step = n if n <= TRANSPOSE_GROUP + TRANSPOSE_GROUP // 5 else TRANSPOSE_GROUP
    for g0 in range(0, n, step):
        g1 = min(n, g0 + step)
        src = rows[g0:g1, c0:c1] if idx is None else rows[idx[g0:g1], c0:c1]
        np.copyto(t[:, g0:g1].T, src)


def sorted_columns(rows: np.ndarray, select: Sequence[int] | None = None
                   ) -> Iterator[tuple[int, int, np.ndarray]]:
    """:func:`sorted_rows` with ``s`` always one ``(n, c1 - c0)`` array."""
    for c0, c1, s in sorted_rows(rows, select):
        yield c0, c1, s if isinstance(s, np.ndarray) else np.stack(s)


_column_pool: ThreadPoolExecutor | None = None
_column_pool_lock = threading.Lock()


def column_threads() -> int:
    """Threads that share out sorted column chunks: 2 when this process may use 2 CPUs, else 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return min(2, cpus)


def each_sorted_chunk(rows: np.ndarray, select: Sequence[int] | None,
                      fn: Callable[[int, int, Sorted], None]) -> None:
    """``fn(c0, c1, s)`` for every chunk of :func:`sorted_rows`.  On its sort path (more than
    ``NETWORK_MAX_N`` rows) every step is one big copy or ``np.sort``, which release the GIL, so the
    chunks are shared out to :func:`column_threads` threads, each taking the next chunk when it is
    free (a busy second core just takes fewer).  ``fn`` must write only its own columns."""
    global _column_pool
    n = rows.shape[0] if select is None else len(select)
    P = rows.shape[1]
    step = _col_chunk(n)
    threads = column_threads()
    if n <= NETWORK_MAX_N or threads < 2 or 4 * step > P:
        for c0, c1, s in sorted_rows(rows, select):
            fn(c0, c1, s)
        return
    idx = None if select is None else np.asarray(select, dtype=np.intp)
    starts = iter(range(0, P, step))
    lock = threading.Lock()

    def work() -> None:
        tbuf = np.empty((step, n), rows.dtype)
        while True:
            with lock:
                c0 = next(starts, None)
            if c0 is None:
                return
            c1 = min(P, c0 + step)
            fn(c0, c1, _sort_chunk(tbuf, rows, idx, c0, c1))

    with _column_pool_lock:
        if _column_pool is None:
            _column_pool = ThreadPoolExecutor(1, thread_name_prefix="fedmesh-columns")
        pool = _column_pool
    helper = pool.submit(work)
    try:
        work()
    finally:
        helper.result()


def _median_of_sorted(s: Sorted, out: np.ndarray) -> None:
    """Exactly what ``np.median`` computes: middle value, or float32 mean of the two middle ones."""
    n = len(s)
    k = n // 2
    if n % 2:
        out[...] = s[k]
    else:
        np.add(s[k - 1], s[k], out=out)
        np.divide(out, out.dtype.type(2), out=out)


def column_median(rows: np.ndarray) -> np.ndarray:
    """Coordinate-wise median, bit-identical to ``np.median(rows, axis=0)``."""
    out = np.empty(rows.shape[1], rows.dtype)
    each_sorted_chunk(rows, None, lambda c0, c1, s: _median_of_sorted(s, out[c0:c1]))
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

    def middle_sum(c0: int, c1: int, s: Sorted) -> None:
        np.sum(s[lo:hi] if isinstance(s, np.ndarray) else np.stack(s[lo:hi]), axis=0, out=out[c0:c1])

    each_sorted_chunk(rows, None, middle_sum)
    np.divide(out, rows.dtype.type(hi - lo), out=out)
    return out


GEMM_MAX_N = 16  # up to this many rows SGEMM (t[1:] @ t.T) beats SSYRK (t @ t.T), above it SSYRK's half work wins


def _gram_width(n: int) -> int:
    """Columns per Gram step: SGEMM on an L2-sized ``(n, w)`` scratch (~256 KiB) for small ``n``;
    SSYRK likes long steps (the old 8 MiB one measured best)."""
    if n <= GEMM_MAX_N:
        return int(min(8192, max(256, (1 << 16) // max(1, n))))
    return max(4096, (1 << 21) // n)


def pairwise_sq_distances(rows: np.ndarray, ref: np.ndarray | None = None) -> np.ndarray:
    """``D[i, j] = ||rows[i] - rows[j]||^2`` (float64 ``(n, n)``) from one Gram matrix.

    One pass over the block in column steps: the step is centred on ``ref`` (the global model)
    into a scratch, so the ``|a|^2 + |b|^2 - 2 a.b`` form does not cancel catastrophically when
    all clients are close to the global model, then multiplied in float32: up to
    ``GEMM_MAX_N`` rows with SGEMM as ``t[1:] @ t.T`` plus the GEMV ``t @ t[0]`` (given
    ``t @ t.T`` NumPy calls SSYRK, which OpenBLAS runs ~4x slower than SGEMM at those shapes),
    above that with SSYRK.  Step products are summed in float64; norms come from the diagonal.
    """
    n, P = rows.shape
    w = min(_gram_width(n), max(P, 1))
    use_gemm = n <= GEMM_MAX_N
    scratch = np.empty((n, w), rows.dtype)
    part = np.empty((n, n), rows.dtype)
    gram = np.zeros((n, n), np.float64)
    with single_threaded():  # thousands of small products: OpenBLAS's threads only add waits
        for c0 in range(0, P, w):
            c1 = min(P, c0 + w)
            t = scratch[:, : c1 - c0]
            if ref is None:
                np.copyto(t, rows[:, c0:c1])
            else:
                np.subtract(rows[:, c0:c1], ref[c0:c1], out=t)
            if not use_gemm:
                gram += t @ t.T
                continue
            if n > 1:
                np.dot(t[1:], t.T, out=part[1:])
            np.dot(t, t[0], out=part[0])
            gram += part
    iu = np.triu_indices(n, 1)
    gram[iu] = gram.T[iu]  # GEMM need not return a symmetric product: mirror the lower triangle
    sq = np.diag(gram).copy()
    d = sq[:, None] + sq[None, :] - 2.0 * gram
    np.maximum(d, 0.0, out=d)
    np.fill_diagonal(d, 0.0)
    return d


def weighted_row_sum(rows: np.ndarray, select: Sequence[int], weights: Sequence[float]) -> np.ndarray:
    """``sum_k weights[k] * rows[select[k]]`` in float32 without copying rows: one SGEMV of a
    zero-padded weight vector over the whole block when most rows are selected, else per
    L2-sized column step over the gathered selected rows."""
    n, P = rows.shape
    wt = np.asarray(weights, rows.dtype)
    with single_threaded():
        if 2 * len(select) >= n:
            full = np.zeros(n, rows.dtype)
            full[np.asarray(select, np.intp)] = wt
            return np.asarray(full @ rows)
        idx = np.asarray(select, np.intp)
        out = np.empty(P, rows.dtype)
        step = max(1024, (1 << 16) // max(1, len(select)))
        for c0 in range(0, P, step):
            c1 = min(P, c0 + step)
            np.dot(wt, rows[idx, c0:c1], out=out[c0:c1])
        return out


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


def _closest_window_sum(s: Sorted, beta: int, out: np.ndarray) -> None:
    """``out`` = per column, the sum of the ``beta`` sorted values ``s`` closest to their median.

    Dropping, ``K = len(s) - beta`` times, whichever end of the window is farther from the
    median (the low end on ties) leaves a window ``s[lo:lo + beta]``; ``lo >= t`` exactly when
    ``m - s[t-1] >= s[beta+t-1] - m`` (merging the two ends' distance lists, both sorted), so
    every test is elementwise on whole rows -- no gathers.  When ``K <= beta`` each pair
    ``(s[t-1], s[beta+t-1])`` contributes exactly one value: the one the window keeps.
    """
    theta = len(s)
    drop = theta - beta
    w = out.shape[0]
    med = np.empty(w, out.dtype)
    _median_of_sorted(s, med)
    d_lo, d_hi, tmp = np.empty(w, out.dtype), np.empty(w, out.dtype), np.empty(w, out.dtype)
    # keep_hi[t-1] = 1.0 where lo >= t, else 0.0.  Float 0/1 masks and multiplies instead of
    # np.where / where= (those take ~10x longer on data-dependent masks); v * 1 and v * 0 are exact.
    keep_hi = [np.empty(w, out.dtype) for _t in range(drop)]
    for t in range(1, drop + 1):
        np.subtract(med, s[t - 1], out=d_lo)
        np.subtract(s[beta + t - 1], med, out=d_hi)
        np.greater_equal(d_lo, d_hi, out=keep_hi[t - 1], casting="unsafe")
    if drop <= beta:
        if drop + 1 < beta:
            np.add(s[drop], s[drop + 1], out=out)
        else:
            np.copyto(out, s[drop] if drop < beta else 0)
        for k in range(drop + 2, beta):
            out += s[k]
        for t in range(1, drop + 1):
            k_hi = keep_hi[t - 1]
            np.multiply(s[beta + t - 1], k_hi, out=tmp)
            out += tmp
            np.subtract(1, k_hi, out=k_hi)
            np.multiply(s[t - 1], k_hi, out=tmp)
            out += tmp
        return
    # windows narrower than the ends: row j is in iff lo <= j (j < drop) and lo > j - beta (j >= beta)
    out[...] = 0
    weight = np.empty(w, out.dtype)
    for j in range(theta):
        weight[...] = 1
        if j < drop:
            np.subtract(weight, keep_hi[j], out=weight)
        if j >= beta:
            np.multiply(weight, keep_hi[j - beta], out=weight)
        np.multiply(s[j], weight, out=tmp)
        out += tmp


def column_closest_mean(rows: np.ndarray, select: Sequence[int], beta: int) -> np.ndarray:
    """Bulyan's second stage: per coordinate, the mean of the ``beta`` selected values closest
    to the coordinate-wise median of the selected rows.

    In sorted order those ``beta`` values are a contiguous window; it is found by dropping,
    ``len(select) - beta`` times, whichever end of the window is farther from the median.
    """
    theta = len(select)
    if not 1 <= beta <= theta:
        raise ValueError(f"bulyan: beta={beta} must be in [1, {theta}]")
    out = np.empty(rows.shape[1], rows.dtype)
    each_sorted_chunk(rows, select, lambda c0, c1, s: _closest_window_sum(s, beta, out[c0:c1]))
    np.divide(out, rows.dtype.type(beta), out=out)
    return out
