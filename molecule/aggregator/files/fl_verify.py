"""Verify a deployed fedmesh aggregator from ANOTHER node, with real client processes over the network.

Run on the verifier node with the fedmesh_fl package on PYTHONPATH (the fl_client role installs it):

    fl_verify.py --url http://node1:8470 --tokens tokens.json --state state.json PHASE

``tokens.json``: ``{"admin": TOKEN, "clients": {client_id: TOKEN, ...}}`` (at least c1..c5).
Phases, run in this order (the playbook restarts / kills the service between the robust-* phases):

* ``fedavg``        admin opens a FedAvg round (quorum 4); 4 client processes submit known updates; bad
                    tokens and malformed payloads get 4xx and change nothing; the new global model equals
                    the NumPy sample-weighted mean.
* ``robust-start``  admin opens a median round (quorum 5); 2 clients submit, one of them poisoned.
* ``robust-mid``    (after ``systemctl restart``) the round is the same, with the same 2 accepted clients;
                    a duplicate is refused; a 3rd client submits.
* ``robust-finish`` (after ``kill -9`` of the main PID) the 3 accepted clients are still there; the last 2
                    submit; the model equals the NumPy coordinate-wise median over all 5 updates, and the
                    poisoned client did not move it (FedAvg over the same updates would have).
* ``train``         admin opens a FedAvg round with quorum 1 for the deployed fl_client service
                    (``fedmesh_fl.train``) and waits for the model it produces.

Each phase prints one JSON object (``{"phase": ..., "ok": true, "checks": [...], ...}``) on stdout and
exits 0; a failed check prints ``FAILED: <what>`` on stderr and exits 1.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from fedmesh_fl import wire
from fedmesh_fl.client import Client, ServiceError

SHAPES = {"w": (64, 10), "b": (10,)}  # the aggregator role's default model (fedmesh_fl.train's softmax)
SAMPLES = {"c1": 50, "c2": 120, "c3": 200, "c4": 80, "c5": 300}
POISONED = "c5"
WAIT_S = 90.0


class CheckFailed(Exception):
    pass


class Verifier:
    def __init__(self, url: str, tokens: dict[str, Any], state_file: Path) -> None:
        self.url, self.state_file = url, state_file
        self.admin = Client(url, tokens["admin"], timeout=30)
        self.tokens: dict[str, str] = tokens["clients"]
        self.clients = {cid: Client(url, tok, timeout=30) for cid, tok in self.tokens.items()}
        self.checks: list[str] = []
        self.state: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}

    # ---------------------------------------------------------------- helpers
    def check(self, cond: bool, what: str) -> None:
        if not cond:
            raise CheckFailed(what)
        self.checks.append(what)

    def save(self) -> None:
        self.state_file.write_text(json.dumps(self.state))

    def wait_healthy(self) -> dict[str, Any]:
        end = time.monotonic() + WAIT_S
        while True:
            try:
                return self.admin.health()
            except (OSError, ServiceError) as e:
                if time.monotonic() > end:
                    raise CheckFailed(f"/healthz did not answer within {WAIT_S:.0f}s: {e}") from None
                time.sleep(0.5)

    def round(self) -> dict[str, Any]:
        return self.admin.round_info()

    @staticmethod
    def update(cid: str, label: str, poisoned: bool = False) -> dict[str, np.ndarray]:
        """A known update: deterministic from (client, label); the poisoned one is huge."""
        seed = int.from_bytes(hashlib.sha256(f"{cid}/{label}".encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        if poisoned:
            return {k: np.full(s, 1.0e4, np.float32) for k, s in SHAPES.items()}
        return {k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}

    def submit(self, cid: str, label: str, rid: int, base: int) -> dict[str, Any]:
        """Submit from a separate OS process (a real client: its own interpreter and TCP connection)."""
        layers = self.update(cid, label, poisoned=(cid == POISONED and label == "robust"))
        path = self.state_file.parent / f"update-{cid}-{label}.npz"
        np.savez(path, **layers)  # type: ignore[arg-type]
        tok = self.state_file.parent / f"token-{cid}"
        tok.write_text(self.tokens[cid])
        tok.chmod(0o600)
        proc = subprocess.run(
            [sys.executable, "-m", "fedmesh_fl.client", "--url", self.url, "--token-file", str(tok), "submit",
             "--round", str(rid), "--file", str(path), "--num-samples", str(SAMPLES[cid]),
             "--base-version", str(base)], capture_output=True, text=True, timeout=60, check=False)
        tok.unlink()
        if proc.returncode != 0:
            raise CheckFailed(f"client process {cid} could not submit to round {rid}: {proc.stderr.strip()}")
        out: dict[str, Any] = json.loads(proc.stdout)
        self.check(out.get("accepted") is True and out.get("client") == cid,
                   f"{cid}: update accepted by round {rid} (client process, HTTP 202)")
        return out

    def expect_error(self, what: str, status: int, fn: Any) -> None:
        try:
            fn()
        except ServiceError as e:
            self.check(e.status == status, f"{what}: HTTP {e.status} {e.error} (want {status})")
            return
        raise CheckFailed(f"{what}: was accepted, want HTTP {status}")

    def wait_version(self, version: int) -> dict[str, Any]:
        end = time.monotonic() + WAIT_S
        while True:
            r = self.round()
            if int(r.get("model_version", -1)) >= version:
                return r
            if time.monotonic() > end:
                raise CheckFailed(f"model version {version} did not appear within {WAIT_S:.0f}s; round: {r}")
            time.sleep(0.3)

    def model(self) -> tuple[int, dict[str, np.ndarray]]:
        v, layers = self.admin.get_model()
        return v, {k: np.array(a, np.float32) for k, a in layers.items()}

    def compare(self, got: dict[str, np.ndarray], want: dict[str, np.ndarray], what: str, atol: float) -> float:
        err = max(float(np.max(np.abs(got[k].astype(np.float64) - want[k]))) for k in SHAPES)
        self.check(sorted(got) == sorted(SHAPES) and all(got[k].shape == SHAPES[k] for k in SHAPES),
                   f"{what}: layers and shapes are {SHAPES}")
        self.check(err <= atol, f"{what}: max |service - numpy| = {err:.3g} <= {atol:g}")
        return err

    def open_round(self, rule: str, quorum: int) -> dict[str, Any]:
        r = self.admin.open_round(rule=rule, quorum=quorum, deadline_s=900)
        self.check(r["status"] == "open" and r["rule"] == rule and r["quorum"] == quorum,
                   f"admin opened round {r['id']} ({rule}, quorum {quorum})")
        return r

    def accepted_unchanged(self, before: dict[str, Any], what: str) -> None:
        now = self.round()
        self.check(now["id"] == before["id"] and now["accepted_clients"] == before["accepted_clients"]
                   and now["model_version"] == before["model_version"] and now["status"] == "open",
                   f"{what}: round {now['id']} still open with accepted {now['accepted_clients']}")

    # ---------------------------------------------------------------- phases
    def phase_fedavg(self) -> dict[str, Any]:
        h = self.wait_healthy()
        self.check(h["status"] == "ok", f"/healthz answers from another node: {h}")
        self.expect_error("a client token on the admin API", 403, lambda: self.clients["c1"].open_round(rule="fedavg"))
        r = self.open_round("fedavg", quorum=4)
        rid, base = int(r["id"]), int(r["base_version"])
        honest = ["c1", "c2", "c3", "c4"]
        for cid in honest[:2]:
            self.submit(cid, "fedavg", rid, base)
        before = self.round()
        self.check(before["accepted_clients"] == honest[:2], f"round {rid} accepted {honest[:2]}")

        good = wire.encode_update(self.update("c3", "fedavg"), client="", round_id=rid, base_version=base,
                                  num_samples=10)
        c3 = self.clients["c3"]
        bad_token = Client(self.url, "not-a-token", timeout=30)
        no_token = Client(self.url, None, timeout=30)
        wrong_shape = {"w": np.zeros((64, 9), np.float32), "b": np.zeros(10, np.float32)}
        nan = {k: np.full(s, np.nan, np.float32) for k, s in SHAPES.items()}
        cases: list[tuple[str, int, Any]] = [
            ("unknown token", 401, lambda: bad_token.submit_payload(rid, good)),
            ("no token", 401, lambda: no_token.submit_payload(rid, good)),
            ("admin token submitting an update", 403, lambda: self.admin.submit_payload(rid, good)),
            ("garbage body", 400, lambda: c3.submit_payload(rid, b"definitely not a model update")),
            ("truncated payload", 400, lambda: c3.submit_payload(rid, bytes(good[:-7]))),
            ("payload for another round", 400,
             lambda: c3.submit_payload(rid, wire.encode_update(self.update("c3", "fedavg"), client="",
                                                               round_id=rid + 5, base_version=base, num_samples=10))),
            ("payload naming another client", 403,
             lambda: c3.submit_payload(rid, wire.encode_update(self.update("c3", "fedavg"), client="c4",
                                                               round_id=rid, base_version=base, num_samples=10))),
            ("wrong layer shape", 422, lambda: c3.submit(rid, wrong_shape, 10, base)),
            ("NaN values", 422, lambda: c3.submit(rid, nan, 10, base)),
            ("oversized body", 413, lambda: c3.submit_payload(rid, bytes(good) + bytes(80_000))),
            ("a round that is not open", 409, lambda: c3.submit(rid + 1, self.update("c3", "fedavg"), 10, base)),
            ("duplicate from an accepted client", 409,
             lambda: self.clients["c1"].submit(rid, self.update("c1", "fedavg"), SAMPLES["c1"], base)),
        ]
        for what, status, fn in cases:
            self.expect_error(what, status, fn)
            self.accepted_unchanged(before, f"after {what}")

        for cid in honest[2:]:
            self.submit(cid, "fedavg", rid, base)
        r = self.wait_version(base + 1)
        v, got = self.model()
        self.check(v == base + 1, f"quorum closed round {rid}: new model version {v}")
        weights = np.array([SAMPLES[c] for c in honest], np.float64)
        ups = [self.update(c, "fedavg") for c in honest]
        want = {k: np.tensordot(weights / weights.sum(), np.stack([u[k] for u in ups]).astype(np.float64), axes=1)
                for k in SHAPES}
        err = self.compare(got, want, "FedAvg model == numpy sample-weighted mean", atol=1e-5)
        models = self.admin.list_models()
        self.check(any(m["version"] == v and m["round"] == rid for m in models),
                   f"/v1/models lists version {v} from round {rid}")
        return {"round": rid, "version": v, "max_abs_err": err}

    def phase_robust_start(self) -> dict[str, Any]:
        self.wait_healthy()
        r = self.open_round("median", quorum=5)
        rid, base = int(r["id"]), int(r["base_version"])
        for cid in ("c1", POISONED):
            self.submit(cid, "robust", rid, base)
        now = self.round()
        self.check(now["accepted_clients"] == ["c1", POISONED], f"round {rid} accepted ['c1', '{POISONED}']")
        self.state.update(round=rid, base=base, health_before=self.admin.health())
        self.save()
        return {"round": rid, "accepted": now["accepted_clients"]}

    def _same_round(self, accepted: list[str], after: str) -> tuple[int, int]:
        h = self.wait_healthy()
        rid, base = int(self.state["round"]), int(self.state["base"])
        now = self.round()
        self.check(now["id"] == rid and now["status"] == "open" and now["model_version"] == base,
                   f"after {after}: round {rid} is still open on model version {base} (healthz {h})")
        self.check(now["accepted_clients"] == accepted,
                   f"after {after}: nothing accepted was lost, accepted {now['accepted_clients']}")
        return rid, base

    def phase_robust_mid(self) -> dict[str, Any]:
        rid, base = self._same_round(["c1", POISONED], "systemctl restart")
        self.expect_error("duplicate after the restart", 409,
                          lambda: self.clients["c1"].submit(rid, self.update("c1", "robust"), SAMPLES["c1"], base))
        self.submit("c2", "robust", rid, base)
        return {"round": rid, "accepted": self.round()["accepted_clients"]}

    def phase_robust_finish(self) -> dict[str, Any]:
        rid, base = self._same_round(["c1", POISONED, "c2"], "kill -9 of the main PID")
        for cid in ("c3", "c4"):
            self.submit(cid, "robust", rid, base)
        self.wait_version(base + 1)
        v, got = self.model()
        self.check(v == base + 1, f"quorum closed round {rid}: new model version {v}")
        order = ["c1", "c2", "c3", "c4", POISONED]
        ups = [self.update(c, "robust", poisoned=(c == POISONED)) for c in order]
        stack = {k: np.stack([u[k] for u in ups]) for k in SHAPES}
        want = {k: np.median(stack[k].astype(np.float64), axis=0) for k in SHAPES}
        err = self.compare(got, want, "median model == numpy coordinate-wise median over all 5 updates", atol=1e-6)
        honest_max = max(float(np.max(np.abs(stack[k][:4]))) for k in SHAPES)
        worst = max(float(np.max(np.abs(got[k]))) for k in SHAPES)
        self.check(worst <= honest_max, f"poisoned client did not move the median: max |model| {worst:.3g} <= "
                   f"honest max {honest_max:.3g}")
        w = np.array([SAMPLES[c] for c in order], np.float64)
        fedavg_shift = min(float(np.min(np.abs(np.tensordot(w / w.sum(), stack[k].astype(np.float64), axes=1))))
                           for k in SHAPES)
        self.check(fedavg_shift > 100, f"(FedAvg over the same updates would be >= {fedavg_shift:.0f} everywhere)")
        return {"round": rid, "version": v, "max_abs_err": err}

    def phase_train(self) -> dict[str, Any]:
        self.wait_healthy()
        base = int(self.round()["model_version"])
        r = self.open_round("fedavg", quorum=1)
        done = self.wait_version(base + 1)
        self.check(done["id"] == r["id"] and done["accepted_clients"] == ["node2"],
                   f"the fl_client service (node2) trained and its update closed round {r['id']}")
        v, got = self.model()
        self.check(all(np.isfinite(a).all() for a in got.values()), f"model version {v} is finite")
        return {"round": r["id"], "version": v}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--tokens", required=True, type=Path)
    ap.add_argument("--state", required=True, type=Path)
    ap.add_argument("phase", choices=["fedavg", "robust-start", "robust-mid", "robust-finish", "train"])
    a = ap.parse_args(argv)
    v = Verifier(a.url, json.loads(a.tokens.read_text()), a.state)
    t0 = time.monotonic()
    try:
        extra = getattr(v, "phase_" + a.phase.replace("-", "_"))()
    except (CheckFailed, ServiceError, OSError, KeyError, ValueError) as e:
        print(f"FAILED: {a.phase}: {e}", file=sys.stderr)
        for c in v.checks:
            print(f"  passed before: {c}", file=sys.stderr)
        return 1
    print(json.dumps({"phase": a.phase, "ok": True, "seconds": round(time.monotonic() - t0, 2),
                      "checks": v.checks, **extra}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
