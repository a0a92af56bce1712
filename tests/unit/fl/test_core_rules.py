"""Reference tests: every rule against an independent float64 / naive NumPy computation."""
from __future__ import annotations

import numpy as np
import pytest

from fedmesh_fl.core import RULES, ModelSpec, flatten, make_round, unflatten

RNG = np.random.default_rng(1234)
SHAPES = {"conv.w": (4, 3, 3), "conv.b": (4,), "fc.w": (5, 6), "fc.b": (5,)}


def _model(scale: float = 1.0) -> dict[str, np.ndarray]:
    return {k: (RNG.standard_normal(s) * scale).astype(np.float32) for k, s in SHAPES.items()}


GLOBAL = _model()
SPEC = ModelSpec.of(GLOBAL)
N = 11
UPDATES = [{k: v + (RNG.standard_normal(v.shape) * 0.1 * (1 + i % 4)).astype(np.float32)
            for k, v in GLOBAL.items()} for i in range(N)]
SAMPLES = [int(x) for x in RNG.integers(1, 500, N)]
FLAT = np.stack([np.concatenate([u[k].ravel() for k in SHAPES]) for u in UPDATES]).astype(np.float64)
G64 = np.concatenate([GLOBAL[k].ravel() for k in SHAPES]).astype(np.float64)


def run(rule: str, **params) -> np.ndarray:
    agg = make_round(rule, SPEC, GLOBAL, **params)
    for i, (u, s) in enumerate(zip(UPDATES, SAMPLES, strict=True)):
        agg.add(f"c{i}", u, s)
    model, _stats = agg.finalize()
    assert list(model) == list(SHAPES)
    assert all(model[k].dtype == np.float32 and model[k].shape == SHAPES[k] for k in SHAPES)
    return flatten(SPEC, model).astype(np.float64)


def test_rules_tuple_matches_api():
    assert RULES == ("fedavg", "fedavgm", "fedadam", "fedyogi", "fedadagrad", "median", "trimmed_mean",
                     "krum", "multi_krum", "bulyan", "clipped_fedavg", "fedbuff")


def test_fedavg_matches_float64_weighted_mean():
    w = np.asarray(SAMPLES, np.float64)
    ref = (FLAT * w[:, None]).sum(0) / w.sum()
    np.testing.assert_allclose(run("fedavg"), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run("fedavg", precise=True), ref, rtol=6e-8, atol=0)  # correctly rounded


def test_fedavg_accepts_flat_vectors_without_copy_semantics_change():
    agg = make_round("fedavg", SPEC, GLOBAL)
    for i, (u, s) in enumerate(zip(UPDATES, SAMPLES, strict=True)):
        agg.add(f"c{i}", flatten(SPEC, u), s)
    flat_result = flatten(SPEC, agg.finalize()[0])
    np.testing.assert_array_equal(flat_result, run("fedavg").astype(np.float32))


def _avg64() -> np.ndarray:
    w = np.asarray(SAMPLES, np.float64)
    return (FLAT * w[:, None]).sum(0) / w.sum()


def _opt_reference(rule: str, params: dict, m: np.ndarray, v: np.ndarray, g: np.ndarray, avg: np.ndarray,
                   server_round: int = 1):
    """Flower 1.42's strategies (FedAvgM, FedOpt family), transcribed in float64.  Only FedAdam
    bias-corrects: ``eta_norm = eta * sqrt(1 - b2^(server_round+1)) / (1 - b1^(server_round+1))``
    with Flower's 1-based ``server_round``; FedYogi and FedAdagrad use ``eta`` as is."""
    d = avg - g
    if rule == "fedavgm":
        m = params["momentum"] * m + (g - avg)
        return g - params["server_lr"] * m, m, v
    b1, eta, tau = params.get("beta_1", 0.0), params["eta"], params["tau"]
    m = b1 * m + (1 - b1) * d
    if rule == "fedadam":
        b2 = params["beta_2"]
        v = b2 * v + (1 - b2) * d * d
        if params.get("bias_correction", True):
            eta = eta * np.sqrt(1 - b2 ** (server_round + 1.0)) / (1 - b1 ** (server_round + 1.0))
    elif rule == "fedyogi":
        v = v - (1 - params["beta_2"]) * d * d * np.sign(v - d * d)
    else:
        v = v + d * d
    return g + eta * m / (np.sqrt(v) + tau), m, v


OPT_PARAMS = {
    "fedavgm": {"server_lr": 0.7, "momentum": 0.9},
    "fedadam": {"eta": 0.05, "beta_1": 0.9, "beta_2": 0.99, "tau": 1e-3},
    "fedadam-uncorrected": {"eta": 0.05, "beta_1": 0.9, "beta_2": 0.99, "tau": 1e-3, "bias_correction": False},
    "fedyogi": {"eta": 0.02, "beta_1": 0.8, "beta_2": 0.95, "tau": 1e-3},
    "fedadagrad": {"eta": 0.1, "tau": 1e-2},  # Flower's FedAdagrad has beta_1 = 0
}


@pytest.mark.parametrize("case", list(OPT_PARAMS))
def test_server_optimisers_three_rounds_carry_state(case):
    rule, params = case.split("-")[0], OPT_PARAMS[case]
    g, state = GLOBAL, None
    g64, m, v = G64.copy(), np.zeros_like(G64), np.zeros_like(G64)
    for rnd in range(3):
        shift = np.float32(0.05 * (rnd + 1))
        ups = [{k: a + shift for k, a in u.items()} for u in UPDATES]
        agg = make_round(rule, SPEC, g, state, **params)
        for i, (u, s) in enumerate(zip(ups, SAMPLES, strict=True)):
            agg.add(f"c{i}", u, s)
        g, state = agg.finalize()
        keys = {"fedavgm": {"m"}, "fedadam": {"m", "v", "t"}}.get(rule, {"m", "v"})
        assert set(state) == keys
        if rule == "fedadam":
            assert state["t"].tolist() == [rnd + 1]
        avg = _avg64() + float(shift)
        g64, m, v = _opt_reference(rule, params, m, v, g64, avg, server_round=rnd + 1)
        np.testing.assert_allclose(flatten(SPEC, g), g64, rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(state["m"], m, rtol=2e-4, atol=2e-6)
        g64 = flatten(SPEC, g).astype(np.float64)  # continue from what the server really has
    assert rnd == 2


def test_fedadam_bias_correction_changes_the_first_steps():
    """Round 1: Flower's eta_norm = eta * sqrt(1 - b2^2) / (1 - b1^2) = eta * 0.7460 for the defaults."""
    agg = [make_round("fedadam", SPEC, GLOBAL, bias_correction=bc) for bc in (True, False)]
    for a in agg:
        a.add("c0", UPDATES[0], 1)
    step = [flatten(SPEC, a.finalize()[0]).astype(np.float64) - G64 for a in agg]
    ratio = np.sqrt(1 - 0.99**2) / (1 - 0.9**2)
    np.testing.assert_allclose(step[0], step[1] * ratio, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="non-negative integer"):
        make_round("fedadam", SPEC, GLOBAL, {"t": np.array([1.5])})


def naive_median(x: np.ndarray) -> np.ndarray:
    out = np.empty(x.shape[1])
    for j in range(x.shape[1]):
        col = sorted(x[:, j].tolist())
        n = len(col)
        out[j] = col[n // 2] if n % 2 else (col[n // 2 - 1] + col[n // 2]) / 2
    return out


@pytest.mark.parametrize("n", [1, 2, 5, 11])
def test_median_exact(n):
    agg = make_round("median", SPEC, GLOBAL, max_clients=2)  # forces the block to grow
    for i in range(n):
        agg.add(f"c{i}", UPDATES[i], SAMPLES[i])
    got = flatten(SPEC, agg.finalize()[0])
    x32 = FLAT[:n].astype(np.float32)
    np.testing.assert_array_equal(got, np.median(x32, axis=0))
    np.testing.assert_allclose(got, naive_median(FLAT[:n]), rtol=1e-6, atol=1e-7)


def naive_trimmed(x: np.ndarray, beta: float) -> np.ndarray:
    n = x.shape[0]
    k = int(beta * n)
    out = np.empty(x.shape[1])
    for j in range(x.shape[1]):
        col = sorted(x[:, j].tolist())
        out[j] = sum(col[k:n - k]) / (n - 2 * k)
    return out


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.2, 0.45])
def test_trimmed_mean(beta):
    np.testing.assert_allclose(run("trimmed_mean", beta=beta), naive_trimmed(FLAT, beta), rtol=1e-6, atol=1e-6)


def naive_krum_scores(x: np.ndarray, f: int) -> np.ndarray:
    n = x.shape[0]
    k = max(1, n - f - 2)
    scores = []
    for i in range(n):
        d = sorted(float(((x[i] - x[j]) ** 2).sum()) for j in range(n) if j != i)
        scores.append(sum(d[:k]))
    return np.asarray(scores)


@pytest.mark.parametrize("f", [0, 1, 3])
def test_krum_picks_naive_best(f):
    best = int(np.argmin(naive_krum_scores(FLAT, f)))
    np.testing.assert_array_equal(run("krum", f=f), FLAT[best].astype(np.float32))


def test_krum_rejects_outliers():
    agg = make_round("krum", SPEC, GLOBAL, f=2)
    for i in range(7):
        u = {k: v + np.float32(0.01 * i) for k, v in GLOBAL.items()}
        agg.add(f"good{i}", u, 10)
    for i in range(2):
        agg.add(f"evil{i}", {k: v + np.float32(100) for k, v in GLOBAL.items()}, 10_000)
    out = flatten(SPEC, agg.finalize()[0])
    assert np.abs(out - flatten(SPEC, GLOBAL)).max() < 0.1


@pytest.mark.parametrize(("f", "m"), [(1, 3), (2, 5), (0, N)])
def test_multi_krum(f, m):
    order = np.argsort(naive_krum_scores(FLAT, f), kind="stable")[:m]
    w = np.asarray(SAMPLES, np.float64)[order]
    ref = (FLAT[order] * w[:, None]).sum(0) / w.sum()
    np.testing.assert_allclose(run("multi_krum", f=f, m=m), ref, rtol=1e-5, atol=1e-6)


def naive_bulyan(x: np.ndarray, f: int) -> np.ndarray:
    remaining = list(range(x.shape[0]))
    chosen = []
    theta = x.shape[0] - 2 * f
    for _i in range(theta):
        scores = naive_krum_scores(x[remaining], f)
        chosen.append(remaining.pop(int(np.argmin(scores))))
    sel = x[chosen]
    beta = theta - 2 * f
    med = naive_median(sel)
    out = np.empty(x.shape[1])
    for j in range(x.shape[1]):
        m_j = float(med[j])
        closest = sorted(sel[:, j].tolist(), key=lambda val: abs(val - m_j))[:beta]
        out[j] = sum(closest) / beta
    return out


@pytest.mark.parametrize("f", [0, 1, 2])
def test_bulyan(f):
    np.testing.assert_allclose(run("bulyan", f=f), naive_bulyan(FLAT, f), rtol=1e-6, atol=1e-6)


def test_bulyan_needs_4f_plus_3():
    agg = make_round("bulyan", SPEC, GLOBAL, f=3)
    for i in range(N):
        agg.add(f"c{i}", UPDATES[i], SAMPLES[i])
    with pytest.raises(ValueError, match="4f\\+3"):
        agg.finalize()


@pytest.mark.parametrize("z", [0.0, 1.5])
def test_clipped_fedavg_reference(z):
    c = 1.75
    got = run("clipped_fedavg", clip_norm=c, noise_multiplier=z, seed=7)
    deltas = FLAT - G64
    norms = np.linalg.norm(deltas, axis=1)
    assert (norms > c).any() and (norms < c).any()  # both branches exercised
    clipped = deltas * np.minimum(1.0, c / norms)[:, None]
    ref = G64 + clipped.mean(0)
    if z:
        noise = np.random.default_rng(7).standard_normal(SPEC.num_params, dtype=np.float32).astype(np.float64)
        ref = ref + noise * (z * c / N)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_clipped_noise_statistics_and_seed():
    big = {"w": np.zeros(200_000, np.float32)}
    spec = ModelSpec.of(big)
    outs = []
    for seed in (1, 1, 2):
        agg = make_round("clipped_fedavg", spec, big, clip_norm=2.0, noise_multiplier=1.0, seed=seed)
        for i in range(4):
            agg.add(f"c{i}", {"w": np.zeros(200_000, np.float32)}, 1)
        outs.append(agg.finalize()[0]["w"])
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])
    assert abs(float(outs[0].std()) - 2.0 * 1.0 / 4) < 0.01
    assert abs(float(outs[0].mean())) < 0.01


def test_fedbuff_staleness_weighting():
    stal = [0, 3, 8, 1, 0]
    bases = [GLOBAL, _model(), _model(), GLOBAL, None]
    agg = make_round("fedbuff", SPEC, GLOBAL, server_lr=0.5)
    ref = np.zeros_like(G64)
    for i, (tau, base) in enumerate(zip(stal, bases, strict=True)):
        agg.add(f"c{i}", UPDATES[i], SAMPLES[i], staleness=tau, base=base)
        b64 = G64 if base is None else flatten(SPEC, base).astype(np.float64)
        ref += (FLAT[i] - b64) / np.sqrt(1.0 + tau)
    ref = G64 + 0.5 * ref / len(stal)
    np.testing.assert_allclose(flatten(SPEC, agg.finalize()[0]), ref, rtol=1e-5, atol=1e-5)


def test_fedbuff_sample_weighted_and_exponent():
    agg = make_round("fedbuff", SPEC, GLOBAL, staleness_exponent=1.0, sample_weighted=True)
    ref = np.zeros_like(G64)
    for i in range(3):
        agg.add(f"c{i}", UPDATES[i], SAMPLES[i], staleness=i)
        ref += SAMPLES[i] * (FLAT[i] - G64) / (1.0 + i)
    ref = G64 + ref / sum(SAMPLES[:3])
    np.testing.assert_allclose(flatten(SPEC, agg.finalize()[0]), ref, rtol=1e-5, atol=1e-5)


def test_flatten_unflatten_zero_copy():
    vec = flatten(SPEC, GLOBAL)
    layers = unflatten(SPEC, vec)
    assert all(np.shares_memory(a, vec) for a in layers.values())
    for k in SHAPES:
        np.testing.assert_array_equal(layers[k], GLOBAL[k])
    assert SPEC.num_params == vec.size and SPEC.nbytes == 4 * vec.size


def test_finalize_is_idempotent_and_closes_round():
    agg = make_round("fedavg", SPEC, GLOBAL)
    agg.add("a", UPDATES[0], 3)
    first = agg.finalize()
    assert agg.finalize() is first
    with pytest.raises(RuntimeError):
        agg.add("b", UPDATES[1], 3)


def test_empty_round_cannot_finalize():
    with pytest.raises(ValueError, match="without updates"):
        make_round("median", SPEC, GLOBAL).finalize()


@pytest.mark.parametrize("n", [2, 3, 7, 16, 24, 25, 40])
def test_column_kernels_both_sort_paths(n):
    """n <= 24 uses the sorting network, larger n the transposed np.sort; both must be exact."""
    from fedmesh_fl.core import kernels

    x = np.random.default_rng(n).standard_normal((n, 3000)).astype(np.float32)
    x[:, :5] = 0.5  # ties
    np.testing.assert_array_equal(kernels.column_median(x), np.median(x, axis=0))
    k = int(0.2 * n)
    ref = np.sort(x.astype(np.float64), axis=0)[k:n - k].mean(axis=0)
    np.testing.assert_allclose(kernels.column_trimmed_mean(x, 0.2), ref, rtol=1e-6, atol=1e-6)
    sel = list(range(0, n, 2)) if n > 6 else list(range(n))
    for c0, c1, s in kernels.sorted_columns(x, sel):
        np.testing.assert_array_equal(s, np.sort(x[sel, c0:c1], axis=0))
