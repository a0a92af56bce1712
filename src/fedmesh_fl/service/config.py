"""Load and validate the service configuration (keys documented in ``fedmesh_fl.service``)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
LEVELS = ("debug", "info", "warning", "error")


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
    log_level: str = "info"


def _bool(d: dict[str, Any], key: str, default: bool) -> bool:
    v = d.get(key, default)
    if not isinstance(v, bool):
        raise ConfigError(f"'{key}' must be true or false (got {v!r})")
    return v


def _int(d: dict[str, Any], key: str, default: int, lo: int = 0) -> int:
    v = d.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise ConfigError(f"'{key}' must be an integer >= {lo}, got {v!r}")
    return v


def _hash(v: Any, what: str) -> str:
    if not isinstance(v, str) or not _HEX64.match(v.lower()):
        raise ConfigError(f"{what} must be a hex SHA-256 (64 hex digits)")
    return v.lower()


def parse_round(d: Any, base: RoundDefaults | None = None) -> RoundDefaults:
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
    deadline = d.get("deadline_s", b.deadline_s)
    if not isinstance(deadline, int | float) or isinstance(deadline, bool) or not 0 < deadline < 1e7:
        raise ConfigError(f"'deadline_s' must be a positive number, got {deadline!r}")
    mub = d.get("max_update_bytes", b.max_update_bytes)
    if mub is not None:
        mub = _int(d, "max_update_bytes", 0, 1)
    return RoundDefaults(rule=rule, params=dict(params), quorum=_int(d, "quorum", b.quorum, 1),
                         deadline_s=float(deadline), min_at_deadline=_int(d, "min_at_deadline", b.min_at_deadline, 1),
                         max_update_bytes=mub, max_staleness=_int(d, "max_staleness", b.max_staleness))


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
    if init_spec is not None and not (isinstance(init_spec, dict) and isinstance(init_spec.get("layers"), dict)):
        raise ConfigError("'init_spec' must be an object with 'layers': {name: [dims]}")
    host = d.get("host", "127.0.0.1")
    if not isinstance(host, str):
        raise ConfigError("'host' must be a string")
    return Config(
        state_dir=Path(rel(d["state_dir"]) or "."), clients=hashed, host=host,
        port=_int(d, "port", 8470), tls_cert=rel(cert), tls_key=rel(key),
        admin_token_sha256=None if admin is None else _hash(admin, "'admin_token_sha256'"),
        initial_model=rel(d.get("initial_model")), init_spec=init_spec,
        round=parse_round(d.get("round", {})), auto_rounds=_int(d, "auto_rounds", 0),
        client_max_size=_int(d, "client_max_size", 1 << 30, 1024), ingest_slots=_int(d, "ingest_slots", 2, 1),
        body_timeout_s=_int(d, "body_timeout_s", 300, 1), direct_body_reads=_bool(d, "direct_body_reads", True),
        log_level=level)


def load_config(path: str | Path) -> Config:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read config {p}: {e}") from None
    return parse_config(data, p.parent)
