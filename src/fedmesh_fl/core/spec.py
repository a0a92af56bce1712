"""Model layout, update validation and flat-vector helpers.

A model is an ordered mapping ``name -> float32 ndarray``.  Internally every update is
handled as one contiguous float32 vector of ``spec.num_params`` elements; the layer
``i`` occupies ``vec[spec.offsets[i]:spec.offsets[i + 1]]``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

F32 = np.dtype(np.float32)

#: What ``add()`` accepts: a mapping of layers or one flat float32 vector.
Layers = Mapping[str, np.ndarray] | np.ndarray

REASONS = ("layout", "shape", "dtype", "nonfinite", "samples", "size", "duplicate", "capacity")

#: Largest ``num_samples`` an update may report (10**12).  Sample counts weight the updates in
#: float32/float64 arithmetic; a bound keeps the weights exact-ish and far from overflow (10**40
#: made FedAvg's float32 weight infinite and the model all-NaN; 10**400 overflowed the conversion).
MAX_NUM_SAMPLES = 10**12


class AggregationFailed(ValueError):
    """``finalize()`` could not produce a usable model (e.g. the aggregate overflowed to NaN/Inf).

    The round is consumed: nothing was returned, and the caller keeps its previous model.
    """


class UpdateRejected(ValueError):
    """An update was refused; the aggregator state is unchanged.

    ``reason`` is one of :data:`REASONS`, ``client`` the submitting client and ``layer``
    the offending layer (``None`` when the problem is not tied to one layer).
    """

    def __init__(self, reason: str, client: str, layer: str | None, message: str) -> None:
        if reason not in REASONS:
            raise AssertionError(f"unknown rejection reason {reason!r}")
        self.reason = reason
        self.client = client
        self.layer = layer
        where = f" (layer {layer!r})" if layer is not None else ""
        super().__init__(f"Update from client {client!r}{where} rejected [{reason}]: {message}")

    def __reduce__(self):  # keep picklable despite the custom signature
        return (_rebuild_rejected, (self.reason, self.client, self.layer, str(self)))


def _rebuild_rejected(reason: str, client: str, layer: str | None, text: str) -> UpdateRejected:
    exc = UpdateRejected.__new__(UpdateRejected)
    ValueError.__init__(exc, text)
    exc.reason, exc.client, exc.layer = reason, client, layer
    return exc


@dataclass(frozen=True)
class ModelSpec:
    """Names and shapes of a model's layers, in order."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.shapes):
            raise ValueError(f"ModelSpec: {len(self.names)} names but {len(self.shapes)} shapes")
        if len(set(self.names)) != len(self.names):
            raise ValueError("ModelSpec: layer names must be unique")
        for name, shape in zip(self.names, self.shapes, strict=False):
            if not isinstance(name, str) or not name:
                raise ValueError(f"ModelSpec: layer name {name!r} must be a non-empty string")
            if any(int(d) < 0 for d in shape):
                raise ValueError(f"ModelSpec: layer {name!r} has a negative dimension {shape}")
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "shapes", tuple(tuple(int(d) for d in s) for s in self.shapes))

    @classmethod
    def of(cls, model: Mapping[str, np.ndarray]) -> ModelSpec:
        """The spec of an existing model (any dtype; the aggregator works in float32)."""
        return cls(tuple(model), tuple(tuple(np.shape(a)) for a in model.values()))

    @cached_property
    def sizes(self) -> tuple[int, ...]:
        return tuple(math.prod(s) for s in self.shapes)

    @cached_property
    def offsets(self) -> tuple[int, ...]:
        """``len(names) + 1`` start offsets into the flat vector (last one = num_params)."""
        out = [0]
        for s in self.sizes:
            out.append(out[-1] + s)
        return tuple(out)

    @property
    def num_params(self) -> int:
        return self.offsets[-1]

    @property
    def nbytes(self) -> int:
        return 4 * self.num_params

    def to_json(self) -> dict:
        return {"names": list(self.names), "shapes": [list(s) for s in self.shapes]}

    def check(self, client: str, layers: Layers, num_samples: int, max_bytes: int | None = None) -> None:
        """Validate one update completely; raise :class:`UpdateRejected` on the first problem."""
        validate(self, client, layers, num_samples, max_bytes)


def _short(v: object, limit: int = 40) -> str:
    text = repr(v)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _samples_ok(num_samples: object) -> bool:
    return bool(isinstance(num_samples, (int, np.integer)) and not isinstance(num_samples, bool)
                and 0 < num_samples <= MAX_NUM_SAMPLES)


def _finite(client: str, layer: str | None, v: np.ndarray) -> None:
    # One BLAS pass: NaN/Inf anywhere makes v.v non-finite.  A non-finite result can
    # also come from overflow of huge-but-finite values, so confirm exactly.
    with np.errstate(over="ignore", invalid="ignore"):
        ok = bool(np.isfinite(np.dot(v, v)))
    if ok or bool(np.isfinite(v).all()):
        return
    bad = int(np.count_nonzero(~np.isfinite(v)))
    raise UpdateRejected(
        "nonfinite", client, layer,
        f"{bad} value(s) are NaN or infinite; the client must send finite weights "
        "(check its learning rate / loss for divergence).",
    )


def check_finite(spec: ModelSpec, client: str, flat: np.ndarray) -> None:
    """Raise :class:`UpdateRejected` naming the first layer of ``flat`` with NaN/Inf values."""
    for name, a, b in zip(spec.names, spec.offsets[:-1], spec.offsets[1:], strict=False):
        _finite(client, name, flat[a:b])


def validate(
    spec: ModelSpec, client: str, layers: Layers, num_samples: int, max_bytes: int | None = None,
    *, finite: bool = True,
) -> list[tuple[int, np.ndarray]]:
    """Validate an update and return ``[(offset, 1-D float32 view), ...]`` covering the model.

    Nothing is copied unless a layer is not contiguous.  ``finite=False`` skips the NaN/Inf
    scan for a caller that does it while copying the update (the robust rules' block).
    """
    if not _samples_ok(num_samples):
        raise UpdateRejected(
            "samples", client, None,
            f"num_samples must be a positive integer of at most {MAX_NUM_SAMPLES}, got {_short(num_samples)}; "
            "report how many local training examples produced this update.",
        )
    if isinstance(layers, np.ndarray):
        if max_bytes is not None and layers.nbytes > max_bytes:
            raise UpdateRejected(
                "size", client, None,
                f"the update is {layers.nbytes} bytes, over the limit of {max_bytes} bytes; send a model "
                "matching the round's model or raise the size limit.",
            )
        if layers.dtype != F32:
            raise UpdateRejected(
                "dtype", client, None,
                f"the flat update has dtype {layers.dtype}, expected float32; convert with .astype(np.float32).",
            )
        if layers.ndim != 1 or layers.shape[0] != spec.num_params:
            raise UpdateRejected(
                "shape", client, None,
                f"the flat update has shape {layers.shape}, expected ({spec.num_params},); "
                "send the full model as one float32 vector.",
            )
        flat = layers if layers.flags.c_contiguous else np.ascontiguousarray(layers)
        if finite:
            check_finite(spec, client, flat)
        # one view per layer, as for a mapping: the kernels then see the same pieces either way, so a
        # flat update and the same update as layers aggregate bit for bit alike (BLAS kernels round a
        # vector's tail differently from its body)
        return [(a, flat[a:b]) for a, b in zip(spec.offsets[:-1], spec.offsets[1:], strict=False)]
    if not isinstance(layers, Mapping):
        raise UpdateRejected(
            "layout", client, None,
            f"expected a mapping of layer name to array or a flat float32 vector, got {type(layers).__name__}.",
        )
    if max_bytes is not None:
        total = sum(int(getattr(a, "nbytes", 0)) for a in layers.values())
        if total > max_bytes:
            raise UpdateRejected(
                "size", client, None,
                f"the update is {total} bytes, over the limit of {max_bytes} bytes; send a model matching "
                "the round's model or raise the size limit.",
            )
    if len(layers) != len(spec.names) or set(layers) != set(spec.names):
        missing = [n for n in spec.names if n not in layers]
        extra = [n for n in layers if n not in set(spec.names)]
        layer = missing[0] if missing else (str(extra[0]) if extra else None)
        raise UpdateRejected(
            "layout", client, layer,
            f"layer names do not match the model: missing {missing}, unexpected {extra}; "
            "the client must train the round's model architecture.",
        )
    parts: list[tuple[int, np.ndarray]] = []
    for name, shape, off in zip(spec.names, spec.shapes, spec.offsets, strict=False):
        arr = layers[name]
        if not isinstance(arr, np.ndarray) or arr.dtype != F32:
            got = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
            raise UpdateRejected(
                "dtype", client, name, f"got dtype {got}, expected float32; convert with .astype(np.float32)."
            )
        if arr.shape != shape:
            raise UpdateRejected(
                "shape", client, name, f"got shape {arr.shape}, expected {shape}; the model architecture differs."
            )
        parts.append((off, arr.reshape(-1)))
    for name, (_off, v) in zip(spec.names, parts, strict=False):
        if finite:
            _finite(client, name, v)
    return parts


def flatten(spec: ModelSpec, layers: Mapping[str, np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """Concatenate the layers (in spec order) into one float32 vector (or into ``out``)."""
    vec = np.empty(spec.num_params, F32) if out is None else out
    for name, a, b in zip(spec.names, spec.offsets[:-1], spec.offsets[1:], strict=False):
        arr = np.asarray(layers[name])
        if arr.size != b - a:
            raise ValueError(f"layer {name!r}: {arr.size} values, spec expects {b - a}")
        vec[a:b] = arr.reshape(-1)
    return vec


def unflatten(spec: ModelSpec, vec: np.ndarray) -> dict[str, np.ndarray]:
    """Layer views into a flat vector (zero-copy when ``vec`` is contiguous)."""
    if vec.ndim != 1 or vec.shape[0] != spec.num_params:
        raise ValueError(f"flat vector has shape {vec.shape}, spec expects ({spec.num_params},)")
    return {
        name: vec[a:b].reshape(shape)
        for name, shape, a, b in zip(spec.names, spec.shapes, spec.offsets[:-1], spec.offsets[1:], strict=False)
    }


def flat_model(spec: ModelSpec, model: Mapping[str, np.ndarray] | np.ndarray, what: str = "global model") -> np.ndarray:
    """A float32 flat copy of a server-side model (global model / fedbuff base); ValueError if it does not fit."""
    if isinstance(model, np.ndarray):
        if model.ndim != 1 or model.shape[0] != spec.num_params:
            raise ValueError(f"{what}: flat vector has shape {model.shape}, expected ({spec.num_params},)")
        out = model.astype(F32, copy=True)
    else:
        if list(model) != list(spec.names) and set(model) != set(spec.names):
            raise ValueError(f"{what}: layer names {list(model)} do not match the spec {list(spec.names)}")
        for name, shape in zip(spec.names, spec.shapes, strict=False):
            if tuple(np.shape(model[name])) != shape:
                raise ValueError(f"{what}: layer {name!r} has shape {np.shape(model[name])}, expected {shape}")
        out = flatten(spec, model)
    with np.errstate(over="ignore", invalid="ignore"):
        ok = bool(np.isfinite(np.dot(out, out)))  # one BLAS pass; confirm exactly when it overflows
    if not ok and not np.isfinite(out).all():
        raise ValueError(f"{what}: contains NaN or infinite values")
    return out
