"""Round aggregator base class: parameters, bookkeeping, snapshot/restore, rule registry."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from . import blas
from .spec import F32, AggregationFailed, Layers, ModelSpec, UpdateRejected, flat_model, unflatten, validate

SNAPSHOT_FORMAT = 1
#: Upper bound of ``max_clients`` (a robust rule's block grows to at most this many rows).
MAX_CLIENTS = 1_000_000
#: Elements processed per step by the streaming/column kernels (256 KiB of float32: stays in L2).
CHUNK = 65536


@dataclass(frozen=True)
class Param:
    """One tunable of a rule: default and allowed values (checked in ``make_round``)."""

    default: Any
    kind: str  # "float" | "int" | "bool" | "optint"
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    doc: str = ""

    def describe(self) -> str:
        if self.kind == "bool":
            return "true or false"
        what = "an integer" if self.kind in ("int", "optint") else "a number"
        lo = "" if self.lo is None else ("(" if self.lo_open else "[") + f"{self.lo}"
        hi = "" if self.hi is None else f"{self.hi}" + (")" if self.hi_open else "]")
        rng = f" in {lo or '(-inf'}, {hi or 'inf)'}" if (self.lo is not None or self.hi is not None) else ""
        none = " or null" if self.kind == "optint" else ""
        return f"{what}{rng}{none}"

    def coerce(self, rule: str, name: str, value: Any) -> Any:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
        bad = ValueError(f"{rule}: parameter {name}={shown} is invalid; it must be {self.describe()}")
        if self.kind == "optint" and value is None:
            return None
        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise bad
            return bool(value)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise bad
        if self.kind in ("int", "optint"):
            if isinstance(value, (float, np.floating)) and not float(value).is_integer():
                raise bad
            value = int(value)
        else:
            try:
                value = float(value)
            except OverflowError:  # an integer beyond float range (10**400)
                raise bad from None
            if not math.isfinite(value):
                raise bad
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            raise bad
        if self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi)):
            raise bad
        return value


COMMON_PARAMS: dict[str, Param] = {
    "max_update_bytes": Param(None, "optint", lo=1, doc="reject updates larger than this many bytes"),
    "max_clients": Param(16, "int", lo=1, hi=MAX_CLIENTS,
                         doc="expected clients per round (robust rules preallocate up to this many rows)"),
    "grow": Param(True, "bool", doc="grow past max_clients by doubling; if false, extra updates are rejected"),
}

#: server_state keys holding a step counter (one integer, as a 1-element float64 array), not a vector
COUNTER_KEYS = ("t",)

_REGISTRY: dict[str, type[RoundAggregator]] = {}


def register(cls: type[RoundAggregator]) -> type[RoundAggregator]:
    _REGISTRY[cls.rule] = cls
    return cls


def registered_rules() -> tuple[str, ...]:
    """Rule names in registration order."""
    return tuple(_REGISTRY)


def rule_class(rule: str) -> type[RoundAggregator]:
    """The class registered for ``rule``; ValueError listing the known rules otherwise."""
    if not isinstance(rule, str):
        raise ValueError(f"aggregation rule must be a string, got {type(rule).__name__}")
    try:
        return _REGISTRY[rule]
    except KeyError:
        raise ValueError(f"unknown aggregation rule {rule!r}; allowed: {', '.join(_REGISTRY)}") from None


class RoundAggregator:
    """Collects the updates of one round and produces the next global model.

    Use :func:`fedmesh_fl.core.make_round` to build one.  ``add()`` validates an update
    completely before touching any state, so a rejected update leaves the round as it was.
    """

    rule: ClassVar[str] = ""
    PARAMS: ClassVar[dict[str, Param]] = {}
    STATE_KEYS: ClassVar[tuple[str, ...]] = ()
    #: True when ``_accept`` itself rejects NaN/Inf (while copying), so ``add()`` skips that scan
    CHECKS_FINITE: ClassVar[bool] = False
    # -- capabilities (what callers such as the service may rely on) ---------------------
    #: Buffered/asynchronous: takes updates trained on older models (``staleness``/``base``);
    #: False for the synchronous rules, which take only updates of the round's own model.
    BUFFERED: ClassVar[bool] = False
    #: Keeps every update until ``finalize`` (robust rules: memory grows with the client count).
    NEEDS_ALL_UPDATES: ClassVar[bool] = False

    @classmethod
    def resolve_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """All parameters (defaults filled in, values coerced); ValueError naming a bad one."""
        allowed = {**COMMON_PARAMS, **cls.PARAMS}
        for name in params:
            if name not in allowed:
                raise ValueError(
                    f"{cls.rule}: unknown parameter {name!r}; allowed parameters: {', '.join(sorted(allowed))}"
                )
        out = {name: p.coerce(cls.rule, name, params.get(name, p.default)) for name, p in allowed.items()}
        cls._check_params(out)
        return out

    @classmethod
    def min_updates(cls, params: Mapping[str, Any]) -> tuple[int, str]:
        """Fewest updates ``finalize`` needs with these resolved parameters, and why (for messages)."""
        return 1, "at least 1 update"

    def __init__(
        self,
        spec: ModelSpec,
        global_model: Mapping[str, np.ndarray] | np.ndarray,
        server_state: Mapping[str, np.ndarray] | None = None,
        **params: Any,
    ) -> None:
        self.params: dict[str, Any] = self.resolve_params(params)
        self.spec = spec
        self._global_src = global_model
        self._global: np.ndarray | None = None
        _check_layout(spec, global_model)
        self.server_state_in = self._load_server_state(server_state)
        self.clients: list[str] = []
        self.samples: list[int] = []
        self._client_set: set[str] = set()
        self._result: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None
        self._failed: AggregationFailed | None = None

    # -- hooks for subclasses ---------------------------------------------------------
    @classmethod
    def _check_params(cls, params: dict[str, Any]) -> None:
        """Cross-parameter checks (raise ValueError)."""

    def _accept(self, client: str, parts: list[tuple[int, np.ndarray]], num_samples: int,
                staleness: int, base: Layers | None) -> None:
        """Fold a validated update into the state; must check anything else before mutating."""
        raise NotImplementedError

    def _finalize(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError

    def _state_meta(self) -> dict[str, Any]:
        return {}

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _load_state(self, meta: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        raise NotImplementedError

    # -- public API -------------------------------------------------------------------
    @property
    def count(self) -> int:
        return len(self.clients)

    @property
    def global_flat(self) -> np.ndarray:
        """The round's global model as one float32 vector (computed on first use)."""
        if self._global is None:
            self._global = flat_model(self.spec, self._global_src)
        return self._global

    def add(self, client: str, layers: Layers, num_samples: int, *, staleness: int = 0,
            base: Layers | None = None) -> None:
        """Validate and fold in one client's full locally-trained weights.

        ``layers`` is a mapping ``name -> float32 array`` or one flat float32 vector of
        ``spec.num_params`` values.  ``staleness``/``base`` are for ``fedbuff`` only.
        Raises :class:`UpdateRejected` (state unchanged) for a bad update.
        """
        if self._result is not None or self._failed is not None:
            raise RuntimeError(f"{self.rule}: round already finalized; start a new round with make_round()")
        if not isinstance(client, str) or not client:
            raise ValueError(f"client id must be a non-empty string, got {client!r}")
        if client in self._client_set:
            raise UpdateRejected(
                "duplicate", client, None,
                "this client already contributed to the current round; only its first update counts.",
            )
        if not self.params["grow"] and self.count >= self.params["max_clients"]:
            raise UpdateRejected(
                "capacity", client, None,
                f"the round is full ({self.params['max_clients']} updates, max_clients); "
                "raise max_clients or enable grow.",
            )
        if not self.BUFFERED and (base is not None or staleness != 0):
            raise ValueError(f"{self.rule}: staleness/base are only meaningful for a buffered rule (fedbuff)")
        parts = validate(self.spec, client, layers, num_samples, self.params["max_update_bytes"],
                         finite=not self.CHECKS_FINITE)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflowing sum is caught by finalize()
            self._accept(client, parts, int(num_samples), staleness, base)
        self.clients.append(client)
        self.samples.append(int(num_samples))
        self._client_set.add(client)

    def finalize(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``(new global model, new server state)``; idempotent.  Needs at least one update.

        Raises :class:`AggregationFailed` (every later call too) when the model or the server
        state would hold NaN/Inf -- e.g. sample-weighted sums beyond float32's range: a
        non-finite model is never returned.
        """
        if self._failed is not None:
            raise self._failed
        if self._result is None:
            if self.count == 0:
                raise ValueError(f"{self.rule}: cannot finalize a round without updates")
            self.require_min_updates()
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                vec, state = self._finalize()
            vec = vec.astype(F32, copy=False)
            self._check_result(vec, state)
            self._result = (unflatten(self.spec, vec), state)
        return self._result

    def require_min_updates(self) -> None:
        """ValueError when the round holds fewer updates than :meth:`min_updates` asks for."""
        need, why = self.min_updates(self.params)
        if self.count < need:
            raise ValueError(f"{self.rule}: needs {why}, got {self.count}")

    def _check_result(self, vec: np.ndarray, state: Mapping[str, np.ndarray]) -> None:
        """AggregationFailed (remembered) if the new model or server state holds NaN/Inf."""
        for what, a in [("model", vec), *((f"server_state[{k!r}]", v) for k, v in state.items())]:
            bad = _nonfinite_count(a)
            if bad:
                self._failed = AggregationFailed(
                    f"{self.rule}: the aggregated {what} has {bad} NaN/infinite value(s) of {a.size} "
                    f"(the {self.count} updates' weighted sums overflow float32); no model was produced"
                )
                raise self._failed

    def snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able metadata and arrays capturing the in-progress round.

        The arrays may be views of live state: serialise them before the next ``add()``.
        """
        if self._result is not None or self._failed is not None:
            raise RuntimeError(f"{self.rule}: round already finalized; nothing to snapshot")
        meta: dict[str, Any] = {
            "format": SNAPSHOT_FORMAT,
            "rule": self.rule,
            "params": dict(self.params),
            "spec": self.spec.to_json(),
            "clients": list(self.clients),
            "samples": list(self.samples),
        }
        meta.update(self._state_meta())
        return meta, self._state_arrays()

    @classmethod
    def restore(cls, spec: ModelSpec, global_model: Mapping[str, np.ndarray] | np.ndarray,
                server_state: Mapping[str, np.ndarray] | None, meta: Mapping[str, Any],
                arrays: Mapping[str, np.ndarray]) -> RoundAggregator:
        """Rebuild a round from :meth:`snapshot` output (exact inverse)."""
        if meta.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unsupported snapshot format {meta.get('format')!r} (expected {SNAPSHOT_FORMAT})")
        klass = rule_class(str(meta["rule"]))
        if cls is not RoundAggregator and not issubclass(klass, cls):
            raise ValueError(f"snapshot is for rule {meta['rule']!r}, not {cls.rule!r}")
        if meta.get("spec") != spec.to_json():
            raise ValueError("snapshot was taken for a different model layout (names/shapes differ)")
        agg = klass(spec, global_model, server_state, **dict(meta["params"]))
        clients = [str(c) for c in meta["clients"]]
        samples = [int(s) for s in meta["samples"]]
        if len(clients) != len(samples) or len(set(clients)) != len(clients):
            raise ValueError("snapshot: inconsistent client list")
        agg._load_state(dict(meta), arrays)
        agg.clients, agg.samples, agg._client_set = clients, samples, set(clients)
        return agg

    # -- helpers ----------------------------------------------------------------------
    def _load_server_state(self, state: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if not state:
            return out
        for key, arr in state.items():
            if key not in self.STATE_KEYS:
                raise ValueError(
                    f"{self.rule}: unexpected server_state key {key!r}; allowed: {list(self.STATE_KEYS) or 'none'}"
                )
            a = np.asarray(arr)
            if key in COUNTER_KEYS:
                c = a.astype(np.float64, copy=True).reshape(-1)
                if c.shape != (1,) or not (c[0] >= 0 and float(c[0]).is_integer()):
                    raise ValueError(f"{self.rule}: server_state[{key!r}] must be one non-negative integer, got {a!r}")
                out[key] = c
                continue
            if a.shape != (self.spec.num_params,):
                raise ValueError(
                    f"{self.rule}: server_state[{key!r}] has shape {a.shape}, expected ({self.spec.num_params},)"
                )
            a = a.astype(F32, copy=True)
            if not np.isfinite(a).all():
                raise ValueError(f"{self.rule}: server_state[{key!r}] contains NaN or infinite values")
            out[key] = a
        return out


def _nonfinite_count(a: np.ndarray) -> int:
    """NaN/Inf values in ``a``: one BLAS pass (a.a is finite) in the common case, exact otherwise."""
    if a.ndim == 1 and a.dtype in (np.float32, np.float64):
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.dot(a, a)):
                return 0
    return int(a.size - np.count_nonzero(np.isfinite(a)))


def _check_layout(spec: ModelSpec, model: Mapping[str, np.ndarray] | np.ndarray) -> None:
    """Cheap shape-only check of the global model (the float32 copy is made lazily)."""
    if isinstance(model, np.ndarray):
        if model.shape != (spec.num_params,):
            raise ValueError(f"global model: flat vector has shape {model.shape}, expected ({spec.num_params},)")
        return
    if set(model) != set(spec.names):
        raise ValueError(f"global model: layer names {list(model)} do not match the spec {list(spec.names)}")
    for name, shape in zip(spec.names, spec.shapes, strict=False):
        if tuple(np.shape(model[name])) != shape:
            raise ValueError(f"global model: layer {name!r} has shape {np.shape(model[name])}, expected {shape}")


def axpy_parts(acc: np.ndarray, tmp: np.ndarray, weight: Any,
               parts: list[tuple[int, np.ndarray]], sub: np.ndarray | None = None) -> None:
    """``acc[off:off+len(v)] += weight * (v - sub[...])`` for each part, in cache-sized chunks.

    ``tmp`` is a scratch vector of at least ``CHUNK`` elements with ``acc``'s dtype.  A float32
    ``acc`` without ``sub`` goes through the BLAS's SAXPY (one pass, a fused multiply-add: within
    one rounding of the NumPy product-then-sum) when NumPy's BLAS provides it.
    """
    for off, v in parts:
        n = v.shape[0]
        if sub is None and blas.saxpy(weight, v, acc[off : off + n]):
            continue
        for c0 in range(0, n, CHUNK):
            c1 = min(n, c0 + CHUNK)
            t = tmp[: c1 - c0]
            a = acc[off + c0 : off + c1]
            # dtype= pins the loop to the accumulator's precision (NumPy 1.24's value-based
            # casting would otherwise multiply float32 data by a float64 scalar in float32)
            if sub is None:
                np.multiply(v[c0:c1], weight, out=t, dtype=t.dtype)
            else:
                np.subtract(v[c0:c1], sub[off + c0 : off + c1], out=t, dtype=t.dtype)
                np.multiply(t, weight, out=t, dtype=t.dtype)
            np.add(a, t, out=a)
