"""Round state machine: open / accept updates / close, with durable checkpoints.

All state changes happen on the event loop under one ``asyncio.Lock``; NumPy work and file
writes run in the default executor. An update is applied to the round aggregator, then made
durable (:mod:`.commit`: a group checkpoint, or the closing round's new model version); the 202
is sent only once that is on disk.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import wire
from ..core import ModelSpec, UpdateRejected, make_round, restore_round, rule_class
from .buffers import BodyBuffers, prefault
from .commit import GroupCommit, _run
from .config import Config, RoundDefaults
from .errors import ApiError
from .logs import log
from .metrics import Metrics
from .store import ModelStore, RoundStore, initial_layers

HEADER_ROOM = 64 * 1024
_PRIVATE = ("agg", "seq")


class Manager(GroupCommit):
    def __init__(self, cfg: Config, metrics: Metrics) -> None:
        self.cfg, self.metrics = cfg, metrics
        self._lock = asyncio.Lock()
        self.round: dict[str, Any] | None = None
        self._agg: Any = None
        self._inflight: set[str] = set()
        self._init_commit()
        self._timer: asyncio.Task[None] | None = None
        self._bg: set[asyncio.Task[Any]] = set()
        self.ingest_slots = asyncio.Semaphore(cfg.ingest_slots)
        self.buffers = BodyBuffers(cfg.ingest_slots)
        self.version = -1
        self.model_bytes: bytes | bytearray = b""
        self.model_sha = ""
        self._model_buf: bytearray | None = None
        self._staged: tuple[int, Path] | None = None  # (version, file) prepared for the round's new model

    # ---------------------------------------------------------------- start / model
    def _set_model(self, entry: dict[str, Any], data: bytes | bytearray, state: dict[str, np.ndarray] | None) -> None:
        self.global_model = dict(wire.decode_model(data)[1])
        self.server_state = state
        self.version, self.model_sha, self.model_bytes = int(entry["version"]), str(entry["sha256"]), data
        self.metrics.model_version.set(self.version)

    def _restore(self, r: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
        if not r.get("agg"):
            return make_round(r["rule"], self.spec, self.global_model, self.server_state, **r["params"])
        return restore_round(self.spec, self.global_model, self.server_state, r["agg"], arrays)

    def load(self) -> None:
        sd = self.cfg.state_dir
        sd.mkdir(parents=True, exist_ok=True)
        self.models, self.rounds = ModelStore(sd), RoundStore(sd)
        latest = self.models.latest()
        data: bytes | bytearray
        if latest is None:
            entry, data = self.models.add(0, initial_layers(self.cfg), None, None)
            log("info", "model_initialized", version=0, sha256=entry["sha256"])
        else:
            entry, data = latest, self.models.read(latest["version"])
        self._set_model(entry, data, self.models.server_state(entry["version"]))
        self.spec = ModelSpec.of(self.global_model)  # the config's rule and params were checked when it was parsed
        loaded = self.rounds.load(prune=True)
        if loaded is not None:
            r, arrays = loaded
            if r["status"] == "open":
                produced = [e for e in self.models.entries if e.get("round") == r["id"]]
                if produced:  # crashed after writing the model, before marking the round closed
                    r.update(status="closed", outcome="aggregated", version=produced[-1]["version"], agg=None)
                    self.rounds.save(r)
                elif r["base_version"] != self.version:
                    r.update(status="closed", outcome="aborted", reason="base model changed", agg=None)
                    self.rounds.save(r)
                else:
                    self._agg = self._restore(r, arrays)
            self.round = r
            self.metrics.round_current.set(r["id"])
            self.metrics.round_open.set(1 if r["status"] == "open" else 0)
        log("info", "state_loaded", version=self.version, round=self.round and self.round["id"],
            status=self.round and self.round["status"],
            accepted=len(self.round["accepted"]) if self.round else 0,
            removed_temp=self.models.removed_temp + self.rounds.removed_temp, adopted_versions=self.models.adopted)

    def _prepare_ingest(self, agg: Any, body_size: int) -> None:
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
            if self.round and self.round["status"] == "open":
                await _run(self._prepare_ingest, self._agg, self.update_limit())
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
        r = self.round
        if r is None:
            return {"id": 0, "status": "none", "base_version": self.version, "model_version": self.version}
        out = {k: v for k, v in r.items() if k not in _PRIVATE}
        out["accepted_clients"] = list(r["accepted"])
        out["accepted"] = len(r["accepted"])
        out["model_version"] = self.version
        return out

    def update_limit(self) -> int:
        """Largest update body the current round accepts."""
        return self._limit(self.round.get("max_update_bytes") if self.round else None)

    def _limit(self, max_update_bytes: int | None) -> int:
        """``max_update_bytes`` (default: the model's exact payload size plus header room), never above
        ``client_max_size``: the one formula for the update-size limit."""
        return min(self.cfg.client_max_size, max_update_bytes or (self.spec.nbytes + HEADER_ROOM))

    def _check_open(self, client: str, round_id: int, *, reserve: bool) -> dict[str, Any]:
        r = self.round
        if r is None or round_id > r["id"]:
            cur = r["id"] if r else 0
            raise ApiError(409, "not_open", f"round {round_id} is not open (current round is {cur})",
                           round=round_id, current=cur)
        if round_id < r["id"] or r["status"] != "open":
            raise ApiError(410, "late", f"round {round_id} is closed; fetch the latest model and wait for the "
                           "next round", round=round_id, current=r["id"])
        if client in r["accepted"] or (reserve and client in self._inflight):
            raise ApiError(409, "duplicate", f"client {client!r} already submitted an update for round {round_id}",
                           round=round_id, client=client)
        if len(r["accepted"]) >= r["quorum"]:  # the quorum is exact: the round is closing without this update
            raise ApiError(410, "late", f"round {round_id} already has its quorum of {r['quorum']} updates and is "
                           "closing; fetch the new model and wait for the next round", round=round_id, current=r["id"])
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
        r = self.round
        if (r is not None and r["id"] == round_id and r["status"] == "open" and len(r["accepted"]) >= r["quorum"]
                and not self._closing):
            self._closing = True
            self._spawn(self.close_round("quorum", only_round=round_id)).add_done_callback(self._close_done)
        await self._wait_durable(seq)
        r = self.round
        assert r is not None
        self.metrics.updates_accepted.inc()
        count = len(r["accepted"]) if r["id"] == round_id else None
        log("info", "update_accepted", round=round_id, client=client, num_samples=num_samples, count=count)
        return {"round": round_id, "client": client, "accepted": True, "count": count}

    async def _apply(self, client: str, round_id: int, p: wire.Payload) -> int:
        self._applying += 1
        try:
            return await self._apply_locked(client, round_id, p)
        finally:
            self._applying -= 1
            self._kick()

    async def _apply_locked(self, client: str, round_id: int, p: wire.Payload) -> int:
        async with self._lock:
            r = self._check_open(client, round_id, reserve=False)
            assert p.base_version is not None and p.num_samples is not None
            staleness = r["base_version"] - p.base_version
            if staleness < 0:
                raise ApiError(400, "malformed", f"base_version {p.base_version} is newer than the round's base "
                               f"version {r['base_version']}")
            if staleness > r["max_staleness"] or (staleness and not rule_class(r["rule"]).BUFFERED):
                raise ApiError(409, "stale", f"update is based on model version {p.base_version} but round "
                               f"{round_id} aggregates on version {r['base_version']}; fetch the latest model",
                               base_version=r["base_version"])
            agg, spec, models = self._agg, self.spec, self.models
            ns, bv = int(p.num_samples), int(p.base_version)

            def work() -> None:
                # p.flat is in the payload's layer order: use it only when that is the model's order. Otherwise
                # pass the layers by name (same names in another order are valid; anything else raises the
                # precise layout/shape error).
                update = p.flat if p.names == spec.names and p.shapes == spec.shapes else p.layers
                if staleness:  # fedbuff: the delta is taken against the model the client trained on
                    base = wire.decode_model(models.read(bv))[1]
                    agg.add(client, update, ns, staleness=staleness, base=base)
                else:
                    agg.add(client, update, ns)

            try:
                await _run(work)
            except UpdateRejected as e:
                raise ApiError(422, e.reason, str(e), reason=e.reason, client=e.client, layer=e.layer) from None
            r["accepted"].append(client)
            r["last_update_at"] = time.time()
            self._applied += 1
            return self._applied

    def _close_done(self, task: asyncio.Future[Any]) -> None:
        self._closing = False
        if not task.cancelled():
            task.exception()  # retrieved here; a failed close leaves the updates to a checkpoint
        self._kick()

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
        if self.round and self.round["status"] == "open":
            raise ApiError(409, "round_open", f"round {self.round['id']} is still open; close it first")
        try:  # d passed parse_round (rule, params, quorum checked): what is left depends on the model
            agg = await _run(lambda: make_round(d.rule, self.spec, self.global_model, self.server_state, **d.params))
        except (TypeError, ValueError, MemoryError) as e:
            raise ApiError(400, "bad_params", f"rule {d.rule!r} rejected its parameters: {e}") from None
        await _run(self._prepare_ingest, agg, self._limit(d.max_update_bytes))
        now = time.time()
        rid = self._next_round_id()
        r: dict[str, Any] = {
            "id": rid, "status": "open", "rule": d.rule, "params": d.params, "quorum": d.quorum,
            "deadline_s": d.deadline_s, "deadline": now + d.deadline_s, "min_at_deadline": d.min_at_deadline,
            "max_staleness": d.max_staleness, "max_update_bytes": d.max_update_bytes,
            "base_version": self.version, "accepted": [], "opened": now, "closed": None, "version": None,
            "outcome": None, "last_update_at": None, "aggregation_s": None, "agg": None,
            "seq": 0}
        async with self._io:
            await _run(self.rounds.save, dict(r))
        self.round, self._agg = r, agg
        self.metrics.round_current.set(rid)
        self.metrics.round_open.set(1)
        self._start_timer()
        log("info", "round_opened", round=rid, rule=d.rule, quorum=d.quorum, deadline_s=d.deadline_s,
            base_version=self.version)
        return self.public_round()

    def _next_round_id(self) -> int:
        """One past every round id seen (round.ckpt and the model index), so ids never repeat."""
        seen = [self.round["id"]] if self.round else []
        seen += [int(e["round"]) for e in self.models.entries if e.get("round") is not None]
        return max(seen, default=0) + 1

    async def _maybe_auto_open(self) -> None:
        if self._next_round_id() <= self.cfg.auto_rounds:
            await self._open_locked(self.cfg.round)

    async def close_round(self, reason: str, only_round: int | None = None) -> dict[str, Any]:
        return await self._guard(self._close_guarded(reason, only_round))

    async def _close_guarded(self, reason: str, only_round: int | None) -> dict[str, Any]:
        async with self._lock:
            r = self.round
            if only_round is not None and (r is None or r["id"] != only_round or r["status"] != "open"):
                return self.public_round()  # already closed by someone else
            out = await self._close_locked(reason)
            await self._maybe_auto_open()
            return out

    async def _close_locked(self, reason: str) -> dict[str, Any]:
        r = self.round
        if r is None or r["status"] != "open":
            raise ApiError(409, "not_open", "no round is open")
        if self._timer is not None and self._timer is not asyncio.current_task():
            self._timer.cancel()
        now = time.time()
        if not r["accepted"]:
            r.update(status="closed", outcome="aborted", closed=now, reason=reason, agg=None)
            async with self._io:
                await _run(self.rounds.save, dict(r))
            self.metrics.rounds_closed.labels("aborted").inc()
        else:
            agg = self._agg
            t0 = time.perf_counter()
            try:
                new_model, new_state = await _run(agg.finalize)
            except Exception as e:  # noqa: BLE001 - any aggregation failure ends the round, never wedges it
                await self._fail_locked(r, reason, e)
                return self.public_round()
            agg_s = time.perf_counter() - t0
            self.metrics.aggregation_seconds.observe(agg_s)
            version = self.version + 1
            out, self._model_buf = self._model_buf, None
            staged = self._staged[1] if self._staged and self._staged[0] == version else None
            self._staged = None
            data, sha = await _run(self.models.write, version, new_model, r["id"], new_state or None, out, staged)
            self._advance_durable(self._applied)  # acknowledged now: the durable new version covers them
            entry = await _run(self.models.publish, version, data, r["id"], sha)
            self._set_model(entry, data, new_state or None)
            r.update(status="closed", outcome="aggregated", closed=time.time(), reason=reason, version=version,
                     aggregation_s=agg_s, sha256=entry["sha256"], agg=None)
            async with self._io:
                await _run(self.rounds.save, dict(r))
            self.metrics.rounds_closed.labels("aggregated").inc()
        self._end_round()
        log("info", "round_closed", round=r["id"], reason=reason, outcome=r["outcome"], accepted=len(r["accepted"]),
            version=r.get("version"), aggregation_s=r.get("aggregation_s"))
        return self.public_round()

    def _end_round(self) -> None:
        self._agg = None
        self._unstage()
        self.buffers.clear()
        self.metrics.round_open.set(0)

    async def _fail_locked(self, r: dict[str, Any], reason: str, error: Exception) -> None:
        """The aggregate could not be computed (or is not finite): close the round without a model.

        The previous model stays current; updates waiting for their acknowledgement get 409
        ``round_failed``; the next round can be opened (auto_rounds opens it).
        """
        msg = f"{type(error).__name__}: {error}"
        r.update(status="closed", outcome="failed", closed=time.time(), reason=reason, error=msg[:2000], agg=None)
        self._fail_pending(ApiError(409, "round_failed", f"round {r['id']} failed to aggregate ({msg[:500]}); "
                                    f"model version {self.version} stays current; submit to the next round",
                                    round=r["id"]))
        try:
            async with self._io:
                await _run(self.rounds.save, dict(r))
        except OSError as e:  # the round is over in memory either way; a restart re-opens nothing stale
            log("error", "checkpoint_failed", round=r["id"], error=repr(e))
        self.metrics.rounds_closed.labels("failed").inc()
        self._end_round()
        log("error", "round_failed", round=r["id"], reason=reason, accepted=len(r["accepted"]), error=msg[:2000],
            model_version=self.version)

    # ---------------------------------------------------------------- deadline
    def _start_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        assert self.round is not None
        self._timer = asyncio.ensure_future(self._deadline_loop(self.round["id"]))

    @staticmethod
    def _deadline_minimum(r: dict[str, Any]) -> int:
        """Updates a deadline close needs: ``min(quorum, min_at_deadline)``, but never fewer than the
        rule can aggregate (Krum: 2f+3), so a deadline never closes a round into a failure."""
        cls = rule_class(r["rule"])
        need = cls.min_updates(cls.resolve_params(r["params"]))[0]
        return max(min(r["quorum"], r["min_at_deadline"]), need)

    async def _deadline_loop(self, rid: int) -> None:
        while True:
            r = self.round
            if r is None or r["id"] != rid or r["status"] != "open":
                return
            delay = r["deadline"] - time.time()
            if delay > 0:
                await asyncio.sleep(min(delay, 3600.0))
                continue
            async with self._lock:
                r = self.round
                if r is None or r["id"] != rid or r["status"] != "open":
                    return
                if len(r["accepted"]) >= self._deadline_minimum(r):
                    await self._close_locked("deadline")
                    await self._maybe_auto_open()
                    return
                r["deadline"] = time.time() + r["deadline_s"]
                await self._checkpoint_locked()
                log("warning", "deadline_extended", round=rid, accepted=len(r["accepted"]), deadline=r["deadline"])
