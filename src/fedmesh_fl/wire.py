"""Compact binary wire format for models and client updates.

Layout of one payload (all integers little-endian)::

    offset 0   4 bytes  magic  b"FMW\\x00"
    offset 4   u16      format version (1)
    offset 6   u8       kind (1 = model, 2 = update)
    offset 7   u8       reserved (0)
    offset 8   u32      header length H (bytes of UTF-8 JSON, at most MAX_HEADER)
    offset 12  H bytes  JSON header
    ...        zero padding up to the next multiple of 64
    D          raw float32 little-endian data, layers back to back in header order

The JSON header holds ``names`` (list of str), ``shapes`` (list of list of int),
``dtype`` (always ``"<f4"``), ``nbytes`` (data length) and, for updates,
``client``, ``round``, ``base_version`` and ``num_samples``; for models ``version``.
Unknown header keys are kept in :attr:`Payload.meta`.

:func:`decode` never copies the data: ``Payload.flat`` is ``np.frombuffer`` on the
given buffer and ``Payload.layers`` are reshaped views of it (read-only when the
buffer is ``bytes``).
"""
from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAGIC = b"FMW\x00"
FORMAT_VERSION = 1
KIND_MODEL = 1
KIND_UPDATE = 2
KINDS = {KIND_MODEL: "model", KIND_UPDATE: "update"}
ALIGN = 64
MAX_HEADER = 1 << 20
DTYPE = np.dtype("<f4")
_PREFIX = struct.Struct("<4sHBBI")
PREFIX_SIZE = _PREFIX.size  # 12


class WireError(ValueError):
    """The payload is malformed; ``str(e)`` says why."""


@dataclass
class Payload:
    kind: str
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    flat: np.ndarray
    layers: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def client(self) -> str | None:
        v = self.meta.get("client")
        return v if isinstance(v, str) else None

    @property
    def round(self) -> int | None:
        return _opt_int(self.meta.get("round"))

    @property
    def base_version(self) -> int | None:
        return _opt_int(self.meta.get("base_version"))

    @property
    def num_samples(self) -> int | None:
        return _opt_int(self.meta.get("num_samples"))

    @property
    def version(self) -> int | None:
        return _opt_int(self.meta.get("version"))


def _opt_int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _encode(kind: int, layers: Mapping[str, Any], meta: dict[str, Any], out: bytearray | None = None) -> bytearray:
    names = list(layers)
    arrays = [np.asarray(layers[n]) for n in names]
    for n, a in zip(names, arrays, strict=True):
        if not isinstance(n, str):
            raise WireError(f"layer name {n!r} is not a string")
        if a.dtype.kind not in "fiu":
            raise WireError(f"layer {n!r} has non-numeric dtype {a.dtype}")
    shapes = [list(a.shape) for a in arrays]
    nbytes = sum(int(a.size) for a in arrays) * DTYPE.itemsize
    header = dict(meta)
    header.update(names=names, shapes=shapes, dtype="<f4", nbytes=nbytes)
    hbytes = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    if len(hbytes) > MAX_HEADER:
        raise WireError(f"header is {len(hbytes)} bytes, limit {MAX_HEADER}")
    off = _align(PREFIX_SIZE + len(hbytes))
    if out is not None and len(out) >= off + nbytes:  # a buffer prepared (and paged in) in advance
        buf = out
        del buf[off + nbytes:]  # a small shrink: CPython keeps the allocation, nothing is copied
        buf[PREFIX_SIZE + len(hbytes):off] = bytes(off - PREFIX_SIZE - len(hbytes))
    else:
        buf = bytearray(off + nbytes)
    _PREFIX.pack_into(buf, 0, MAGIC, FORMAT_VERSION, kind, 0, len(hbytes))
    buf[PREFIX_SIZE:PREFIX_SIZE + len(hbytes)] = hbytes
    flat = np.frombuffer(buf, dtype=DTYPE, offset=off)
    pos = 0
    for a in arrays:
        flat[pos:pos + a.size] = a.reshape(-1)  # the single copy: cast into the buffer
        pos += a.size
    return buf


def encode_update(layers: Mapping[str, Any], *, client: str, round_id: int, base_version: int,
                  num_samples: int, **extra: Any) -> bytearray:
    """Encode a client update (layers are cast to float32 little-endian)."""
    meta = dict(extra, client=client, round=int(round_id), base_version=int(base_version),
                num_samples=int(num_samples))
    return _encode(KIND_UPDATE, layers, meta)


def encode_model(layers: Mapping[str, Any], *, version: int, out: bytearray | None = None,
                 **extra: Any) -> bytearray:
    """Encode a whole model (for download and for the on-disk model versions).

    ``out``: a bytearray to encode into when it is large enough (see :func:`model_buffer`); it is
    trimmed to the payload's size and returned.  Otherwise a new one is allocated.
    """
    return _encode(KIND_MODEL, layers, dict(extra, version=int(version)), out)


def model_buffer(num_params: int, header_room: int = 64 * 1024) -> bytearray:
    """A zeroed (hence paged-in) bytearray big enough for a model of ``num_params`` float32 values
    whose header fits ``header_room`` bytes: allocate it ahead, encode into it later."""
    return bytearray(_align(PREFIX_SIZE + header_room) + num_params * DTYPE.itemsize)


def _shape(s: Any, i: int) -> tuple[int, ...]:
    if not isinstance(s, list) or len(s) > 32:
        raise WireError(f"shape #{i} is not a list of at most 32 dims")
    for d in s:
        if not isinstance(d, int) or isinstance(d, bool) or d < 0:
            raise WireError(f"shape #{i} has invalid dimension {d!r}")
    return tuple(s)


def decode(buf: bytes | bytearray | memoryview, *, expect: str | None = None,
           max_header: int = MAX_HEADER) -> Payload:
    """Validate and decode a payload without copying its data.

    ``expect`` ("model" / "update") rejects the other kind. Raises :class:`WireError`.
    """
    mv = memoryview(buf)
    if mv.ndim != 1 or mv.itemsize != 1:
        mv = mv.cast("B")
    size = mv.nbytes
    if size < PREFIX_SIZE:
        raise WireError(f"truncated payload: {size} bytes, need at least {PREFIX_SIZE}")
    magic, version, kind, _reserved, hlen = _PREFIX.unpack_from(mv, 0)
    if magic != MAGIC:
        raise WireError(f"bad magic {bytes(magic)!r}, expected {MAGIC!r}")
    if version != FORMAT_VERSION:
        raise WireError(f"unsupported format version {version}, expected {FORMAT_VERSION}")
    if kind not in KINDS:
        raise WireError(f"unknown payload kind {kind}")
    kname = KINDS[kind]
    if expect is not None and kname != expect:
        raise WireError(f"expected a {expect} payload, got a {kname} payload")
    if hlen > max_header:
        raise WireError(f"header too big: {hlen} bytes, limit {max_header}")
    if size < PREFIX_SIZE + hlen:
        raise WireError(f"truncated payload: header needs {PREFIX_SIZE + hlen} bytes, got {size}")
    try:
        header = json.loads(bytes(mv[PREFIX_SIZE:PREFIX_SIZE + hlen]))
    except (UnicodeDecodeError, ValueError) as e:
        raise WireError(f"header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise WireError("header is not a JSON object")
    names, shapes_raw = header.pop("names", None), header.pop("shapes", None)
    dtype, nbytes = header.pop("dtype", None), header.pop("nbytes", None)
    if dtype != "<f4":
        raise WireError(f"unsupported dtype {dtype!r}, only '<f4' (float32 little-endian)")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise WireError("header 'names' must be a list of strings")
    if len(set(names)) != len(names):
        raise WireError("header 'names' has duplicates")
    if not isinstance(shapes_raw, list) or len(shapes_raw) != len(names):
        raise WireError("header 'shapes' must be a list with one shape per name")
    shapes = tuple(_shape(s, i) for i, s in enumerate(shapes_raw))
    sizes = [math.prod(s) for s in shapes]
    count = sum(sizes)
    if nbytes != count * DTYPE.itemsize:
        raise WireError(f"header nbytes {nbytes!r} does not match shapes ({count} float32 values)")
    off = _align(PREFIX_SIZE + hlen)
    if size != off + nbytes:
        what = "truncated payload" if size < off + nbytes else "trailing bytes after data"
        raise WireError(f"{what}: {size} bytes, expected {off + nbytes}")
    for k in ("client",):
        if k in header and not isinstance(header[k], str):
            raise WireError(f"header '{k}' must be a string")
    for k in ("round", "base_version", "num_samples", "version"):
        if header.get(k) is not None and _opt_int(header[k]) is None:
            raise WireError(f"header '{k}' must be an integer")
    if kname == "update":
        for k in ("client", "round", "base_version", "num_samples"):
            if header.get(k) is None:
                raise WireError(f"update header lacks '{k}'")
    flat = np.frombuffer(mv, dtype=DTYPE, count=count, offset=off)
    layers: dict[str, np.ndarray] = {}
    pos = 0
    for n, s, c in zip(names, shapes, sizes, strict=True):
        layers[n] = flat[pos:pos + c].reshape(s)
        pos += c
    return Payload(kname, tuple(names), shapes, flat, layers, header)


def decode_model(buf: bytes | bytearray | memoryview) -> tuple[int, dict[str, np.ndarray]]:
    """Decode a model payload into (version, layers)."""
    p = decode(buf, expect="model")
    return (p.version if p.version is not None else 0), p.layers
