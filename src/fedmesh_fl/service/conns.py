"""Connection limits: a cap on open connections and a deadline for request headers.

aiohttp has neither: a client sending one byte a second holds a connection (and an fd) forever,
and enough idle sockets exhaust the process's fds -- then ``accept`` fails in a loop (a traceback
per attempt) and even ``/healthz`` stops answering.  :class:`Guard` wraps aiohttp's protocol
factory (the runner's ``server``) with an :class:`asyncio.Protocol` that forwards every call and

* refuses (closes at once) a connection beyond ``max_connections`` -- its fd is released
  immediately, so the process stays below its fd limit and ``accept`` keeps working;
* closes a connection whose request headers have not been read ``header_timeout`` seconds after
  it opened, or after the first byte of a following request arrived (slow-header clients).  While
  a request is being handled (the body upload has its own ``body_timeout_s``) the timer is off;
  idle keep-alive connections are closed by aiohttp's ``keepalive_timeout``.  Bytes that arrive
  while a request is handled may be the start of a pipelined next one, so the timer starts again
  when that request ends (such a connection, if it then idles, closes after ``header_timeout``).

Both events are logged at most once per :data:`LOG_INTERVAL_S` with a count (not per socket).
"""
from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .logs import Throttled, log

LOG_INTERVAL_S = 10.0
#: fds kept free for everything that is not a client connection (state files, executor, logs).
FD_RESERVE = 64


class Guard:
    """Protocol factory for ``loop.create_server``; ``busy(transport, flag)`` marks a request in progress."""

    def __init__(self, max_connections: int, header_timeout: float) -> None:
        self.inner: Callable[[], asyncio.Protocol] | None = None  # aiohttp's factory, set by the site
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.open = 0
        self._by_transport: dict[int, _Guarded] = {}
        self.refused = Throttled("connections_refused", LOG_INTERVAL_S,
                                 why=f"over max_connections={max_connections}")
        self.timed_out = Throttled("header_timeouts", LOG_INTERVAL_S,
                                   why=f"request headers not complete within {header_timeout} s")

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self)

    def busy(self, transport: Any, flag: bool) -> None:
        conn = self._by_transport.get(id(transport))
        if conn is not None:
            conn.set_busy(flag)


class _Guarded(asyncio.Protocol):
    def __init__(self, guard: Guard) -> None:
        self.g = guard
        self.inner: Any = None
        self.transport: Any = None
        self.timer: asyncio.TimerHandle | None = None
        self.busy = False
        self.early = False  # data arrived while a request was being handled (pipelining)

    # -- timer ------------------------------------------------------------------------
    def _arm(self) -> None:
        if self.timer is None and not self.busy and self.transport is not None:
            self.timer = asyncio.get_running_loop().call_later(self.g.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self) -> None:
        self.timer = None
        if not self.busy and self.transport is not None:
            self.g.timed_out.hit()
            self.transport.abort()

    def set_busy(self, flag: bool) -> None:
        self.busy = flag
        if flag:
            self._disarm()
            self.early = False
        elif self.early:  # bytes of the next request came during this one: its headers are now on the clock
            self.early = False
            self._arm()

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.g.open >= self.g.max_connections:
            self.g.refused.hit()
            transport.abort()  # type: ignore[attr-defined]
            return
        self.g.open += 1
        self.transport = transport
        self.g._by_transport[id(transport)] = self
        assert self.g.inner is not None
        self.inner = self.g.inner()
        self.inner.connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return
        if self.busy:
            self.early = True
        else:
            self._arm()  # bytes of a (next) request: its headers must be complete in time
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is None:
            return
        self._disarm()
        self.g.open -= 1
        self.g._by_transport.pop(id(self.transport), None)
        inner, self.inner, self.transport = self.inner, None, None
        inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()


def fit_fd_limit(wanted: int) -> int:
    """Raise the soft fd limit toward the hard one if ``wanted`` connections need it; return the
    connection cap that fits (``wanted``, or less with a logged warning)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(hard, need)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= need:
        return wanted
    fit = max(4, soft - FD_RESERVE)
    log("warning", "max_connections_lowered", max_connections=wanted, effective=fit, fd_limit=soft,
        hint="raise LimitNOFILE (systemd) or lower max_connections")
    return fit


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through a :class:`Guard` (aiohttp's ``TCPSite`` cannot wrap
    its protocol factory); stopped with the runner like any site."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: Guard, *,
                 ssl_context: Any = None, backlog: int = 128, handshake_timeout: float = 10.0) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host, self._port, self.guard = host, port, guard
        self._handshake_timeout = handshake_timeout

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self.guard.inner = server
        extra: dict[str, Any] = {"ssl_handshake_timeout": self._handshake_timeout} if self._ssl_context else {}
        self._server = await asyncio.get_running_loop().create_server(
            self.guard, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog,
            reuse_address=True, **extra)
