"""fedmesh aggregation core: pure NumPy, no service imports.

>>> agg = make_round("fedavg", ModelSpec.of(global_model), global_model)
>>> agg.add("client-1", layers, num_samples=600)       # mapping or flat float32 vector
>>> new_global, server_state = agg.finalize()

See :data:`RULES` for the rules and each rule class's ``PARAMS`` for its parameters.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

# Importing a module registers its rules: this order is RULES' order.
# isort: off
from . import streaming  # noqa: F401
from . import robust  # noqa: F401
from . import delta  # noqa: F401
# isort: on

from .base import COMMON_PARAMS, RoundAggregator, registered_rules, rule_class
from .spec import MAX_NUM_SAMPLES, REASONS, AggregationFailed, ModelSpec, UpdateRejected, flatten, unflatten, validate

#: Every rule name, from the one registry (:func:`rule_class` looks a name up there).
RULES: tuple[str, ...] = registered_rules()


def make_round(rule: str, spec: ModelSpec, global_model: Mapping[str, np.ndarray] | np.ndarray,
               server_state: Mapping[str, np.ndarray] | None = None, **params: Any) -> RoundAggregator:
    """Start aggregating one round with ``rule``.

    ``server_state`` is what the previous round's ``finalize()`` returned (optimisers only).
    Unknown rules, unknown parameters and out-of-range values raise ``ValueError`` naming
    the parameter and what is allowed.
    """
    return rule_class(rule)(spec, global_model, server_state, **params)


def restore_round(spec: ModelSpec, global_model: Mapping[str, np.ndarray] | np.ndarray,
                  server_state: Mapping[str, np.ndarray] | None, meta: Mapping[str, Any],
                  arrays: Mapping[str, np.ndarray]) -> RoundAggregator:
    """Rebuild a round from ``RoundAggregator.snapshot()`` output."""
    return RoundAggregator.restore(spec, global_model, server_state, meta, arrays)


def rule_params(rule: str) -> dict[str, Any]:
    """Parameter names of ``rule`` with their defaults (common ones included)."""
    cls = rule_class(rule)
    return {name: p.default for name, p in {**COMMON_PARAMS, **cls.PARAMS}.items()}


__all__ = [
    "MAX_NUM_SAMPLES", "REASONS", "RULES", "AggregationFailed", "ModelSpec", "RoundAggregator", "UpdateRejected",
    "flatten", "make_round",
    "restore_round", "rule_class", "rule_params", "unflatten", "validate",
]
