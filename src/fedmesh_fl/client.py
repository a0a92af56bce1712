"""Client for the fedmesh aggregation service: stdlib HTTP only (runs on any Python 3.11 + NumPy).

Library::

    c = Client("https://agg:8470", token, ca_file="/etc/fedmesh/ca.pem")
    version, layers = c.get_model()
    info = c.wait_for_round()
    c.submit(info["id"], new_layers, num_samples, base_version=version)

Model downloads (``get_model``, ``list_models``, ``get-model``, ``models``) need a client or the admin
token; ``health`` and ``round`` work without one.

CLI: ``python3 -m fedmesh_fl.client --url URL --token-file FILE [--ca-file CA] COMMAND`` with commands
``health``, ``round``, ``models``, ``get-model [--version N] [--out FILE]``, ``wait-round``,
``submit --round N --file F.npz|F.fmw --num-samples N --base-version V``,
``open-round [--rule R] [--quorum N] [--deadline S] [--params JSON]``, ``close-round``.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import ssl
import sys
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import wire


class ServiceError(Exception):
    """The service answered with an error; ``str(e)`` carries its JSON message."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body
        self.error = str(body.get("error", "http_error"))
        super().__init__(f"HTTP {status} {self.error}: {body.get('message', '')}")


class Client:
    def __init__(self, base_url: str, token: str | None = None, ca_file: str | None = None,
                 timeout: float = 120.0, client_id: str = "") -> None:
        u = urllib.parse.urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port], got {base_url!r}")
        self.scheme, self.host, self.port = u.scheme, u.hostname, u.port
        self.prefix = u.path.rstrip("/")
        self.token, self.timeout, self.client_id = token, timeout, client_id
        self._ctx = ssl.create_default_context(cafile=ca_file) if u.scheme == "https" else None

    def _conn(self) -> http.client.HTTPConnection:
        if self._ctx is not None:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self._ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method: str, path: str, body: bytes | bytearray | None = None,
                content_type: str | None = None) -> tuple[int, dict[str, str], bytes]:
        headers = {"Accept": "application/json, application/octet-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if content_type:
            headers["Content-Type"] = content_type
        conn = self._conn()
        try:
            conn.request(method, self.prefix + path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        if resp.status >= 400:
            try:
                err = json.loads(data)
                if not isinstance(err, dict):
                    raise ValueError
            except ValueError:
                err = {"error": "http_error", "message": data[:500].decode("utf-8", "replace")}
            raise ServiceError(resp.status, err)
        return resp.status, hdrs, data

    def _json(self, method: str, path: str, obj: Any = None) -> Any:
        body = None if obj is None else json.dumps(obj).encode()
        _status, _hdrs, data = self.request(method, path, body, "application/json" if body is not None else None)
        return json.loads(data)

    # ---------------------------------------------------------------- API
    def health(self) -> dict[str, Any]:
        return self._json("GET", "/healthz")

    def round_info(self) -> dict[str, Any]:
        return self._json("GET", "/v1/round")

    def list_models(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/models")

    def get_model_bytes(self, version: int | None = None) -> tuple[int, bytes]:
        """(version, payload) of the latest or a given model version; needs a client or admin token."""
        path = "/v1/model" if version is None else f"/v1/models/{int(version)}"
        _status, hdrs, data = self.request("GET", path)
        sha = hdrs.get("x-model-sha256")
        if sha and hashlib.sha256(data).hexdigest() != sha:
            raise ServiceError(502, {"error": "checksum", "message": "downloaded model does not match X-Model-SHA256"})
        return int(hdrs.get("x-model-version", "-1")), data

    def get_model(self, version: int | None = None) -> tuple[int, dict[str, np.ndarray]]:
        """(version, layers); layers are read-only float32 views of the downloaded payload."""
        v, data = self.get_model_bytes(version)
        _version, layers = wire.decode_model(data)
        return v, layers

    def submit(self, round_id: int, layers: Mapping[str, Any], num_samples: int, base_version: int) -> dict[str, Any]:
        payload = wire.encode_update(layers, client=self.client_id, round_id=round_id,
                                     base_version=base_version, num_samples=num_samples)
        return self.submit_payload(round_id, payload)

    def submit_payload(self, round_id: int, payload: bytes | bytearray) -> dict[str, Any]:
        _status, _hdrs, data = self.request("POST", f"/v1/rounds/{int(round_id)}/updates", payload,
                                            "application/octet-stream")
        return json.loads(data)

    def wait_for_round(self, after: int = 0, timeout: float = 600.0, poll: float = 0.5) -> dict[str, Any]:
        """Wait until a round with id > ``after`` is open; returns its state (TimeoutError after ``timeout``)."""
        end = time.monotonic() + timeout
        while True:
            info = self.round_info()
            if info.get("status") == "open" and int(info.get("id", 0)) > after:
                return info
            if time.monotonic() >= end:
                raise TimeoutError(f"no round after {after} opened within {timeout:.0f}s (last: {info})")
            time.sleep(poll)

    def wait_for_version(self, min_version: int, timeout: float = 600.0, poll: float = 0.5) -> int:
        end = time.monotonic() + timeout
        while True:
            v = int(self.round_info().get("model_version", -1))
            if v >= min_version:
                return v
            if time.monotonic() >= end:
                raise TimeoutError(f"model version {min_version} did not appear within {timeout:.0f}s (at {v})")
            time.sleep(poll)

    def open_round(self, rule: str | None = None, params: dict[str, Any] | None = None, quorum: int | None = None,
                   deadline_s: float | None = None, **extra: Any) -> dict[str, Any]:
        body = {k: v for k, v in dict(extra, rule=rule, params=params, quorum=quorum, deadline_s=deadline_s).items()
                if v is not None}
        return self._json("POST", "/v1/rounds", body)

    def close_round(self) -> dict[str, Any]:
        return self._json("POST", "/v1/rounds/current/close", {})


def _load_layers(path: str) -> dict[str, np.ndarray]:
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    return dict(wire.decode_model(Path(path).read_bytes())[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m fedmesh_fl.client")
    ap.add_argument("--url", required=True)
    ap.add_argument("--token-file", help="file holding the bearer token (client or admin)")
    ap.add_argument("--ca-file")
    ap.add_argument("--timeout", type=float, default=120.0)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("health", "round", "models", "close-round"):
        sub.add_parser(name)
    g = sub.add_parser("get-model")
    g.add_argument("--version", type=int)
    g.add_argument("--out", help="write the payload (.fmw) or layers (.npz) here")
    w = sub.add_parser("wait-round")
    w.add_argument("--after", type=int, default=0)
    w.add_argument("--wait", type=float, default=600.0)
    s = sub.add_parser("submit")
    s.add_argument("--round", type=int, required=True)
    s.add_argument("--file", required=True)
    s.add_argument("--num-samples", type=int, required=True)
    s.add_argument("--base-version", type=int, required=True)
    o = sub.add_parser("open-round")
    o.add_argument("--rule")
    o.add_argument("--quorum", type=int)
    o.add_argument("--deadline", type=float)
    o.add_argument("--params", type=json.loads)
    a = ap.parse_args(argv)
    token = Path(a.token_file).read_text().strip() if a.token_file else None
    c = Client(a.url, token, a.ca_file, a.timeout)
    try:
        out: Any
        if a.cmd == "health":
            out = c.health()
        elif a.cmd == "round":
            out = c.round_info()
        elif a.cmd == "models":
            out = c.list_models()
        elif a.cmd == "close-round":
            out = c.close_round()
        elif a.cmd == "wait-round":
            out = c.wait_for_round(a.after, a.wait)
        elif a.cmd == "open-round":
            out = c.open_round(a.rule, a.params, a.quorum, a.deadline)
        elif a.cmd == "submit":
            out = c.submit(a.round, _load_layers(a.file), a.num_samples, a.base_version)
        else:
            version, data = c.get_model_bytes(a.version)
            out = {"version": version, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            if a.out and a.out.endswith(".npz"):
                np.savez(a.out, **wire.decode_model(data)[1])  # type: ignore[arg-type]
            elif a.out:
                Path(a.out).write_bytes(data)
    except ServiceError as e:
        print(json.dumps({"status": e.status, **e.body}), file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e)}), file=sys.stderr)
        return 1
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
