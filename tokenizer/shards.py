"""Arrow IPC token shards and their manifest: the one owner of the format between encoding and
training (writer, reader, manifest schema, validation).  ``encode_swe``, ``swelm encode`` and the
trainer all go through this module.

A shard set is a folder::

    shard-00000.arrow   Arrow IPC *file* format (memory-mappable), one column
    shard-00001.arrow   ``tokens: list<uint16>``, one row per document or packed sequence
    manifest.json       written last (see :func:`make_manifest`)

Manifest, version 1 (JSON, keys sorted)::

    format            "swelm-token-shards"
    version           1
    dtype             "uint16"
    vocabulary        {"sha256": hex of the tokenizer file, "size": tokens, "kind": the
                       tokenizer's kind (swe, sentencepiece, bytes, gpt2ja-v2; absent: swe),
                       "eot_id": the id that ends a text}
    shards            [{"file": "shard-00000.arrow", "rows": int, "tokens": int,
                        "max_id": int (the largest token id, -1 when empty)}, ...]
    rows, tokens      totals
    tokens_per_genre  {genre: tokens}
    source            {"tool": "encode_swe" | "swelm encode", and the tool's options}
    ...               producer fields (documents, characters, mode, seq_len, seed, ...)

The folder is written under a temporary name beside the destination and published when complete
(:mod:`swelm.publish`), so a reader never sees a partial set.
"""
from __future__ import annotations

import json
import os
from typing import Iterator

import numpy as np
import pyarrow as pa

from swelm.errors import SwelmError
from swelm.publish import Kind, atomic_path, check_destination, json_marker, json_text
from swelm.publish import remove_stale_temporaries

FORMAT = "swelm-token-shards"
VERSION = 1
SCHEMA = pa.schema([pa.field("tokens", pa.list_(pa.uint16()))])
MANIFEST = "manifest.json"
MAX_VOCAB = 65536


#: what a shard set folder may hold to be replaced by a new one
SHARD_SET = Kind("a token shard set", entries=("shard-*.arrow", "manifest.json"),
                 marker="manifest.json", recognise=json_marker(lambda m: m.get("format") == FORMAT))


class ShardFormatError(SwelmError, ValueError):
    """A token shard set that is missing, malformed or inconsistent; the message names it."""


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.arrow"


def check_vocab_size(size: int) -> None:
    if size > MAX_VOCAB:
        raise ShardFormatError(f"a vocabulary of {size} tokens does not fit uint16 shards "
                               f"(at most {MAX_VOCAB})")


def record_batch(rows: list[np.ndarray]) -> pa.RecordBatch:
    """One record batch of ``rows`` (uint16 arrays)."""
    lengths = np.fromiter((r.size for r in rows), dtype=np.int64, count=len(rows))
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = pa.array(np.concatenate(rows) if rows else np.zeros(0, np.uint16), type=pa.uint16())
    arr = pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), values)
    return pa.record_batch([arr], schema=SCHEMA)


def write_shard_to(sink, name: str, rows: list[np.ndarray]) -> dict:
    """Write one shard of ``rows`` in one record batch into ``sink`` (a path or a binary
    file object); its manifest entry, for the file ``name``."""
    with pa.ipc.new_file(sink, SCHEMA) as w:
        w.write_batch(record_batch(rows))
    return {"file": name, "rows": len(rows), "tokens": int(sum(r.size for r in rows)),
            "max_id": max((int(r.max()) for r in rows if r.size), default=-1)}


def write_shard(path: str, rows: list[np.ndarray]) -> dict:
    """Write one shard file of ``rows`` (atomically); its manifest entry."""
    with atomic_path(path) as tmp:
        return write_shard_to(tmp, os.path.basename(path), rows)


def make_manifest(*, vocab_sha256: str, vocab_size: int, shards: list[dict],
                  tokens_per_genre: dict, source: dict, vocab_kind: str = "swe",
                  eot_id: int | None = None, **fields) -> dict:
    """The manifest of a shard set (schema in the module docstring)."""
    if "tool" not in source:
        raise ValueError("source must name the tool")
    vocab = {"sha256": vocab_sha256, "size": vocab_size, "kind": vocab_kind}
    if eot_id is not None:
        vocab["eot_id"] = eot_id
    return {"format": FORMAT, "version": VERSION, "dtype": "uint16",
            "vocabulary": vocab,
            "shards": [{k: s[k] for k in ("file", "rows", "tokens", "max_id") if k in s}
                       for s in shards],
            "rows": sum(s["rows"] for s in shards), "tokens": sum(s["tokens"] for s in shards),
            "tokens_per_genre": dict(sorted(tokens_per_genre.items())), "source": source,
            **fields}


def manifest_text(manifest: dict, where: str) -> str:
    """The validated manifest as the text of ``manifest.json``."""
    return json_text(validate_manifest(manifest, where))


def write_manifest(folder: str, manifest: dict) -> None:
    """Write ``manifest.json`` into the (temporary) folder of a shard set: the last file."""
    path = os.path.join(folder, MANIFEST)
    text = manifest_text(manifest, path)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def validate_manifest(m, where: str) -> dict:
    """``m`` if it is a valid manifest, else :class:`ShardFormatError` naming ``where``."""
    def bad(field: str, want: str):
        got = m.get(field) if isinstance(m, dict) else m
        return ShardFormatError(f"{where}: field '{field}': expected {want}, got {got!r}")
    if not isinstance(m, dict):
        raise ShardFormatError(f"{where}: expected a JSON object, got {type(m).__name__}")
    if m.get("format") != FORMAT:
        raise bad("format", repr(FORMAT))
    if not isinstance(m.get("version"), int) or not 1 <= m["version"] <= VERSION:
        raise bad("version", f"1..{VERSION} (a newer swelm wrote it?)")
    if m.get("dtype") != "uint16":
        raise bad("dtype", "'uint16'")
    v = m.get("vocabulary")
    if not (isinstance(v, dict) and isinstance(v.get("sha256"), str)
            and isinstance(v.get("size"), int) and 0 < v["size"] <= MAX_VOCAB):
        raise bad("vocabulary", f"{{sha256, size ≤ {MAX_VOCAB}}}")
    from .kinds import KINDS
    if v.get("kind", "swe") not in KINDS or not (
            isinstance(v.get("eot_id", 0), int) and 0 <= v.get("eot_id", 0) < v["size"]):
        raise bad("vocabulary", f"{{kind: one of {', '.join(KINDS)}, eot_id < size}}")
    shards = m.get("shards")
    if not isinstance(shards, list) or not all(
            isinstance(s, dict) and isinstance(s.get("file"), str) and "/" not in s["file"]
            and isinstance(s.get("rows"), int) and isinstance(s.get("tokens"), int)
            and isinstance(s.get("max_id", -1), int)
            for s in shards):
        raise bad("shards", "a list of {file, rows, tokens, max_id}")
    for sh in shards:
        if sh.get("max_id", -1) >= v["size"]:
            raise ShardFormatError(f"{where}: shard {sh['file']} holds token id {sh['max_id']}, "
                                   f"outside the vocabulary of {v['size']} tokens")
    for field in ("rows", "tokens"):
        if m.get(field) != sum(s[field] for s in shards):
            raise bad(field, f"the sum over the shards ({sum(s[field] for s in shards)})")
    return m


def read_manifest(shard_dir: str) -> dict:
    """The validated manifest of a shard set."""
    path = os.path.join(shard_dir, MANIFEST)
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except FileNotFoundError:
        raise ShardFormatError(f"{path}: no manifest; not a complete token shard folder") from None
    except (OSError, ValueError) as e:
        raise ShardFormatError(f"{path}: unreadable manifest: {e}") from None
    return validate_manifest(m, path)


class ShardWriter:
    """Write rows of uint16 tokens into numbered shards, then the manifest.

    Use as a context manager; the set appears at ``out_dir`` only when the block ends without
    an exception.  ``source`` names the producing tool and its options; ``fields`` adds
    producer fields to the manifest (also settable later through ``writer.fields``).
    """

    def __init__(self, out_dir: str, *, vocab_sha256: str, vocab_size: int, source: dict,
                 shard_tokens: int = 1 << 26, batch_rows: int = 1024, vocab_kind: str = "swe",
                 eot_id: int | None = None, **fields) -> None:
        check_vocab_size(vocab_size)
        self.vocab_kind, self.eot_id = vocab_kind, eot_id
        if shard_tokens <= 0:
            raise ValueError("shard_tokens must be positive")
        self.out_dir = out_dir
        self.vocab_sha256, self.vocab_size = vocab_sha256, vocab_size
        self.source, self.fields = source, dict(fields)
        self.shard_tokens = shard_tokens
        self.batch_rows = batch_rows
        self.shards: list[dict] = []
        self.tokens = self.rows = 0
        self.counts: dict[str, int] = {}
        self._publish = None
        self._tmp = None
        self._writer = None
        self._pending: list[np.ndarray] = []
        self._cur = None

    def __enter__(self) -> "ShardWriter":
        check_destination(self.out_dir, SHARD_SET, flag="output")
        remove_stale_temporaries(self.out_dir, SHARD_SET)
        self._publish = atomic_path(self.out_dir, SHARD_SET)
        self._tmp = self._publish.__enter__()
        os.makedirs(self._tmp)
        return self

    def add(self, tokens: np.ndarray, genre: str = "all") -> None:
        tokens = np.asarray(tokens)
        if tokens.dtype != np.uint16:
            if tokens.size and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
                raise ValueError("token id out of the vocabulary's range")
            tokens = tokens.astype(np.uint16)
        if self._writer is None:
            self._cur = {"file": shard_name(len(self.shards)), "rows": 0, "tokens": 0,
                         "max_id": -1}
            self._writer = pa.ipc.new_file(os.path.join(self._tmp, self._cur["file"]), SCHEMA)
        self._pending.append(tokens)
        self._cur["rows"] += 1
        self._cur["tokens"] += int(tokens.size)
        if tokens.size:
            self._cur["max_id"] = max(self._cur["max_id"], int(tokens.max()))
        self.rows += 1
        self.tokens += int(tokens.size)
        self.counts[genre] = self.counts.get(genre, 0) + int(tokens.size)
        if len(self._pending) >= self.batch_rows:
            self._flush()
        if self._cur["tokens"] >= self.shard_tokens:
            self._close_shard()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_batch(record_batch(self._pending))
            self._pending = []

    def _close_shard(self) -> None:
        self._flush()
        self._writer.close()
        self.shards.append(self._cur)
        self._writer = None
        self._cur = None

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                if self._writer is not None:
                    self._close_shard()
                write_manifest(self._tmp, make_manifest(
                    vocab_sha256=self.vocab_sha256, vocab_size=self.vocab_size,
                    vocab_kind=self.vocab_kind, eot_id=self.eot_id, shards=self.shards, tokens_per_genre=self.counts, source=self.source,
                    **self.fields))
            except BaseException as e:
                self._publish.__exit__(type(e), e, e.__traceback__)
                raise
        elif self._writer is not None:
            self._writer.close()
        self._publish.__exit__(exc_type, exc, tb)


class TokenRows:
    """The rows of one shard set, memory-mapped (nothing copied into Python lists)."""

    def __init__(self, shard_dir: str, check_ids: bool = True) -> None:
        """``check_ids``: read every id once and check it against the manifest's ``max_id``
        of its shard (a vectorised pass over the mapped file; a shard changed after its
        manifest was written is refused here instead of failing training mid-way)."""
        self.dir = shard_dir
        self.manifest = read_manifest(shard_dir)
        self.offsets, self.values, self.classes = [], [], []
        counts = []
        for s in self.manifest["shards"]:
            path = os.path.join(shard_dir, s["file"])
            try:
                reader = pa.ipc.open_file(pa.memory_map(path))
            except (OSError, pa.ArrowInvalid) as e:
                raise ShardFormatError(f"{path}: not an Arrow token shard: {e}") from None
            if reader.schema.field(0).type != pa.list_(pa.uint16()):
                raise ShardFormatError(f"{path}: column 0 is {reader.schema.field(0).type}, "
                                       "expected list<uint16>")
            has_class = "class" in reader.schema.names
            rows = tokens = 0
            top = -1
            for b in range(reader.num_record_batches):
                batch = reader.get_batch(b)
                col = batch.column(0)
                offsets = col.offsets.to_numpy()
                values = col.values.to_numpy(zero_copy_only=False)
                self.offsets.append(offsets)
                self.values.append(values)
                self.classes.append(batch.column("class").to_numpy() if has_class else None)
                counts.append(len(col))
                rows += len(col)
                tokens += int(offsets[-1] - offsets[0]) if len(offsets) else 0
                if ("max_id" not in s or check_ids) and offsets[-1] > offsets[0]:
                    top = max(top, int(values[offsets[0]:offsets[-1]].max()))
            if (rows, tokens) != (s["rows"], s["tokens"]):
                raise ShardFormatError(f"{path}: holds {rows} rows and {tokens} tokens, its "
                                       f"manifest says {s['rows']} and {s['tokens']}")
            if "max_id" in s and top > s["max_id"]:
                raise ShardFormatError(f"{path}: holds token id {top}, over the max_id "
                                       f"{s['max_id']} its manifest records: the shard or the "
                                       "manifest was changed after encoding; encode it again")
            if top >= self.manifest["vocabulary"]["size"]:
                raise ShardFormatError(f"{path}: holds token id {top}, outside the vocabulary "
                                       f"of {self.manifest['vocabulary']['size']} tokens")
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.n_rows = int(self.starts[-1])
        self.lengths = (np.concatenate([np.diff(o) for o in self.offsets]).astype(np.int64)
                        if self.offsets else np.zeros(0, np.int64))

    @property
    def vocab(self) -> dict:
        return self.manifest["vocabulary"]

    def _batch(self, i: int) -> tuple[int, int]:
        b = int(np.searchsorted(self.starts, i, side="right")) - 1
        return b, i - int(self.starts[b])

    def row(self, i: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Tokens ``start:stop`` of row ``i`` (a view of the mapped file)."""
        b, j = self._batch(i)
        off = self.offsets[b]
        lo, hi = int(off[j]), int(off[j + 1])
        end = hi if stop is None else min(hi, lo + stop)
        return self.values[b][lo + start:end]

    def row_class(self, i: int) -> int:
        """The row's spout class (column ``class``), −1 without one."""
        b, j = self._batch(i)
        c = self.classes[b]
        return -1 if c is None else int(c[j])

    def __len__(self) -> int:
        return self.n_rows

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(self.n_rows):
            yield self.row(i)


def iter_rows(shard_dir: str) -> Iterator[np.ndarray]:
    """Every row of every shard, in order, as uint16 arrays (memory-mapped)."""
    yield from TokenRows(shard_dir)
