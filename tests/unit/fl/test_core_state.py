"""Input checks, state invariants, snapshot/restore, parameters and memory structure."""
from __future__ import annotations

import json
import pickle
from typing import Any

import numpy as np
import pytest

from fedmesh_fl.core import RULES, ModelSpec, UpdateRejected, flatten, make_round, restore_round, rule_params
from fedmesh_fl.core.base import RoundAggregator

RNG = np.random.default_rng(99)
GLOBAL = {"emb": RNG.standard_normal((6, 4)).astype(np.float32), "out.b": RNG.standard_normal(3).astype(np.float32)}
SPEC = ModelSpec.of(GLOBAL)
PARAMS: dict[str, dict[str, Any]] = {"krum": {"f": 1}, "multi_krum": {"f": 1, "m": 2}, "bulyan": {"f": 1},
                                     "clipped_fedavg": {"clip_norm": 0.5, "noise_multiplier": 0.3, "seed": 3}}


def upd(i: int) -> dict[str, np.ndarray]:
    r = np.random.default_rng(i)
    return {k: v + r.standard_normal(v.shape).astype(np.float32) * 0.2 for k, v in GLOBAL.items()}


def fresh(rule: str, n: int = 4, **extra) -> RoundAggregator:
    agg = make_round(rule, SPEC, GLOBAL, **{**PARAMS.get(rule, {}), **extra})
    for i in range(n):
        agg.add(f"c{i}", upd(i), 10 + i)
    return agg


def state_of(agg: RoundAggregator):
    meta, arrays = agg.snapshot()
    return json.dumps(meta, sort_keys=True), {k: np.array(v, copy=True) for k, v in arrays.items()}


def assert_same_state(a, b):
    assert a[0] == b[0]
    assert a[1].keys() == b[1].keys()
    for k in a[1]:
        np.testing.assert_array_equal(a[1][k], b[1][k])


def bad(kind: str):
    u = upd(50)
    if kind == "layout-missing":
        del u["out.b"]
    elif kind == "layout-extra":
        u["extra"] = np.zeros(1, np.float32)
    elif kind == "shape":
        u["emb"] = np.zeros((4, 6), np.float32)
    elif kind == "dtype":
        u["emb"] = u["emb"].astype(np.float64)
    elif kind == "nan":
        u["out.b"][1] = np.nan
    elif kind == "inf":
        u["emb"][2, 3] = -np.inf
    return u


CASES = [
    ("layout-missing", "layout", "out.b"),
    ("layout-extra", "layout", "extra"),
    ("shape", "shape", "emb"),
    ("dtype", "dtype", "emb"),
    ("nan", "nonfinite", "out.b"),
    ("inf", "nonfinite", "emb"),
]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize(("kind", "reason", "layer"), CASES)
def test_rejection_leaves_state_unchanged(rule, kind, reason, layer):
    agg = fresh(rule, n=2)
    before = state_of(agg)
    with pytest.raises(UpdateRejected) as ei:
        agg.add("mallory", bad(kind), 5)
    e = ei.value
    assert (e.reason, e.client, e.layer) == (reason, "mallory", layer)
    assert "mallory" in str(e) and layer in str(e)
    assert_same_state(before, state_of(agg))
    assert agg.count == 2 and "mallory" not in agg.clients


@pytest.mark.parametrize("rule", ["fedavg", "median", "fedbuff"])
@pytest.mark.parametrize("samples", [0, -3, 2.5, True, "7", None])
def test_bad_sample_counts(rule, samples):
    agg = fresh(rule, n=1)
    before = state_of(agg)
    with pytest.raises(UpdateRejected) as ei:
        agg.add("x", upd(9), samples)  # type: ignore[arg-type]
    assert ei.value.reason == "samples" and ei.value.layer is None
    assert_same_state(before, state_of(agg))


def test_duplicate_size_capacity_and_flat_checks():
    agg = fresh("fedavg", n=2, max_update_bytes=SPEC.nbytes, max_clients=3, grow=False)
    before = state_of(agg)
    with pytest.raises(UpdateRejected) as ei:
        agg.add("c1", upd(7), 3)
    assert ei.value.reason == "duplicate"
    big = dict(upd(7), **{"emb": np.zeros((6, 5), np.float32)})
    with pytest.raises(UpdateRejected) as ei:
        agg.add("big", big, 3)
    assert ei.value.reason == "size"
    flat = flatten(SPEC, upd(7))
    for vec, reason in [(flat.astype(np.float64)[:-1], "size"), (flat[:-1], "shape"),
                        (flat.astype(np.float16), "dtype"), (flat.reshape(1, -1), "shape")]:
        with pytest.raises(UpdateRejected) as ei:
            agg.add("flat", vec, 3)
        assert ei.value.reason == reason
    nanflat = flat.copy()
    nanflat[-1] = np.nan
    with pytest.raises(UpdateRejected) as ei:
        agg.add("flat", nanflat, 3)
    assert (ei.value.reason, ei.value.layer) == ("nonfinite", "out.b")
    assert_same_state(before, state_of(agg))
    agg.add("c2", flat, 3)
    with pytest.raises(UpdateRejected) as ei:
        agg.add("c3", flat, 3)
    assert ei.value.reason == "capacity"


def test_update_rejected_pickles():
    e = UpdateRejected("shape", "cl", "emb", "wrong")
    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.reason, e2.client, e2.layer, str(e2)) == ("shape", "cl", "emb", str(e))
    assert isinstance(e2, ValueError)


def test_huge_finite_values_are_not_nonfinite():
    u = upd(1)
    u["emb"][:] = 3e30  # squares overflow float32, the values are finite
    agg = make_round("median", SPEC, GLOBAL)
    agg.add("a", u, 1)
    assert agg.count == 1


@pytest.mark.parametrize("rule", RULES)
def test_snapshot_restore_mid_round_gives_identical_model(rule):
    n_total = 7
    straight = fresh(rule, n=n_total)
    half = fresh(rule, n=3)
    meta, arrays = half.snapshot()
    meta = json.loads(json.dumps(meta))  # must survive JSON
    arrays = {k: np.array(v, copy=True) for k, v in arrays.items()}
    del half
    resumed = restore_round(SPEC, GLOBAL, None, meta, arrays)
    assert resumed.clients == ["c0", "c1", "c2"] and resumed.rule == rule
    with pytest.raises(UpdateRejected):
        resumed.add("c1", upd(1), 11)  # duplicate detection survives restore
    for i in range(3, n_total):
        resumed.add(f"c{i}", upd(i), 10 + i)
    a, sa = straight.finalize()
    b, sb = resumed.finalize()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert sa.keys() == sb.keys()


def test_restore_rejects_other_layout():
    meta, arrays = fresh("fedavg", n=1).snapshot()
    other = ModelSpec(("emb",), ((6, 4),))
    with pytest.raises(ValueError, match="layout"):
        restore_round(other, {"emb": GLOBAL["emb"]}, None, meta, arrays)


def test_unknown_rule_and_bad_params():
    with pytest.raises(ValueError, match="allowed: fedavg"):
        make_round("fedprox", SPEC, GLOBAL)
    with pytest.raises(ValueError, match="unknown parameter 'momentum'.*allowed parameters"):
        make_round("fedavg", SPEC, GLOBAL, momentum=0.9)
    with pytest.raises(ValueError, match=r"beta=0\.5.*\[0\.0, 0\.5\)"):
        make_round("trimmed_mean", SPEC, GLOBAL, beta=0.5)
    with pytest.raises(ValueError, match="clip_norm"):
        make_round("clipped_fedavg", SPEC, GLOBAL, clip_norm=0)
    with pytest.raises(ValueError, match="f=-1"):
        make_round("krum", SPEC, GLOBAL, f=-1)
    with pytest.raises(ValueError, match="m=1.5"):
        make_round("multi_krum", SPEC, GLOBAL, m=1.5)
    with pytest.raises(ValueError, match="server_state"):
        make_round("fedadam", SPEC, GLOBAL, {"m": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="global model"):
        make_round("fedavg", SPEC, {"emb": GLOBAL["emb"]})
    assert rule_params("fedadam")["eta"] == 0.1


def test_staleness_only_for_fedbuff():
    agg = make_round("fedavg", SPEC, GLOBAL)
    with pytest.raises(ValueError, match="fedbuff"):
        agg.add("a", upd(1), 1, staleness=2)
    fb = make_round("fedbuff", SPEC, GLOBAL)
    with pytest.raises(ValueError, match="staleness"):
        fb.add("a", upd(1), 1, staleness=-1)
    assert fb.count == 0


def test_streaming_rules_hold_o_model_state():
    """Structural memory check: the accumulator is one model-sized vector whatever the client count,
    and a flat update is accumulated straight from the caller's buffer."""
    spec = ModelSpec(("w",), ((200_000,),))
    g = {"w": np.zeros(200_000, np.float32)}
    for rule in ("fedavg", "fedadam", "clipped_fedavg", "fedbuff"):
        agg = make_round(rule, spec, g)
        for i in range(40):
            agg.add(f"c{i}", np.full(200_000, i, np.float32), 1)
        arrays = agg.snapshot()[1]
        assert sum(a.nbytes for a in arrays.values()) == spec.nbytes
        held = [v for v in vars(agg).values() if isinstance(v, np.ndarray) and v.size >= 200_000]
        assert sum(a.nbytes for a in held) <= 2 * spec.nbytes, rule


def test_robust_block_is_one_preallocated_array_that_doubles():
    agg = make_round("median", SPEC, GLOBAL, max_clients=3)
    block = agg.block  # type: ignore[attr-defined]
    first = block.data
    assert first.shape == (3, SPEC.num_params) and first.dtype == np.float32
    for i in range(3):
        agg.add(f"c{i}", upd(i), 1)
    assert block.data is first
    agg.add("c3", upd(3), 1)
    assert block.data.shape == (6, SPEC.num_params)
    np.testing.assert_array_equal(block.rows[1], flatten(SPEC, upd(1)))
