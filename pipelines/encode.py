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

import glob
import json
import os
import shutil

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
        from corpus_tools.weight import repeats
        if self.enc is None:
            from tokenizer import SWEEncoder
            self.enc = SWEEncoder.load(self.vocabulary, self.emoji)
        n = repeats(doc["id"], float(doc.get("weight") or 1.0), self.seed)
        if n == 0 or not doc["text"]:
            return
        ids = np.asarray(self.enc.encode_array(doc["text"]), dtype=np.uint16)
        for k in range(n):
            yield f"{doc['id']}:{k}", doc["genre"] or "other", ids


def pack_shard(item, tmp: str, seq_len: int, mode: str, eot: int, seed: int) -> dict:
    import pyarrow as pa
    from pipelines.beam_util import stable_hash
    from tokenizer.shards import SCHEMA
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
    name = f"shard-{shard:05d}.arrow"
    lengths = np.array([r.size for r in rows], dtype=np.int64)
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = pa.array(np.concatenate(rows) if rows else np.zeros(0, np.uint16), type=pa.uint16())
    arr = pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), values)
    path = os.path.join(tmp, name)
    with pa.ipc.new_file(path + ".part", SCHEMA) as w:
        w.write_batch(pa.record_batch([arr], schema=SCHEMA))
    os.replace(path + ".part", path)
    return {"file": name, "rows": len(rows), "tokens": int(lengths.sum()), "genres": genres,
            "documents": len(copies)}


def run(args, beam_args) -> int:
    import apache_beam as beam
    from pipelines.beam_util import make_pipeline, shard_of, take_json_lines
    from tokenizer import SWEEncoder
    from tokenizer.shards import FORMAT, MANIFEST, VERSION, publish

    paths = sorted(set(p for pattern in args.corpus for p in glob.glob(pattern)))
    if not paths:
        print(f"swelm encode: no Parquet files match {' '.join(args.corpus)}")
        return 2
    enc = SWEEncoder.load(args.vocabulary, args.emoji)
    if len(enc) > 65536:
        print(f"swelm encode: a vocabulary of {len(enc)} tokens does not fit uint16 shards")
        return 2
    eot = enc.token_to_id("<|endoftext|>")
    out = os.path.abspath(args.out.rstrip("/"))
    tmp = out + ".tmp-encode"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    info = os.path.join(tmp, "shards-info")
    vocab, emoji = enc.vocab.path, enc.emoji.path
    with make_pipeline(args, beam_args) as p:
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
    manifest = {"format": FORMAT, "version": VERSION, "dtype": "uint16",
                "vocabulary": {"sha256": enc.vocab.sha256, "size": len(enc)},
                "shards": [{k: s[k] for k in ("file", "rows", "tokens")} for s in shards],
                "rows": sum(s["rows"] for s in shards), "tokens": sum(s["tokens"] for s in shards),
                "documents": sum(s["documents"] for s in shards),
                "tokens_per_genre": dict(sorted(genres.items())), "mode": args.mode,
                "seq_len": args.seq_len, "seed": args.seed, "source": "swelm encode"}
    with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")
    publish(tmp, out)
    print(f"{manifest['tokens']} tokens in {manifest['rows']} rows, {len(shards)} shards: {out}")
    return 0


def add_parser(sub) -> None:
    import argparse
    from pipelines.beam_util import add_beam_flags
    p = sub.add_parser("encode", help="Parquet corpus -> Arrow token shards",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", nargs="+", required=True, help="Parquet files or glob patterns")
    p.add_argument("--out", required=True, help="shard folder to write (replaced when complete)")
    p.add_argument("--vocabulary", default=None, help="SWE vocabulary (default: the bundled one)")
    p.add_argument("--emoji", default=None, help="emoji table (default: the bundled one)")
    p.add_argument("--seq-len", type=int, default=1280, help="tokens per row (default 1280)")
    p.add_argument("--mode", choices=("lm", "mlm", "hybrid"), default="lm",
                   help="lm: packed rows; mlm/hybrid: one row per document (default lm)")
    p.add_argument("--shards", type=int, default=4, help="number of shards (default 4)")
    p.add_argument("--seed", type=int, default=0, help="repeat and shuffle seed (default 0)")
    add_beam_flags(p)
    p.set_defaults(func=run, beam_pipeline=True)
