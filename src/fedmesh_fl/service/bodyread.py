"""Reading a large update body straight off the socket, in a worker thread (plain HTTP only).

aiohttp delivers a request body as a stream of ``bytes`` objects: the event loop ``recv``s up to
256 KiB into a fresh object, the HTTP parser copies the body part out of it, and the handler
copies that into the update buffer -- three passes over every byte, all on the one event-loop
thread (measured here: a bare aiohttp sink reaches only about half of a raw socket's loopback
throughput).  For a plain-TCP request with a ``Content-Length`` the handler can instead take
the bytes aiohttp has already buffered, pause the transport, and ``readv`` the rest of the body
directly into the pooled buffer from a worker thread: one copy, off the event loop, several
uploads in parallel.  aiohttp still does the routing, authentication, headers and the response.

The HTTP parser then never sees the end of that body, so the connection is closed after the
response (``request[DIRECT]`` tells the error middleware to do the same for error responses).
TLS, compressed or chunked bodies, and transports without a socket use aiohttp's own stream.

This relies on aiohttp internals (``StreamReader.read_nowait``/``feed_eof``/``is_eof``, the
transport's ``pause_reading``), so it is used only with the aiohttp releases it is tested with
(:data:`TESTED_AIOHTTP`: Debian 12's 3.8 and the pinned development 3.13); with any other the
service logs ``direct_body_reads_unsupported`` once and every body takes aiohttp's normal path.
"""
from __future__ import annotations

import asyncio
import os
import select
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
from aiohttp import streams, web

from .errors import ApiError
from .logs import log

#: ``request[DIRECT]`` is True once the body was read off the socket (the connection must close).
DIRECT = "fedmesh_direct_body"
#: aiohttp ``major.minor`` releases this module is tested with (requirements/dev.lock, Debian 12).
TESTED_AIOHTTP = ("3.8", "3.13")
_STREAM_API = ("read_nowait", "feed_eof", "is_eof")
_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()
_support: tuple[bool, str] | None = None


def supported(version: str | None = None) -> tuple[bool, str]:
    """(usable, why not) for the installed aiohttp (or ``version``)."""
    v = aiohttp.__version__ if version is None else version
    if ".".join(v.split(".")[:2]) not in TESTED_AIOHTTP:
        return False, f"aiohttp {v} is not one of the tested releases {', '.join(TESTED_AIOHTTP)}"
    missing = [a for a in _STREAM_API if not hasattr(streams.StreamReader, a)]
    if missing:
        return False, f"aiohttp {v}'s StreamReader lacks {', '.join(missing)}"
    return True, ""


def check_support() -> bool:
    """:func:`supported`, decided once per process; logs the fallback once."""
    global _support
    if _support is None:
        _support = supported()
        if not _support[0]:
            log("warning", "direct_body_reads_unsupported", reason=_support[1],
                fallback="update bodies use aiohttp's own stream")
    return _support[0]


def _pool(workers: int) -> ThreadPoolExecutor:
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or workers > _POOL_SIZE:  # grow only
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fedmesh-body")
            _POOL_SIZE = workers
        return _POOL


def direct_fd(request: web.Request) -> int | None:
    """The socket's fd when the body may be read directly, else None."""
    tr = request.transport
    if tr is None or request.content_length is None or not check_support():
        return None
    if request.headers.get("Content-Encoding") or request.headers.get("Transfer-Encoding"):
        return None  # aiohttp decodes those; the socket carries the encoded bytes
    if tr.get_extra_info("sslcontext") is not None or tr.get_extra_info("ssl_object") is not None:
        return None
    sock = tr.get_extra_info("socket")
    if sock is None or not hasattr(tr, "pause_reading") or not hasattr(request.content, "read_nowait"):
        return None
    try:
        return int(sock.fileno())
    except (OSError, ValueError):
        return None


def _readv_until(fd: int, mv: memoryview, pos: int, n: int, deadline: float, stop: threading.Event) -> int:
    """Worker thread: fill ``mv[pos:n]`` from ``fd`` (non-blocking; poll between reads)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    while pos < n and not stop.is_set():
        try:
            k = os.readv(fd, [mv[pos:n]])
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError from None
            poller.poll(int(min(left, 0.5) * 1000) + 1)
            continue
        except ConnectionError:
            break
        if k == 0:  # the client went away
            break
        pos += k
    return pos


async def read_direct(request: web.Request, fd: int, mv: memoryview, n: int, timeout: float,
                      workers: int) -> int:
    """Copy the body into ``mv[:n]``; returns the byte count read (``< n`` if the client left early).

    Raises TimeoutError after ``timeout`` s.  If the handler is cancelled meanwhile the worker is
    told to stop and the exception propagates; the caller must then not reuse ``mv``'s buffer.
    """
    content: Any = request.content
    pos = 0
    while True:  # what aiohttp has buffered already (this may resume the transport: pause after)
        chunk = content.read_nowait()
        if not chunk:
            break
        if pos + len(chunk) > n:
            raise ApiError(400, "malformed", "body longer than its Content-Length")
        mv[pos : pos + len(chunk)] = chunk
        pos += len(chunk)
    if pos >= n or content.is_eof():
        return pos
    assert request.transport is not None
    request.transport.pause_reading()  # no await since the drain: nothing slipped in between
    request[DIRECT] = True
    own = os.dup(fd)  # the transport may close its fd meanwhile (shutdown); ours stays valid
    stop = threading.Event()
    try:
        fut = asyncio.get_running_loop().run_in_executor(
            _pool(workers), _readv_until, own, mv, pos, n, time.monotonic() + timeout, stop)
    except BaseException:
        os.close(own)
        raise
    fut.add_done_callback(lambda _f: os.close(own))
    try:
        pos = await asyncio.shield(fut)
    except asyncio.CancelledError:
        stop.set()  # the worker stops within 0.5 s; the caller drops the buffer
        raise
    content.feed_eof()  # the body is complete as far as this request is concerned
    return pos
