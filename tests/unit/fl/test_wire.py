"""Wire format: round trips, zero-copy decode, strict validation, corruption fuzzing."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from fedmesh_fl import wire


def _layers(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"w": rng.standard_normal((64, 10)).astype(np.float32),
            "b": rng.standard_normal(10).astype(np.float32),
            "scalar": np.float32(3.5) * np.ones((), np.float32)}


def test_update_round_trip_is_exact_and_zero_copy() -> None:
    layers = _layers()
    buf = bytes(wire.encode_update(layers, client="c1", round_id=7, base_version=3, num_samples=42))
    p = wire.decode(buf, expect="update")
    assert p.kind == "update" and p.client == "c1" and p.round == 7
    assert p.base_version == 3 and p.num_samples == 42
    assert p.names == ("w", "b", "scalar") and p.shapes == ((64, 10), (10,), ())
    for k, v in layers.items():
        np.testing.assert_array_equal(p.layers[k], v)
        assert p.layers[k].dtype == np.float32
    # zero copy: every view and the flat vector share the received buffer
    assert np.shares_memory(p.flat, np.frombuffer(buf, np.uint8))
    assert all(np.shares_memory(v, p.flat) for v in p.layers.values())
    assert p.flat.size == 64 * 10 + 10 + 1
    # data starts 64-byte aligned relative to the payload start
    off = p.flat.__array_interface__["data"][0] - np.frombuffer(buf, np.uint8).__array_interface__["data"][0]
    assert off % 64 == 0


def test_model_round_trip_casts_to_float32() -> None:
    m: dict[str, np.ndarray] = {"a": np.arange(6, dtype=np.float64).reshape(2, 3), "z": np.zeros(0, np.float32)}
    version, layers = wire.decode_model(wire.encode_model(m, version=5, round=2))
    assert version == 5
    np.testing.assert_array_equal(layers["a"], m["a"].astype(np.float32))
    assert layers["z"].shape == (0,)


def test_expect_kind_is_enforced() -> None:
    buf = wire.encode_model(_layers(), version=1)
    with pytest.raises(wire.WireError, match="expected a update payload"):
        wire.decode(buf, expect="update")


def _payload() -> bytearray:
    return wire.encode_update(_layers(), client="c", round_id=1, base_version=0, num_samples=1)


def _rebuild(header: dict, data_len: int | None = None) -> bytes:
    h = json.dumps(header).encode()
    off = (12 + len(h) + 63) // 64 * 64
    n = header.get("nbytes", 0) if data_len is None else data_len
    prefix = struct.pack("<4sHBBI", wire.MAGIC, 1, wire.KIND_UPDATE, 0, len(h))
    return prefix + h + b"\0" * (off - 12 - len(h)) + b"\0" * n


GOOD = {"names": ["x"], "shapes": [[2, 2]], "dtype": "<f4", "nbytes": 16,
        "client": "c", "round": 1, "base_version": 0, "num_samples": 3}


@pytest.mark.parametrize("mutate, msg", [
    (lambda h: h.update(dtype="<f8"), "dtype"),
    (lambda h: h.update(shapes=[[2, 3]]), "nbytes"),
    (lambda h: h.update(shapes=[[2, -2]]), "invalid dimension"),
    (lambda h: h.update(names=["x", "x"], shapes=[[2], [2]]), "duplicates"),
    (lambda h: h.update(names=[1]), "names"),
    (lambda h: h.pop("client"), "lacks 'client'"),
    (lambda h: h.update(round="1"), "'round' must be an integer"),
    (lambda h: h.update(num_samples=True), "'num_samples' must be an integer"),
])
def test_header_validation(mutate, msg) -> None:
    h = dict(GOOD)
    wire.decode(_rebuild(h))  # baseline is valid
    mutate(h)
    with pytest.raises(wire.WireError, match=msg):
        wire.decode(_rebuild(h, data_len=16))


def test_specific_errors() -> None:
    buf = bytes(_payload())
    with pytest.raises(wire.WireError, match="truncated"):
        wire.decode(buf[:5])
    with pytest.raises(wire.WireError, match="bad magic"):
        wire.decode(b"XXXX" + buf[4:])
    with pytest.raises(wire.WireError, match="version"):
        wire.decode(buf[:4] + struct.pack("<H", 9) + buf[6:])
    with pytest.raises(wire.WireError, match="kind"):
        wire.decode(buf[:6] + b"\x07" + buf[7:])
    with pytest.raises(wire.WireError, match="header too big"):
        wire.decode(buf[:8] + struct.pack("<I", wire.MAX_HEADER + 1) + buf[12:])
    with pytest.raises(wire.WireError, match="header too big"):
        wire.decode(buf, max_header=10)
    with pytest.raises(wire.WireError, match="truncated"):
        wire.decode(buf[:-1])
    with pytest.raises(wire.WireError, match="trailing"):
        wire.decode(buf + b"\0\0\0\0")
    bad_json = bytearray(buf)
    bad_json[12] = ord("[") ^ 0xFF
    with pytest.raises(wire.WireError, match="JSON"):
        wire.decode(bytes(bad_json))


def test_every_truncation_is_rejected() -> None:
    buf = bytes(wire.encode_update({"x": np.ones(3, np.float32)}, client="c", round_id=1,
                                   base_version=0, num_samples=1))
    for n in range(len(buf)):
        with pytest.raises(wire.WireError):
            wire.decode(buf[:n])


def test_random_corruption_never_crashes_or_misreports() -> None:
    rng = np.random.default_rng(1)
    good = bytes(_payload())
    hlen = struct.unpack_from("<I", good, 8)[0]
    for _i in range(400):
        b = bytearray(good)
        for pos in rng.integers(0, 12 + hlen, size=int(rng.integers(1, 4))):
            b[pos] = int(rng.integers(0, 256))
        try:
            p = wire.decode(bytes(b))
        except wire.WireError:
            continue
        # a corruption that still decodes must be self-consistent
        assert p.flat.nbytes + 12 <= len(b)
        assert sum(v.size for v in p.layers.values()) == p.flat.size


def test_encode_rejects_bad_input() -> None:
    with pytest.raises(wire.WireError, match="non-numeric"):
        wire.encode_model({"x": np.array(["a"])}, version=0)
