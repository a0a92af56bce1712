"""Structured logging: one JSON object per line on stderr.

``install()`` also routes Python ``logging`` records (aiohttp's own errors, e.g. an unhandled
exception in a handler) through the same JSON writer, so stderr carries nothing else.
"""
from __future__ import annotations

import json
import logging
import sys
import time
import traceback
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


class _Bridge(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        level = "error" if record.levelno >= 40 else "warning" if record.levelno >= 30 else "info"
        fields: dict[str, Any] = {"logger": record.name, "message": record.getMessage()}
        if record.exc_info and record.exc_info[0] is not None:
            fields["exception"] = "".join(traceback.format_exception(*record.exc_info))[-4000:]
        log(level, "python_log", **fields)


def install() -> None:
    for name in ("aiohttp", "asyncio"):
        lg = logging.getLogger(name)
        if not any(isinstance(h, _Bridge) for h in lg.handlers):
            lg.addHandler(_Bridge(logging.WARNING))
            lg.propagate = False
