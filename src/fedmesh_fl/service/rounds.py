"""Round state machine: open / accept updates / close, with durable checkpoints.

All state changes happen on the event loop under one ``asyncio.Lock``; NumPy work and file
writes run in the default executor. An update is applied to the round aggregator, then made
durable (:class:`.commit.GroupCommit`: a group checkpoint, or the closing round's new model
version); the 202 is sent only once that is on disk.

A round takes exactly ``quorum`` updates when it closes at its quorum: once ``quorum`` updates are
folded in, further ones are refused with 410 ``late`` (even when many arrive at once), so the rule
aggregates the number of updates its parameters were checked against.  A deadline or admin close
aggregates whatever was accepted (fewer than ``quorum``).
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from .. import wire
from ..core import RoundAggregator, UpdateRejected, make_round
from .buffers import BodyBuffers, prefault
from .commit import GroupCommit, _run
from .config import Config, RoundDefaults
from .errors import ApiError
from .loader import Model, aggregator, load_state
from .logs import log
from .metrics import Metrics
from .state import Live, Round
from .store import ModelStore, RoundStore

HEADER_ROOM = 64 * 1024


class Manager:
    def __init__(self, cfg: Config, metrics: Metrics) -> None:
        self.cfg, self.metrics = cfg, metrics
        self._lock = asyncio.Lock()
        self.live = Live()
        self._inflight = self.live.inflight  # clients whose upload is under way
        self.commit = GroupCommit(self.live, self._lock, lambda: self.rounds, self._restore)
        self._timer: asyncio.Task[None] | None = None
        self._bg: set[asyncio.Task[Any]] = set()
        self.ingest_slots = asyncio.Semaphore(cfg.ingest_slots)
        self.buffers = BodyBuffers(cfg.ingest_slots)
        self.model: Model | None = None
        self._model_buf: bytearray | None = None
        self._staged: tuple[int, Path] | None = None  # (version, file) prepared for the round's new model

    # ---------------------------------------------------------------- model
    @property
    def round(self) -> Round | None:
        return self.live.round

    @property
    def version(self) -> int:
        return self.model.version if self.model else -1

    @property
    def model_bytes(self) -> bytes | bytearray:
        return self.model.data if self.model else b""

    @property
    def model_sha(self) -> str:
        return self.model.sha256 if self.model else ""

    def _set_model(self, model: Model) -> None:
        self.model = model
        self.metrics.model_version.set(model.version)

    def _restore(self, r: Round, arrays: dict[str, Any]) -> RoundAggregator:
        assert self.model is not None
        return aggregator(r, self.spec, self.model, arrays)

    def load(self) -> None:
        st = load_state(self.cfg)
        self.models: ModelStore = st.models
        self.rounds: RoundStore = st.rounds
        self.spec = st.spec
        self._set_model(st.model)
        self.live.round, self.live.agg = st.round, st.agg
        if st.round is not None:
            self.metrics.round_current.set(st.round.id)
            self.metrics.round_open.set(1 if st.round.is_open else 0)

    def _prepare_ingest(self, agg: RoundAggregator, body_size: int) -> None:
        """Executor, before a round takes updates: fault in the aggregator state, the body buffers
        and the buffer the round's new model version will be encoded into."""
        for a in agg.snapshot()[1].values():
            prefault(a)
        self.buffers.fill(body_size)
        self._model_buf = wire.model_buffer(self.spec.num_params)
        self._unstage()
        version = self.version + 1
        try:
            self._staged = (version, self.models.stage(version, len(self._model_buf)))
        except OSError as e:  # only a speed-up: the close then writes a new file
            log("warning", "model_file_not_staged", version=version, error=repr(e))

    def _unstage(self) -> None:
        staged, self._staged = self._staged, None
        if staged is not None:
            with contextlib.suppress(OSError):
                staged[1].unlink()

    async def start(self) -> None:
        await _run(self.load)
        async with self._lock:
            r, agg = self.live.round, self.live.agg
            if r is not None and r.is_open and agg is not None:
                await _run(self._prepare_ingest, agg, self.update_limit())
                self._start_timer()
            else:
                await self._maybe_auto_open()

    async def stop(self) -> None:
        """Let state changes in progress finish (up to 10 s), then cancel what is left."""
        if self._timer is not None:
            self._timer.cancel()
        if self._bg:
            await asyncio.wait(set(self._bg), timeout=10)
        for t in [self._timer, *self._bg]:
            if t is not None:
                t.cancel()
                with contextlib.suppress(BaseException):
                    await t

    # ---------------------------------------------------------------- views
    def public_round(self) -> dict[str, Any]:
        r = self.live.round
        if r is None:
            return {"id": 0, "status": "none", "base_version": self.version, "model_version": self.version}
        return r.public(self.version)

    def update_limit(self) -> int:
        """Largest update body the current round accepts."""
        return self._limit(self.live.round.max_update_bytes if self.live.round else None)

    def _limit(self, max_update_bytes: int | None) -> int:
        """``max_update_bytes`` (default: the model's exact payload size plus header room), never above
        ``client_max_size``: the one formula for the update-size limit."""
        return min(self.cfg.client_max_size, max_update_bytes or (self.spec.nbytes + HEADER_ROOM))

    def _check_open(self, client: str, round_id: int, *, reserve: bool) -> Round:
        r = self.live.round
        if r is None:
            raise ApiError(409, "not_open", f"round {round_id} is not open (current round is 0)",
                           round=round_id, current=0)
        r.check_takes(client, round_id, self._inflight if reserve else ())
        return r

    def reserve(self, client: str, round_id: int) -> None:
        """Pre-checks before reading the body; marks the client as uploading (release() after)."""
        self._check_open(client, round_id, reserve=True)
        self._inflight.add(client)

    def release(self, client: str) -> None:
        self._inflight.discard(client)

    # ---------------------------------------------------------------- updates
    async def apply(self, client: str, round_id: int, p: wire.Payload) -> int:
        """Validate and fold in an update (uncancellable); returns the sequence number to make durable."""
        return await self._guard(self._apply(client, round_id, p))

    async def finish(self, client: str, round_id: int, seq: int, num_samples: int | None = None) -> dict[str, Any]:
        """Wait until update ``seq`` is durable, then account for it (and close the round at quorum).

        When the applied updates reach the quorum the round is closed right away: the new model
        version (written durably before the round is marked closed) covers them, so no separate
        checkpoint is written for the last ones.
        """
        r, c = self.live.round, self.commit
        if r is not None and r.id == round_id and r.is_open and len(r.accepted) >= r.quorum and not c.closing:
            c.closing = True
            self._spawn(self.close_round("quorum", only_round=round_id)).add_done_callback(self._close_done)
        await c.wait_durable(seq)
        r = self.live.round
        assert r is not None
        self.metrics.updates_accepted.inc()
        count = len(r.accepted) if r.id == round_id else None
        log("info", "update_accepted", round=round_id, client=client, num_samples=num_samples, count=count)
        return {"round": round_id, "client": client, "accepted": True, "count": count}

    async def _apply(self, client: str, round_id: int, p: wire.Payload) -> int:
        self.commit.applying += 1
        try:
            return await self._apply_locked(client, round_id, p)
        finally:
            self.commit.applying -= 1
            self.commit.kick()

    async def _apply_locked(self, client: str, round_id: int, p: wire.Payload) -> int:
        async with self._lock:
            r = self._check_open(client, round_id, reserve=False)
            assert p.num_samples is not None and p.base_version is not None
            staleness = r.staleness_of(p.base_version)
            agg, spec, models = self.live.agg, self.spec, self.models
            assert agg is not None
            ns, bv = int(p.num_samples), int(p.base_version)

            def work() -> None:
                # p.flat is in the payload's layer order: use it only when that is the model's order. Otherwise
                # pass the layers by name (same names in another order are valid; anything else raises the
                # precise layout/shape error).
                update = p.flat if p.names == spec.names and p.shapes == spec.shapes else p.layers
                if staleness:  # a buffered rule: the delta is taken against the model the client trained on
                    base = wire.decode_model(models.read(bv))[1]
                    agg.add(client, update, ns, staleness=staleness, base=base)
                else:
                    agg.add(client, update, ns)

            try:
                await _run(work)
            except UpdateRejected as e:
                raise ApiError(422, e.reason, str(e), reason=e.reason, client=e.client, layer=e.layer) from None
            except KeyError:
                raise ApiError(409, "stale", f"base model version {bv} is no longer available; fetch the latest "
                               "model", base_version=r.base_version) from None
            r.accepted.append(client)
            r.last_update_at = time.time()
            self.commit.applied += 1
            return self.commit.applied

    def _close_done(self, task: asyncio.Future[Any]) -> None:
        self.commit.closing = False
        if not task.cancelled():
            task.exception()  # retrieved here; a failed close leaves the updates to a checkpoint
        self.commit.kick()

    # ---------------------------------------------------------------- open / close
    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        t = asyncio.ensure_future(coro)
        self._bg.add(t)
        t.add_done_callback(self._bg.discard)
        return t

    async def _guard(self, coro: Any) -> Any:
        """Run a state change to completion even if the requesting handler is cancelled."""
        return await asyncio.shield(self._spawn(coro))

    async def open_round(self, d: RoundDefaults) -> dict[str, Any]:
        return await self._guard(self._open_guarded(d))

    async def _open_guarded(self, d: RoundDefaults) -> dict[str, Any]:
        async with self._lock:
            return await self._open_locked(d)

    async def _open_locked(self, d: RoundDefaults) -> dict[str, Any]:
        cur, model = self.live.round, self.model
        assert model is not None
        if cur is not None and cur.is_open:
            raise ApiError(409, "round_open", f"round {cur.id} is still open; close it first")
        try:  # d passed parse_round (rule, params, quorum checked): what is left depends on the model
            agg = await _run(lambda: make_round(d.rule, self.spec, model.layers, model.server_state, **d.params))
        except (TypeError, ValueError, MemoryError) as e:
            raise ApiError(400, "bad_params", f"rule {d.rule!r} rejected its parameters: {e}") from None
        await _run(self._prepare_ingest, agg, self._limit(d.max_update_bytes))
        r = Round.open(self._next_round_id(), d, self.version)
        async with self.commit.io:
            await _run(self.rounds.save, r.to_json())
        self.live.round, self.live.agg = r, agg
        self.metrics.round_current.set(r.id)
        self.metrics.round_open.set(1)
        self._start_timer()
        log("info", "round_opened", round=r.id, rule=d.rule, quorum=d.quorum, deadline_s=d.deadline_s,
            base_version=self.version)
        return self.public_round()

    def _next_round_id(self) -> int:
        """One past every round id seen (round.ckpt and the model index), so ids never repeat."""
        seen = [self.live.round.id] if self.live.round else []
        seen += [int(e["round"]) for e in self.models.entries if e.get("round") is not None]
        return max(seen, default=0) + 1

    async def _maybe_auto_open(self) -> None:
        if self._next_round_id() <= self.cfg.auto_rounds:
            await self._open_locked(self.cfg.round)

    async def close_round(self, reason: str, only_round: int | None = None) -> dict[str, Any]:
        return await self._guard(self._close_guarded(reason, only_round))

    async def _close_guarded(self, reason: str, only_round: int | None) -> dict[str, Any]:
        async with self._lock:
            r = self.live.round
            if only_round is not None and (r is None or r.id != only_round or not r.is_open):
                return self.public_round()  # already closed by someone else
            out = await self._close_locked(reason)
            await self._maybe_auto_open()
            return out

    async def _close_locked(self, reason: str) -> dict[str, Any]:
        r = self.live.round
        if r is None or not r.is_open:
            raise ApiError(409, "not_open", "no round is open")
        if self._timer is not None and self._timer is not asyncio.current_task():
            self._timer.cancel()
        if not r.accepted:
            r.close("aborted", reason)
            await self._save_round(r)
            self.metrics.rounds_closed.labels("aborted").inc()
        elif not await self._aggregate_locked(r, reason):
            return self.public_round()
        self._end_round()
        log("info", "round_closed", round=r.id, reason=reason, outcome=r.outcome, accepted=len(r.accepted),
            version=r.version, aggregation_s=r.aggregation_s)
        return self.public_round()

    async def _save_round(self, r: Round) -> None:
        async with self.commit.io:
            await _run(self.rounds.save, r.to_json())

    async def _aggregate_locked(self, r: Round, reason: str) -> bool:
        """Finalize, write and publish the round's new model version; False if the round failed instead."""
        agg = self.live.agg
        assert agg is not None
        t0 = time.perf_counter()
        try:
            new_model, new_state = await _run(agg.finalize)
        except Exception as e:  # noqa: BLE001 - any aggregation failure ends the round, never wedges it
            await self._fail_locked(r, reason, e)
            return False
        agg_s = time.perf_counter() - t0
        self.metrics.aggregation_seconds.observe(agg_s)
        version = self.version + 1
        out, self._model_buf = self._model_buf, None
        staged = self._staged[1] if self._staged and self._staged[0] == version else None
        self._staged = None
        try:
            data, sha = await _run(self.models.write, version, new_model, r.id, new_state or None, out, staged)
            self.commit.advance_durable(self.commit.applied)  # acknowledged now: the durable version covers them
            entry = await _run(self.models.publish, version, data, r.id, sha)
        except OSError as e:  # the round stays open (finalize is idempotent): a later close retries
            log("error", "model_write_failed", round=r.id, version=version, error=repr(e))
            raise ApiError(503, "persist", f"model version {version} could not be written; retry the close") from None
        r.close("aggregated", reason, version=version, aggregation_s=agg_s, sha256=entry["sha256"])
        try:  # recorded closed (and its row segments pruned) before anyone is served the new version
            await self._save_round(r)
        except OSError as e:  # a restart settles it: the version that covers the round exists
            log("error", "checkpoint_failed", round=r.id, error=repr(e))
        self._set_model(Model.of(entry, data, new_state or None))
        self.metrics.rounds_closed.labels("aggregated").inc()
        return True

    def _end_round(self) -> None:
        self.live.agg = None
        self._unstage()
        self.buffers.clear()
        self.metrics.round_open.set(0)

    async def _fail_locked(self, r: Round, reason: str, error: Exception) -> None:
        """The aggregate could not be computed (or is not finite): close the round without a model.

        The previous model stays current; updates waiting for their acknowledgement get 409
        ``round_failed``; the next round can be opened (auto_rounds opens it).
        """
        msg = f"{type(error).__name__}: {error}"
        r.close("failed", reason, error=msg[:2000])
        self.commit.fail_pending(ApiError(409, "round_failed", f"round {r.id} failed to aggregate ({msg[:500]}); "
                                          f"model version {self.version} stays current; submit to the next round",
                                          round=r.id))
        try:
            await self._save_round(r)
        except OSError as e:  # the round is over in memory either way; a restart finds it open, on the same base
            log("error", "checkpoint_failed", round=r.id, error=repr(e))
        self.metrics.rounds_closed.labels("failed").inc()
        self._end_round()
        log("error", "round_failed", round=r.id, reason=reason, accepted=len(r.accepted), error=msg[:2000],
            model_version=self.version)

    # ---------------------------------------------------------------- deadline
    def _start_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        assert self.live.round is not None
        self._timer = asyncio.ensure_future(self._deadline_loop(self.live.round.id))

    async def _deadline_loop(self, rid: int) -> None:
        while True:
            r = self.live.round
            if r is None or r.id != rid or not r.is_open:
                return
            delay = r.deadline - time.time()
            if delay > 0:
                await asyncio.sleep(min(delay, 3600.0))
                continue
            async with self._lock:
                r = self.live.round
                if r is None or r.id != rid or not r.is_open:
                    return
                if len(r.accepted) >= r.deadline_minimum():
                    try:
                        await self._close_locked("deadline")
                    except ApiError as e:  # could not persist the new model: try again after another deadline_s
                        log("error", "deadline_close_failed", round=rid, error=e.message)
                    else:
                        await self._maybe_auto_open()
                        return
                r.deadline = time.time() + r.deadline_s
                await self.commit.checkpoint_locked()
                log("warning", "deadline_extended", round=rid, accepted=len(r.accepted), deadline=r.deadline)
