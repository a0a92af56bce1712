"""fedmesh aggregation service (aiohttp).

Start it with ``python3 -m fedmesh_fl.service --config /etc/fedmesh/fl.json``; validate a config
without starting anything with ``--check-config FILE`` (exit 0, or 2 and one line naming the field).
It logs one JSON object per line to stderr (keys ``ts``, ``level``, ``event`` and event fields such
as ``round``, ``client``); Python warnings and aiohttp/asyncio log records go through the same writer
(repeats at most once per 10 s); tokens are never logged.

Configuration (one JSON object; only ``state_dir`` and ``clients`` are required):

``host`` (str, default ``"127.0.0.1"``), ``port`` (int, default ``8470``; ``0`` = ephemeral)
    Listen address. The actual port is logged in the ``listening`` event.
``state_dir`` (str)
    Durable state: ``models/v{N}.fmw`` + ``models/index.json`` (version, sha256, created, round),
    ``models/s{N}.npz`` (server optimizer state after version N, when the rule has one),
    ``round.ckpt`` (round state + aggregator snapshot of the latest round; a robust rule's update rows
    are appended to ``rounds/r{round}-{first}-{end}.npy`` segments instead, each row written once).
    Every file is written atomically (temp file in the same dir, fsync, ``os.replace``, fsync of the
    dir). Stray temp files
    are removed at start. The round's new model file is prepared when the round opens (``.v{N}.fmw.*.tmp``)
    and overwritten at the close; a ``v{N}.fmw`` newer than the index (the service stopped between
    making the version durable and indexing it) is adopted at start.
``tls_cert``, ``tls_key`` (str, optional)
    PEM certificate chain and key. When both are given the service speaks HTTPS only.
``admin_token_sha256`` (str, hex)
    SHA-256 of the operator token for ``POST /v1/rounds`` and ``POST /v1/rounds/current/close``.
``clients`` (object ``{client_id: token_sha256_hex}``)
    Tokens are stored hashed only and compared with ``hmac.compare_digest``.
``initial_model`` (str, optional)
    A model payload file (``.fmw``) or ``.npz`` used as version 0 when ``state_dir`` holds no model.
``init_spec`` (object, optional; used when ``initial_model`` is absent)
    ``{"layers": {name: [dims...]}, "init": "zeros"|"normal", "scale": 0.01, "seed": 0}``.
``round`` (object, optional) -- defaults for rounds opened by ``auto_rounds`` or by an admin
    request that omits a field:
    ``rule`` (default ``"fedavg"``), ``params`` (object of rule parameters, default ``{}``),
    ``quorum`` (clients needed to close, 1-1000000, default 2), ``deadline_s`` (0.25-1e7, default 600),
    ``min_at_deadline`` (1-1000000, default 1), ``max_update_bytes`` (1-2**40; default: exact payload
    size of the model plus 64 KiB of header room), ``max_staleness`` (0-1000000, default 0: updates must
    be based on the round's base model version; ``base_version`` older by up to this many versions is
    passed to a buffered rule (fedbuff) as ``staleness``).
    The rule's parameters are checked against the round when it is opened (and when the config is
    loaded): a ``quorum`` below what the rule can aggregate (Krum/Multi-Krum: 2f+3, Bulyan: 4f+3) or
    above ``params.max_clients`` with ``params.grow`` false is refused (400 / start-up error naming
    both). The quorum is exact: once ``quorum`` updates are folded in the round closes and further
    updates get 410 ``late``. At its deadline a round closes if it has at least
    ``max(min(quorum, min_at_deadline), what the rule needs)`` updates; otherwise the deadline is
    extended by ``deadline_s`` and the round stays open (event ``deadline_extended``). An admin close
    with zero updates closes the round without a new model (``outcome: "aborted"``).
    If the aggregation fails at a close -- too few updates for the rule (admin close), or a result
    with NaN/Inf (e.g. weighted sums beyond float32's range) -- the round ends with ``outcome:
    "failed"`` and an ``error``, event ``round_failed`` is logged, no model version is made, the
    previous model stays current, updates still waiting for their acknowledgement get 409
    ``round_failed``, and the next round can be opened. A non-finite model is never published.
``auto_rounds`` (int, default 0)
    Open rounds automatically (at start, and whenever a round closes) while the next round id is
    ``<= auto_rounds``. Admins can always open further rounds.
``direct_body_reads`` (bool, default true)
    Plain-HTTP update bodies with a Content-Length are read straight off the socket into the pooled
    buffer by a worker thread (one copy, off the event loop; the connection closes after the
    response). ``false`` keeps every body on aiohttp's own stream (slower; for proxies or debugging).
    It relies on aiohttp internals, so it is used only with the aiohttp releases it is tested with
    (3.8 and 3.13); with any other every body takes the normal path and ``direct_body_reads_unsupported``
    is logged once at start.
``client_max_size`` (int, 1024-2**40, default 1 GiB)
    Hard limit on any request body; an update body is limited to
    ``min(client_max_size, max_update_bytes)`` (413 above it).
``ingest_slots`` (int, default 2)
    At most this many update bodies are buffered at once; further uploads wait (TCP backpressure).
    With FedAvg the service's memory therefore grows by roughly ``(ingest_slots + 2) x model size``
    while ingesting (buffered bodies, accumulator, model-write buffer), whatever the client count;
    body buffers are pooled (one per slot, allocated and pre-faulted when a round opens, reused by
    each upload, dropped when the round closes). Raise it when many clients upload slowly over a WAN.
``body_timeout_s`` (int, 1-86400, default 300)
    An update body must arrive within this many seconds once its upload slot is granted (408
    otherwise), so a stalled client cannot hold an ingest slot forever.
``header_timeout_s`` (number, 0.1-3600, default 10)
    A connection must deliver a request's headers within this many seconds of opening (or of the
    first byte of its next request); it is closed otherwise (event ``header_timeouts``).
``keepalive_timeout_s`` (number, 0.1-3600, default 15)
    Idle keep-alive connections are closed after this many seconds.
``max_connections`` (int, 4-1000000, default 1000)
    Open connections at once; further ones are closed as soon as they are accepted (event
    ``connections_refused``), so the process stays below its fd limit and ``/healthz`` keeps
    answering. At start the soft fd limit is raised toward the hard one to fit ``max_connections`` +
    64; if it cannot be, the cap is lowered to fit (event ``max_connections_lowered``). Connection
    events are logged at most once per 10 s with a count.
``log_level`` (``"debug"|"info"|"warning"|"error"``, default ``"info"``)

Endpoints: ``GET /healthz``, ``GET /metrics``, ``GET /v1/round`` (open), ``GET /v1/model``,
``GET /v1/models``, ``GET /v1/models/{version}`` (any client token or the admin token),
``POST /v1/rounds`` (admin), ``POST /v1/rounds/current/close`` (admin),
``POST /v1/rounds/{round_id}/updates`` (client). Plain-HTTP update uploads are read straight off
the socket and their connection is closed after the response (see ``service/bodyread.py``).
Errors are JSON ``{"error": code, "message": sentence, ...}``: 400 malformed, 401 missing/unknown
token, 403 token not allowed for this action/client, 404, 409 duplicate/not-open/stale/round_failed,
410 round closed (or its quorum reached), 413 too large, 415 encoded body, 422 rejected by the
aggregation core (``reason``, ``client``, ``layer``; ``num_samples`` above 10**12 is reason
``samples``), 503 could not persist. The token is checked before anything else, then the encoding and
the size limits, all before any body byte is read; a request refused before its body was read gets
its connection closed (the body is not drained). Admin bodies are at most 64 KiB and 16 levels of
JSON nesting. See ``service/README.md`` for the behaviour under hostile input. A rejected request
never changes state; an update is acknowledged (202) only once it is durable in ``state_dir``: by a
round checkpoint, or for the updates that close a round by the new model version's fsynced file (the
version is listed, and served, a few milliseconds later, once its SHA-256 is indexed).
"""
from __future__ import annotations
