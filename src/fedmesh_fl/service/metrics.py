"""Prometheus metrics on the service's own CollectorRegistry."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REJECT_REASONS = ("auth", "forbidden", "malformed", "too_large", "duplicate", "late", "not_open", "stale",
                  "layout", "shape", "dtype", "nonfinite", "samples", "size", "capacity", "persist", "timeout",
                  "round_failed", "unsupported_encoding")


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.rounds_closed = Counter("fedmesh_rounds_closed", "Rounds closed (aggregated or aborted)",
                                     ["outcome"], registry=r)
        self.round_current = Gauge("fedmesh_round_current", "Id of the current (latest) round", registry=r)
        self.round_open = Gauge("fedmesh_round_open", "1 while a round is open", registry=r)
        self.updates_accepted = Counter("fedmesh_updates_accepted", "Updates accepted (durable)", registry=r)
        self.updates_rejected = Counter("fedmesh_updates_rejected", "Updates rejected, by reason",
                                        ["reason"], registry=r)
        self.aggregation_seconds = Histogram(
            "fedmesh_aggregation_seconds", "Time to finalize a round's aggregate", registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.bytes_received = Counter("fedmesh_update_bytes_received", "Update body bytes received", registry=r)
        self.model_version = Gauge("fedmesh_model_version", "Latest global model version", registry=r)
        for reason in REJECT_REASONS:
            self.updates_rejected.labels(reason)  # export zeros so rates work from the start
        for outcome in ("aggregated", "aborted", "failed"):
            self.rounds_closed.labels(outcome)

    def render(self) -> bytes:
        return generate_latest(self.registry)
