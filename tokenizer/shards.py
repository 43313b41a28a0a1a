"""Arrow IPC token shards and their manifest (the format between encoding and training).

A shard set is a directory::

    shard-00000.arrow   Arrow IPC *file* format (memory-mappable), one column
    shard-00001.arrow   ``tokens: list<uint16>``, one row per document or packed sequence
    manifest.json       vocabulary sha256 and size, shard list, token/row/document counts

The directory is written under a temporary name beside the destination and renamed when
complete, so a reader never sees a partial set and a killed run leaves nothing behind
that a rerun would pick up.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from typing import Iterator

import numpy as np
import pyarrow as pa

FORMAT = "swelm-token-shards"
VERSION = 1
SCHEMA = pa.schema([pa.field("tokens", pa.list_(pa.uint16()))])
MANIFEST = "manifest.json"


def temporary_sibling(dst: str, tag: str) -> str:
    parent, name = os.path.split(os.path.abspath(dst))
    return os.path.join(parent, f".{name}.{tag}-{uuid.uuid4().hex[:8]}")


def remove_stale_temporaries(dst: str) -> None:
    """Remove temporaries a killed run left beside ``dst``."""
    parent, name = os.path.split(os.path.abspath(dst))
    if not os.path.isdir(parent):
        return
    for entry in os.listdir(parent):
        if entry.startswith(f".{name}.tmp-") or entry.startswith(f".{name}.old-"):
            path = os.path.join(parent, entry)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def publish(tmp: str, dst: str) -> None:
    """Atomically move a finished file or directory to ``dst`` (replacing an old one)."""
    if os.path.isdir(dst) and not os.path.islink(dst):
        old = temporary_sibling(dst, "old")
        os.rename(dst, old)
        os.rename(tmp, dst)
        shutil.rmtree(old)
    else:
        os.replace(tmp, dst)


class ShardWriter:
    """Write rows of uint16 tokens into numbered shards, then a manifest.

    Use as a context manager; the set appears at ``out_dir`` only when the block ends
    without an exception.
    """

    def __init__(self, out_dir: str, *, vocab_sha256: str, vocab_size: int,
                 shard_tokens: int = 1 << 26, batch_rows: int = 1024,
                 extra: dict | None = None) -> None:
        if vocab_size > 65536:
            raise ValueError(f"a vocabulary of {vocab_size} tokens does not fit uint16 shards")
        if shard_tokens <= 0:
            raise ValueError("shard_tokens must be positive")
        self.out_dir = out_dir
        self.vocab = {"sha256": vocab_sha256, "size": vocab_size}
        self.shard_tokens = shard_tokens
        self.batch_rows = batch_rows
        self.extra = dict(extra or {})
        self.shards: list[dict] = []
        self.tokens = self.rows = 0
        self.counts: dict[str, int] = {}
        self._tmp = None
        self._writer = None
        self._pending: list[np.ndarray] = []
        self._cur = None

    def __enter__(self) -> "ShardWriter":
        remove_stale_temporaries(self.out_dir)
        self._tmp = temporary_sibling(self.out_dir, "tmp")
        os.makedirs(self._tmp)
        return self

    def add(self, tokens: np.ndarray, genre: str = "all") -> None:
        tokens = np.asarray(tokens)
        if tokens.dtype != np.uint16:
            if tokens.size and (tokens.min() < 0 or tokens.max() >= self.vocab["size"]):
                raise ValueError("token id out of the vocabulary's range")
            tokens = tokens.astype(np.uint16)
        if self._writer is None:
            name = f"shard-{len(self.shards):05d}.arrow"
            self._cur = {"file": name, "rows": 0, "tokens": 0}
            self._writer = pa.ipc.new_file(os.path.join(self._tmp, name), SCHEMA)
        self._pending.append(tokens)
        self._cur["rows"] += 1
        self._cur["tokens"] += int(tokens.size)
        self.rows += 1
        self.tokens += int(tokens.size)
        self.counts[genre] = self.counts.get(genre, 0) + int(tokens.size)
        if len(self._pending) >= self.batch_rows:
            self._flush()
        if self._cur["tokens"] >= self.shard_tokens:
            self._close_shard()

    def _flush(self) -> None:
        if not self._pending:
            return
        lengths = np.fromiter((a.size for a in self._pending), dtype=np.int64,
                              count=len(self._pending))
        offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        values = pa.array(np.concatenate(self._pending), type=pa.uint16())
        arr = pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), values)
        self._writer.write_batch(pa.record_batch([arr], schema=SCHEMA))
        self._pending = []

    def _close_shard(self) -> None:
        self._flush()
        self._writer.close()
        self.shards.append(self._cur)
        self._writer = None
        self._cur = None

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            if self._writer is not None:
                self._writer.close()
            shutil.rmtree(self._tmp, ignore_errors=True)
            return
        if self._writer is not None:
            self._close_shard()
        manifest = {"format": FORMAT, "version": VERSION, "dtype": "uint16",
                    "vocabulary": self.vocab, "shards": self.shards, "rows": self.rows,
                    "tokens": self.tokens, "tokens_per_genre": self.counts, **self.extra}
        with open(os.path.join(self._tmp, MANIFEST), "w", encoding="utf-8") as f:
            json.dump(manifest, f, ensure_ascii=False, indent=1, sort_keys=True)
            f.write("\n")
        publish(self._tmp, self.out_dir)


def read_manifest(shard_dir: str) -> dict:
    path = os.path.join(shard_dir, MANIFEST)
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no manifest; not a token shard directory") from None
    if m.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} manifest")
    return m


def iter_rows(shard_dir: str) -> Iterator[np.ndarray]:
    """Every row of every shard, in order, as uint16 arrays (memory-mapped)."""
    m = read_manifest(shard_dir)
    for s in m["shards"]:
        with pa.memory_map(os.path.join(shard_dir, s["file"])) as src:
            reader = pa.ipc.open_file(src)
            for b in range(reader.num_record_batches):
                col = reader.get_batch(b).column(0)
                offsets = col.offsets.to_numpy()
                values = col.values.to_numpy(zero_copy_only=False)
                for i in range(len(col)):
                    yield values[offsets[i]:offsets[i + 1]]
