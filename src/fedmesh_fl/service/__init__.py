"""fedmesh aggregation service (aiohttp).

Start it with ``python3 -m fedmesh_fl.service --config /etc/fedmesh/fl.json``. It logs one JSON
object per line to stderr (keys ``ts``, ``level``, ``event`` and event fields such as ``round``,
``client``); tokens are never logged.

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
    ``quorum`` (clients needed to close, default 2), ``deadline_s`` (default 600),
    ``min_at_deadline`` (default 1), ``max_update_bytes`` (default: exact payload size of the model
    plus 64 KiB of header room), ``max_staleness`` (default 0: updates must be based on the round's
    base model version; ``base_version`` older by up to this many versions is passed to the rule as
    ``staleness``).
    A round closes as soon as ``quorum`` updates are durable. At its deadline it closes if it has at
    least ``min(quorum, min_at_deadline)`` updates; otherwise the deadline is extended by
    ``deadline_s`` and the round stays open (event ``deadline_extended``). An admin close with zero
    updates closes the round without a new model (``outcome: "aborted"``).
``auto_rounds`` (int, default 0)
    Open rounds automatically (at start, and whenever a round closes) while the next round id is
    ``<= auto_rounds``. Admins can always open further rounds.
``direct_body_reads`` (bool, default true)
    Plain-HTTP update bodies with a Content-Length are read straight off the socket into the pooled
    buffer by a worker thread (one copy, off the event loop; the connection closes after the
    response). ``false`` keeps every body on aiohttp's own stream (slower; for proxies or debugging).
``client_max_size`` (int, default 1 GiB)
    Hard limit on any request body; an update body is limited to
    ``min(client_max_size, max_update_bytes)`` (413 above it).
``ingest_slots`` (int, default 2)
    At most this many update bodies are buffered at once; further uploads wait (TCP backpressure).
    With FedAvg the service's memory therefore grows by roughly ``(ingest_slots + 2) x model size``
    while ingesting (buffered bodies, accumulator, model-write buffer), whatever the client count;
    body buffers are pooled (one per slot, allocated and pre-faulted when a round opens, reused by
    each upload, dropped when the round closes). Raise it when many clients upload slowly over a WAN.
``body_timeout_s`` (int, default 300)
    An update body must arrive within this many seconds once its upload slot is granted (408
    otherwise), so a stalled client cannot hold an ingest slot forever.
``log_level`` (``"debug"|"info"|"warning"|"error"``, default ``"info"``)

Endpoints: ``GET /healthz``, ``GET /metrics``, ``GET /v1/round`` (open), ``GET /v1/model``,
``GET /v1/models``, ``GET /v1/models/{version}`` (any client token or the admin token),
``POST /v1/rounds`` (admin), ``POST /v1/rounds/current/close`` (admin),
``POST /v1/rounds/{round_id}/updates`` (client). Plain-HTTP update uploads are read straight off
the socket and their connection is closed after the response (see ``service/bodyread.py``).
Errors are JSON ``{"error": code, "message": sentence, ...}``: 400 malformed, 401 missing/unknown
token, 403 token not allowed for this action/client, 404, 409 duplicate/not-open/stale,
410 round closed, 413 too large, 422 rejected by the aggregation core (``reason``, ``client``,
``layer``), 503 could not persist. A rejected request never changes state; an update is
acknowledged (202) only once it is durable in ``state_dir``: by a round checkpoint, or for the updates
that close a round by the new model version's fsynced file (the version is listed, and served, a few
milliseconds later, once its SHA-256 is indexed).
"""
from __future__ import annotations
