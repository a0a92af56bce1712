"""Memory the service pages in ahead of time: update-body buffers and fresh arrays."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

PAGE = 4096


def prefault(a: np.ndarray) -> None:
    """Touch every page of ``a`` for writing without changing a value (``byte |= 0``).

    Fresh large arrays are mapped lazily: the first write to each page faults (and the kernel
    zeroes it), which costs more than the copy that triggers it. Doing that while a round opens
    keeps it off the ingest path.
    """
    if a.size and a.flags.writeable and a.flags.c_contiguous:
        b = a.reshape(-1).view(np.uint8)[::PAGE]
        np.bitwise_or(b, 0, out=b)


class BodyBuffers:
    """Reusable update-body buffers, at most ``slots`` kept (one per ingest slot).

    Taking a fresh 40 MB buffer per upload page-faults on every 4 KiB (or 2 MiB) of it while the
    body is copied in, on the event loop. Buffers are pre-faulted when a round opens
    (:meth:`fill`) and dropped when it closes (:meth:`clear`), so between rounds they cost no
    memory; during a round they are part of the ``ingest_slots x model`` budget. A buffer is given
    back only once nothing refers to it any more (after the fold, or a rejection).
    """

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.size = 0
        self.gen = 0
        self._free: list[np.ndarray] = []

    def fill(self, size: int) -> None:
        """Executor: allocate and pre-fault ``slots`` buffers of ``size`` bytes (replacing any)."""
        bufs = [np.empty(size, np.uint8) for _i in range(self.slots)]
        for b in bufs:
            prefault(b)
        self._free, self.size = bufs, size

    def clear(self) -> None:
        self._free, self.size, self.gen = [], 0, self.gen + 1

    def take(self, n: int) -> tuple[np.ndarray, int]:
        """A buffer of at least ``n`` bytes and the generation to hand back with it."""
        if n <= self.size and self._free:
            return self._free.pop(), self.gen
        return np.empty(max(n, self.size), np.uint8), self.gen

    def give(self, buf: np.ndarray, gen: int) -> None:
        if gen == self.gen and buf.nbytes == self.size and len(self._free) < self.slots:
            self._free.append(buf)

    @contextlib.contextmanager
    def borrowed(self, n: int | None, safe: tuple[type[BaseException], ...]) -> Iterator[np.ndarray | None]:
        """A buffer of at least ``n`` bytes (None when ``n`` is None: the body length is unknown).

        It goes back to the pool when the block ends normally or with one of the ``safe`` exceptions
        (raised only once nothing reads or writes the buffer any more); any other exception --
        a cancellation while a worker thread may still fill it, or while the fold may still read
        it -- drops it instead.
        """
        if n is None:
            yield None
            return
        buf, gen = self.take(n)
        try:
            yield buf
        except safe:
            self.give(buf, gen)
            raise
        else:
            self.give(buf, gen)
