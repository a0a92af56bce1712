"""Start-up: read ``state_dir`` (models, the latest round) and settle a round a crash left open."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import wire
from ..core import ModelSpec, RoundAggregator, make_round, restore_round
from .config import Config
from .logs import log
from .state import Round
from .store import ModelStore, RoundStore, initial_layers


@dataclass
class Model:
    """The current global model: its version, bytes as served, layers and server-optimiser state."""

    version: int
    sha256: str
    data: bytes | bytearray
    layers: dict[str, np.ndarray]
    server_state: dict[str, np.ndarray] | None

    @classmethod
    def of(cls, entry: dict[str, Any], data: bytes | bytearray, state: dict[str, np.ndarray] | None) -> Model:
        return cls(int(entry["version"]), str(entry["sha256"]), data, dict(wire.decode_model(data)[1]), state)


def aggregator(r: Round, spec: ModelSpec, model: Model, arrays: dict[str, np.ndarray] | None = None
               ) -> RoundAggregator:
    """The round's aggregator: from its checkpoint snapshot when it has one, else fresh."""
    if not r.agg:
        return make_round(r.rule, spec, model.layers, model.server_state, **r.params)
    return restore_round(spec, model.layers, model.server_state, r.agg, arrays or {})


def _finite(model: Model) -> bool:
    arrays = [*model.layers.values(), *(model.server_state or {}).values()]
    return all(bool(np.isfinite(a).all()) for a in arrays)


def _republish_finite(cfg: Config, models: ModelStore, bad: Model) -> Model:
    """The latest version holds NaN/Inf (written before the service refused such aggregates): publish the newest
    finite version again, as a new version, so clients and the next round start from a usable model.  The
    history stays as it was (versions are append-only); with no finite version, the initial model comes back."""
    for entry in reversed(models.entries[:-1]):
        older = Model.of(entry, models.read(entry["version"]), models.server_state(entry["version"]))
        if _finite(older):
            layers, state, source = older.layers, older.server_state, older.version
            break
    else:
        layers, state, source = initial_layers(cfg), None, None
    version = bad.version + 1
    entry, data = models.add(version, layers, None, state)
    log("error", "model_nonfinite_replaced", bad_version=bad.version, from_version=source, version=version,
        reason="the latest model holds NaN or Inf; its newest finite predecessor is published again")
    return Model.of(entry, data, state)


@dataclass
class Loaded:
    models: ModelStore
    rounds: RoundStore
    model: Model
    spec: ModelSpec
    round: Round | None
    agg: RoundAggregator | None


def load_state(cfg: Config) -> Loaded:
    """Executor: open the stores, make version 0 if there is none, and restore the latest round.

    A round left open is closed if a model version already covers it (crashed after writing the
    model) or if its base model is no longer the latest; otherwise its aggregator is restored.
    """
    sd = cfg.state_dir
    sd.mkdir(parents=True, exist_ok=True)
    models, rounds = ModelStore(sd), RoundStore(sd)
    latest = models.latest()
    data: bytes | bytearray
    if latest is None:
        entry, data = models.add(0, initial_layers(cfg), None, None)
        log("info", "model_initialized", version=0, sha256=entry["sha256"])
    else:
        entry, data = latest, models.read(latest["version"])
    model = Model.of(entry, data, models.server_state(entry["version"]))
    if not _finite(model):
        model = _republish_finite(cfg, models, model)
    spec = ModelSpec.of(model.layers)  # the config's rule and params were checked when it was parsed
    r: Round | None = None
    agg: RoundAggregator | None = None
    loaded = rounds.load(prune=True)
    if loaded is not None:
        r, arrays = Round.from_json(loaded[0]), loaded[1]
        if r.is_open:
            produced = [e for e in models.entries if e.get("round") == r.id]
            if produced:  # crashed after writing the model, before marking the round closed
                r.close("aggregated", r.reason, version=produced[-1]["version"])
                rounds.save(r.to_json())
            elif r.base_version != model.version:
                r.close("aborted", "base model changed")
                rounds.save(r.to_json())
            else:
                agg = aggregator(r, spec, model, arrays)
    log("info", "state_loaded", version=model.version, round=r and r.id, status=r and r.status,
        accepted=len(r.accepted) if r else 0, removed_temp=models.removed_temp + rounds.removed_temp,
        adopted_versions=models.adopted)
    return Loaded(models, rounds, model, spec, r, agg)
