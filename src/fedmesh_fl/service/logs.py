"""Structured logging: one JSON object per line on stderr.

``install()`` also routes Python ``logging`` records (aiohttp's own errors, e.g. an unhandled
exception in a handler) and Python warnings (e.g. a NumPy ``RuntimeWarning``) through the same JSON
writer, so stderr carries nothing else.  Repeats of one such record are logged at most once per
:data:`REPEAT_INTERVAL_S` (with the count), so a flood of per-socket errors stays a few lines.
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


REPEAT_INTERVAL_S = 10.0


class Throttled:
    """One event that may fire per socket: logged on the first hit, then at most once per
    ``interval`` seconds with ``count`` = hits since the previous line."""

    def __init__(self, event: str, interval: float = REPEAT_INTERVAL_S, level: str = "warning",
                 **fields: Any) -> None:
        self.event, self.interval, self.level, self.fields = event, interval, level, fields
        self.count = 0
        self.total = 0
        self._next = 0.0

    def hit(self, **fields: Any) -> bool:
        """Count one occurrence; True when it was logged."""
        self.count += 1
        self.total += 1
        now = time.monotonic()
        if now < self._next:
            return False
        log(self.level, self.event, count=self.count, total=self.total, interval_s=self.interval,
            **self.fields, **fields)
        self.count, self._next = 0, now + self.interval
        return True


class _Bridge(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self._seen: dict[tuple[str, str], Throttled] = {}

    def emit(self, record: logging.LogRecord) -> None:
        level = "error" if record.levelno >= 40 else "warning" if record.levelno >= 30 else "info"
        message = record.getMessage()
        fields: dict[str, Any] = {"logger": record.name, "message": message}
        if record.exc_info and record.exc_info[0] is not None:
            fields["exception"] = "".join(traceback.format_exception(*record.exc_info))[-4000:]
        key = (record.name, message.splitlines()[0][:200] if message else "")
        t = self._seen.get(key)
        if t is None:
            if len(self._seen) > 1000:
                self._seen.clear()
            t = self._seen[key] = Throttled("python_log", level=level)
        t.hit(**fields)


def install() -> None:
    logging.captureWarnings(False)  # (re-)patch warnings.showwarning even if something replaced it since
    logging.captureWarnings(True)  # warnings.warn (NumPy's RuntimeWarning...) -> logger "py.warnings"
    for name in ("aiohttp", "asyncio", "py.warnings"):
        lg = logging.getLogger(name)
        if not any(isinstance(h, _Bridge) for h in lg.handlers):
            lg.addHandler(_Bridge(logging.WARNING))
            lg.propagate = False
