"""The robust rules' kernels against naive float64 / gather-based references."""
from __future__ import annotations

import numpy as np
import pytest

from fedmesh_fl.core import ModelSpec, UpdateRejected, kernels, make_round


def window_reference(x: np.ndarray, beta: int) -> np.ndarray:
    """Per column: sort, take the median, drop the end farther from it (the low end on ties)
    until ``beta`` values are left, average them in float64."""
    s = np.sort(x, axis=0)
    theta = s.shape[0]
    k = theta // 2
    med = s[k] if theta % 2 else (s[k - 1] + s[k]) / np.float32(2)
    out = np.empty(x.shape[1])
    for j in range(x.shape[1]):
        lo, hi = 0, theta - 1
        for _i in range(theta - beta):
            if (s[hi, j] - med[j]) > (med[j] - s[lo, j]):
                hi -= 1
            else:
                lo += 1
        out[j] = s[lo : hi + 1, j].astype(np.float64).mean()
    return out


@pytest.mark.parametrize("theta", [1, 2, 3, 5, 8, 11, 16, 24, 25, 40])
def test_closest_mean_every_beta_both_sort_paths(theta):
    rng = np.random.default_rng(theta)
    x = rng.standard_normal((theta + 3, 700)).astype(np.float32)
    x[:, :40] = np.round(x[:, :40])  # many ties, including values equidistant from the median
    sel = list(range(1, theta + 1))
    for beta in range(1, theta + 1):
        got = kernels.column_closest_mean(x, sel, beta)
        np.testing.assert_allclose(got, window_reference(x[sel], beta), rtol=1e-6, atol=1e-6, err_msg=f"beta={beta}")


def test_closest_mean_matches_closest_by_distance_without_ties():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((9, 300)).astype(np.float32)
    got = kernels.column_closest_mean(x, list(range(9)), 5)
    med = np.median(x, axis=0)
    ref = np.take_along_axis(x, np.argsort(np.abs(x - med), axis=0)[:5], axis=0).astype(np.float64).mean(0)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(("n", "p"), [(1, 10), (2, 5), (10, 100_003), (37, 20_000)])
def test_distances_match_float64_even_far_from_the_origin(n, p):
    rng = np.random.default_rng(n)
    g = (rng.standard_normal(p) * 100).astype(np.float32)  # |g| >> |update - g|
    rows = (g + rng.standard_normal((n, p)) * 1e-2).astype(np.float32)
    x = rows.astype(np.float64)
    ref = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1) if p < 50_000 else np.array(
        [[((x[i] - x[j]) ** 2).sum() for j in range(n)] for i in range(n)])
    d = kernels.pairwise_sq_distances(rows, g)
    assert d.dtype == np.float64 and np.array_equal(d, d.T) and not d.diagonal().any()
    np.testing.assert_allclose(d, ref, rtol=1e-5, atol=1e-6 * max(1.0, float(ref.max())))


@pytest.mark.parametrize("select", [[0, 2, 3, 4, 5, 6], [5], [6, 1]])
def test_weighted_row_sum_both_paths(select):
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((7, 70_001)).astype(np.float32)
    w = rng.random(len(select))
    got = kernels.weighted_row_sum(rows, select, list(w))
    assert got.dtype == np.float32 and got.shape == (70_001,)
    ref = (rows[select].astype(np.float64) * w[:, None]).sum(0)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_block_rules_check_finite_while_copying_across_chunks():
    """The NaN/Inf scan is fused into the block copy (cache-sized chunks): the right layer is
    named wherever the bad value sits, huge-but-finite values pass, a rejected row is reused."""
    spec = ModelSpec(("a", "b", "c"), ((70_000,), (100_000,), (3,)))
    g = np.zeros(spec.num_params, np.float32)
    for pos, layer in [(0, "a"), (69_999, "a"), (70_000, "b"), (140_000, "b"), (170_002, "c")]:
        agg = make_round("krum", spec, g, max_clients=2)
        agg.add("ok", np.ones(spec.num_params, np.float32), 1)
        x = np.full(spec.num_params, 2.0, np.float32)
        x[pos] = np.nan if pos % 2 else -np.inf
        with pytest.raises(UpdateRejected) as ei:
            agg.add("bad", x, 1)
        assert (ei.value.reason, ei.value.layer) == ("nonfinite", layer)
        assert agg.count == 1 and agg.block.n == 1  # type: ignore[attr-defined]
        huge = np.full(spec.num_params, 3e30, np.float32)
        agg.add("huge", huge, 1)
        np.testing.assert_array_equal(agg.block.rows[1], huge)  # type: ignore[attr-defined]


def test_finalized_block_is_recycled_and_results_do_not_alias_it():
    from fedmesh_fl.core import robust

    spec = ModelSpec(("w",), ((5000,),))
    g = np.zeros(5000, np.float32)
    rng = np.random.default_rng(0)
    ups = [rng.standard_normal(5000).astype(np.float32) for _i in range(5)]
    robust.drop_spare_block()
    first = make_round("krum", spec, g, max_clients=5, f=1)
    for i, u in enumerate(ups):
        first.add(f"c{i}", u, 1)
    mem = first.block.data  # type: ignore[attr-defined]
    result = first.finalize()[0]["w"].copy()
    kept = first.finalize()[0]["w"]
    assert first.block.n == 0 and first.block.data.size == 0  # type: ignore[attr-defined]
    second = make_round("median", spec, g, max_clients=5)
    assert second.block.data is mem  # type: ignore[attr-defined]
    for i in range(5):
        second.add(f"c{i}", np.full(5000, 7.0, np.float32), 1)
    np.testing.assert_array_equal(kept, result)  # the Krum pick owns its memory
    np.testing.assert_array_equal(second.finalize()[0]["w"], np.full(5000, 7.0, np.float32))
    third = make_round("median", spec, g, max_clients=4)  # another shape: a fresh block
    assert third.block.data is not mem  # type: ignore[attr-defined]
    robust.drop_spare_block()


def test_single_threaded_blas_restores_the_thread_count():
    from fedmesh_fl.core import blas

    with blas.single_threaded():
        inner = blas._found[0]() if blas._found else 1
        with blas.single_threaded():  # re-entrant
            np.dot(np.ones((4, 300), np.float32), np.ones((300, 4), np.float32))
    assert inner == 1
    if blas._found:  # OpenBLAS present (NumPy wheels): the previous count is back
        before = blas._found[0]()
        with blas.single_threaded():
            assert blas._found[0]() == 1
        assert blas._found[0]() == before


def test_saxpy_matches_numpy_within_one_rounding_and_refuses_what_it_cannot_do():
    from fedmesh_fl.core import blas

    rng = np.random.default_rng(7)
    x = rng.standard_normal(100_003).astype(np.float32)
    y0 = rng.standard_normal(100_003).astype(np.float32)
    y = y0.copy()
    a = np.float32(37.0)
    if not blas.saxpy(a, x, y):  # NumPy without a CBLAS saxpy: the caller's NumPy path is used
        assert not blas.has_saxpy()
        np.testing.assert_array_equal(y, y0)
        return
    exact = y0.astype(np.float64) + np.float64(a) * x.astype(np.float64)
    # a fused multiply-add rounds once: at least as close to the exact value as NumPy's two roundings
    numpy_err = np.abs((y0 + a * x).astype(np.float64) - exact)
    assert np.all(np.abs(y.astype(np.float64) - exact) <= numpy_err + np.spacing(np.abs(exact).astype(np.float32)))
    strided, before = y[::2], y[::2].copy()
    assert not blas.saxpy(a, x[::2], strided)  # not contiguous: untouched, NumPy does it
    np.testing.assert_array_equal(strided, before)
    assert not blas.saxpy(a, x.astype(np.float64), y)  # wrong dtype
    assert not blas.saxpy(a, x[:10], y)  # lengths differ


@pytest.mark.parametrize("threads", [1, 2])
def test_sorted_column_rules_are_exact_when_chunks_are_shared_out_to_threads(monkeypatch, threads):
    """Above NETWORK_MAX_N rows the sorted chunks may be processed by two threads (each chunk by
    one); the results must not depend on it: median bit-identical to NumPy's, trimmed mean and
    Bulyan's window mean equal to a serial computation."""
    from fedmesh_fl.core import kernels

    monkeypatch.setattr(kernels, "column_threads", lambda: threads)
    n = kernels.NETWORK_MAX_N + 6
    P = 5 * kernels._col_chunk(n) + 123  # several chunks, a ragged last one: the threaded path
    rows = np.random.default_rng(3).standard_normal((n, P)).astype(np.float32)
    np.testing.assert_array_equal(kernels.column_median(rows), np.median(rows, axis=0))
    lo = kernels.trim_count(n, 0.2)
    ref = np.sort(rows, axis=0)[lo:n - lo].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(kernels.column_trimmed_mean(rows, 0.2), ref, rtol=1e-5, atol=1e-6)
    sel = list(range(1, n - 1))
    monkeypatch.setattr(kernels, "column_threads", lambda: 1)
    serial = kernels.column_closest_mean(rows, sel, len(sel) - 4)
    monkeypatch.setattr(kernels, "column_threads", lambda: threads)
    np.testing.assert_array_equal(kernels.column_closest_mean(rows, sel, len(sel) - 4), serial)


def test_a_failing_chunk_raises_after_both_threads_stop(monkeypatch):
    from fedmesh_fl.core import kernels

    monkeypatch.setattr(kernels, "column_threads", lambda: 2)
    n = kernels.NETWORK_MAX_N + 2
    rows = np.ones((n, 5 * kernels._col_chunk(n)), np.float32)
    seen: list[int] = []

    def fn(c0: int, c1: int, s) -> None:  # type: ignore[no-untyped-def]
        seen.append(c0)
        if c0 == 2 * kernels._col_chunk(n):
            raise RuntimeError("chunk failed")

    with pytest.raises(RuntimeError, match="chunk failed"):
        kernels.each_sorted_chunk(rows, None, fn)
