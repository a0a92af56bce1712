"""Durable state in ``state_dir``: versioned models and the open round's checkpoint.

Every file is written atomically: temp file in the same directory, flush + fsync, ``os.replace``,
fsync of the directory. Readers therefore see either the old or the new file, never a torn one.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .. import wire
from .config import Config

TMP_SUFFIX = ".tmp"
#: Hashes new model versions while they are written (hashlib releases the GIL); one for the process.
_HASHER = ThreadPoolExecutor(1, thread_name_prefix="fedmesh-sha")


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:  # some FUSE/network filesystems refuse fsync on a directory
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


_tmp_seq = itertools.count()


def write_temp(path: Path, data: bytes | bytearray | memoryview | Callable[[IO[bytes]], None]) -> Path:
    """Step 1 of an atomic write: a unique temp file next to ``path`` (written, not yet fsynced)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{next(_tmp_seq)}{TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def commit_temp(tmp: Path, path: Path) -> None:
    """Step 2: fsync the temp file, rename it over ``path``, fsync the directory."""
    try:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes | bytearray | memoryview | Callable[[IO[bytes]], None]) -> None:
    commit_temp(write_temp(path, data), path)


def drop_cache(path: Path) -> None:
    """Best effort: drop the (clean, fsynced) page cache of ``path``; its pages are free again at once."""
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no posix_fadvise on this OS
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def atomic_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=1, sort_keys=True).encode())


def clean_temp(d: Path) -> list[str]:
    removed = []
    for p in d.glob(f".*{TMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p.name)
    return removed


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


class ModelStore:
    """``models/v{N}.fmw`` payloads plus ``models/index.json`` (list of entries, oldest first).

    A version is written in two steps: :meth:`write` makes the file durable (what acknowledges the
    round's last updates), :meth:`publish` adds its SHA-256 to the index (what makes it visible).  A
    crash in between leaves a complete, fsynced ``v{N}.fmw`` newer than the index: it is adopted at
    the next start (decoded, hashed, indexed), so an acknowledged version is never lost.
    """

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "models"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index_path = self.dir / "index.json"
        self.removed_temp = clean_temp(self.dir)
        self.entries: list[dict[str, Any]] = []
        if self.index_path.exists():
            self.entries = json.loads(self.index_path.read_text())
        # an entry is only trusted when its file exists with the recorded hash (checked lazily for old ones)
        while self.entries and not (self.dir / self.entries[-1]["file"]).exists():
            self.entries.pop()
        self.adopted = self._adopt_unpublished()

    def _adopt_unpublished(self) -> list[int]:
        last = self.entries[-1]["version"] if self.entries else -1
        found = sorted((int(p.stem[1:]), p) for p in self.dir.glob("v*.fmw") if p.stem[1:].isdigit())
        adopted = []
        for version, path in found:
            if version <= last:
                continue
            data = path.read_bytes()
            try:
                payload = wire.decode(data, expect="model")
            except wire.WireError:
                break  # not ours to fix: leave it for the operator, keep the index as it is
            if payload.version != version:
                break
            self.entries.append(self._entry(version, hashlib.sha256(data).hexdigest(), payload.meta.get("round"),
                                            len(data), path.stat().st_mtime))
            adopted.append(version)
        if adopted:
            atomic_json(self.index_path, self.entries)
        return adopted

    @staticmethod
    def _entry(version: int, sha: str, round_id: int | None, size: int, created: float) -> dict[str, Any]:
        return {"version": version, "sha256": sha, "created": created, "round": round_id,
                "file": f"v{version}.fmw", "bytes": size}

    def path(self, version: int) -> Path | None:
        for e in self.entries:
            if e["version"] == version:
                return self.dir / str(e["file"])
        return None

    def latest(self) -> dict[str, Any] | None:
        return self.entries[-1] if self.entries else None

    def read(self, version: int) -> bytes | bytearray:
        p = self.path(version)
        if p is None:
            raise KeyError(version)
        data = p.read_bytes()
        entry = next(e for e in self.entries if e["version"] == version)
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise OSError(f"model file {p} does not match its recorded SHA-256")
        return data

    def server_state(self, version: int) -> dict[str, np.ndarray] | None:
        p = self.dir / f"s{version}.npz"
        return load_npz(p) if p.exists() else None

    def stage(self, version: int, size: int) -> Path:
        """A temp file of ``size`` bytes that :meth:`write` of ``version`` will overwrite in place.

        Called when a round opens, so that the page cache for the round's new model version is
        allocated then, not while the last clients wait for their acknowledgement: a 40 MB write
        into fresh pages took 110-125 ms on these VMs (each page faulted in by the hypervisor),
        into pages the file already has ~9 ms.  Leftovers are temp files: removed at the next start.
        """
        zeros = bytes(1 << 20)

        def fill(f: IO[bytes]) -> None:
            for pos in range(0, size, len(zeros)):
                f.write(zeros[: min(len(zeros), size - pos)])

        return write_temp(self.dir / f"v{version}.fmw", fill)

    def write(self, version: int, layers: dict[str, np.ndarray], round_id: int | None,
              server_state: dict[str, np.ndarray] | None, out: bytearray | None = None,
              staged: Path | None = None) -> tuple[bytearray, Future[str]]:
        """Make model ``version`` durable (not yet indexed); returns its bytes and their SHA-256, which
        is computed meanwhile.  ``out``: a buffer from :func:`wire.model_buffer` to encode into;
        ``staged``: the file :meth:`stage` prepared for this version (consumed; ignored if gone)."""
        data = wire.encode_model(layers, version=version, round=round_id, out=out)  # served as is: no extra copy
        sha = _HASHER.submit(lambda: hashlib.sha256(data).hexdigest())  # releases the GIL, like the writes
        if server_state:  # first: a model file on disk implies its server state is there too
            save_npz(self.dir / f"s{version}.npz", server_state)
        path = self.dir / f"v{version}.fmw"
        if staged is not None and staged.exists():
            with open(staged, "r+b") as f:
                f.write(data)
                f.truncate(len(data))
            commit_temp(staged, path)
        else:
            atomic_write(path, data)
        drop_cache(path)  # the service serves this version from memory: free its page cache for the next one
        return data, sha

    def publish(self, version: int, data: bytes | bytearray, round_id: int | None, sha: Future[str]) -> dict[str, Any]:
        """Index a version :meth:`write` made durable; returns its entry."""
        entry = self._entry(version, sha.result(), round_id, len(data), time.time())
        entries = [e for e in self.entries if e["version"] != version] + [entry]
        atomic_json(self.index_path, entries)
        self.entries = entries
        return entry

    def add(self, version: int, layers: dict[str, np.ndarray], round_id: int | None,
            server_state: dict[str, np.ndarray] | None) -> tuple[dict[str, Any], bytearray]:
        """:meth:`write` then :meth:`publish`."""
        data, sha = self.write(version, layers, round_id, server_state)
        return self.publish(version, data, round_id, sha), data


@dataclass
class PendingCheckpoint:
    """A checkpoint written to temp files by :meth:`RoundStore.prepare`, not yet durable."""

    ckpt: Path
    rows: tuple[Path, Path] | None  # (temp, final) of the segment with the rows added since the last one
    segments: list[str]
    round_id: Any
    row_count: int

    def discard(self) -> None:
        for tmp in (self.ckpt, self.rows[0] if self.rows else None):
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink()


class RoundStore:
    """``round.ckpt``: the round state and the aggregator snapshot; ``rounds/``: robust rules' update rows.

    Layout of ``round.ckpt``: u64 little-endian length of a JSON object (the round meta plus
    ``"arrays": [names]``), the JSON, then one ``.npy`` record per array in that order.  One atomic
    write per checkpoint: two fsyncs (file, directory).

    The update block of a robust rule (snapshot key ``"block"``) only grows by whole rows within a
    round, so it is not rewritten: each checkpoint appends one segment file ``rounds/r{id}-{a}-{b}.npy``
    holding rows ``a..b-1`` (written and fsynced before the ``round.ckpt`` that lists it), and a round
    of n updates writes each update once, O(n) bytes, where rewriting the block took O(n^2).  Segments no
    ``round.ckpt`` lists (a crash in between, a closed round) are removed.
    """

    MAGIC = b"FMCK0001"
    ROW_KEY = "block"

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.path = state_dir / "round.ckpt"
        self.rows_dir = state_dir / "rounds"
        self.rows_dir.mkdir(parents=True, exist_ok=True)
        self.removed_temp = clean_temp(state_dir) + clean_temp(self.rows_dir)
        self._segments: list[str] = []
        self._seg_round: Any = None
        self._rows_done = 0

    def load(self, prune: bool = False) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        """The checkpoint, or None.  ``prune``: also remove the segments it does not list (only the
        service that owns ``state_dir`` may: another reader could race its next checkpoint)."""
        if not self.path.exists():
            self._remember([], None, 0, prune)
            return None
        with open(self.path, "rb") as f:
            if f.read(8) != self.MAGIC:
                raise OSError(f"{self.path} is not a fedmesh round checkpoint")
            n = int.from_bytes(f.read(8), "little")
            meta = json.loads(f.read(n))
            names = meta.pop("arrays")
            arrays = {name: np.lib.format.read_array(f, allow_pickle=False) for name in names}
        segments = meta.pop("row_segments", None)
        count, width = int(meta.pop("row_count", 0)), int(meta.pop("row_width", 0))
        if segments is None:
            self._remember([], None, 0, prune)
            return meta, arrays
        parts = [np.load(self.rows_dir / name, allow_pickle=False) for name in segments]
        block = np.concatenate(parts) if parts else np.empty((0, width), np.float32)
        if block.shape != (count, width):
            raise OSError(f"{self.path}: its row segments hold {block.shape}, expected ({count}, {width})")
        arrays[self.ROW_KEY] = block
        self._remember(list(segments), meta.get("id"), count, prune)
        return meta, arrays

    def prepare(self, meta: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> PendingCheckpoint:
        """Write a temp checkpoint (copies the arrays into the page cache); :meth:`commit` makes it durable."""
        arrays = dict(arrays or {})
        block = arrays.pop(self.ROW_KEY, None)
        rid, count = meta.get("id"), 0
        rows: tuple[Path, Path] | None = None
        segments: list[str] = []
        if block is not None:
            count = len(block)
            same = rid == self._seg_round and self._rows_done <= count
            done, segments = (self._rows_done, list(self._segments)) if same else (0, [])
            if count > done:
                name = f"r{rid}-{done}-{count}.npy"
                new_rows = np.ascontiguousarray(block[done:])
                tmp = write_temp(self.rows_dir / name,
                                 lambda f: np.lib.format.write_array(f, new_rows, allow_pickle=False))
                rows, segments = (tmp, self.rows_dir / name), [*segments, name]
            meta = dict(meta, row_segments=segments, row_count=count, row_width=int(block.shape[1]))
        head = json.dumps(dict(meta, arrays=list(arrays)), sort_keys=True).encode()

        def write(f: IO[bytes]) -> None:
            f.write(self.MAGIC + len(head).to_bytes(8, "little") + head)
            for a in arrays.values():
                np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)

        try:
            ckpt = write_temp(self.path, write)
        except BaseException:
            if rows is not None:
                with contextlib.suppress(OSError):
                    rows[0].unlink()
            raise
        return PendingCheckpoint(ckpt, rows, segments, rid, count)

    def commit(self, pending: PendingCheckpoint) -> None:
        """The new row segment first, then ``round.ckpt`` (each: fsync, rename, fsync of its directory)."""
        try:
            if pending.rows is not None:
                commit_temp(*pending.rows)
        except BaseException:
            pending.discard()
            raise
        commit_temp(pending.ckpt, self.path)
        self._remember(pending.segments, pending.round_id, pending.row_count, prune=True)

    def save(self, meta: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
        self.commit(self.prepare(meta, arrays))

    def _remember(self, segments: list[str], round_id: Any, rows: int, prune: bool) -> None:
        """What ``round.ckpt`` now lists; with ``prune`` every other segment file goes."""
        self._segments, self._seg_round, self._rows_done = segments, round_id, rows
        if not prune:
            return
        keep = set(segments)
        for f in self.rows_dir.glob("r*.npy"):
            if f.name not in keep:
                with contextlib.suppress(OSError):
                    f.unlink()


def initial_layers(cfg: Config) -> dict[str, np.ndarray]:
    if cfg.initial_model:
        p = Path(cfg.initial_model)
        if p.suffix == ".npz":
            return {k: np.asarray(v, np.float32) for k, v in load_npz(p).items()}
        return dict(wire.decode_model(p.read_bytes())[1])
    if not cfg.init_spec:
        raise ValueError("state_dir has no model and neither 'initial_model' nor 'init_spec' is configured")
    s = cfg.init_spec
    rng = np.random.default_rng(int(s.get("seed", 0)))
    normal = s.get("init", "zeros") == "normal"
    out = {}
    for name, dims in s["layers"].items():
        shape = tuple(int(d) for d in dims)
        out[name] = (rng.standard_normal(shape) * float(s.get("scale", 0.01)) if normal
                     else np.zeros(shape)).astype(np.float32)
    return out
