"""Group commit: an applied update is acknowledged only once something durable covers it.

That is a checkpoint of the round (its state plus ``aggregator.snapshot()``, written atomically),
shared by every update folded in before it starts, or the new model version of the quorum close.
:class:`GroupCommit` is the part of :class:`.rounds.Manager` that decides when to write one and
wakes the waiting acknowledgements.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import ApiError
from .logs import log
from .store import RoundStore

T = TypeVar("T")
#: Longest an acknowledgement waits for queued folds / a quorum close before its own checkpoint.
GROUP_WAIT_S = 0.25


async def _run(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


class GroupCommit:
    """Durability bookkeeping; the manager owns the round, its aggregator and the lock."""

    _lock: asyncio.Lock
    round: dict[str, Any] | None
    _agg: Any
    _inflight: set[str]
    rounds: RoundStore

    def _restore(self, r: dict[str, Any], arrays: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _init_commit(self) -> None:
        self._applied = self._durable = 0  # sequence numbers: updates folded in / made durable
        self._ckpt: asyncio.Future[None] | None = None
        self._changed = asyncio.Event()  # replaced by a fresh one each time it is set (see _kick)
        self._applying = 0  # updates read and waiting for (or inside) their fold
        self._closing = False  # a quorum close is on its way: it will make every applied update durable
        #: (lo, hi, error): updates lo+1..hi will never be durable; their waiters raise the error
        self._lost: list[tuple[int, int, ApiError]] = []
        self._io = asyncio.Lock()  # orders writes of round.ckpt (a checkpoint writes outside self._lock)

    def _kick(self) -> None:
        """Wake every ``_wait_durable`` (durable point advanced, a fold or a close ended)."""
        ev, self._changed = self._changed, asyncio.Event()
        ev.set()

    def _advance_durable(self, target: int) -> None:
        if target > self._durable:
            self._durable = target
            self._kick()

    async def _wait_durable(self, seq: int) -> None:
        """Group commit: one checkpoint covers every update folded in before it starts.

        While other updates are already read and queued for their fold, or a quorum close is on
        its way (its new model version covers them all), or uploads under way would complete the
        quorum, no checkpoint is started -- for at most ``GROUP_WAIT_S``, so a steady stream of
        uploads (or a stalled one) cannot hold an acknowledgement back.
        """
        t0 = time.monotonic()
        while self._durable < seq:
            self._raise_if_lost(seq)
            idle = self._ckpt is None or self._ckpt.done()
            late = time.monotonic() - t0 > GROUP_WAIT_S
            if idle and (late or not (self._closing or self._applying or self._quorum_coming())):
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

    def _fail_pending(self, err: ApiError) -> None:
        """Every applied, not yet durable update will never be: its waiter raises ``err``."""
        if self._applied > self._durable:
            self._lost.append((self._durable, self._applied, err))
        self._kick()

    def _quorum_coming(self) -> bool:
        """Uploads under way (reserved, not yet accepted) would bring the round to its quorum."""
        r = self.round
        if r is None or r["status"] != "open":
            return False
        pending = len(self._inflight.difference(r["accepted"]))
        return pending > 0 and len(r["accepted"]) + pending >= r["quorum"]

    def _ckpt_done(self, task: asyncio.Future[None]) -> None:
        if not task.cancelled():
            task.exception()  # an ApiError here was recorded in self._lost: the waiters raise it
        self._kick()

    async def _checkpoint(self) -> None:
        """Make every applied update durable.

        Under the lock the snapshot is written to a temp file (that write is the only copy of the
        live accumulator); the slow part -- fsync, rename, directory fsync -- runs after the lock is
        released, so updates keep being folded in meanwhile. ``self._io`` keeps writers in order.
        """
        await self._lock.acquire()
        locked = True
        try:
            r, agg, target = self.round, self._agg, self._applied
            if r is None or agg is None or r["status"] != "open" or self._durable >= target:
                self._advance_durable(target)  # closed: the durable model covers them
                return
            meta = dict(r, accepted=list(r["accepted"]), seq=len(r["accepted"]))
            try:
                agg_meta, arrays = agg.snapshot()
                meta["agg"] = agg_meta
                await self._io.acquire()
                try:
                    tmp = await _run(self.rounds.prepare, meta, arrays)
                    self._lock.release()
                    locked = False
                    await _run(self.rounds.commit, tmp)
                finally:
                    self._io.release()
            except Exception as e:
                log("error", "checkpoint_failed", round=r["id"], error=repr(e))
                if not locked:
                    await self._lock.acquire()
                    locked = True
                await self._rollback()
                raise ApiError(503, "persist", "the update could not be made durable; retry later") from None
            if r["status"] == "open":
                r.update(agg=agg_meta, seq=meta["seq"])
            self._advance_durable(target)
        finally:
            if locked:
                self._lock.release()

    async def _checkpoint_locked(self) -> None:
        """Persist round state + aggregator snapshot while holding the lock (rare paths)."""
        r, agg, target = self.round, self._agg, self._applied
        assert r is not None
        meta = dict(r, accepted=list(r["accepted"]), seq=len(r["accepted"]))

        def work() -> None:
            agg_meta, arrays = agg.snapshot()
            meta["agg"] = agg_meta
            self.rounds.save(meta, arrays)

        async with self._io:
            await _run(work)
        r.update(agg=meta["agg"], seq=meta["seq"])
        self._advance_durable(target)

    async def _rollback(self) -> None:
        loaded = await _run(self.rounds.load)
        assert loaded is not None
        r, arrays = loaded
        self.round, self._agg = r, await _run(self._restore, r, arrays)
        # applied since the last durable point: gone
        self._lost.append((self._durable, self._applied,
                           ApiError(503, "persist", "the update could not be made durable; retry later")))
