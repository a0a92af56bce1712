"""Hostile input to the aggregation core: sample counts, overflowing sums, rule parameters."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from fedmesh_fl.core import (
    MAX_NUM_SAMPLES,
    RULES,
    AggregationFailed,
    ModelSpec,
    UpdateRejected,
    make_round,
    rule_class,
)

MODEL = {"w": np.zeros((3, 2), np.float32), "b": np.zeros(2, np.float32)}
SPEC = ModelSpec.of(MODEL)
BIG = {k: np.full(v.shape, 3e38, np.float32) for k, v in MODEL.items()}  # finite, near float32 max


def _min(rule: str) -> int:
    cls = rule_class(rule)
    return cls.min_updates(cls.resolve_params({}))[0]


@pytest.mark.parametrize("ns", [MAX_NUM_SAMPLES + 1, 10**40, 10**400, 0, -1, True, 2.0])
@pytest.mark.hostile(
    "aggregator",
    "`num_samples` of 0, -1, a bool, a float, 10**40 or 10**400 (core used as a library)",
    "`UpdateRejected` naming `num_samples` and the maximum 10**12",
)
def test_num_samples_out_of_range_is_rejected_naming_the_field(ns: object) -> None:
    agg = make_round("fedavg", SPEC, MODEL)
    with pytest.raises(UpdateRejected, match="num_samples") as ei:
        agg.add("c1", MODEL, ns)  # type: ignore[arg-type]
    assert ei.value.reason == "samples" and agg.count == 0
    assert len(str(ei.value)) < 400  # a 401-digit number is not echoed whole


def test_num_samples_at_the_maximum_is_accepted_and_finite() -> None:
    agg = make_round("fedavg", SPEC, MODEL)
    one = {k: np.ones_like(v) for k, v in MODEL.items()}
    agg.add("c1", one, MAX_NUM_SAMPLES)
    agg.add("c2", one, 1)
    model = agg.finalize()[0]
    assert all(np.isfinite(a).all() for a in model.values())


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.hostile(
    "aggregator",
    "updates that drive any rule or server optimiser to NaN/Inf",
    "`finalize()` raises `AggregationFailed`; no NaN/Inf model is returned",
)
def test_no_rule_returns_a_non_finite_model(rule: str) -> None:
    """Finite updates whose sums overflow float32: finalize raises, never returns NaN/Inf."""
    params: dict[str, Any] = {"clip_norm": 1e38} if rule == "clipped_fedavg" else {}
    agg = make_round(rule, SPEC, MODEL, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the arithmetic must not warn either
        for i in range(_min(rule)):
            agg.add(f"c{i}", BIG, 10**6)
        try:
            model, state = agg.finalize()
        except AggregationFailed as e:
            assert rule in str(e) and "NaN" in str(e)
            with pytest.raises(AggregationFailed):  # stays failed
                agg.finalize()
            return
    for a in [*model.values(), *state.values()]:
        assert np.isfinite(a).all(), f"{rule} returned a non-finite result"


@pytest.mark.parametrize("rule", ["fedavg", "fedavgm", "fedadam", "fedyogi", "fedadagrad", "fedbuff"])
def test_overflowing_weighted_sum_fails_the_round(rule: str) -> None:
    agg = make_round(rule, SPEC, MODEL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        agg.add("c1", BIG, 10**6)
        agg.add("c2", BIG, 10**6)
        with pytest.raises(AggregationFailed, match="no model was produced"):
            agg.finalize()
    with pytest.raises(RuntimeError):
        agg.add("c3", MODEL, 1)


def test_fedadam_state_overflow_is_caught() -> None:
    """Only the second moment (d*d) overflows: the server state must be checked too."""
    agg = make_round("fedadam", SPEC, MODEL)
    up = {k: np.full(v.shape, 1e20, np.float32) for k, v in MODEL.items()}
    agg.add("c1", up, 1)
    with pytest.raises(AggregationFailed, match="server_state"):
        agg.finalize()


@pytest.mark.parametrize(("rule", "params", "need"), [
    ("krum", {"f": 2}, 7), ("multi_krum", {"f": 1, "m": 9}, 9), ("bulyan", {"f": 1}, 7), ("median", {}, 1),
])
def test_min_updates_capability(rule: str, params: dict, need: int) -> None:
    cls = rule_class(rule)
    assert cls.min_updates(cls.resolve_params(params))[0] == need
    assert (rule != "fedavg") == cls.NEEDS_ALL_UPDATES


def test_capabilities() -> None:
    assert [r for r in RULES if rule_class(r).BUFFERED] == ["fedbuff"]
    robust = {"median", "trimmed_mean", "krum", "multi_krum", "bulyan"}
    assert {r for r in RULES if rule_class(r).NEEDS_ALL_UPDATES} == robust


@pytest.mark.parametrize(("params", "name"), [
    ({"max_clients": 10**9}, "max_clients"), ({"eta": 10**400}, "eta"), ({"beta_1": float("nan")}, "beta_1"),
])
@pytest.mark.hostile(
    "aggregator",
    "a rule parameter out of range (library)",
    "`ValueError` naming the parameter and its range",
)
def test_out_of_range_parameters_name_the_parameter(params: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        make_round("fedadam", SPEC, MODEL, **params)


def test_max_clients_at_its_maximum_does_not_preallocate_it() -> None:
    big = {"w": np.zeros(100_000, np.float32)}  # 400 kB rows: 10**6 of them would be 400 GB
    agg = make_round("median", ModelSpec.of(big), big, max_clients=1_000_000)
    assert agg.block.capacity < 1000  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="max_clients"):
        make_round("median", ModelSpec.of(big), big, max_clients=1_000_001)
