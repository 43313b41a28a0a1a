"""``swelm encode``: a corpus (build-corpus's Parquet parts, or any JSON-lines or Parquet
files with a text column, as Hugging Face datasets writes them) → Arrow IPC token shards (the
``encode_swe`` format).

The inputs are read in pieces (byte ranges of JSON lines, runs of Parquet row groups:
corpus_tools.records).  Each document is tokenised (SWE, or the tokenizer ``--vocabulary`` names) and repeated by its weight (``corpus_tools.weight.repeats``:
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

import dataclasses
import os
import sys

import numpy as np

from swelm.checks import integer_arg
from swelm.errors import InputError, UsageError, first_line
from swelm.options import Options, flag
from swelm.words import plural

from .beam_util import BeamOptions
from .io import FileSystem, StorageError, absolute, is_remote, join


#: the tagged output of ReadRecords: ``(where, problem)`` of a record that cannot be used
PROBLEMS = "problems"


class ReadRecords:
    """The documents ``{id, genre, text, weight}`` of one piece ``(path, start, end)`` of a
    JSON-lines or Parquet file (corpus_tools.records, any filesystem).  The text is in the
    column ``text_column``; ``id``, ``genre`` and ``weight`` come from the columns of those
    names when the file has them (a build-corpus part does), else the id is where the record
    is, the genre ``other`` and the weight 1.  A record that cannot be used goes to the
    ``problems`` output."""

    def __init__(self, filesystem: FileSystem, text_column: str = "text",
                 id_column: str = "id", progress: str | None = None):
        self.fs, self.text, self.id = filesystem, text_column, id_column
        self.progress = progress

    def __call__(self, item):
        """``(index, (path, start, end), bytes)``: the piece's documents; then, with a
        ``progress`` folder, its counts there (pipelines.progress)."""
        import json

        import apache_beam as beam
        from swelm.corpus_tools.records import read
        index, (path, start, end), nbytes = item
        fields = {"id": self.id, "genre": "genre", "weight": "weight"}
        import pyarrow as pa
        docs = 0
        try:
            for where, rec, problem in read(path, start, end, self.fs.open_read, self.text,
                                            fields):
                if rec is None:
                    yield beam.pvalue.TaggedOutput(PROBLEMS, (where, problem))
                    continue
                weight = _weight(rec["weight"])
                if weight is False:
                    yield beam.pvalue.TaggedOutput(PROBLEMS, (where, (
                        f"the weight {rec['weight']!r} is not a number from 0 to "
                        f"{MAX_REPEATS}")))
                    continue
                docs += 1
                yield {"id": rec["id"] or where,
                       "genre": rec["genre"], "text": rec["text"], "weight": weight}
        except (OSError, EOFError, pa.ArrowException) as exc:
            if isinstance(exc, StorageError):       # the store, not the file: one line
                raise
            # a file checked before the run that breaks while it is read (cut, damaged): the
            # records before the failure are used, the failure is reported with the others
            why = first_line(exc)
            yield beam.pvalue.TaggedOutput(PROBLEMS, (path, f"read only up to a failure "
                                                            f"({why})"))
        if self.progress:
            self.fs.write_text(join(self.progress, f"p-{index:06d}.json"),
                               json.dumps({"docs": docs, "bytes": nbytes}))


def _weight(value: str | None) -> float | None | bool:
    """A record's weight column as a number (None: none given), or False when it is not a
    number from 0 to MAX_REPEATS."""
    if value is None:
        return None
    try:
        w = float(value)
    except ValueError:
        return False
    return w if 0 <= w <= MAX_REPEATS else False       # (NaN is neither)


class Tokenize:
    """A document's token ids, repeated by its weight; the encoder travels with the DoFn."""

    def __init__(self, enc, seed: int):
        self.enc, self.seed = enc, seed

    def __call__(self, doc: dict):
        from swelm.corpus_tools.weight import repeats
        weight = doc.get("weight")
        # a weight of 0 means no copies (only a missing weight means 1)
        n = repeats(doc["id"], 1.0 if weight is None else float(weight), self.seed)
        if n == 0 or not doc["text"]:
            return
        ids = np.asarray(self.enc.encode_array(doc["text"]), dtype=np.uint16)
        for k in range(n):
            yield f"{doc['id']}:{k}", doc["genre"] or "other", ids


def pack_shard(item, folder: str, seq_len: int, mode: str, eot: int, seed: int,
               filesystem: FileSystem = FileSystem()) -> dict:
    from swelm.tokenizer.shards import shard_name, write_shard_to
    from .beam_util import stable_hash
    shard, copies = item
    # (the tokens break a tie: two documents given the same id come in the same order
    # whatever the worker count)
    copies = sorted(copies, key=lambda c: (stable_hash(f"{seed}:{c[0]}"), c[0], c[2].tobytes()))
    rows, genres = [], {}
    if mode == "lm":
        stream = []
        for key, genre, ids in copies:
            stream.append(ids)
            stream.append(np.array([eot], dtype=np.uint16))
            genres[genre] = genres.get(genre, 0) + ids.size + 1
        flat = np.concatenate(stream) if stream else np.zeros(0, dtype=np.uint16)
        rows = [flat[i:i + seq_len] for i in range(0, flat.size, seq_len)]
    else:
        for key, genre, ids in copies:
            for i in range(0, max(1, ids.size), seq_len):
                rows.append(ids[i:i + seq_len])
            genres[genre] = genres.get(genre, 0) + ids.size
    name = shard_name(shard)
    with filesystem.create(join(folder, name)) as f:
        entry = write_shard_to(f, name, rows)
    return dict(entry, genres=genres, documents=len(copies))


def run(args: "EncodeOptions") -> int:
    from swelm.tokenizer.kinds import open_tokenizer
    from swelm.tokenizer.shards import MANIFEST, SHARD_SET, check_vocab_size, manifest_text

    args.check_runner()
    files = FileSystem(args.beam_args)
    sizes = corpus_inputs(files, list(args.corpus))
    paths = list(sizes)
    check_complete_builds(files, paths)
    paths = check_inputs(files, paths, list(args.corpus), args.text_column, args.id_column)
    sizes = {p: sizes[p] for p in paths}
    out = absolute(args.out.rstrip("/"))
    # (an output inside an input folder would be read by the next run)
    local_inputs = [p for p in paths if not is_remote(p)] + [
        absolute(p) for p in args.corpus if not is_remote(p) and os.path.isdir(p)]
    files.check_output(out, SHARD_SET, sources=local_inputs)      # before any work
    enc = open_tokenizer(args.vocabulary, args.emoji)
    check_vocab_size(len(enc))
    pieces = input_pieces(files, sizes)
    # the previous shard set stays whole until the new one is complete
    with files.output_folder(out, SHARD_SET, local_inputs, checked=True) as folder:
        manifest, problems = _encode(args, pieces, enc, folder, files)
        if problems:
            count, first = problems
            print(f"warning: {plural(count, 'record')} could not be used (first: {first})",
                  file=sys.stderr)
        if not manifest["documents"]:
            raise InputError(f"--corpus {' '.join(args.corpus)}: no document to encode "
                             f"(every text was empty, had the weight 0 or could not be read); "
                             f"nothing was written to {out}")
        files.write_text(join(folder, MANIFEST),
                         manifest_text(manifest, join(out, MANIFEST)))
    print(f"{plural(manifest['tokens'], 'token')} in {plural(manifest['rows'], 'row')}, "
          f"{plural(len(manifest['shards']), 'shard')}: {out}")
    return 0


def corpus_inputs(files, patterns: list[str]) -> dict[str, int]:
    """``{path: size}`` of the JSON-lines and Parquet files ``--corpus`` names: files, glob
    patterns or folders (their such files at any depth, but a build-corpus output found at
    any depth stands for its ``corpus/`` parts only, never its ``rejected/`` ones)."""
    from swelm.corpus_tools.records import SUFFIXES
    from .inputs import input_files

    def folder(root: str, listing: dict) -> set:
        # a build (a folder with stats.json and corpus/ parts) stands for its corpus/ parts
        builds = [p[:-len("stats.json")] for p in listing if p.endswith("/stats.json")
                  and any(q.startswith(p[:-len("stats.json")] + "corpus/") for q in listing)]
        chosen = set()
        for p in listing:
            build = next((b for b in builds if p.startswith(b)), None)
            if build is None:
                if p.lower().endswith(SUFFIXES):
                    chosen.add(p)
            elif p.startswith(build + "corpus/") and p.endswith(".parquet"):
                chosen.add(p)
        return chosen
    return input_files(files, patterns, "--corpus", SUFFIXES, "JSON-lines or Parquet", folder)


def input_pieces(files, sizes: dict[str, int]) -> list[tuple[int, tuple, int]]:
    """The pieces ``(index, (path, start, end), bytes)`` the inputs are read in
    (corpus_tools.records.plan), of a size that depends on the input alone."""
    from swelm.corpus_tools.records import plan
    from .stages import range_bytes
    piece = range_bytes(sum(sizes.values()))
    pieces = [((p, s, e), n) for p, size in sizes.items()
              for s, e, n in plan(p, size, files.open_read, piece)]
    return [(i, piece, n) for i, (piece, n) in enumerate(pieces)]


#: the most copies of one document ``encode`` makes (its weight); more is a mistake (a
#: build-corpus ``--budget`` far above the input), and would fill the memory
MAX_REPEATS = 10_000


def check_inputs(files, paths: list[str], patterns: list[str], text_column: str = "text",
                 id_column: str = "id") -> list[str]:
    """The input files to read: a file that is not JSON lines or Parquet with the text column
    (corpus_tools.records.inspect) is refused when named, passed over with a warning when a
    folder or pattern brought it in (pipelines.inputs.check_records); a Parquet file whose
    weight column (when it has one: build-corpus parts do) holds a value that is not a number
    from 0 to MAX_REPEATS is refused (read from the file's footer and its weight column only,
    before any work)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from swelm.corpus_tools.records import kind_of
    from .inputs import check_records
    required = {} if id_column == "id" else {id_column: "--id-column"}
    paths = check_records(files, paths, patterns, "--corpus", text_column, required)
    for p in paths:
        if kind_of(p) != "parquet":
            continue
        try:
            with files.open_read(p) as f:
                if "weight" not in pq.read_schema(f).names:
                    continue
                f.seek(0)
                table = pq.read_table(f, columns=["weight"])
        except (pa.ArrowException, OSError) as e:
            if isinstance(e, StorageError):
                raise
            first = first_line(e)
            raise UsageError(f"--corpus {p}: its weight column cannot be read ({first})") \
                from None
        w = table.column("weight")
        if not pa.types.is_floating(w.type) and not pa.types.is_integer(w.type):
            raise UsageError(f"--corpus {p}: the weight column holds {w.type}, expected "
                             "numbers")
        w = pc.cast(w, pa.float64())
        bad = pc.fill_null(pc.or_(pc.or_(pc.is_nan(w), pc.less(w, 0)),
                                  pc.greater(w, MAX_REPEATS)), False)
        if pc.any(bad).as_py():
            i = pc.index(bad, True).as_py()
            raise UsageError(f"--corpus {p} (row {i}): the weight {w[i].as_py()!r}; expected "
                             f"a number from 0 to {MAX_REPEATS} (its copies in the training "
                             "set; a build-corpus --budget far above the input makes such "
                             "weights)")
    return paths


def check_complete_builds(files, paths: list[str]) -> None:
    """Refuse Parquet parts of a build-corpus output that has no stats.json (written last):
    an interrupted build, whose parts may be a mix of two builds."""
    import posixpath
    import re
    seen = {}
    for p in paths:
        parent = posixpath.dirname(p) if is_remote(p) else os.path.dirname(p)
        name = posixpath.basename(p)
        if posixpath.basename(parent.rstrip("/")) in ("corpus", "rejected") and re.fullmatch(
                r"part-\d{5}\.parquet", name):
            build = posixpath.dirname(parent) if is_remote(p) else os.path.dirname(parent)
            if build not in seen:
                seen[build] = files.exists(join(build, "stats.json"))
            if not seen[build]:
                raise UsageError(f"--corpus {p}: {build} is not a complete build-corpus output "
                                 "(no stats.json, which is written last); run build-corpus "
                                 "again")


def _encode(args, pieces: list, enc, folder: str, files: FileSystem) -> tuple[dict, list]:
    """Run the pipeline, writing the shards into ``folder``; their manifest (not written) and
    ``[count, "WHERE: problem" of the first]`` of the records that could not be used (None:
    none)."""
    import apache_beam as beam
    from swelm.tokenizer.shards import make_manifest
    from . import progress
    from .beam_util import (count_and_first, make_pipeline, shard_of, take_json_lines,
                            write_json_lines)
    files.makedirs(folder)
    eot = enc.eot_id
    info = join(folder, "shards-info.jsonl")
    problems_file = join(folder, "problems.jsonl")
    shown = progress.Progress("encode", files, progress.encode_stages(
        files, folder, len(pieces), sum(n for _, _, n in pieces), args.shards))
    marks = join(folder, progress.ENCODE_FOLDER) if shown.mode != "off" else None
    with shown, make_pipeline(args) as p:
        read = (p | "Pieces" >> beam.Create(pieces) | "Spread" >> beam.Reshuffle()
                | "Read" >> beam.FlatMap(ReadRecords(files, args.text_column, args.id_column,
                                                     marks))
                .with_outputs(PROBLEMS, main="docs"))
        shards = (read.docs
                  | "Tokenize" >> beam.FlatMap(Tokenize(enc, args.seed))
                  | "Shard" >> beam.Map(lambda c: (shard_of(c[0], args.shards), c))
                  | "Group" >> beam.GroupByKey()
                  | "Pack" >> beam.Map(pack_shard, folder, args.seq_len, args.mode, eot,
                                       args.seed, files))
        write_json_lines(shards, info, files, "Info")
        # only their count and the first cross to the driver
        write_json_lines(read[PROBLEMS] | "ProblemDetail" >> beam.Map(
                             lambda p: ("", (1, f"{p[0]}: {p[1]}")))
                         | "CountProblems" >> beam.CombinePerKey(count_and_first)
                         | "Counted" >> beam.Map(lambda kv: list(kv[1])),
                         problems_file, files, "Problems")
    if marks:
        files.remove_tree(marks)
    shards = sorted(take_json_lines(info, files), key=lambda s: s["file"])
    problems = next(iter(take_json_lines(problems_file, files)), None)
    genres: dict[str, int] = {}
    for s in shards:
        for g, n in s.pop("genres").items():
            genres[g] = genres.get(g, 0) + n
    manifest = make_manifest(
        vocab_sha256=enc.sha256, vocab_size=len(enc), vocab_kind=enc.kind, eot_id=eot,
        shards=shards,
        tokens_per_genre=genres, source={"tool": "swelm encode"},
        documents=sum(s["documents"] for s in shards), mode=args.mode, seq_len=args.seq_len,
        seed=args.seed)
    if problems:
        manifest["skipped_records"] = problems[0]
    return manifest, problems


@dataclasses.dataclass(kw_only=True)
class ShardOptions(Options):
    """The flags that shape the shards: shared by ``swelm encode`` and ``swelm pipeline``."""
    vocabulary: str | None = flag(
        None, help="tokenizer file: an SWE vocabulary (default: the bundled one), a "
                   "SentencePiece .model, or a gpt2ja-v2 / bytes file of build-vocab")
    seq_len: int = flag(1280, type=integer_arg(minimum=1), help="tokens per row")
    mode: str = flag("lm", choices=("lm", "mlm", "hybrid"),
                     help="lm: packed rows; mlm/hybrid: one row per document")
    shards: int = flag(4, type=integer_arg(minimum=1), help="number of shards")
    seed: int = flag(0, type=integer_arg(minimum=0), help="repeat and shuffle seed")


@dataclasses.dataclass(kw_only=True)
class EncodeOptions(ShardOptions, BeamOptions):
    """The options of ``swelm encode``."""
    corpus: list = flag(nargs="+", action="extend", help="Parquet or JSON-lines files (.parquet, .jsonl, "
                                        ".json, .jsonl.gz, ...), glob patterns or folders "
                                        "(a build-corpus output: its corpus/ parts)")
    text_column: str = flag("text", help="the column (Parquet) or field (JSON lines) that "
                                         "holds each document's text")
    id_column: str = flag("id", help="the column with each document's id, which decides its "
                                     "repeats and place (used when present; without one, "
                                     "where the record is in its file)")
    out: str = flag(help="shard folder to write (replaced when complete)")
    emoji: str | None = flag(None, help="emoji table (default: the bundled one)")


OPTIONS = EncodeOptions
