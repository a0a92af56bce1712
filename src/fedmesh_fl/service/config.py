"""Load and validate the service configuration (keys documented in ``fedmesh_fl.service``).

Every numeric field has a documented range; a value outside it is a :class:`ConfigError` naming the
field (the admin API answers 400 with that message).  ``python3 -m fedmesh_fl.service --check-config
FILE`` runs exactly these checks, the rule's parameter checks included.
"""
from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import MAX_NUM_SAMPLES, rule_class
from ..core.base import MAX_CLIENTS

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
LEVELS = ("debug", "info", "warning", "error")
#: Range of ``deadline_s`` (a shorter deadline would rewrite the checkpoint in a busy loop).
DEADLINE_RANGE = (0.25, 1e7)
MAX_BYTES = 1 << 40
#: Nesting depth allowed in a JSON document (config file, admin request body).
MAX_JSON_DEPTH = 16
__all__ = ["MAX_NUM_SAMPLES", "ConfigError", "Config", "RoundDefaults", "load_config", "parse_config",
           "parse_round"]


class ConfigError(ValueError):
    pass


@dataclass
class RoundDefaults:
    rule: str = "fedavg"
    params: dict[str, Any] = field(default_factory=dict)
    quorum: int = 2
    deadline_s: float = 600.0
    min_at_deadline: int = 1
    max_update_bytes: int | None = None
    max_staleness: int = 0


@dataclass
class Config:
    state_dir: Path
    clients: dict[str, str]
    host: str = "127.0.0.1"
    port: int = 8470
    tls_cert: str | None = None
    tls_key: str | None = None
    admin_token_sha256: str | None = None
    initial_model: str | None = None
    init_spec: dict[str, Any] | None = None
    round: RoundDefaults = field(default_factory=RoundDefaults)
    auto_rounds: int = 0
    client_max_size: int = 1 << 30
    ingest_slots: int = 2
    direct_body_reads: bool = True
    body_timeout_s: int = 300
    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 15.0
    max_connections: int = 1000
    log_level: str = "info"


def _bool(d: dict[str, Any], key: str, default: bool) -> bool:
    v = d.get(key, default)
    if not isinstance(v, bool):
        raise ConfigError(f"'{key}' must be true or false (got {v!r})")
    return v


def _int(d: dict[str, Any], key: str, default: int, lo: int = 0, hi: int = 1 << 62) -> int:
    v = d.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError(f"'{key}' must be an integer in [{lo}, {hi}], got {_show(v)}")
    return v


def _num(d: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    v = d.get(key, default)
    ok = isinstance(v, int | float) and not isinstance(v, bool)
    try:
        ok = ok and math.isfinite(float(v)) and lo <= float(v) <= hi
    except OverflowError:
        ok = False
    if not ok:
        raise ConfigError(f"'{key}' must be a number in [{lo}, {hi}], got {_show(v)}")
    return float(v)


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:40] + "..."


def json_depth(obj: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of a parsed JSON value (stops counting past ``limit``)."""
    depth, level = 0, [obj]
    while level and depth <= limit:
        depth += 1
        nxt: list[Any] = []
        for o in level:
            if isinstance(o, dict):
                nxt.extend(o.values())
            elif isinstance(o, list):
                nxt.extend(o)
        level = [o for o in nxt if isinstance(o, dict | list)]
    return depth


def loads(raw: bytes | str, what: str) -> Any:
    """``json.loads`` with a depth limit; ConfigError (not RecursionError) for deep or bad JSON."""
    try:
        obj = json.loads(raw)
    except RecursionError:
        raise ConfigError(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as e:
        raise ConfigError(f"{what} is not valid JSON: {e}") from None
    if json_depth(obj) > MAX_JSON_DEPTH:
        raise ConfigError(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
    return obj


def _hash(v: Any, what: str) -> str:
    if not isinstance(v, str) or not _HEX64.match(v.lower()):
        raise ConfigError(f"{what} must be a hex SHA-256 (64 hex digits)")
    return v.lower()


def parse_round(d: Any, base: RoundDefaults | None = None) -> RoundDefaults:
    """Round settings (config ``round`` or an admin request), the rule's parameters checked too."""
    if not isinstance(d, dict):
        raise ConfigError("'round' must be an object")
    b = base or RoundDefaults()
    unknown = set(d) - set(RoundDefaults.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown round keys: {sorted(unknown)}")
    rule = d.get("rule", b.rule)
    params = d.get("params", b.params)
    if not isinstance(rule, str) or not rule:
        raise ConfigError("'rule' must be a non-empty string")
    if not isinstance(params, dict):
        raise ConfigError("'params' must be an object")
    mub = d.get("max_update_bytes", b.max_update_bytes)
    if mub is not None:
        mub = _int(d, "max_update_bytes", 0, 1, MAX_BYTES)
    out = RoundDefaults(
        rule=rule, params=dict(params), quorum=_int(d, "quorum", b.quorum, 1, MAX_CLIENTS),
        deadline_s=_num(d, "deadline_s", b.deadline_s, *DEADLINE_RANGE),
        min_at_deadline=_int(d, "min_at_deadline", b.min_at_deadline, 1, MAX_CLIENTS),
        max_update_bytes=mub, max_staleness=_int(d, "max_staleness", b.max_staleness, 0, 1_000_000))
    check_rule(out)
    return out


def check_rule(d: RoundDefaults) -> int:
    """The rule's own parameter checks plus what they imply for the round; returns the fewest
    updates the rule can aggregate.  A round that could never close is refused here."""
    try:
        cls = rule_class(d.rule)
        params = cls.resolve_params(d.params)
    except ValueError as e:
        raise ConfigError(f"'rule'/'params' rejected: {e}") from None
    need, why = cls.min_updates(params)
    shown = ", ".join(f"params.{k}={params[k]}" for k in sorted(d.params)) or "default params"
    if d.quorum < need:
        raise ConfigError(f"'quorum'={d.quorum} can never be aggregated by rule {d.rule!r} with {shown}: it needs "
                          f"{why}; raise 'quorum' or lower the parameter")
    if not params["grow"] and params["max_clients"] < d.quorum:
        raise ConfigError(f"'quorum'={d.quorum} exceeds params.max_clients={params['max_clients']} with "
                          "params.grow=false: the round could never reach its quorum")
    return need


def parse_config(d: Any, base_dir: Path | None = None) -> Config:
    if not isinstance(d, dict):
        raise ConfigError("config must be a JSON object")
    known = set(Config.__dataclass_fields__)
    unknown = set(d) - known
    if unknown:
        raise ConfigError(f"unknown config keys: {sorted(unknown)}")
    if not isinstance(d.get("state_dir"), str):
        raise ConfigError("'state_dir' (string) is required")
    clients = d.get("clients")
    if not isinstance(clients, dict) or not clients:
        raise ConfigError("'clients' must be a non-empty object {client_id: token_sha256}")
    hashed = {str(k): _hash(v, f"clients[{k!r}]") for k, v in clients.items()}
    admin = d.get("admin_token_sha256")
    cert, key = d.get("tls_cert"), d.get("tls_key")
    if (cert is None) != (key is None):
        raise ConfigError("'tls_cert' and 'tls_key' must be given together")

    def rel(p: str | None) -> str | None:
        if p is None:
            return None
        if not isinstance(p, str):
            raise ConfigError(f"path {p!r} must be a string")
        return str(base_dir / p) if base_dir and not Path(p).is_absolute() else p

    level = d.get("log_level", "info")
    if level not in LEVELS:
        raise ConfigError(f"'log_level' must be one of {LEVELS}")
    init_spec = d.get("init_spec")
    if init_spec is not None:
        _check_init_spec(init_spec)
    host = d.get("host", "127.0.0.1")
    if not isinstance(host, str):
        raise ConfigError("'host' must be a string")
    return Config(
        state_dir=Path(rel(d["state_dir"]) or "."), clients=hashed, host=host,
        port=_int(d, "port", 8470, 0, 65535), tls_cert=rel(cert), tls_key=rel(key),
        admin_token_sha256=None if admin is None else _hash(admin, "'admin_token_sha256'"),
        initial_model=rel(d.get("initial_model")), init_spec=init_spec,
        round=parse_round(d.get("round", {})), auto_rounds=_int(d, "auto_rounds", 0, 0, 10**9),
        client_max_size=_int(d, "client_max_size", 1 << 30, 1024, MAX_BYTES),
        ingest_slots=_int(d, "ingest_slots", 2, 1, 256), body_timeout_s=_int(d, "body_timeout_s", 300, 1, 86400),
        direct_body_reads=_bool(d, "direct_body_reads", True),
        header_timeout_s=_num(d, "header_timeout_s", 10.0, 0.1, 3600),
        keepalive_timeout_s=_num(d, "keepalive_timeout_s", 15.0, 0.1, 3600),
        max_connections=_int(d, "max_connections", 1000, 4, 1_000_000), log_level=level)


#: Largest generated initial model (float32 values): 4 GiB.
MAX_INIT_PARAMS = 1 << 30


def _check_init_spec(spec: Any) -> None:
    if not (isinstance(spec, dict) and isinstance(spec.get("layers"), dict) and spec["layers"]):
        raise ConfigError("'init_spec' must be an object with 'layers': {name: [dims]}")
    unknown = set(spec) - {"layers", "init", "scale", "seed"}
    if unknown:
        raise ConfigError(f"unknown init_spec keys: {sorted(unknown)}")
    total = 0
    for name, dims in spec["layers"].items():
        if not (isinstance(dims, list) and len(dims) <= 32
                and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= MAX_INIT_PARAMS for x in dims)):
            raise ConfigError(f"'init_spec.layers.{name}' must be a list of at most 32 integers >= 0")
        total += math.prod(dims)
    if total > MAX_INIT_PARAMS:
        raise ConfigError(f"'init_spec.layers' describe {total} values, over the limit of {MAX_INIT_PARAMS}")
    if spec.get("init", "zeros") not in ("zeros", "normal"):
        raise ConfigError("'init_spec.init' must be \"zeros\" or \"normal\"")
    _num(spec, "scale", 0.01, 0.0, 1e6)
    _int(spec, "seed", 0, 0, 2**63)


MAX_CONFIG_BYTES = 16 << 20


def load_config(path: str | Path) -> Config:
    """Read and check a config file; ``-`` reads it from stdin (relative paths then stay as given)."""
    if str(path) == "-":
        raw = sys.stdin.buffer.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError("config on stdin is over the limit of 16 MiB")
        return parse_config(loads(raw, "config on stdin"))
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read config {p}: {e}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config {p} is {len(raw)} bytes, over the limit of 16 MiB")
    return parse_config(loads(raw, f"config {p}"), p.parent)
