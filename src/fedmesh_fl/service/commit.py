"""Group commit: an applied update is acknowledged only once something durable covers it.

That is a checkpoint of the round (its state plus ``aggregator.snapshot()``, written atomically),
shared by every update folded in before it starts, or the new model version of the quorum close.
:class:`GroupCommit` decides when to write one and wakes the waiting acknowledgements; the
:class:`.rounds.Manager` owns one and hands it the state they share (:class:`.state.Live`, the
lock, the round store) when it is built.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..core import RoundAggregator
from .errors import ApiError
from .logs import log
from .state import Live, Round
from .store import RoundStore

T = TypeVar("T")
#: Longest an acknowledgement waits for queued folds / a quorum close before its own checkpoint.
GROUP_WAIT_S = 0.25


async def _run(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


class GroupCommit:
    """Durability bookkeeping for the manager's live round.

    ``store()`` returns the round store (created when the manager loads its state); ``restore``
    rebuilds a round's aggregator from a checkpoint (used to roll back after a failed write).
    """

    def __init__(self, live: Live, lock: asyncio.Lock, store: Callable[[], RoundStore],
                 restore: Callable[[Round, dict[str, Any]], RoundAggregator]) -> None:
        self.live, self.lock, self._store, self._restore = live, lock, store, restore
        self.applied = self.durable = 0  # sequence numbers: updates folded in / made durable
        self._ckpt: asyncio.Future[None] | None = None
        self._changed = asyncio.Event()  # replaced by a fresh one each time it is set (see kick)
        self.applying = 0  # updates read and waiting for (or inside) their fold
        self.closing = False  # a quorum close is on its way: it will make every applied update durable
        #: (lo, hi, error): updates lo+1..hi will never be durable; their waiters raise the error
        self._lost: list[tuple[int, int, ApiError]] = []
        self.io = asyncio.Lock()  # orders writes of round.ckpt (a checkpoint writes outside the lock)

    def kick(self) -> None:
        """Wake every ``_wait_durable`` (durable point advanced, a fold or a close ended)."""
        ev, self._changed = self._changed, asyncio.Event()
        ev.set()

    def advance_durable(self, target: int) -> None:
        if target > self.durable:
            self.durable = target
            self.kick()

    async def wait_durable(self, seq: int) -> None:
        """Group commit: one checkpoint covers every update folded in before it starts.

        While other updates are already read and queued for their fold, or a quorum close is on
        its way (its new model version covers them all), or uploads under way would complete the
        quorum, no checkpoint is started -- for at most ``GROUP_WAIT_S``, so a steady stream of
        uploads (or a stalled one) cannot hold an acknowledgement back.
        """
        t0 = time.monotonic()
        while self.durable < seq:
            self._raise_if_lost(seq)
            idle = self._ckpt is None or self._ckpt.done()
            late = time.monotonic() - t0 > GROUP_WAIT_S
            if idle and (late or not (self.closing or self.applying or self._quorum_coming())):
                self._ckpt = asyncio.ensure_future(self._checkpoint())
                self._ckpt.add_done_callback(self._ckpt_done)
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), None if late else GROUP_WAIT_S)
        self._raise_if_lost(seq)

    def _raise_if_lost(self, seq: int) -> None:
        for lo, hi, err in self._lost:
            if lo < seq <= hi:
                raise err

    def fail_pending(self, err: ApiError) -> None:
        """Every applied, not yet durable update will never be: its waiter raises ``err``."""
        if self.applied > self.durable:
            self._lost.append((self.durable, self.applied, err))
        self.kick()

    def _quorum_coming(self) -> bool:
        """Uploads under way (reserved, not yet accepted) would bring the round to its quorum."""
        r = self.live.round
        if r is None or not r.is_open:
            return False
        pending = len(self.live.inflight.difference(r.accepted))
        return pending > 0 and len(r.accepted) + pending >= r.quorum

    def _ckpt_done(self, task: asyncio.Future[None]) -> None:
        if not task.cancelled():
            task.exception()  # an ApiError here was recorded in self._lost: the waiters raise it
        self.kick()

    async def _checkpoint(self) -> None:
        """Make every applied update durable.

        Under the lock the snapshot is written to a temp file (that write is the only copy of the
        live accumulator); the slow part -- fsync, rename, directory fsync -- runs after the lock is
        released, so updates keep being folded in meanwhile. ``self.io`` keeps writers in order.
        """
        await self.lock.acquire()
        locked = True
        try:
            r, agg, target = self.live.round, self.live.agg, self.applied
            if r is None or agg is None or not r.is_open or self.durable >= target:
                self.advance_durable(target)  # closed: the durable model covers them (or they are lost)
                return
            meta = dict(r.to_json(), seq=len(r.accepted))
            try:
                agg_meta, arrays = agg.snapshot()
                meta["agg"] = agg_meta
                await self.io.acquire()
                try:
                    tmp = await _run(self._store().prepare, meta, arrays)
                    self.lock.release()
                    locked = False
                    await _run(self._store().commit, tmp)
                finally:
                    self.io.release()
            except Exception as e:
                log("error", "checkpoint_failed", round=r.id, error=repr(e))
                if not locked:
                    await self.lock.acquire()
                    locked = True
                await self._rollback()
                raise ApiError(503, "persist", "the update could not be made durable; retry later") from None
            if r.is_open:
                r.agg, r.seq = agg_meta, meta["seq"]
            self.advance_durable(target)
        finally:
            if locked:
                self.lock.release()

    async def checkpoint_locked(self) -> None:
        """Persist round state + aggregator snapshot while holding the lock (rare paths)."""
        r, agg, target = self.live.round, self.live.agg, self.applied
        assert r is not None and agg is not None
        meta = dict(r.to_json(), seq=len(r.accepted))

        def work() -> None:
            agg_meta, arrays = agg.snapshot()
            meta["agg"] = agg_meta
            self._store().save(meta, arrays)

        async with self.io:
            await _run(work)
        r.agg, r.seq = meta["agg"], meta["seq"]
        self.advance_durable(target)

    async def _rollback(self) -> None:
        loaded = await _run(self._store().load)
        assert loaded is not None
        r = Round.from_json(loaded[0])
        self.live.round, self.live.agg = r, await _run(self._restore, r, loaded[1])
        # applied since the last durable point: gone
        self._lost.append((self.durable, self.applied,
                           ApiError(503, "persist", "the update could not be made durable; retry later")))
