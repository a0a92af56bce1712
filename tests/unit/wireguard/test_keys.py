"""Key generation and public-key derivation, checked against RFC 7748 section 6.1."""
from __future__ import annotations

import base64

import pytest
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys

# RFC 7748, section 6.1 (Curve25519 Diffie-Hellman test vector)
ALICE_PRIV = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
ALICE_PUB = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
BOB_PRIV = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
BOB_PUB = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"


def b64(hexstr: str) -> str:
    return base64.b64encode(bytes.fromhex(hexstr)).decode()


@pytest.mark.parametrize("prefer", ["auto", "cryptography", "pure"])
@pytest.mark.parametrize(("priv", "pub"), [(ALICE_PRIV, ALICE_PUB), (BOB_PRIV, BOB_PUB)])
def test_rfc7748_public_keys(prefer: str, priv: str, pub: str) -> None:
    if prefer == "cryptography" and not keys.HAS_CRYPTOGRAPHY:
        pytest.skip("cryptography not importable")
    # RFC private keys are unclamped scalars; X25519 clamps them, and is_valid_key only checks the encoding.
    assert keys.public_key(b64(priv), prefer=prefer) == b64(pub)


def test_rfc7748_shared_secret_pure() -> None:
    a, b = bytes.fromhex(ALICE_PRIV), bytes.fromhex(BOB_PRIV)
    assert keys.x25519_pure(a, bytes.fromhex(BOB_PUB)).hex() == SHARED
    assert keys.x25519_pure(b, bytes.fromhex(ALICE_PUB)).hex() == SHARED


@pytest.mark.parametrize("prefer", ["auto", "os"])
def test_generated_keys_are_clamped_and_match_pure(prefer: str) -> None:
    for _attempt in range(5):
        priv = keys.generate_private_key(prefer=prefer)
        raw = base64.b64decode(priv)
        assert keys.is_valid_key(priv) and len(raw) == 32
        assert raw[0] & 7 == 0 and raw[31] & 128 == 0 and raw[31] & 64 == 64
        assert keys.public_key(priv) == keys.public_key(priv, prefer="pure")


def test_wg_fallback_passes_secret_on_stdin_only() -> None:
    calls: list[tuple[list[str], str | None]] = []
    expected = b64(ALICE_PUB)

    def runner(argv: list[str], data: str | None) -> tuple[int, str, str]:
        calls.append((argv, data))
        if argv == ["wg", "genkey"]:
            return 0, b64(ALICE_PRIV) + "\n", ""
        assert argv == ["wg", "pubkey"]
        return 0, expected + "\n", ""

    priv = keys.generate_private_key(runner=runner, prefer="wg")
    assert keys.public_key(priv, runner=runner, prefer="wg") == expected
    for argv, _data in calls:
        assert priv not in " ".join(argv)
    assert calls[-1][1] is not None and priv in calls[-1][1]


def test_wg_failure_is_reported_without_the_key() -> None:
    def runner(argv: list[str], data: str | None) -> tuple[int, str, str]:
        return 1, "", "boom"

    with pytest.raises(keys.KeyError_) as exc:
        keys.public_key(b64(ALICE_PRIV), runner=runner, prefer="wg")
    assert b64(ALICE_PRIV) not in str(exc.value)


@pytest.mark.parametrize("value", [None, "", "abc", b64(ALICE_PRIV)[:-1], b64(ALICE_PRIV) + "=", "A" * 44,
                                   base64.b64encode(b"x" * 31).decode(), base64.b64encode(b"x" * 33).decode(),
                                   b64(ALICE_PRIV)[:42] + "B="])
def test_invalid_keys(value: object) -> None:
    assert not keys.is_valid_key(value)


def test_preshared_keys_are_random_and_valid() -> None:
    a, b = keys.generate_preshared_key(), keys.generate_preshared_key()
    assert a != b and keys.is_valid_key(a) and keys.is_valid_key(b)
