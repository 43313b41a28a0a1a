"""``swelm encode``: Parquet corpus → Arrow IPC token shards (the ``encode_swe`` format).

Each document is tokenised with SWE and repeated by its weight (``corpus_tools.weight.repeats``:
the whole part of the weight, plus one more copy with the fractional part's probability,
decided by a hash of the seed and the document id). Copies are spread over ``--shards`` shards by
a hash, shuffled inside a shard by a seeded hash, and then:

* ``--mode lm``: packed end to end with ``<|endoftext|>`` and cut into ``--seq-len`` rows;
* ``--mode mlm`` / ``hybrid``: one row per document (longer documents split into ``--seq-len``
  pieces), so that the trainer can build prefix/target sequences per document.

The shard set is written in a temporary folder beside ``--out`` and renamed when complete; the
manifest has the vocabulary sha256, the shards, and token counts per genre. Same input and seed →
same bytes.
"""
from __future__ import annotations

from swelm.errors import UsageError

import glob
import json
import os

import numpy as np


def read_parquet(path: str):
    import pyarrow.parquet as pq
    table = pq.read_table(path, columns=["id", "genre", "text", "weight"])
    for row in table.to_pylist():
        yield row


class Tokenize:
    def __init__(self, vocabulary, emoji, seed: int):
        self.vocabulary, self.emoji, self.seed, self.enc = vocabulary, emoji, seed, None

    def __call__(self, doc: dict):
        from swelm.corpus_tools.weight import repeats
        if self.enc is None:
            from swelm.tokenizer import SWEEncoder
            self.enc = SWEEncoder.load(self.vocabulary, self.emoji)
        n = repeats(doc["id"], float(doc.get("weight") or 1.0), self.seed)
        if n == 0 or not doc["text"]:
            return
        ids = np.asarray(self.enc.encode_array(doc["text"]), dtype=np.uint16)
        for k in range(n):
            yield f"{doc['id']}:{k}", doc["genre"] or "other", ids


def pack_shard(item, tmp: str, seq_len: int, mode: str, eot: int, seed: int) -> dict:
    from swelm.tokenizer.shards import shard_name, write_shard
    from .beam_util import stable_hash
    shard, copies = item
    copies = sorted(copies, key=lambda c: (stable_hash(f"{seed}:{c[0]}"), c[0]))
    rows, genres = [], {}
    if mode == "lm":
        stream, owner = [], []
        for key, genre, ids in copies:
            stream.append(ids)
            stream.append(np.array([eot], dtype=np.uint16))
            owner.append((genre, ids.size + 1))
            genres[genre] = genres.get(genre, 0) + ids.size + 1
        flat = np.concatenate(stream) if stream else np.zeros(0, dtype=np.uint16)
        rows = [flat[i:i + seq_len] for i in range(0, flat.size, seq_len)]
    else:
        for key, genre, ids in copies:
            for i in range(0, max(1, ids.size), seq_len):
                rows.append(ids[i:i + seq_len])
            genres[genre] = genres.get(genre, 0) + ids.size
    entry = write_shard(os.path.join(tmp, shard_name(shard)), rows)
    return dict(entry, genres=genres, documents=len(copies))


def run(args) -> int:
    from swelm.publish import atomic_path, remove_stale_temporaries
    from swelm.tokenizer import SWEEncoder
    from swelm.tokenizer.shards import check_vocab_size

    paths = sorted(set(p for pattern in args.corpus for p in glob.glob(pattern)))
    if not paths:
        raise UsageError(f"--corpus {' '.join(args.corpus)}: no Parquet files match")
    enc = SWEEncoder.load(args.vocabulary, args.emoji)
    check_vocab_size(len(enc))
    out = os.path.abspath(args.out.rstrip("/"))
    remove_stale_temporaries(out)
    with atomic_path(out) as tmp:
        manifest = _encode(args, paths, enc, tmp)
    print(f"{manifest['tokens']} tokens in {manifest['rows']} rows, {len(manifest['shards'])} shards: {out}")
    return 0


def _encode(args, paths: list[str], enc, tmp: str) -> dict:
    """Run the pipeline into the folder ``tmp``; the manifest written there."""
    import apache_beam as beam
    from swelm.tokenizer.shards import make_manifest, write_manifest
    from .beam_util import make_pipeline, shard_of, take_json_lines
    os.makedirs(tmp)
    eot = enc.token_to_id("<|endoftext|>")
    info = os.path.join(tmp, "shards-info")
    vocab, emoji = enc.vocab.path, enc.emoji.path
    with make_pipeline(args) as p:
        (p | "Files" >> beam.Create(paths) | "Spread" >> beam.Reshuffle()
         | "Read" >> beam.FlatMap(read_parquet)
         | "Tokenize" >> beam.FlatMap(Tokenize(vocab, emoji, args.seed))
         | "Shard" >> beam.Map(lambda c: (shard_of(c[0], args.shards), c))
         | "Group" >> beam.GroupByKey()
         | "Pack" >> beam.Map(pack_shard, tmp, args.seq_len, args.mode, eot, args.seed)
         | "Info" >> beam.Map(json.dumps)
         | "WriteInfo" >> beam.io.WriteToText(info, shard_name_template="", file_name_suffix=".jsonl"))
    shards = sorted(take_json_lines(info + ".jsonl"), key=lambda s: s["file"])
    genres: dict[str, int] = {}
    for s in shards:
        for g, n in s.pop("genres").items():
            genres[g] = genres.get(g, 0) + n
    manifest = make_manifest(
        vocab_sha256=enc.vocab.sha256, vocab_size=len(enc), shards=shards,
        tokens_per_genre=genres, source={"tool": "swelm encode"},
        documents=sum(s["documents"] for s in shards), mode=args.mode, seq_len=args.seq_len,
        seed=args.seed)
    write_manifest(tmp, manifest)
    return manifest


def add_shard_options(p) -> None:
    """The flags that shape the shards: shared by ``swelm encode`` and ``swelm pipeline``."""
    p.add_argument("--vocabulary", default=None, help="SWE vocabulary (default: the bundled one)")
    p.add_argument("--seq-len", type=int, default=1280, help="tokens per row")
    p.add_argument("--mode", choices=("lm", "mlm", "hybrid"), default="lm",
                   help="lm: packed rows; mlm/hybrid: one row per document")
    p.add_argument("--shards", type=int, default=4, help="number of shards")
    p.add_argument("--seed", type=int, default=0, help="repeat and shuffle seed")


def add_arguments(p) -> None:
    from .beam_util import add_beam_flags
    p.add_argument("--corpus", nargs="+", required=True, help="Parquet files or glob patterns")
    p.add_argument("--out", required=True, help="shard folder to write (replaced when complete)")
    p.add_argument("--emoji", default=None, help="emoji table (default: the bundled one)")
    add_shard_options(p)
    add_beam_flags(p)
