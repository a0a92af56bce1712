# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

WireGuard (Curve25519) key helpers.

Key generation and public-key derivation use the ``cryptography`` library's X25519 when it is importable,
else ``wg genkey`` / ``wg pubkey`` with the secret on stdin (never argv). A small pure-Python X25519
(RFC 7748) is the last resort for deriving a public key and the oracle the unit tests check against.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
from typing import TYPE_CHECKING

from ansible_collections.fedmesh.cluster.plugins.module_utils.common.errors import FedmeshError

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - depends on the node
    HAS_CRYPTOGRAPHY = False

# A base64 encoding of 32 bytes: 43 significant characters and one '=' pad. The last significant
# character can only encode 4 bits followed by two zero bits.
_KEY_RE = re.compile(r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")

if TYPE_CHECKING:  # modules also run on Python 3.8 nodes: keep runtime-evaluated typing out
    from collections.abc import Callable

# A runner is ``run(argv, data) -> (rc, stdout, stderr)``; ``data`` goes to the command's stdin.


class KeyError_(FedmeshError):
    """Raised for malformed keys or when no key backend is available."""


def is_valid_key(value: object) -> bool:
    """True when *value* is a base64-encoded 32-byte WireGuard key."""
    if not isinstance(value, str) or not _KEY_RE.match(value):
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def clamp(raw: bytes) -> bytes:
    """Clamp a 32-byte scalar the way ``wg genkey`` does (RFC 7748 decodeScalar25519)."""
    if len(raw) != 32:
        raise KeyError_("a Curve25519 scalar has 32 bytes")
    b = bytearray(raw)
    b[0] &= 248
    b[31] = (b[31] & 127) | 64
    return bytes(b)


# --- pure-Python X25519 (RFC 7748 section 5) -------------------------------------------------------
_P = 2**255 - 19
_A24 = 121665


def _decode_u(u: bytes) -> int:
    b = bytearray(u)
    b[31] &= 127
    return int.from_bytes(bytes(b), "little")


def x25519_pure(scalar: bytes, u: bytes) -> bytes:
    """RFC 7748 X25519(k, u): a slow constant-formula ladder, used only as fallback and test oracle."""
    k = int.from_bytes(clamp(scalar), "little")
    x1 = _decode_u(u)
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    for t in reversed(range(255)):
        kt = (k >> t) & 1
        swap ^= kt
        if swap:
            x2, x3 = x3, x2
            z2, z3 = z3, z2
        swap = kt
        a = (x2 + z2) % _P
        aa = a * a % _P
        b = (x2 - z2) % _P
        bb = b * b % _P
        e = (aa - bb) % _P
        c = (x3 + z3) % _P
        d = (x3 - z3) % _P
        da = d * a % _P
        cb = c * b % _P
        x3 = (da + cb) ** 2 % _P
        z3 = x1 * (da - cb) ** 2 % _P
        x2 = aa * bb % _P
        z2 = e * (aa + _A24 * e) % _P
    if swap:
        x2, x3 = x3, x2
        z2, z3 = z3, z2
    return (x2 * pow(z2, _P - 2, _P) % _P).to_bytes(32, "little")


_BASEPOINT = (9).to_bytes(32, "little")

# Low-order points of Curve25519 (the list libsodium and others refuse), as u-coordinates mod p: 0, 1, the two
# points of order 8 and p-1 (order 2). Their other encodings (p, p+1, ... and every value with the top bit set,
# which X25519 masks) reduce to these. A peer with such a "public key" has no secret: any handshake with it is
# computable by anyone.
_LOW_ORDER_U = frozenset({
    0,
    1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
    _P - 1,
})


def is_low_order_key(value: str) -> bool:
    """True when the base64 public key *value* is a low-order point (all-zero, 1, order 8, p-1, p, p+1, ...)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) != 32:
        return False
    return (int.from_bytes(raw, "little") & ((1 << 255) - 1)) % _P in _LOW_ORDER_U


# --- public API -------------------------------------------------------------------------------------
def generate_private_key(
    runner: Callable[[list[str], str | None], tuple[int, str, str]] | None = None, prefer: str = "auto"
) -> str:
    """Return a new base64 private key (clamped, like ``wg genkey``)."""
    if prefer in ("auto", "cryptography") and HAS_CRYPTOGRAPHY:
        raw = X25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return _b64(clamp(raw))
    if prefer in ("auto", "wg") and runner is not None:
        rc, out, err = runner(["wg", "genkey"], None)
        key = out.strip()
        if rc != 0 or not is_valid_key(key):
            raise KeyError_(f"`wg genkey` failed (rc={rc}): {err.strip()}")
        return key
    if prefer in ("auto", "os"):
        return _b64(clamp(os.urandom(32)))
    raise KeyError_("no key generator available (install python3-cryptography or wireguard-tools)")


def generate_preshared_key() -> str:
    """Return a new base64 preshared key (32 random bytes, like ``wg genpsk``)."""
    return _b64(os.urandom(32))


def public_key(
    private_key: str, runner: Callable[[list[str], str | None], tuple[int, str, str]] | None = None,
    prefer: str = "auto",
) -> str:
    """Derive the base64 public key of a base64 private key. The private key goes on stdin if a command runs."""
    if not is_valid_key(private_key):
        raise KeyError_("the private key is not a base64-encoded 32-byte WireGuard key")
    raw = base64.b64decode(private_key)
    if prefer in ("auto", "cryptography") and HAS_CRYPTOGRAPHY:
        pub = X25519PrivateKey.from_private_bytes(raw).public_key()
        return _b64(pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    if prefer in ("auto", "wg") and runner is not None:
        rc, out, err = runner(["wg", "pubkey"], private_key + "\n")
        key = out.strip()
        if rc == 0 and is_valid_key(key):
            return key
        if prefer == "wg":
            raise KeyError_(f"`wg pubkey` failed (rc={rc}): {err.strip()}")
    return _b64(x25519_pure(raw, _BASEPOINT))


def placeholder_public_key(host: str) -> str:
    """A stand-in public key for a host whose key a check-mode run would create or rotate.

    Check mode writes no key, so the real public key is unknown; planning with a stand-in lets every other
    host's check run report the peer it would add or change. Deterministic (no secret, never applied): the
    SHA-256 of a fixed label and the host name, as a well-formed 32-byte key.
    """
    import hashlib

    return _b64(hashlib.sha256(b"fedmesh.cluster check-mode placeholder key for " + host.encode()).digest())
