"""aiohttp application: routes, authentication, body ingest, metrics, TLS."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import json
import ssl
from typing import Any

import numpy as np
from aiohttp import web, web_protocol

from .. import wire
from . import bodyread
from .config import Config, ConfigError, loads, parse_round
from .conns import Guard, GuardedSite, fit_fd_limit
from .errors import ApiError
from .logs import install, log, set_level
from .metrics import Metrics
from .rounds import Manager

MANAGER: web.AppKey[Manager] | str
try:  # aiohttp >= 3.9 has typed app keys; Debian 12's 3.8 uses plain strings
    MANAGER = web.AppKey("manager", Manager)
    METRICS: Any = web.AppKey("metrics", Metrics)
    GUARD: Any = web.AppKey("guard", Guard)
except AttributeError:  # pragma: no cover - old aiohttp
    MANAGER, METRICS, GUARD = "manager", "metrics", "guard"
#: Largest admin request body (JSON): round settings are a few hundred bytes.
JSON_LIMIT = 64 * 1024
#: Stream buffer per connection (aiohttp's default 64 KiB pauses the socket every 128 KiB of body).
READ_BUFSIZE = 1 << 20


def server_kwargs(cfg: Config | None = None) -> dict[str, Any]:
    """Extra AppRunner/Server arguments the installed aiohttp understands.

    ``auto_decompress=False``: aiohttp would otherwise inflate a ``Content-Encoding: gzip`` body as
    it arrives -- before any handler has checked the token or a size limit (a 1 MB body inflating to
    1 GiB).  The service accepts no encoded bodies (415), so nothing is ever inflated.
    """
    params = inspect.signature(web_protocol.RequestHandler.__init__).parameters
    want: dict[str, Any] = {"read_bufsize": READ_BUFSIZE, "auto_decompress": False}
    if cfg is not None:
        want["keepalive_timeout"] = cfg.keepalive_timeout_s
    return {k: v for k, v in want.items() if k in params}


def _json(status: int, body: dict[str, Any], **headers: str) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json",
                        headers=headers or None)


def _token_hash(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    scheme, _sep, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "auth", "missing or malformed 'Authorization: Bearer <token>' header")
    return hashlib.sha256(token.strip().encode()).hexdigest()


def _who(cfg: Config, digest: str) -> tuple[str | None, bool]:
    """(client id or None, is_admin) for a token digest; compares against every entry."""
    client = None
    for cid, h in cfg.clients.items():
        if hmac.compare_digest(digest, h):
            client = cid
    admin = cfg.admin_token_sha256 is not None and hmac.compare_digest(digest, cfg.admin_token_sha256)
    return client, admin


def _require_admin(request: web.Request) -> None:
    cfg = request.app[MANAGER].cfg
    client, admin = _who(cfg, _token_hash(request))
    if admin:
        return
    if client is not None:
        raise ApiError(403, "forbidden", "this token is a client token; admin operations need the admin token")
    raise ApiError(401, "auth", "unknown token")


def _require_reader(request: web.Request) -> None:
    """Model downloads: any client token or the admin token (401 otherwise)."""
    client, admin = _who(request.app[MANAGER].cfg, _token_hash(request))
    if client is None and not admin:
        raise ApiError(401, "auth", "unknown token; downloading models needs a client or the admin token")


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    guard = request.app.get(GUARD)
    if guard is not None:
        guard.busy(request.transport, True)  # headers are in: the header timeout is off
    try:
        try:
            resp = await handler(request)
        except ApiError as e:
            resp = _json(e.status, e.body())
        except web.HTTPException as e:
            if e.status >= 400 and (e.content_type != "application/json" or request.get(bodyread.DIRECT)):
                resp = _json(e.status, {"error": e.reason.lower().replace(" ", "_"), "message": e.text or e.reason})
            else:
                raise
    finally:
        if guard is not None:
            guard.busy(request.transport, False)
    if request.get(bodyread.DIRECT):  # the body was read off the socket: aiohttp's parser is behind
        resp.force_close()
    elif request.body_exists and not request.content.is_eof():
        resp.force_close()  # refused before its body was read: close instead of draining the body
    return resp


def _check_encoding(request: web.Request) -> None:
    """415 for an encoded body (after authentication): bodies are never inflated."""
    enc = request.headers.get("Content-Encoding", "identity").strip().lower()
    if enc not in ("", "identity"):
        raise ApiError(415, "unsupported_encoding", f"Content-Encoding {enc[:40]!r} is not accepted; send the body "
                       "uncompressed (with Content-Length or chunked)")


async def healthz(request: web.Request) -> web.Response:
    m = request.app[MANAGER]
    r = m.round
    return _json(200, {"status": "ok", "model_version": m.version,
                       "round": r.id if r else 0, "round_status": r.status if r else "none"})


async def metrics(request: web.Request) -> web.Response:
    from prometheus_client import CONTENT_TYPE_LATEST
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _model_headers(m: Manager, version: int, sha: str) -> dict[str, str]:
    return {"X-Model-Version": str(version), "X-Model-SHA256": sha, "Content-Type": "application/octet-stream",
            "Cache-Control": "no-store" if version == m.version else "max-age=86400"}


async def model_latest(request: web.Request) -> web.Response:
    _require_reader(request)
    m = request.app[MANAGER]
    data, version, sha = m.model_bytes, m.version, m.model_sha  # read together on the loop: consistent
    return web.Response(body=data, headers=_model_headers(m, version, sha))


async def models_list(request: web.Request) -> web.Response:
    _require_reader(request)
    m = request.app[MANAGER]
    items = [{k: e.get(k) for k in ("version", "sha256", "created", "round", "bytes")} for e in m.models.entries]
    return web.Response(body=json.dumps(items).encode(), content_type="application/json")


async def model_version(request: web.Request) -> web.StreamResponse:
    _require_reader(request)
    m = request.app[MANAGER]
    try:
        version = int(request.match_info["version"])
    except ValueError:
        raise ApiError(400, "malformed", "model version must be an integer") from None
    entry = next((e for e in m.models.entries if e["version"] == version), None)
    path = m.models.path(version)
    if entry is None or path is None:
        raise ApiError(404, "not_found", f"model version {version} does not exist (latest is {m.version})")
    return web.FileResponse(path, headers=_model_headers(m, version, entry["sha256"]))


async def round_get(request: web.Request) -> web.Response:
    return _json(200, request.app[MANAGER].public_round())


async def _read_json(request: web.Request) -> dict[str, Any]:
    """An admin request's JSON object: at most JSON_LIMIT bytes (checked while reading, chunked or
    not) and MAX_JSON_DEPTH levels; 400/413/415 otherwise."""
    _check_encoding(request)
    if (request.content_length or 0) > JSON_LIMIT:
        raise ApiError(413, "too_large", f"JSON body over {JSON_LIMIT} bytes")
    raw = bytearray()
    async for chunk in request.content.iter_any():
        raw += chunk
        if len(raw) > JSON_LIMIT:
            raise ApiError(413, "too_large", f"JSON body over {JSON_LIMIT} bytes")
    if not raw:
        return {}
    try:
        body = loads(bytes(raw), "body")
    except ConfigError as e:
        raise ApiError(400, "malformed", str(e)) from None
    if not isinstance(body, dict):
        raise ApiError(400, "malformed", "body must be a JSON object")
    return body


async def rounds_open(request: web.Request) -> web.Response:
    _require_admin(request)
    m = request.app[MANAGER]
    body = await _read_json(request)
    try:
        d = parse_round(body, m.cfg.round)
    except ConfigError as e:
        raise ApiError(400, "malformed", str(e)) from None
    return _json(201, await m.open_round(d))


async def rounds_close(request: web.Request) -> web.Response:
    _require_admin(request)
    return _json(200, await request.app[MANAGER].close_round("admin"))


async def _read_stream(request: web.Request, limit: int, buf: np.ndarray | None) -> memoryview | bytearray:
    """The body through aiohttp's stream: copied into ``buf`` (a pooled buffer of at least
    Content-Length bytes) when its length is known, else grown up to ``limit``."""
    n = request.content_length
    if n is not None and buf is not None:
        mv = buf.data
        pos = 0
        async for chunk in request.content.iter_any():
            k = len(chunk)
            if pos + k > n:
                raise ApiError(400, "malformed", "body longer than its Content-Length")
            mv[pos:pos + k] = chunk
            pos += k
        if pos != n:
            raise ApiError(400, "malformed", f"body ended after {pos} of {n} bytes")
        return mv[:n]
    grown = bytearray()
    async for chunk in request.content.iter_any():
        grown += chunk
        if len(grown) > limit:
            raise ApiError(413, "too_large", f"update body over the limit of {limit} bytes")
    return grown


async def _read_body(request: web.Request, limit: int, buf: np.ndarray | None, timeout: float,
                     workers: int) -> memoryview | bytearray:
    """The update body (TimeoutError after ``timeout`` s).  Plain HTTP with a Content-Length and a
    pooled buffer: read straight off the socket by a worker thread (:mod:`.bodyread`)."""
    n = request.content_length
    direct = n is not None and buf is not None and request.app[MANAGER].cfg.direct_body_reads
    fd = bodyread.direct_fd(request) if direct else None
    if fd is None or n is None or buf is None:
        return await asyncio.wait_for(_read_stream(request, limit, buf), timeout)
    got = await bodyread.read_direct(request, fd, buf.data, n, timeout, workers)
    if got != n:
        raise ApiError(400, "malformed", f"body ended after {got} of {n} bytes")
    return buf.data[:n]


def _update_client(request: web.Request, m: Manager) -> tuple[int, str]:
    """Round id and client of an upload: token, then encoding and size, before any body byte is read."""
    try:
        round_id = int(request.match_info["round_id"])
    except ValueError:
        raise ApiError(400, "malformed", "round id must be an integer") from None
    client, admin = _who(m.cfg, _token_hash(request))
    if client is None:
        if admin:
            raise ApiError(403, "forbidden", "the admin token cannot submit updates")
        raise ApiError(401, "auth", "unknown token")
    _check_encoding(request)
    limit = m.update_limit()
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", f"update of {request.content_length} bytes is over the limit of "
                       f"{limit} bytes", limit=limit)
    return round_id, client


async def _ingest(request: web.Request, m: Manager, client: str, round_id: int) -> tuple[int, int | None]:
    """Read, decode and fold in the body (in an ingest slot, in a pooled buffer); (seq, num_samples)."""
    limit = m.update_limit()
    async with m.ingest_slots:  # bounds the update bodies held in memory at once
        with m.buffers.borrowed(request.content_length, safe=(ApiError,)) as pooled:
            try:
                body = await _read_body(request, limit, pooled, m.cfg.body_timeout_s, m.cfg.ingest_slots)
            except TimeoutError:
                raise ApiError(408, "timeout", f"update body did not arrive within {m.cfg.body_timeout_s} s") from None
            request.app[METRICS].bytes_received.inc(len(body))
            try:
                p = wire.decode(body, expect="update")
            except wire.WireError as e:
                raise ApiError(400, "malformed", f"malformed update payload: {e}") from None
            if p.client not in ("", client):  # "" = the token's own client
                raise ApiError(403, "forbidden", f"payload is for client {p.client!r}, the token is {client!r}'s")
            if p.round != round_id:
                raise ApiError(400, "malformed", f"payload is for round {p.round} but was posted to round {round_id}")
            seq = await m.apply(client, round_id, p)  # returns or raises ApiError once the fold is over
            return seq, p.num_samples  # folded into the aggregate: the buffer is not kept


async def updates_post(request: web.Request) -> web.Response:
    m = request.app[MANAGER]
    client: str | None = None
    reserved = False
    try:
        round_id, client = _update_client(request, m)
        m.reserve(client, round_id)
        reserved = True
        seq, num_samples = await _ingest(request, m, client, round_id)
        return _json(202, await m.finish(client, round_id, seq, num_samples))
    except ApiError as e:
        request.app[METRICS].updates_rejected.labels(e.code).inc()
        log("warning", "update_rejected", round=request.match_info.get("round_id"), client=client,
            status=e.status, error=e.code, message=e.message)
        raise
    finally:
        if reserved and client is not None:
            m.release(client)


def make_app(cfg: Config, manager: Manager | None = None) -> web.Application:
    met = manager.metrics if manager else Metrics()
    m = manager or Manager(cfg, met)
    app = web.Application(client_max_size=cfg.client_max_size, middlewares=[errors])
    app[MANAGER] = m  # type: ignore[index]
    app[METRICS] = met
    app[GUARD] = Guard(cfg.max_connections, cfg.header_timeout_s)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/model", model_latest)
    app.router.add_get("/v1/models", models_list)
    app.router.add_get("/v1/models/{version}", model_version)
    app.router.add_get("/v1/round", round_get)
    app.router.add_post("/v1/rounds", rounds_open)
    app.router.add_post("/v1/rounds/current/close", rounds_close)
    app.router.add_post("/v1/rounds/{round_id}/updates", updates_post)

    async def on_startup(app: web.Application) -> None:
        await m.start()

    async def on_cleanup(app: web.Application) -> None:
        await m.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def ssl_context(cfg: Config) -> ssl.SSLContext | None:
    if not cfg.tls_cert or not cfg.tls_key:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    return ctx


async def start(cfg: Config) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (call ``await runner.cleanup()``) and the bound port."""
    set_level(cfg.log_level)
    install()
    app = make_app(cfg)
    guard = app[GUARD]
    guard.max_connections = fit_fd_limit(cfg.max_connections)
    if cfg.direct_body_reads:
        bodyread.check_support()
    runner = web.AppRunner(app, access_log=None, handle_signals=False, **server_kwargs(cfg))
    await runner.setup()
    ctx = ssl_context(cfg)
    site = GuardedSite(runner, cfg.host, cfg.port, guard, ssl_context=ctx, backlog=128,
                       handshake_timeout=cfg.header_timeout_s)
    await site.start()
    server = getattr(site, "_server", None)
    port = cfg.port
    if server is not None and server.sockets:
        port = server.sockets[0].getsockname()[1]
    log("info", "listening", host=cfg.host, port=port, tls=ctx is not None, state_dir=str(cfg.state_dir),
        model_version=app[MANAGER].version)  # type: ignore[index]
    return runner, port
