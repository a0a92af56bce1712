"""Run many small BLAS calls single-threaded (OpenBLAS only; a no-op elsewhere), and SAXPY.

The robust rules' Gram matrix is thousands of small SGEMMs (``(n, w) x (w, n)`` per column step).
Above a size threshold OpenBLAS splits each one over its thread pool; on a busy host (here: 2
cores shared with other work) every call then waits for a descheduled worker and the whole
product gets up to 10x slower than on one thread (100 clients x 1M parameters: 2.6 s instead of
0.3 s).  NumPy offers no switch for this, so the library's own ``*_set_num_threads`` entry point
is called through ctypes -- the same symbols threadpoolctl uses -- and restored afterwards.

:func:`saxpy` (``y += a * x`` in float32, one pass, fused multiply-add) comes from the same
library: NumPy has no in-place axpy, and its ``multiply`` + ``add`` pair moves the accumulator
through the cache twice (FedAvg's fold: 6.6 ms against 2.9 ms per 10M parameters here).
"""
from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

_NAMES = (  # (get, set) entry points: NumPy wheels' scipy-openblas, then a system OpenBLAS
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
)
_SAXPY = (("scipy_cblas_saxpy64_", 64), ("cblas_saxpy64_", 64), ("scipy_cblas_saxpy", 32), ("cblas_saxpy", 32))
_lock = threading.RLock()
_found: tuple[Callable[[], int], Callable[[int], None]] | None = None
_searched = False
_saxpy: tuple[Any, int] | None = None
_saxpy_searched = False


def _loaded_blas_paths() -> list[str]:
    try:
        with open("/proc/self/maps") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    paths = {ln.split()[-1] for ln in lines if ln.count("/") and "blas" in ln.rsplit("/", 1)[-1].lower()}
    return sorted(p for p in paths if p.startswith("/"))


def _libraries() -> Iterator[ctypes.CDLL]:
    """NumPy's BLAS libraries, as ctypes handles."""
    import numpy  # noqa: F401  (make sure NumPy's BLAS is loaded)

    for path in _loaded_blas_paths():
        try:
            yield ctypes.CDLL(path)
        except OSError:
            continue


def _find() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    for lib in _libraries():
        for get_name, set_name in _NAMES:
            get, set_ = getattr(lib, get_name, None), getattr(lib, set_name, None)
            if get is not None and set_ is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                return get, set_
    return None


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """BLAS calls made inside run on the calling thread only (other threads' calls too, meanwhile)."""
    global _found, _searched
    with _lock:
        if not _searched:
            _found, _searched = _find(), True
        if _found is None:
            yield
            return
        get, set_ = _found
        before = get()
        if before <= 1:
            yield
            return
        set_(1)
        try:
            yield
        finally:
            set_(before)


def _find_saxpy() -> tuple[Any, int] | None:
    for lib in _libraries():
        for name, bits in _SAXPY:
            fn = getattr(lib, name, None)
            if fn is not None:
                n_t = ctypes.c_int64 if bits == 64 else ctypes.c_int32
                fn.restype = None
                fn.argtypes = [n_t, ctypes.c_float, ctypes.c_void_p, n_t, ctypes.c_void_p, n_t]
                return fn, bits
    return None


def has_saxpy() -> bool:
    global _saxpy, _saxpy_searched
    with _lock:
        if not _saxpy_searched:
            _saxpy, _saxpy_searched = _find_saxpy(), True
    return _saxpy is not None


def saxpy(a: float, x: np.ndarray, y: np.ndarray) -> bool:
    """``y += a * x`` for contiguous 1-D float32 ``x``/``y`` of one length, through the BLAS
    (ctypes releases the GIL).  Returns False, touching nothing, when no CBLAS ``saxpy`` is loaded
    or the arrays do not qualify; the caller then does it with NumPy."""
    if not (x.dtype == y.dtype == np.float32 and x.ndim == y.ndim == 1 and x.shape == y.shape
            and x.flags.c_contiguous and y.flags.c_contiguous and y.flags.writeable) or not has_saxpy():
        return False
    assert _saxpy is not None
    fn, bits = _saxpy
    step = x.shape[0] if bits == 64 else (1 << 30)
    with single_threaded():  # memory-bound: a second thread only helps on an idle box
        for c0 in range(0, x.shape[0], step):
            n = min(step, x.shape[0] - c0)
            fn(n, float(a), x.ctypes.data + 4 * c0, 1, y.ctypes.data + 4 * c0, 1)
    return True
