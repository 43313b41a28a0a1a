"""swelm build-corpus: WARC files (or JSON lines / Parquet of extracted text, --input) ->
filtered, deduplicated, weighted Parquet corpus.

The pipeline is a row of named composite transforms (swelm.pipelines.stages), each wiring
per-document functions of swelm.corpus_tools (the Document type and its recipe are in
corpus_tools.document).  Documents are staged, never shuffled: each is written once to a
staging file under the output's temporary folder (pipelines.staging) and read back by the
later passes; only compact records cross shuffles (docs/engine.md has the picture).

  ReadPages       WARC byte ranges (corpus_tools.warc) -> pages extracted into staging/a-N,
                  a capture record (id, length, text hash, range, row) each; input problems
                  are counted as events (--input: pieces of the records files, each record
                  a document, corpus_tools.records)
  ChooseCaptures  one capture per URL (the one with the most text), from the records alone;
                  the others are counted as same_id events
  Boilerplate     lines on >= --boilerplate-share of a site's pages (the chosen pages read
                  back; counted per (site, bucket) table; only the boilerplate keys are
                  broadcast)
  Quality         each line classified (boilerplate, code, navigation, short, foreign or
                  Japanese prose: corpus_tools.paragraphs), the prose normalised and filtered
                  with the site's thresholds and NG words; every chosen page is written to
                  staging/b-N, and its compact records go on: stats rows, exact keys, long
                  lines, (id, site, chars)
  ExactDups       the same text (after whitespace folding): the smallest id stays
  NearDups        among distinct texts: MinHash band keys -> groups of ids -> each distinct
                  group checked with its members' signatures -> star edges -> connected
                  components by min-label propagation (--cc-rounds shuffles)
  Containment     pages whose long lines mostly belong to smaller pages (split manuals), over
                  every cleaned page, kept or not
  Decide          each kept page's first duplicate reason; the characters that stay per site
  WriteOutputs    output shard K from a run of consecutive WARC ranges: their staging files
                  read once, each page to corpus/ with its repeat factor (site x genre
                  weights, --budget) or to rejected/ with its rule (and the lines taken out
                  of it, as rows of their own)
  Stats           per (site, genre, rule) counts -> stats.json, stats.md, stats.html,
                  plots/*.png

On the local runner the WARC ranges are dealt to the worker processes in bins of about equal
bytes.  The same inputs give byte-identical outputs with any number of workers and any runner.

Output in --out: corpus/part-NNNNN.parquet, rejected/part-NNNNN.parquet (the Document schema,
corpus_tools.document.COLUMNS), stats.json, stats.md, stats.html (the report with its plots
inline, for a browser) and plots/*.png.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from swelm.checks import integer_arg, number_arg
from swelm.corpus_tools.sites import NAME_PATTERN as _SITE_NAME, WEB_SITE
from swelm.corpus_tools.dedup import DEFAULT_BANDS, DEFAULT_ROWS
from swelm.corpus_tools.filter import PRESETS
from swelm.errors import InputError, UsageError
from swelm.options import flag
from swelm.words import plural
from swelm.publish import Kind, json_marker

from .beam_util import BeamOptions

#: a build-corpus output: stats.json (written last) names the command
BUILD = Kind("a build-corpus output",
             entries=("stats.json", "stats.md", "stats.html", "plots/*.png",
                      "corpus/part-*.parquet",
                      "rejected/part-*.parquet", "stats-rows.jsonl", "file-events.jsonl"),
             marker="stats.json",
             recognise=json_marker(lambda m: isinstance(m.get("settings"), dict)
                                   and m["settings"].get("command") == "build-corpus"))

#: the options recorded in stats.json (what decides the output, not where it is)
SETTINGS = ("shards", "seed", "bands", "rows", "jaccard", "max_bucket", "cc_rounds",
            "containment", "min_line_chars", "boilerplate_share", "budget", "genre_weight",
            "preset", "rehydrate", "max_perplexity", "keep_best_share", "min_quality_score")


#: MinHash hashes per page at most (--bands x --rows)
MAX_HASHES = 4096

#: the names of WARC files in a folder given as --warc
WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")


def warc_inputs(files, patterns: list[str]) -> dict[str, int]:
    """``{path: size}`` of the WARC files ``--warc`` names: files, glob patterns, or folders
    (their ``.warc``/``.warc.gz`` files at any depth); see :func:`pipelines.inputs.input_files`."""
    from .inputs import input_files
    return input_files(files, patterns, "--warc", WARC_SUFFIXES, "WARC")


def text_inputs(files, patterns: list[str]) -> dict[str, int]:
    """``{path: size}`` of the JSON-lines and Parquet files ``--input`` names: files, glob
    patterns, or folders (their such files at any depth)."""
    from swelm.corpus_tools.records import SUFFIXES
    from .inputs import input_files
    return input_files(files, patterns, "--input", SUFFIXES, "JSON-lines or Parquet")


def check_text_inputs(files, paths: list[str], o) -> list[str]:
    """The ``--input`` files to read, checked before any work (corpus_tools.records.inspect:
    JSON lines or Parquet with the columns the flags name); one named that is not is refused,
    one a folder or pattern brought in is passed over with a warning."""
    from .inputs import check_records
    required = {}
    if o.id_column:
        required[o.id_column] = "--id-column"
    if o.site_column:
        required[o.site_column] = "--site-column"
    if not o.site and not o.site_column:
        required[o.url_column] = ("--url-column (the site rules match it), or give --site "
                                  "NAME (every record of one site)")
    elif o.url_column != "url":
        required[o.url_column] = "--url-column"
    return check_records(files, paths, list(o.input), "--input", o.text_column, required)


def file_warnings(stats: dict, most: int = 5) -> list[str]:
    """Console lines for the input files that were not read whole or were read in an unusual
    way (their full list and reasons are in stats.json and stats.md)."""
    from .report import FILE_EVENTS
    out = []
    for kind in FILE_EVENTS:
        if kind == "retried_reads":
            continue
        files = stats.get("input_files", {}).get(kind, {})
        for where, details in list(files.items())[:most]:
            out.append(f"{where}: {kind}: {details[0]}"
                       + (f" (and {len(details) - 1} more)" if len(details) > 1 else ""))
        if len(files) > most:
            out.append(f"{kind}: {len(files) - most} more files (see stats.json)")
    return out


def read_warc_list(files, path: str, prefix: str) -> list[str]:
    """The WARC URLs of a Common Crawl path list (``warc.paths.gz``, any filesystem or
    http(s)): ``prefix`` + each line."""
    import gzip
    import zlib
    from .io import absolute
    try:
        data = files.read_bytes(absolute(path))
    except (FileNotFoundError, IsADirectoryError) as e:
        raise UsageError(f"--warc-list {path}: cannot read it ({type(e).__name__})") from None
    except OSError as e:
        raise UsageError(f"--warc-list {path}: {e}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as e:
            raise UsageError(f"--warc-list {path}: a damaged or cut gzip file ({e}); download "
                             "it again") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"--warc-list {path}: not a text file of WARC paths (byte "
                         f"{e.start} is not UTF-8); expected warc.paths or warc.paths.gz, one "
                         "path per line") from None
    if "\x00" in text:
        raise UsageError(f"--warc-list {path}: not a text file of WARC paths (it holds NUL "
                         "bytes); expected warc.paths or warc.paths.gz, one path per line")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise UsageError(f"--warc-list {path}: no WARC paths in it")
    if not prefix.endswith("/"):
        prefix += "/"
    return [line if "://" in line else prefix + line.lstrip("/") for line in lines]


def run(args: CorpusOptions) -> int:
    """Build the corpus ``args`` describe."""
    from swelm.corpus_tools.sites import load_sites, web_site
    from .report import SAME_ID, report_warnings
    from swelm.corpus_tools.warc import plan as warc_plan
    from swelm.corpus_tools.weight import effective_weight
    from . import stages as st
    from .io import FileSystem, absolute, check_scheme, is_remote, join

    check_options(args)
    files = FileSystem(args.beam_args)
    base = {k: getattr(args, k) for k in ("max_perplexity", "keep_best_share",
                                           "min_quality_score") if getattr(args, k) is not None}
    sites = (load_sites(absolute(args.sites), reader=files.read_bytes, preset=args.preset,
                        base=base) if args.sites else [])
    if args.site and not any(s.name == args.site for s in sites):
        if args.sites:
            raise UsageError(f"--site {args.site}: no such site in --sites {args.sites} (it "
                             f"has {', '.join(s.name for s in sites) or 'none'})")
        sites.append(web_site(args.site, args.preset, base))
    if args.all_sites:
        if any(s.name == WEB_SITE for s in sites):
            raise UsageError(f"--all-sites: the rules already have a site named {WEB_SITE!r}")
        sites.append(web_site(preset=args.preset, base=base))
    elif not sites:
        raise UsageError("give --sites FILE, --all-sites, or both")
    models, described = check_models(args, sites, files)
    runner = args.runner
    if args.warc_list:
        # Common Crawl: tens of thousands of files; each is one piece of work, read in Range
        # requests by a worker, with nothing fetched by the driver but the list
        urls = read_warc_list(files, args.warc_list, args.warc_prefix)
        for scheme_url in {u.split("://", 1)[0]: u for u in urls}.values():
            check_scheme(scheme_url, "--warc-prefix" if scheme_url.startswith(
                args.warc_prefix) else f"--warc-list {args.warc_list}:")
        pieces = {(u, 0, 1 << 62): 1 for u in urls}
        sizes = {u: 1 << 30 for u in urls}          # for the line tables: about 1 GiB each
    elif args.input:
        for pat in args.input:
            check_scheme(pat, "--input")
        sizes = text_inputs(files, list(args.input))
        sizes = {p: sizes[p] for p in check_text_inputs(files, list(sizes), args)}
    else:
        if not args.warc:
            raise UsageError("give --warc PATTERN..., --warc-list FILE or --input FILE...")
        for pat in args.warc:
            check_scheme(pat, "--warc")
        sizes = warc_inputs(files, list(args.warc))
    out = absolute(args.out)
    # (an output inside an input folder would be read by the next run)
    local_inputs = [p for p in sizes if not is_remote(p)] + [
        absolute(p) for p in (args.input or []) if not is_remote(p) and os.path.isdir(p)]
    files.check_output(out, BUILD, sources=local_inputs)       # before any work
    piece = st.range_bytes(sum(sizes.values()))
    if args.input:
        from swelm.corpus_tools.records import plan as text_plan
        pieces = {(p, s, e): n for p, size in sizes.items()
                  for s, e, n in text_plan(p, size, files.open_read, piece)}
        if not pieces:
            raise InputError(f"--input {' '.join(args.input)}: the {len(sizes)} file"
                             f"{'s are' if len(sizes) != 1 else ' is'} empty; nothing was "
                             f"written to {out}")
        reader = st.ReadText(sites, {"text": args.text_column, "id": args.id_column,
                                     "url": args.url_column, "title": "title",
                                     "site": args.site_column}, args.site, files)
    else:
        if not args.warc_list:
            pieces = warc_plan(sizes, piece, opener=files.open_read)
        reader = st.ReadWarc(sites, files)
    weights = {s.name: effective_weight(s.weight, s.genre, args.genre_weight) for s in sites}
    if not any(weights.values()):
        raise UsageError(f"--genre-weight {_weights_text(args.genre_weight)}: every site's "
                         "weight is 0 (its site weight times its genre's), so nothing would "
                         "be kept")
    buckets = args.line_buckets or st.line_buckets_for(sum(sizes.values()))
    # the previous output stays whole until the new one is complete
    with files.output_folder(out, BUILD, local_inputs, checked=True) as folder:
        stats = _build(args, (sites, reader, pieces, buckets, weights, files, runner, models,
                              described), folder)
        for line in file_warnings(stats):
            print(f"warning: {line}", file=sys.stderr)
        if not any(s["in_docs"] for s in stats["sites"].values()):
            # nothing to publish: the previous output (if any) stays as it was
            events = ", ".join(f"{k} {v}" for k, v in sorted(stats["events"].items()))
            raise InputError(f"no {'document' if args.input else 'page'} was read from the "
                             f"{len(sizes)} input file{'s' if len(sizes) != 1 else ''}"
                             + (f" ({events})" if events else "" if args.input else
                                " (no HTML responses in them)")
                             + f"; nothing was written to {out}")
    for line in report_warnings(stats):
        print(f"warning: {line}", file=sys.stderr)
    print(f"corpus: {plural(stats['kept']['docs'], 'document')} "
          f"({plural(stats['kept']['chars'], 'character')}) in "
          f"{join(out, 'corpus')}; rejected: {stats['rejected_docs']:,} in "
          f"{join(out, 'rejected')}; "
          + (f"{stats['events'][SAME_ID]:,} left out as {SAME_ID} (another of their id has "
             "more text); " if stats["events"].get(SAME_ID) else "")
          + f"report: {join(out, 'stats.md')} (in a browser: "
          f"{join(out, 'stats.html')})")
    return 0


def _build(args, setup, out: str) -> dict:
    """Run the pipeline with its output in the folder ``out``; the report's summary."""
    import apache_beam as beam
    from swelm.corpus_tools.dedup import MinHasher
    from . import progress, staging
    from .io import join
    from . import stages as st
    from .beam_util import count_and_first, make_pipeline, take_json_lines, write_json_lines
    from .report import FILE_EVENTS, write_report
    sites, reader, pieces, buckets, weights, files, runner, models, described = setup
    for sub in ("corpus", "rejected"):
        files.makedirs(join(out, sub))
    files.makedirs(join(out, staging.FOLDER))
    stats_rows = join(out, "stats-rows.jsonl")
    file_events = join(out, "file-events.jsonl")
    # the WARC ranges in a fixed order: range N is staged as staging/a-N and b-N
    ranges = list(enumerate(sorted(pieces)))
    # one bin of ranges per local worker (the local runner deals a shuffle's keys out in
    # turn); other runners get one bin per range
    bins = len(pieces) if runner else max(1, args.workers)
    index_of = {piece: i for i, piece in ranges}
    bin_of = {index_of[piece]: b for b, piece in st.balanced_bins(pieces, bins)}
    # output shard k is written from a run of consecutive ranges
    shards = min(args.shards, len(ranges))
    shard_of_range = {i: i * shards // len(ranges) for i, _ in ranges}
    shard_ranges: dict = {}
    for i, k in shard_of_range.items():
        shard_ranges.setdefault(k, []).append(i)
    mh = MinHasher(bands=args.bands, rows=args.rows, seed=args.seed)
    # (a --warc-list's files have no size known before they are read)
    piece_bytes = {} if args.warc_list else {i: pieces[piece] for i, piece in ranges}
    shown = progress.Progress("build-corpus", files, progress.build_stages(
        files, out, ranges, piece_bytes, shards))
    with shown, make_pipeline(args) as p:
        captures, events = p | "ReadPages" >> st.ReadPages(reader, ranges, bin_of, out, files)
        chosen, same_id = captures | "ChooseCaptures" >> st.ChooseCaptures(bin_of)
        events = (events, same_id) | "AllEvents" >> beam.Flatten()
        boiler = (chosen | "ChosenPages" >> beam.FlatMap(st.ChosenPages(out, files))
                  | "Boilerplate" >> st.Boilerplate(buckets, args.boilerplate_share))
        cleaned = chosen | "Quality" >> st.Quality(sites, boiler, out, args.min_line_chars, files,
                                                   models)
        exact, distinct = cleaned[st.EXACT] | "ExactDups" >> st.ExactDups()
        # near duplicates among distinct texts: the copies of a text are its exact duplicates
        near, labels, largest = (
            distinct | "Signatures" >> st.RepresentativeSignatures(out, mh, files)
            | "NearDups" >> st.NearDups(mh, args.jaccard, args.max_bucket, args.cc_rounds))
        clusters = (labels, distinct) | "Clusters" >> st.Clusters()
        # containment runs over every cleaned page: a split page rejected for quality still
        # makes the "big page" that repeats it a duplicate
        contained = cleaned[st.LONG_LINES] | "Containment" >> st.Containment(
            buckets, args.containment)
        shares = {s.name: s.keep_best_share for s in sites if s.keep_best_share is not None}
        more = ([clusters | "ClusterSize" >> beam.CombinePerKey(sum)] if args.rehydrate
                else []) + ([cleaned[st.PERPLEXITY]] if shares else [])
        decided = ((cleaned[st.KEPT], (exact, near, contained), *more)
                   | "Decide" >> st.Decide(shard_of_range, shares, args.rehydrate))
        sizes = decided[st.SIZES] | "CharsPerSite" >> beam.CombinePerKey(sum)
        _ = (decided[st.REMOVED], sizes) | "WriteOutputs" >> st.WriteOutputs(
            out, shard_ranges, weights, args.budget, files)
        # the loosest value of each rule that alone rejects pages: the largest value of a
        # max_ rule's metric, the smallest of a min_ rule's
        bounds = (cleaned[st.BOUNDS] | "Bound" >> beam.CombinePerKey(max)
                  | "BoundRow" >> beam.Map(lambda kv: (kv[0], (0, 0, kv[1]))))
        # stats rows are summed where they are made (Beam lifts the combine into the
        # producing stage), so only per-key sums cross to Stats
        rows = ((cleaned["stats"] | "SumPageRows" >> beam.CombinePerKey(st._sum_tuples)),
                (decided["stats"] | "SumDecisionRows" >> beam.CombinePerKey(st._sum_tuples)),
                bounds) | "StatRows" >> beam.Flatten()
        _ = (rows, sizes, events, clusters, largest) | "Stats" >> st.Stats(
            stats_rows, weights, args.budget, {s.name: s.genre for s in sites}, files)
        # a file's records that could not be used: their count and the first, per file
        bad = (events | "BadRecords" >> beam.Filter(lambda e: e[0] == "bad_record")
               | "BadPerFile" >> beam.Map(lambda e: (e[1], (1, e[2])))
               | "CountBad" >> beam.CombinePerKey(count_and_first)
               | "BadEvent" >> beam.Map(lambda kv: (
                   "bad_record", kv[0], f"{kv[1][0]} record{'s' if kv[1][0] != 1 else ''} "
                   f"could not be used; the first: {kv[1][1]}")))
        whole = events | "FileEvents" >> beam.Filter(
            lambda e: e[0] in FILE_EVENTS and e[0] != "bad_record")
        write_json_lines((whole, bad) | "AllFileEvents" >> beam.Flatten(), file_events, files,
                         "WriteFileEvents")
    staging.remove(files, out)
    table = sorted(take_json_lines(stats_rows, files))
    settings = {"command": "build-corpus", **{k: getattr(args, k) for k in SETTINGS}}
    if args.all_sites:
        settings["all_sites"] = True
    if described:
        settings["models"] = described
    if args.input:
        settings["input"] = {k: getattr(args, k) for k in (
            "text_column", "id_column", "url_column", "site", "site_column")}
    return write_report(files, out, table, sites, settings,
                        take_json_lines(file_events, files))


def check_models(o, sites: list, files) -> tuple[dict, dict]:
    """``{"lm": path, "classifier": path}`` of the models the build scores pages with, each
    read once here (a file that is not one is refused before any work), and what stats.json
    records of each (its file, SHA-256 and, for the n-gram model, its unit and order); a
    site that filters by a signal no model gives is a UsageError."""
    import hashlib
    from swelm.corpus_tools.classifier import ClassifierError, QualityClassifier
    from swelm.corpus_tools.filter import SIGNAL_RULES
    from swelm.corpus_tools.ngram_lm import LMError, NgramLM
    from .io import absolute
    models, described = {}, {}
    for key, flag_name, cls, error in (("lm", "--lm", NgramLM, LMError),
                                       ("classifier", "--classifier", QualityClassifier,
                                        ClassifierError)):
        path = getattr(o, key)
        if path is None:
            continue
        if not path.strip():
            raise UsageError(f"{flag_name} '': an empty path; expected a model file")
        path = absolute(path)
        try:
            data = files.read_bytes(path)
        except FileNotFoundError:
            raise UsageError(f"{flag_name} {path}: file not found") from None
        except OSError as e:
            raise UsageError(f"{flag_name} {path}: cannot read it: {e}") from None
        try:
            model = cls.from_bytes(data, path)
        except error as e:
            raise UsageError(f"{flag_name} {e}") from None
        models[key] = path
        described[key] = {"file": os.path.basename(path), "sha256": hashlib.sha256(data).hexdigest(),
                          **({k: model.meta[k] for k in ("unit", "order")} if key == "lm"
                             else {})}
    for site in sites:
        for rule, flag_name in SIGNAL_RULES.items():
            if site.filters.get(rule) is not None and flag_name.lstrip("-") not in models:
                raise UsageError(f"site {site.name}: {rule} {site.filters[rule]} needs "
                                 f"{flag_name} MODEL (the model that measures it)")
        if site.keep_best_share is not None and "lm" not in models:
            raise UsageError(f"site {site.name}: keep_best_share {site.keep_best_share} needs "
                             "--lm MODEL (pages are ranked by their perplexity)")
    return models, described


def _genre_weights(text: str) -> dict:
    """``'novel=2,docs=0.5'`` as ``{genre: weight}``; each genre known, each weight a finite
    number >= 0."""
    import math
    from swelm.corpus_tools.sites import GENRES
    out = {}
    for part in filter(None, text.split(",")):
        k, eq, v = part.partition("=")
        k = k.strip()
        if k not in GENRES:
            raise argparse.ArgumentTypeError(
                f"unknown genre {k!r} in {text!r}; genres: {', '.join(GENRES)}")
        try:
            w = float(v)
        except ValueError:
            w = None
        if not eq or w is None or not math.isfinite(w) or w < 0:
            raise argparse.ArgumentTypeError(
                f"{part!r}: expected GENRE=WEIGHT with a finite weight >= 0")
        out[k] = w
    return out


class _MergeWeights(argparse.Action):
    """``--genre-weight`` given more than once: the weights of every one, the later winning
    for a genre named twice."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, {**(getattr(namespace, self.dest) or {}), **values})


@dataclasses.dataclass(kw_only=True)
class CorpusOptions(BeamOptions):
    """Every option of build-corpus: the command line's flags are made from these fields, and
    ``swelm pipeline`` builds one directly."""
    warc: list = flag(default_factory=list, nargs="+", action="extend",
                      help="WARC files or glob patterns (any filesystem); repeatable")
    warc_list: str | None = flag(
        None, metavar="FILE",
        help="Common Crawl's warc.paths.gz (or a text file of WARC paths or URLs): each file "
             "is read by a worker in HTTP Range requests with retries")
    warc_prefix: str = flag("https://data.commoncrawl.org/",
                            help="prefix of the --warc-list paths, e.g. s3://commoncrawl/")
    input: list = flag(
        default_factory=list, nargs="+", action="extend",
        help="files of already extracted text instead of WARCs: JSON lines (.jsonl, .json, "
             ".ndjson, also .gz) or Parquet, as Hugging Face datasets and datatrove write "
             "them; files, glob patterns or folders (any filesystem)")
    text_column: str = flag("text", help="with --input: the field or column holding the text")
    id_column: str | None = flag(
        None, help="with --input: a column with each document's id (records with the same "
                   "id are one document, whose longest text stays; the others are counted "
                   "as same_id); default: a hash of the "
                   "URL, as for pages, else of where the record is")
    url_column: str = flag("url", help="with --input: the column with each document's URL "
                                       "(used when present; site rules match it)")
    site: str | None = flag(
        None, help="with --input: the site every record belongs to: a site of --sites, or "
                   "without --sites one with the default web filters (genre other)")
    site_column: str | None = flag(
        None, help="with --input: a column naming each record's site of --sites (a record "
                   "whose site is not there is matched by its URL)")
    sites: str | None = flag(None, help="site rules file (TOML or YAML; any filesystem)")
    all_sites: bool = flag(
        False, action="store_true",
        help=f"a whole-web build: pages of no listed site are kept too, as the site "
             f"{WEB_SITE!r} (genre other, the default web filters), instead of being counted "
             "and dropped")
    out: str = flag(help="output folder or prefix (any filesystem)")
    shards: int = flag(4, type=integer_arg(minimum=1),
                       help="Parquet files in corpus/ and in rejected/ (at most one per WARC "
                            "range); each is written by one worker from a run of consecutive "
                            "ranges, so raise it for large inputs (about one per GB of WARC)")
    seed: int = flag(0, type=integer_arg(minimum=0), help="MinHash seed")
    # near duplicates: LSH with bands x rows hashes, then the signature Jaccard check
    bands: int = flag(DEFAULT_BANDS, type=integer_arg(minimum=1), help="LSH bands")
    rows: int = flag(DEFAULT_ROWS, type=integer_arg(minimum=1), help="LSH rows per band")
    jaccard: float = flag(0.8, type=number_arg(minimum=0, maximum=1),
                          help="signature Jaccard a candidate pair must reach")
    max_bucket: int = flag(1000, type=integer_arg(minimum=2),
                           help="members of one LSH band group at most: a larger bucket is "
                                "split into groups of about half this, whose leaders are "
                                "compared in turn")
    cc_rounds: int = flag(6, type=integer_arg(minimum=1),
                          help="label-propagation rounds for near-duplicate clusters")
    # containment: share of a page's long lines owned by smaller pages
    containment: float = flag(0.8, type=number_arg(minimum=0, maximum=1, exclusive=True),
                              help="share of a page's long lines owned by smaller pages that "
                                   "makes it a near-duplicate")
    min_line_chars: int = flag(30, type=integer_arg(minimum=1),
                               help="lines this long count for containment")
    # boilerplate: lines on this share of a site's pages
    boilerplate_share: float = flag(0.1, type=number_arg(minimum=0, maximum=1, exclusive=True),
                                    help="lines on this share of a site's pages are "
                                         "boilerplate")
    line_buckets: int = flag(0, type=integer_arg(minimum=0),
                             help="line tables per site for the boilerplate counts, and in all "
                                  "for the containment check (0: 64, or one per 128 MB of WARC "
                                  "input if that is more)")
    # weights: characters wanted (None: weights are repeat factors), genre weights
    budget: float | None = flag(None, type=number_arg(minimum=0, exclusive=True),
                                help="characters wanted in the weighted corpus (default: "
                                     "weights as repeats)")
    genre_weight: dict = flag(default_factory=dict, type=_genre_weights,
                              action=_MergeWeights,
                              help="genre weights, e.g. 'novel=2,docs=0.5' (repeatable)")
    # quality beyond the rules
    preset: str = flag("swallow", choices=PRESETS,
                       help="the page rules every site starts from: swallow (the Swallow "
                            "corpus rules, adjusted per genre) or fineweb2-jpn (FineWeb-2's "
                            "published Japanese configuration, for every genre); a site's "
                            "filters still override them")
    lm: str | None = flag(None, metavar="MODEL",
                          help="an n-gram model (swelm build-lm): each page's perplexity "
                               "under it becomes the metric 'perplexity'")
    max_perplexity: float | None = flag(
        None, type=number_arg(minimum=1),
        help="with --lm: reject pages above this perplexity (at least 1; every site; a "
             "site's filters.max_perplexity overrides it)")
    keep_best_share: float | None = flag(
        None, type=number_arg(minimum=0, maximum=1, exclusive=True),
        help="with --lm: of each site's pages that pass the rules (duplicates counted: the "
             "share is taken before deduplication), keep this share of lowest perplexity (a "
             "site's filters.keep_best_share overrides it); the rest are rejected as "
             "keep_best_share")
    classifier: str | None = flag(None, metavar="MODEL",
                                  help="a quality classifier (swelm train-classifier): each "
                                       "page's quality_score (0-1) under it; pages below "
                                       "--min-quality-score (0.5) are rejected")
    min_quality_score: float | None = flag(
        None, type=number_arg(minimum=0, maximum=1),
        help="with --classifier: reject pages scored below this (default 0.5 when "
             "--classifier is given; a site's filters.min_quality_score overrides it)")
    rehydrate: bool = flag(False, action="store_true",
                           help="re-add duplicates: a page that stands for a cluster of "
                                "duplicates gets FineWeb-2's copies by cluster size (2->2, "
                                "3-4->3, 5-99->5, 100-999->8, 1000+->1) in its weight")


OPTIONS = CorpusOptions


def check_options(o) -> None:
    """The options of a build (flags or a CorpusOptions) that cannot work, as UsageError."""
    from swelm.checks import number
    o.check_runner()
    given = [f"{f} {v if isinstance(v, str) else ' '.join(v)}" for f, v in (
        ("--warc", o.warc), ("--warc-list", o.warc_list), ("--input", o.input)) if v]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)}: give one (WARC files or patterns, a list of "
                         "WARC paths or URLs, or files of extracted text)")
    if not o.input:
        for name, default in (("text_column", "text"), ("id_column", None),
                              ("url_column", "url"), ("site", None), ("site_column", None)):
            if getattr(o, name) != default:
                raise UsageError(f"--{name.replace('_', '-')} {getattr(o, name)}: only with "
                                 "--input (files of extracted text)")
    if o.site and o.site_column:
        raise UsageError(f"--site {o.site} and --site-column {o.site_column}: give one (every "
                         "record of one site, or each record's site in a column)")
    if o.site is not None and not _SITE_NAME.fullmatch(o.site):
        raise UsageError(f"--site {o.site!r}: a site name is letters, digits, '.', '_' and "
                         "'-'")
    if o.site and o.all_sites:
        raise UsageError(f"--site {o.site} and --all-sites: --site puts every record in one "
                         "site; give one")
    for name, kw in (("shards", dict(minimum=1, integer=True)),
                     ("workers", dict(minimum=1, integer=True)),
                     ("bands", dict(minimum=1, integer=True)),
                     ("rows", dict(minimum=1, integer=True)),
                     ("max_bucket", dict(minimum=2, integer=True)),
                     ("cc_rounds", dict(minimum=1, integer=True)),
                     ("min_line_chars", dict(minimum=1, integer=True)),
                     ("line_buckets", dict(minimum=0, integer=True)),
                     ("jaccard", dict(minimum=0, maximum=1)),
                     ("containment", dict(minimum=0, maximum=1, exclusive=True)),
                     ("boilerplate_share", dict(minimum=0, maximum=1, exclusive=True))):
        number(getattr(o, name), "--" + name.replace("_", "-"), **kw)
    if o.classifier and o.min_quality_score is None:
        o.min_quality_score = 0.5
    for name, needs in (("max_perplexity", "lm"), ("keep_best_share", "lm"),
                        ("min_quality_score", "classifier")):
        if getattr(o, name) is not None and not getattr(o, needs):
            raise UsageError(f"--{name.replace('_', '-')} {getattr(o, name)}: needs "
                             f"--{needs} MODEL")
    if o.bands * o.rows > MAX_HASHES:
        # every page carries bands x rows hashes through the shuffles; past a few thousand
        # the signature costs more than the page and finds no more duplicates
        raise UsageError(f"--bands {o.bands} --rows {o.rows}: {o.bands * o.rows} MinHash "
                         f"hashes per page; at most {MAX_HASHES} (the default is "
                         f"{DEFAULT_BANDS} x {DEFAULT_ROWS})")
    if o.budget is not None:
        number(o.budget, "--budget", minimum=0, exclusive=True)
    for genre, w in (o.genre_weight or {}).items():
        number(w, f"--genre-weight {genre}", minimum=0)


def _weights_text(weights: dict) -> str:
    return ",".join(f"{k}={v:g}" for k, v in weights.items()) or "(none)"
