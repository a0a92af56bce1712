"""Which test-bed resources a test bed (or the checkout's gc) may adopt and remove."""
from __future__ import annotations

from testbed import engine


def test_a_test_bed_owns_only_its_own_label() -> None:
    prefix = engine.checkout_prefix()
    assert engine._owned(f"{prefix}-it-ceph", f"{prefix}-it-ceph")
    # it-ceph's down() once removed it-ceph-mesh's nodes while that job was running beside it.
    assert not engine._owned(f"{prefix}-it-ceph-mesh", f"{prefix}-it-ceph")
    assert not engine._owned("fm000000-it-ceph", f"{prefix}-it-ceph")


def test_gc_owns_every_test_bed_of_this_checkout_only() -> None:
    prefix = engine.checkout_prefix()
    assert engine._owned(f"{prefix}-it-ceph-mesh", prefix)
    assert not engine._owned(f"{prefix}x-demo", prefix)  # another checkout whose prefix starts the same
    assert not engine._owned("", prefix)
