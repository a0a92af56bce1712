"""Run many small BLAS calls single-threaded (OpenBLAS only; a no-op elsewhere).

The robust rules' Gram matrix is thousands of small SGEMMs (``(n, w) x (w, n)`` per column step).
Above a size threshold OpenBLAS splits each one over its thread pool; on a busy host (here: 2
cores shared with other work) every call then waits for a descheduled worker and the whole
product gets up to 10x slower than on one thread (100 clients x 1M parameters: 2.6 s instead of
0.3 s).  NumPy offers no switch for this, so the library's own ``*_set_num_threads`` entry point
is called through ctypes -- the same symbols threadpoolctl uses -- and restored afterwards.
"""
from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Callable, Iterator

_NAMES = (  # (get, set) entry points: NumPy wheels' scipy-openblas, then a system OpenBLAS
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
)
_lock = threading.RLock()
_found: tuple[Callable[[], int], Callable[[int], None]] | None = None
_searched = False


def _loaded_blas_paths() -> list[str]:
    try:
        with open("/proc/self/maps") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    paths = {ln.split()[-1] for ln in lines if ln.count("/") and "blas" in ln.rsplit("/", 1)[-1].lower()}
    return sorted(p for p in paths if p.startswith("/"))


def _find() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    import numpy  # noqa: F401  (make sure NumPy's BLAS is loaded)

    for path in _loaded_blas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
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
