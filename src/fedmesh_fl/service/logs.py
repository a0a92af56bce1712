"""Structured logging: one JSON object per line on stderr."""
from __future__ import annotations

import json
import sys
import time
from typing import Any

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_threshold = 20


def set_level(level: str) -> None:
    global _threshold
    _threshold = _LEVELS[level]


def log(level: str, event: str, **fields: Any) -> None:
    if _LEVELS[level] < _threshold:
        return
    t = time.time()
    rec = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z",
           "level": level, "event": event}
    rec.update(fields)
    try:
        sys.stderr.write(json.dumps(rec, default=str, separators=(",", ":")) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed: never let logging break the service
        pass
