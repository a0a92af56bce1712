"""The round as a typed object, and the live state the manager and the group commit share.

``Round`` is what ``round.ckpt`` stores (:meth:`Round.to_json` / :meth:`Round.from_json`) and what
``GET /v1/round`` shows (:meth:`Round.public`, without the aggregator snapshot).
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from ..core import RoundAggregator, rule_class
from .config import RoundDefaults
from .errors import ApiError

#: Fields kept out of ``GET /v1/round`` (the aggregator snapshot and its checkpoint position).
PRIVATE = ("agg", "seq")


@dataclass
class Round:
    id: int
    rule: str
    params: dict[str, Any]
    quorum: int
    deadline_s: float
    deadline: float
    min_at_deadline: int
    max_staleness: int
    max_update_bytes: int | None
    base_version: int
    status: str = "open"  # "open" | "closed"
    accepted: list[str] = field(default_factory=list)
    opened: float = 0.0
    closed: float | None = None
    outcome: str | None = None  # "aggregated" | "aborted" | "failed" once closed
    reason: str | None = None  # what closed it: "quorum" | "deadline" | "admin" | "base model changed"
    error: str | None = None  # why a failed round produced no model
    version: int | None = None  # the model version it produced
    sha256: str | None = None
    last_update_at: float | None = None
    aggregation_s: float | None = None
    agg: dict[str, Any] | None = None  # aggregator snapshot metadata of the latest checkpoint
    seq: int = 0  # updates covered by that checkpoint

    @classmethod
    def open(cls, rid: int, d: RoundDefaults, base_version: int) -> Round:
        now = time.time()
        return cls(id=rid, rule=d.rule, params=dict(d.params), quorum=d.quorum, deadline_s=d.deadline_s,
                   deadline=now + d.deadline_s, min_at_deadline=d.min_at_deadline, max_staleness=d.max_staleness,
                   max_update_bytes=d.max_update_bytes, base_version=base_version, opened=now)

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def rule_class(self) -> type[RoundAggregator]:
        return rule_class(self.rule)

    def min_updates(self) -> int:
        """Fewest updates the round's rule can aggregate with its parameters."""
        cls = self.rule_class
        return cls.min_updates(cls.resolve_params(self.params))[0]

    def deadline_minimum(self) -> int:
        """Updates a deadline close needs: ``min(quorum, min_at_deadline)``, never fewer than the rule
        can aggregate (Krum: 2f+3), so a deadline never closes a round into a failure."""
        return max(min(self.quorum, self.min_at_deadline), self.min_updates())

    def check_takes(self, client: str, round_id: int, uploading: Collection[str] = ()) -> None:
        """ApiError unless this round (``round_id``) is open and takes an update from ``client``
        (``uploading``: clients whose upload is already under way count as duplicates)."""
        if round_id > self.id:
            raise ApiError(409, "not_open", f"round {round_id} is not open (current round is {self.id})",
                           round=round_id, current=self.id)
        if round_id < self.id or not self.is_open:
            raise ApiError(410, "late", f"round {round_id} is closed; fetch the latest model and wait for the "
                           "next round", round=round_id, current=self.id)
        if client in self.accepted or client in uploading:
            raise ApiError(409, "duplicate", f"client {client!r} already submitted an update for round {round_id}",
                           round=round_id, client=client)
        if len(self.accepted) >= self.quorum:  # the quorum is exact: the round closes without this update
            raise ApiError(410, "late", f"round {round_id} already has its quorum of {self.quorum} updates and is "
                           "closing; fetch the new model and wait for the next round", round=round_id,
                           current=self.id)

    def staleness_of(self, base_version: int) -> int:
        """Versions between an update's base model and the round's; ApiError if the rule cannot take it."""
        staleness = self.base_version - base_version
        if staleness < 0:
            raise ApiError(400, "malformed", f"base_version {base_version} is newer than the round's base "
                           f"version {self.base_version}")
        if staleness > self.max_staleness or (staleness and not self.rule_class.BUFFERED):
            raise ApiError(409, "stale", f"update is based on model version {base_version} but round "
                           f"{self.id} aggregates on version {self.base_version}; fetch the latest model",
                           base_version=self.base_version)
        return staleness

    def close(self, outcome: str, reason: str | None, **fields: Any) -> None:
        self.status, self.outcome, self.reason, self.closed, self.agg = "closed", outcome, reason, time.time(), None
        for k, v in fields.items():
            if k not in _FIELDS:
                raise AttributeError(f"Round has no field {k!r}")
            setattr(self, k, v)

    # -- persistence / views -----------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A JSON-able copy (lists copied: safe to hand to a writer thread)."""
        out = dataclasses.asdict(self)
        out["accepted"] = list(self.accepted)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Round:
        """From ``round.ckpt`` metadata (keys this version does not know are ignored)."""
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise ValueError(f"round checkpoint lacks {missing}")
        return cls(**{k: v for k, v in d.items() if k in _FIELDS})

    def public(self, model_version: int) -> dict[str, Any]:
        out = {k: v for k, v in self.to_json().items() if k not in PRIVATE}
        out["accepted_clients"] = list(self.accepted)
        out["accepted"] = len(self.accepted)
        out["model_version"] = model_version
        return out


_FIELDS = {f.name for f in dataclasses.fields(Round)}
_REQUIRED = [f.name for f in dataclasses.fields(Round)
             if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


@dataclass
class Live:
    """What the manager and the group commit share: the current round, its aggregator and the
    clients whose uploads are under way.  Changed only on the event loop, under the manager's lock."""

    round: Round | None = None
    agg: RoundAggregator | None = None
    inflight: set[str] = field(default_factory=set)
