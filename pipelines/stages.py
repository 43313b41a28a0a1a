"""The stages of build-corpus as named composite transforms (the pipeline itself is wired in
swelm.pipelines.corpus).  Each composite is a page or less, with its own expand() and a
TestPipeline test on hand-made input (tests/test_corpus_stages.py); per-document work is done by
swelm.corpus_tools (the Document type and its recipe are in corpus_tools.document)."""
from __future__ import annotations

import contextlib
import json
import os
import re

import apache_beam as beam
import numpy as np

from swelm.corpus_tools.dedup import bucket_pairs, exact_key, is_contained, line_votes
from swelm.corpus_tools.document import Document, to_table
from swelm.errors import first_line

from .io import FileSystem, join
from .beam_util import shuffle, stable_hash, write_json_lines

EVENTS = "events"


# -- per-element functions (wiring around corpus_tools) ---------------------------------------
class _Sites:
    """The site rules (read by the driver; they travel with the pipeline), and the filesystem
    options of the DoFns that read or write files."""

    def __init__(self, sites: list, filesystem: FileSystem = FileSystem()):
        self.sites, self.fs = list(sites), filesystem

    def by_url(self, url: str):
        return next((s for s in self.sites if s.in_scope(url)), None)

    def by_name(self, name: str):
        return next(s for s in self.sites if s.name == name)


class ReadWarc(_Sites):
    """Pages of one byte range ``(path, start, end)`` of a WARC file (see corpus_tools.warc),
    screened by corpus_tools.document.page_from_record and extracted: Documents; input problems
    go to the ``events`` output as ``(event, where, detail)``."""

    def __call__(self, piece):
        from swelm.corpus_tools.document import extract_page, page_from_record
        from swelm.corpus_tools.warc import iter_range
        path, start, end = piece
        opened = []

        def opener(p):
            f = self.fs.open_read(p)
            opened.append(f)
            return f
        read = False
        try:
            for kind, rec in iter_range(path, start, end, opener=opener):
                read = True
                if kind != "record":        # damaged (the reader resumes), not_warc, whole_gzip
                    event = {"damaged": "damaged_warc", "not_warc": "not_warc",
                             "whole_gzip": "whole_gzip_warc"}[kind]
                    yield beam.pvalue.TaggedOutput(EVENTS, (event, path, rec))
                    continue
                screened = page_from_record(rec, self.by_url)
                if screened[0] == "page":
                    _, url, site, html = screened
                    yield extract_page(url, site, html)
                elif screened[1] is not None:
                    _, event, url, detail = screened
                    where = path if event == "damaged_warc" else url
                    yield beam.pvalue.TaggedOutput(EVENTS, (event, where, detail or url))
        except OSError as exc:
            # a file that cannot be opened is reported once (by its first range), not per range
            if start == 0 or read or not isinstance(exc, (FileNotFoundError, PermissionError,
                                                           IsADirectoryError)):
                yield beam.pvalue.TaggedOutput(EVENTS, ("unreadable_warc", path, str(exc)))
        retries = sum(getattr(getattr(f, "raw", f), "retries", 0) for f in opened)
        if retries:                         # transient HTTP errors that were retried
            yield beam.pvalue.TaggedOutput(EVENTS, ("retried_reads", path, str(retries)))


class ReadText(_Sites):
    """A piece ``(path, start, end)`` of a JSON-lines or Parquet file of already extracted
    text (corpus_tools.records) -> Documents (corpus_tools.document.text_document), each of
    the site ``site`` names, else of the one its site column names, else of the one whose rules
    take its URL.  ``columns`` maps ``text``, ``id``, ``url``, ``title`` and ``site`` to the
    columns that hold them (None: not read).  A record that cannot be used (``bad_record``),
    one no site takes (``no_site``) and a file that fails while it is read
    (``unreadable_input``) go to the ``events`` output."""

    def __init__(self, sites: list, columns: dict, site: str | None = None,
                 filesystem: FileSystem = FileSystem()):
        super().__init__(sites, filesystem)
        self.columns, self.site = dict(columns), site

    def site_of(self, rec: dict):
        if self.site:
            return self.by_name(self.site)
        named = next((s for s in self.sites if s.name == rec.get("site")), None)
        return named or self.by_url(rec.get("url") or "")

    def __call__(self, piece):
        import pyarrow as pa
        from swelm.corpus_tools.document import text_document
        from swelm.corpus_tools.records import read
        path, start, end = piece
        fields = {k: c for k, c in self.columns.items() if c and k != "text"}
        read_any = False
        try:
            for where, rec, problem in read(path, start, end, self.fs.open_read,
                                            self.columns["text"], fields):
                read_any = True
                if rec is None:
                    yield beam.pvalue.TaggedOutput(EVENTS, ("bad_record", path,
                                                            f"{where}: {problem}"))
                    continue
                site = self.site_of(rec)
                if site is None:
                    yield beam.pvalue.TaggedOutput(EVENTS, ("no_site", rec.get("url") or where,
                                                            rec.get("site") or ""))
                    continue
                yield text_document(rec, site, where)
        except (OSError, EOFError, pa.ArrowException) as exc:
            # (a file checked before the build, that changed or broke since); one that is
            # gone is reported once, by its first piece, not by every piece
            gone = isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError))
            if start == 0 or read_any or not gone:
                why = first_line(exc)
                yield beam.pvalue.TaggedOutput(EVENTS, ("unreadable_input", path, why))


class CleanPage(_Sites):
    """corpus_tools.document.clean_page with the site's rules, boilerplate lines (a side
    input), NG words and the model signals (``models``: ``{"lm": path, "classifier":
    path}``, read through the filesystem), each set up once per worker."""

    def __init__(self, sites: list, models: dict | None = None,
                 filesystem: FileSystem = FileSystem()):
        super().__init__(sites, filesystem)
        self.models = dict(models or {})
        self.norm, self.ng, self.boiler, self.signals = None, {}, {}, None

    def _signals(self):
        from swelm.corpus_tools.classifier import QualityClassifier
        from swelm.corpus_tools.document import Signals
        from swelm.corpus_tools.ngram_lm import NgramLM
        lm, clf = self.models.get("lm"), self.models.get("classifier")
        return Signals(lm=lm and NgramLM.from_bytes(self.fs.read_bytes(lm), lm),
                       classifier=clf and QualityClassifier.from_bytes(
                           self.fs.read_bytes(clf), clf))

    def __call__(self, doc: Document, boiler: dict) -> Document:
        from swelm.corpus_tools.document import clean_page
        from swelm.corpus_tools.filter import NGWords
        from swelm.corpus_tools.normalize import Normalizer
        if self.norm is None:
            self.norm = Normalizer()
            self.signals = self._signals() if self.models else None
        site = self.by_name(doc.site)
        if doc.site not in self.boiler:     # the side input is the same for every document
            self.boiler[doc.site] = set(boiler[doc.site])
        if site.ng_word_list and site.name not in self.ng:
            self.ng[site.name] = NGWords(site.ng_word_list, source=site.ng_words)
        return clean_page(doc, site, self.boiler[doc.site], self.norm, self.ng.get(site.name),
                          self.signals)


def _send_label(kv):
    """One round of min-label propagation: a node's label to itself and to every neighbour,
    and its state (label, neighbours) to itself."""
    node, (label, neighbours) = kv
    yield node, (label, neighbours)
    for nb in neighbours:
        yield nb, (label, None)


def _min_label(kv):
    """The smallest label a node received, with its neighbours carried on."""
    msgs = list(kv[1])
    neighbours = next(n for _, n in msgs if n is not None)
    return kv[0], (min(label for label, _ in msgs), neighbours)


#: ExactDups' second output: one record per distinct text
REPRESENTATIVES = "representatives"


def _exact_dups(kv):
    """The pages of one text, ``(id, range index, row)`` each -> ``(id, ("exact_duplicate",
    smallest id))`` of all but the smallest id, and (tagged) ``(smallest id, (range index,
    row, pages))``."""
    pages = sorted(kv[1])
    first = pages[0][0]
    for i, _, _ in pages[1:]:
        yield i, ("exact_duplicate", first)
    yield beam.pvalue.TaggedOutput(REPRESENTATIVES, (first, (*pages[0][1:], len(pages))))


def _sum_tuples(values):
    """Element-wise sum of equal-length tuples (a combiner: associative and commutative)."""
    values = list(values)
    return tuple(map(sum, zip(*values))) if values else ()




# -- the staged documents ---------------------------------------------------------------------
#: the compact outputs of CleanStaged (tags), besides the main one (stats rows)
KEPT, EXACT, LONG_LINES, BOUNDS = "kept", "exact", "long_lines", "bounds"
#: ``((site, perplexity bin), 1)`` of each page that passed the rules on a site with a
#: keep_best_share
PERPLEXITY = "perplexity"


class StageRanges:
    """``(bin, [(range index, (path, start, end)), …])`` -> the documents of each piece of
    the input, as ``reader`` makes them (ReadWarc: a WARC byte range; ReadText: a piece of a
    JSON-lines or Parquet file), written to its staging file ``a-NNNNNN``
    (pipelines.staging), and one compact capture record per document: ``(id, (text length,
    text hash, rule, range index, row))``; input problems go to the ``events`` output."""

    def __init__(self, reader, out: str, filesystem: FileSystem = FileSystem()):
        self.reader, self.out, self.fs = reader, out, filesystem

    def __call__(self, item):
        from . import staging
        for index, piece in sorted(item[1]):
            with staging.Writer(self.fs, staging.path(self.out, "a", index)) as w:
                for out in self.reader(piece):
                    if isinstance(out, beam.pvalue.TaggedOutput):
                        yield out
                        continue
                    yield out.id, (len(out.text), stable_hash(out.text), out.rule or "",
                                   index, w.add(out))


def _choose(kv, bin_of: dict):
    """Of the captures of one URL, the one with the most text (then the larger text hash,
    then rule): ``(bin, (range index, row))``."""
    _, _, _, index, row = max(kv[1])
    return bin_of[index], (index, row)


def _others(kv):
    """A ``same_id`` event for each capture of a URL (or record of an id) but the chosen one."""
    from .report import SAME_ID
    n = sum(1 for _ in kv[1])
    return [(SAME_ID, "", "")] * (n - 1)


def _chosen_rows(kv):
    """``(bin, [(range index, row or None), …])`` -> ``(bin, [(range index, rows), …])``
    in range order, rows sorted (every range of the bin is listed once with ``None``)."""
    rows: dict = {}
    for index, row in kv[1]:
        got = rows.setdefault(index, [])
        if row is not None:
            got.append(row)
    return kv[0], [(i, sorted(r)) for i, r in sorted(rows.items())]


class ChosenPages:
    """``(bin, [(range index, rows), …])`` -> the extracted (not rejected) chosen pages, read
    back from the staging files ``a-NNNNNN``."""

    def __init__(self, out: str, filesystem: FileSystem = FileSystem()):
        self.out, self.fs = out, filesystem

    def __call__(self, item):
        from . import staging
        for index, rows in item[1]:
            for _, doc in staging.read(self.fs, staging.path(self.out, "a", index), rows):
                if not doc.rejected:
                    yield doc


def _stat(doc: Document, key: str | None = None):
    """The stats row of one page (or row of lines taken out): under its rule, or ``key``."""
    return (doc.site, doc.genre, key or doc.rule), (1, doc.chars or 0, 0.0)


class CleanStaged(CleanPage):
    """``(bin, [(range index, rows), …])`` and the boilerplate lines (a side input) -> the
    chosen pages of each range read back from ``a-NNNNNN``, cleaned and judged (CleanPage;
    pages rejected at extraction pass as they are), written to ``b-NNNNNN``, and their compact
    records: stats rows ``((site, genre, key), (docs, chars, 0.0))`` (rejected pages, the lines
    taken out, the pages that fail one rule only), and tagged: ``bounds`` (the loosest value of
    a rule that fails one page only), ``kept`` ``(id, (site, genre, chars, range index))``
    and ``exact`` ``(exact key, (id, range index, row))`` of kept pages, ``long_lines``
    ``(chars, id, {line key: characters})`` of every cleaned page."""

    def __init__(self, sites: list, out: str, min_chars: int,
                 filesystem: FileSystem = FileSystem(), models: dict | None = None):
        super().__init__(sites, models, filesystem)
        self.out, self.min_chars = out, min_chars
        self.shares = {s.name: s.keep_best_share for s in sites}

    def stage(self, item, boiler: dict):
        """The records of one bin (a bound method: Beam passes the side input by name)."""
        from . import staging
        for index, rows in item[1]:
            with staging.Writer(self.fs, staging.path(self.out, "b", index)) as w:
                for _, doc in staging.read(self.fs, staging.path(self.out, "a", index), rows):
                    if doc.rejected:                # at extraction
                        w.add(doc)
                        yield _stat(doc)
                        continue
                    doc = CleanPage.__call__(self, doc, boiler)
                    w.kept += not doc.rejected
                    yield from self._records(doc, index, w.add(doc))

    def _records(self, doc: Document, index: int, row: int):
        from swelm.corpus_tools.dedup import line_keys
        from swelm.corpus_tools.document import dropped_rows, single_failure
        T = beam.pvalue.TaggedOutput
        for lines in dropped_rows(doc):
            yield _stat(lines)
        yield T(LONG_LINES, (doc.chars, doc.id, line_keys(doc.text, self.min_chars)))
        ppl = json.loads(doc.metrics).get("perplexity") if "lm" in self.models else None
        if ppl is not None:         # the report's distribution
            yield _stat(doc, f"perplexity_bin:{perplexity_bin(ppl, PLOT_BINS)}")
        if doc.rejected:
            yield _stat(doc)
            only = single_failure(doc)
            if only is not None:
                rule, value = only
                yield _stat(doc, f"only:{rule}")
                yield T(BOUNDS, ((doc.site, doc.genre, f"bound:{rule}"),
                                 float(value) if rule.startswith("max_") else -float(value)))
            return
        fine = None
        if ppl is not None and self.shares.get(doc.site) is not None:
            fine = perplexity_bin(ppl, SHARE_BINS)
            yield T(PERPLEXITY, ((doc.site, fine), 1))
        yield T(KEPT, (doc.id, (doc.site, doc.genre, doc.chars, index, fine)))
        yield T(EXACT, (exact_key(doc.text), (doc.id, index, row)))


class Signatures:
    """``(range index, [(row, id), …])`` -> ``(id, MinHash signature bytes)`` of those pages
    of the staging file ``b-NNNNNN`` (the representatives of exact-duplicate groups)."""

    def __init__(self, out: str, minhash, filesystem: FileSystem = FileSystem()):
        self.out, self.mh, self.fs = out, minhash, filesystem

    def __call__(self, item):
        from . import staging
        index, wanted = item
        ids = dict(wanted)
        for row, doc in staging.read(self.fs, staging.path(self.out, "b", index), ids):
            yield ids[row], self.mh.signature(doc.text).tobytes()


#: the outputs of Decide (tags), besides the main one (stats rows)
REMOVED, SIZES = "removed", "sizes"
#: perplexity bins per decade: of the report's distribution, and of the keep_best_share cut
PLOT_BINS, SHARE_BINS = 20, 1000


def perplexity_bin(ppl: float, per_decade: int) -> int:
    """The bin of a perplexity on a log scale (``per_decade`` bins from 1 to 10)."""
    import math
    return int(math.floor(math.log10(max(ppl, 1.0)) * per_decade))


def share_cutoff(kv, shares: dict):
    """``(site, [(bin, pages), …])`` -> ``(site, the highest bin kept)``: the smallest bin at
    which the pages up to it reach the site's keep_best_share."""
    import math
    site, counts = kv
    counts = sorted(counts)
    need = math.ceil(shares[site] * sum(n for _, n in counts))
    seen = 0
    for b, n in counts:
        seen += n
        if seen >= need:
            return site, b
    return site, counts[-1][0]


#: FineWeb-2's re-hydration weights: copies of a page that stays by the size of its
#: duplicate cluster (github.com/huggingface/fineweb-2, README: 1 -> 1, 2 -> 2, 3 -> 3,
#: 4 -> 3, 5-99 -> 5, 100-999 -> 8, 1000 and more -> 1, "very large clusters are lower
#: quality")
REHYDRATION = ((1000, 1), (100, 8), (5, 5), (4, 3), (3, 3), (2, 2), (1, 1))


def rehydration_factor(cluster_size: int) -> int:
    """>>> [rehydration_factor(n) for n in (1, 2, 4, 5, 99, 100, 1000)]
    [1, 2, 3, 5, 5, 8, 1]
    """
    return next(f for least, f in REHYDRATION if cluster_size >= least)


def _decide(kv, shard_of_range: dict, cutoffs: dict | None = None):
    """An id's kept record, its duplicate reasons (the first by the order of reason
    names wins) and its cluster size (with --rehydrate) -> stats rows, and tagged:
    ``removed`` ``(shard, ("removed", (id, (reason, cluster))))`` for a duplicate or a page
    past its site's keep_best_share cut (``cutoffs``: the highest perplexity bin kept per
    site), ``(shard, ("factor", (id, copies)))`` for a re-hydrated page, ``sizes`` ``(site,
    characters)`` for a page that stays (its copies counted)."""
    doc_id, values = kv
    kept = [v for tag, v in values if tag == "kept"]
    if not kept:                    # a duplicate reason of a page a filter rejected
        return
    reasons = [v for tag, v in values if tag == "dup"]
    site, genre, chars, index, fine = kept[0]
    cut = (cutoffs or {}).get(site)
    if not reasons and cut is not None and fine is not None and fine > cut:
        reasons = [("keep_best_share", None)]
    if reasons:
        reason = min(reasons)
        yield (site, genre, reason[0]), (1, chars, 0.0)
        yield beam.pvalue.TaggedOutput(REMOVED, (shard_of_range[index],
                                                 ("removed", (doc_id, reason))))
        return
    yield (site, genre, "kept"), (1, chars, 0.0)
    copies = rehydration_factor(sum(v for tag, v in values if tag == "size") or 1)
    if copies != 1:
        yield (site, genre, "rehydrated_copies"), (copies - 1, chars * (copies - 1), 0.0)
        yield beam.pvalue.TaggedOutput(REMOVED, (shard_of_range[index],
                                                 ("factor", (doc_id, copies))))
    yield beam.pvalue.TaggedOutput(SIZES, (site, chars * copies))


class _Part:
    """One Parquet file of output rows, written in row groups, published whole when the
    ``with`` block ends (nothing is written for no rows)."""

    def __init__(self, filesystem, target: str):
        self.fs, self.target, self.rows, self.buffer = filesystem, target, 0, []

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        self._writer = None
        return self

    def add(self, docs) -> None:
        self.buffer.extend(docs)
        if len(self.buffer) >= 2000:
            self._flush()

    def _flush(self) -> None:
        import pyarrow.parquet as pq
        from swelm.corpus_tools.document import SCHEMA
        if not self.buffer:
            return
        if self._writer is None:
            f = self._stack.enter_context(self.fs.create(self.target))
            self._writer = self._stack.enter_context(
                pq.ParquetWriter(f, SCHEMA, compression="zstd"))
        self._writer.write_table(to_table(self.buffer))
        self.rows += len(self.buffer)
        self.buffer = []

    def __exit__(self, *exc):
        if exc[0] is None:
            self._flush()
        return self._stack.__exit__(*exc)


class WriteParts:
    """``(shard, [("ranges", [range index, …]), ("removed", (id, (reason, cluster))), …])``
    and the kept characters per site (a side input) -> ``corpus/part-NNNNN.parquet`` and
    ``rejected/part-NNNNN.parquet`` of the shard: the ranges' staging files ``b-NNNNNN`` read
    once, in order, each page to corpus/ with its site's repeat factor or to rejected/ (a
    filter's rule, or its duplicate reason and cluster), the lines taken out of it to
    rejected/ as rows of their own; ``(shard, corpus rows, rejected rows)``."""

    def __init__(self, out: str, weights: dict, budget, filesystem: FileSystem = FileSystem()):
        self.out, self.weights, self.budget, self.fs = out, weights, budget, filesystem
        self._factors = None

    def __call__(self, item, sizes: dict):
        from swelm.corpus_tools.document import dropped_rows
        from swelm.corpus_tools.weight import factors
        from . import staging
        if self._factors is None:
            self._factors = factors(sizes, self.weights, self.budget)
        shard, values = item
        ranges = sorted(i for tag, v in values if tag == "ranges" for i in v)
        removed = dict(v for tag, v in values if tag == "removed")
        copies = dict(v for tag, v in values if tag == "factor")
        name = f"part-{shard:05d}.parquet"
        with _Part(self.fs, join(self.out, "corpus", name)) as corpus, \
                _Part(self.fs, join(self.out, "rejected", name)) as rejected:
            for index in ranges:
                for _, doc in staging.read(self.fs, staging.path(self.out, "b", index)):
                    lines = dropped_rows(doc)
                    doc = doc.replace(dropped=())
                    if not doc.rejected and doc.id in removed:
                        rule, cluster = removed[doc.id]
                        doc = doc.replace(rule=rule, cluster=cluster)
                    if doc.rejected:
                        lines.append(doc)
                    else:
                        corpus.add([doc.replace(weight=round(
                            self._factors[doc.site] * copies.get(doc.id, 1), 6))])
                    rejected.add(sorted(lines, key=lambda d: d.rule))
        return shard, corpus.rows, rejected.rows



def _weighted_chars(kv, sizes: dict, weights: dict, budget, genre_of: dict):
    """The stats row of a site's weighted characters: its kept characters × its repeat factor
    (the factor is the same for every document of a site)."""
    from swelm.corpus_tools.weight import factors
    site, chars = kv
    return (site, genre_of[site], "kept"), (0, 0, chars * round(
        factors(sizes, weights, budget)[site], 6))


# -- boilerplate counts and work distribution -------------------------------------------------
def line_buckets_for(total_bytes: int) -> int:
    """Buckets per site for the line counts: 64, or one per 128 MB of WARC input, so that a
    bucket's table stays small on any input size."""
    return int(max(64, min(1 << 16, total_bytes // (128 << 20))))


def _bucket(key: str, buckets: int) -> int:
    """The table of a hexadecimal line key."""
    return int(key[:8], 16) % buckets


def _line_buckets(doc: Document, buckets: int):
    """A page's distinct line keys, grouped by ``(site, bucket)``."""
    from swelm.corpus_tools.dedup import line_keys
    by = {}
    for key in line_keys(doc.text):
        by.setdefault(_bucket(key, buckets), []).append(key)
    for b, keys in by.items():
        yield (doc.site, b), keys


def _long_line_buckets(page, buckets: int):
    """A page's long lines ``(page characters, page id, {line key: line characters})`` for
    the containment check, grouped by bucket: ``(bucket, (page characters, page id, [(line
    key, line characters), …]))``."""
    chars, doc, lines = page
    by = {}
    for key, c in lines.items():
        by.setdefault(_bucket(key, buckets), []).append((key, c))
    for b, held in sorted(by.items()):
        yield b, (chars, doc, held)


def _in_global_window(items):
    """``items`` as the windowed values a ``finish_bundle`` emits (the global window)."""
    from apache_beam.transforms.window import GlobalWindow
    from apache_beam.utils.windowed_value import WindowedValue
    window = GlobalWindow()
    for item in items:
        yield WindowedValue(item, window.max_timestamp(), [window])


class PartialTables(beam.DoFn):
    """Elements -> ``(table key, partial table)``: the entries ``explode(element)`` yields as
    ``(table key, item)`` are added to one dict per table key with ``add(table, item)``
    (which returns how many entries it added), and the partial tables are emitted whenever
    they hold ``max_entries`` entries in all, and at the end of the bundle.

    This is combiner lifting with a memory bound: a worker holds at most ``max_entries``
    entries whatever its share of the input (Beam's own lifting keeps every key's accumulator
    until the bundle ends, and on the local runner a bundle is a worker's whole share), while
    only a few hundred tables per flush cross the shuffle instead of one element per entry."""

    def __init__(self, explode, add, max_entries: int = 200_000, **kwargs):
        self.explode, self.add, self.max_entries, self.kwargs = explode, add, max_entries, kwargs
        self.tables, self.entries = {}, 0

    def start_bundle(self):
        self.tables, self.entries = {}, 0

    def process(self, element):
        for key, item in self.explode(element, **self.kwargs):
            self.entries += self.add(self.tables.setdefault(key, {}), item)
            if self.entries >= self.max_entries:
                yield from self.tables.items()
                self.tables, self.entries = {}, 0

    def finish_bundle(self):
        yield from _in_global_window(self.tables.items())
        self.tables, self.entries = {}, 0


class _PartialCombine(beam.DoFn):
    """``(key, value)`` -> ``(key, partial value)``: values of a key combined with ``fn`` (which
    takes an iterable) in a table of at most ``max_keys`` keys, emitted whenever it is full and
    at the end of the bundle."""

    def __init__(self, fn, max_keys: int):
        self.fn, self.max_keys, self.table = fn, max_keys, {}

    def start_bundle(self):
        self.table = {}

    def process(self, kv):
        key, value = kv
        table = self.table
        if key in table:
            table[key] = self.fn((table[key], value))
            return
        table[key] = value
        if len(table) >= self.max_keys:
            yield from table.items()
            self.table = {}

    def finish_bundle(self):
        yield from _in_global_window(self.table.items())
        self.table = {}


class BoundedCombinePerKey(beam.PTransform):
    """``CombinePerKey(fn)`` (``fn`` takes an iterable: sum, min, max, _sum_tuples) whose
    combining before the shuffle holds at most ``max_keys`` keys per worker.  Beam lifts a
    CombinePerKey into a table of up to a million keys for sum/min/max, kept until the bundle
    ends (on the local runner, a worker's whole share of a stage), so a worker's memory grew
    with the input for per-band and per-document keys; this bound keeps it flat."""

    def __init__(self, fn, max_keys: int = 50_000):
        super().__init__()
        self.fn, self.max_keys = fn, max_keys

    def expand(self, pcoll):
        fn = self.fn
        return (pcoll | "Partial" >> beam.ParDo(_PartialCombine(fn, self.max_keys))
                | "Group" >> shuffle(self.label)
                | "Combine" >> beam.Map(lambda kv: (kv[0], fn(kv[1]))))


def _first(values):
    return next(iter(values))


class BoundedDistinct(beam.PTransform):
    """``Distinct()`` with the memory bound of BoundedCombinePerKey."""

    def __init__(self, max_keys: int = 50_000):
        super().__init__()
        self.max_keys = max_keys

    def expand(self, pcoll):
        return (pcoll | "Key" >> beam.Map(lambda e: (e, None))
                | "Combine" >> BoundedCombinePerKey(_first, self.max_keys)
                | "Keys" >> beam.Map(lambda kv: kv[0]))


def _merged(merge):
    """``(key, partial tables)`` -> ``(key, one table)``, the smaller folded into the largest."""
    def fold(kv):
        tables = sorted(kv[1], key=len, reverse=True)
        out = tables[0]
        for t in tables[1:]:
            for key, value in t.items():
                merge(out, key, value)
        return kv[0], out
    return fold


def _count_add(table: dict, keys) -> int:
    before = len(table)
    for k in keys:
        table[k] = table.get(k, 0) + 1
    return len(table) - before


def _count_merge(table: dict, key, count: int) -> None:
    table[key] = table.get(key, 0) + count


def _holders_add(table: dict, page) -> int:
    chars, doc, lines = page
    for key, c in lines:
        table.setdefault(key, []).append((chars, doc, c))
    return len(lines)


def _holders_merge(table: dict, key, holders: list) -> None:
    table.setdefault(key, []).extend(holders)


def _boilerplate_lines(kv, n: dict, share: float):
    """``(site, line key)`` of each counted line that is boilerplate for its site."""
    from swelm.corpus_tools.dedup import is_boilerplate
    site = kv[0][0]
    docs = n.get(site, 0)
    for key, pages in kv[1].items():
        if is_boilerplate(pages, docs, share):
            yield site, key



def balanced_bins(size: dict, bins: int) -> list[tuple[int, object]]:
    """(bin, item) with the items (``{path or (path, start, end): bytes}``) spread over ``bins``
    bins of about equal bytes. Items of one crawl (the same file name before the segment
    number) are spread on their own first, largest first into the bin with the least of that
    crawl, so that every bin gets about the same share of each crawl: the cost per byte differs
    between crawls (page sizes, encodings). Equal ranges of one file go to the bins in turn."""
    bins = max(1, min(bins, len(size)))
    groups: dict[str, list] = {}
    for item in sorted(size):
        path = item[0] if isinstance(item, tuple) else item
        stem = re.sub(r"[-_.]?\d+(\.warc)?(\.gz)?$", "", os.path.basename(path))
        groups.setdefault(stem, []).append(item)
    total = [0] * bins
    out = []
    for stem in sorted(groups, key=lambda g: (-sum(size[p] for p in groups[g]), g)):
        load = [0] * bins
        for item in sorted(groups[stem], key=lambda p: (-size[p], p)):
            b = min(range(bins), key=lambda i: (load[i], total[i], i))
            load[b] += size[item]
            total[b] += size[item]
            out.append((b, item))
    return out


def range_bytes(total_bytes: int) -> int:
    """Size of the WARC byte ranges read as one unit (and staged as one file): a 64th of the
    input, at least 256 kB and at most 64 MB.  It depends on the input alone, never on the
    runner or the worker count, so every run of the same input makes the same staging files
    and writes the same output files."""
    return int(max(256 << 10, min(64 << 20, total_bytes // 64)))


# -- the composite transforms ----------------------------------------------------------------
class ReadPages(beam.PTransform):
    """``[(range index, (path, start, end))]`` pieces of the input (WARC byte ranges, or
    pieces of JSON-lines or Parquet files) and their bins -> ``(captures, events)``: the
    documents ``reader`` makes of each piece (ReadWarc, ReadText), staged (StageRanges),
    ``(id, (text length, text hash, rule, range index, row))`` per capture, and ``(event,
    where, detail)`` of the input problems.  Each bin's ranges are read by one worker (on the
    local runner the bins are the workers: see balanced_bins)."""

    def __init__(self, reader, ranges: list, bin_of: dict, out: str,
                 filesystem: FileSystem = FileSystem()):
        super().__init__()
        self.reader, self.ranges, self.bin_of, self.out = reader, ranges, bin_of, out
        self.fs = filesystem

    def expand(self, p):
        read = (p | "WarcRanges" >> beam.Create([(self.bin_of[i], (i, piece))
                                                 for i, piece in self.ranges], reshuffle=False)
                | "Spread" >> shuffle("Spread")
                | "StageRanges" >> beam.FlatMap(StageRanges(
                    self.reader, self.out, self.fs)).with_outputs(EVENTS, main="pages"))
        return read.pages, read[EVENTS]


class ChooseCaptures(beam.PTransform):
    """Capture records -> ``(bin, [(range index, rows), …])``: of the captures of one URL
    (recrawls), the one with the most text, chosen from the compact records alone; every
    range of a bin is listed, with no rows if none of its pages was chosen; and a
    ``same_id`` event for each capture not chosen."""

    def __init__(self, bin_of: dict):
        super().__init__()
        self.bin_of = bin_of

    def expand(self, captures):
        every = captures.pipeline | "EveryRange" >> beam.Create(
            [(b, (i, None)) for i, b in sorted(self.bin_of.items())], reshuffle=False)
        grouped = captures | "GroupUrl" >> shuffle("GroupUrl")
        chosen = grouped | "OneCapture" >> beam.Map(_choose, bin_of=self.bin_of)
        # the others are counted (the report's same_id): recrawls of a URL, or records that
        # share an --id-column value
        others = grouped | "OtherCaptures" >> beam.FlatMap(_others)
        rows = ((chosen, every) | "WithEveryRange" >> beam.Flatten()
                | "GroupChosen" >> shuffle("GroupChosen")
                | "Rows" >> beam.Map(_chosen_rows))
        return rows, others


class Boilerplate(beam.PTransform):
    """Extracted documents -> ``(site, line key)`` of every line on at least ``share`` of
    its site's pages (and on 5 or more).  Pages per line are counted in ``(site,
    bucket)`` tables before the shuffle with a memory bound (PartialTables), so a worker's
    partial counts cross it as a few hundred tables, not one element per distinct line."""

    def __init__(self, buckets: int, share: float):
        super().__init__()
        self.buckets, self.share = buckets, share

    def expand(self, docs):
        site_pages = (docs | "SitePage" >> beam.Map(lambda d: (d.site, 1))
                      | "PagesPerSite" >> beam.CombinePerKey(sum))
        return (docs | "LineKeys" >> beam.ParDo(PartialTables(
            _line_buckets, _count_add, buckets=self.buckets))
                | "GroupLineTables" >> shuffle("GroupLineTables")
                | "PagesPerLine" >> beam.Map(_merged(_count_merge))
                | "Select" >> beam.FlatMap(_boilerplate_lines,
                                           n=beam.pvalue.AsDict(site_pages),
                                           share=self.share))


class Quality(beam.PTransform):
    """Chosen rows per bin and the boilerplate lines -> CleanStaged's outputs: stats rows
    (main) and the tagged compact records (``kept``, ``exact``, ``long_lines``,
    ``bounds``); the pages themselves go to the staging files ``b-NNNNNN``."""

    def __init__(self, sites: list, boilerplate, out: str, min_chars: int,
                 filesystem: FileSystem = FileSystem(), models: dict | None = None):
        super().__init__()
        self.sites, self.boilerplate, self.out = sites, boilerplate, out
        self.min_chars, self.fs, self.models = min_chars, filesystem, models

    def expand(self, chosen):
        return chosen | "StripNormaliseFilter" >> beam.FlatMap(
            CleanStaged(self.sites, self.out, self.min_chars, self.fs, self.models).stage,
            boiler=beam.pvalue.AsMultiMap(self.boilerplate)).with_outputs(
                KEPT, EXACT, LONG_LINES, BOUNDS, PERPLEXITY, main="stats")


class ExactDups(beam.PTransform):
    """``(exact key, (id, range index, row))`` of kept documents -> ``(dups,
    representatives)``: ``(id, ("exact_duplicate", smallest id))`` for every document whose
    text another one with a smaller id has, and ``(smallest id, (range index, row, pages))``
    for each distinct text."""

    def expand(self, keys):
        out = (keys | "GroupExact" >> shuffle("GroupExact")
               | "ExactDups" >> beam.FlatMap(_exact_dups).with_outputs(REPRESENTATIVES,
                                                                      main="dups"))
        return out.dups, out[REPRESENTATIVES]


class RepresentativeSignatures(beam.PTransform):
    """The representatives of the distinct texts -> ``(id, MinHash signature bytes)``,
    computed from the staging files (grouped per file, each read once): near duplicates are
    looked for among distinct texts only, since the copies of a text have its signature."""

    def __init__(self, out: str, minhash, filesystem: FileSystem = FileSystem()):
        super().__init__()
        self.out, self.mh, self.fs = out, minhash, filesystem

    def expand(self, representatives):
        return (representatives | "ByRange" >> beam.Map(
            lambda kv: (kv[1][0], (kv[1][1], kv[0])))
            | "GroupRepresentatives" >> shuffle("GroupRepresentatives")
            | "Signatures" >> beam.FlatMap(Signatures(self.out, self.mh, self.fs)))


def _cluster_sizes(kv):
    """A distinct text's near-duplicate label (if any) and its pages -> ``(cluster, pages)``:
    its cluster, or the text's own copies as a cluster of their own."""
    values = list(kv[1])
    pages = next(v for tag, v in values if tag == "pages")
    label = next((v for tag, v in values if tag == "label"), None)
    if label is not None:
        yield label, pages
    elif pages > 1:
        yield kv[0], pages


class Clusters(beam.PTransform):
    """``(labels, representatives)`` -> ``(cluster, pages)`` per distinct text in a
    cluster: the near-duplicate clusters of distinct texts with every copy of their texts
    counted, and each text with copies but no near duplicate as a cluster of its own (the
    clusters of every page, counted from compact records)."""

    def expand(self, inputs):
        labels, representatives = inputs
        return (((labels | "TagLabel" >> beam.Map(lambda kv: (kv[0], ("label", kv[1])))),
                 (representatives | "TagPages" >> beam.Map(
                     lambda kv: (kv[0], ("pages", kv[1][2])))))
                | "LabelsAndPages" >> beam.Flatten()
                | "JoinClusters" >> shuffle("JoinClusters")
                | "ClusterSizes" >> beam.FlatMap(_cluster_sizes))


def _band_group(kv, hot: dict, cap: int):
    """``((band key, part), id)``: a band bucket with more than ``cap`` members (``hot``:
    its size) is split into parts of about ``cap / 2`` members by a hash of the id."""
    key, member = kv
    n = hot.get(key)
    return (key, stable_hash(member) % -(-2 * n // cap) if n else 0), member


def _set_digest(members) -> str:
    import hashlib
    return hashlib.blake2b("\n".join(members).encode(), digest_size=12).hexdigest()


def _group_sets(kv, hot: dict, cap: int):
    """One band group's ids -> ``("size", members)``, ``("member", (id, set digest))`` for
    each member of a group of two or more (its ``cap`` smallest ids: the ones compared), and
    ``("leader", (band key, smallest id))`` for the groups of a split bucket."""
    (key, _), members = kv
    members = sorted(members)
    yield "size", len(members)
    if len(members) > 1:
        compared = members[:cap]
        digest = _set_digest(compared)
        for m in compared:
            yield "member", (m, digest)
    if key in hot:
        yield "leader", (key, members[0])


def _leader_set(kv, cap: int):
    """The leaders of a split bucket's groups as one set to compare: ``(id, set digest)``."""
    members = sorted(kv[1])[:cap]
    if len(members) > 1:
        digest = _set_digest(members)
        for m in members:
            yield m, digest


def _signature_to_sets(kv):
    """An id's signature and the sets it is in -> ``(set digest, (id, signature))`` once per
    distinct set."""
    values = list(kv[1])
    sig = next((v for tag, v in values if tag == "sig"), None)
    for digest in sorted({v for tag, v in values if tag == "set"}):
        yield digest, (kv[0], sig)


def _star_edges(kv, threshold: float, cap: int):
    """The pairs of one set whose signatures' estimated Jaccard reaches ``threshold``, as
    star edges ``(smallest id, id)`` of their connected components inside the set: the same
    clusters as every pair, with n - 1 edges for n members instead of up to n²/2."""
    from swelm.corpus_tools.dedup import connected_components
    members = [(i, np.frombuffer(s, np.uint32)) for i, s in kv[1]]
    for node, root in sorted(connected_components(
            bucket_pairs(members, threshold, cap)).items()):
        if node != root:
            yield root, node


class NearDups(beam.PTransform):
    """``(id, MinHash signature bytes)`` of kept documents -> ``(dups, labels, largest)``:
    ``(id, ("near_duplicate", cluster))`` of every member of a near-duplicate cluster but its
    smallest id, ``(id, cluster)`` of every member, and the size of the largest band group.

    Band buckets group ids only.  A bucket with more than ``max_bucket`` members (a template
    shared by many pages) is split into groups of about half that by a hash of the id, and the
    groups' leaders (smallest ids) form one more group, so no group is larger than the cap and
    clusters still join across groups.  Each distinct group of two or more (the same ids
    collide in many bands) is compared once: the members' signatures are joined to it by id,
    every pair is checked, and its components inside the group become star edges.  Each round
    of min-label propagation is one shuffle (labels travel with the adjacency lists), so no
    worker holds the graph."""

    def __init__(self, minhash, jaccard: float, max_bucket: int, rounds: int):
        super().__init__()
        self.mh, self.jaccard, self.max_bucket, self.rounds = (minhash, jaccard, max_bucket,
                                                               rounds)

    def expand(self, signatures):
        mh, thr, cap = self.mh, self.jaccard, self.max_bucket
        bands = signatures | "BandKeys" >> beam.FlatMap(
            lambda kv: [(k, kv[0]) for k in mh.band_keys(np.frombuffer(kv[1], np.uint32))])
        hot = (bands | "BandMember" >> beam.Map(lambda kv: (kv[0], 1))
               | "BucketSizes" >> BoundedCombinePerKey(sum)
               | "HotBuckets" >> beam.Filter(lambda kv: kv[1] > cap))
        found = (bands | "SplitHot" >> beam.Map(_band_group, hot=beam.pvalue.AsDict(hot),
                                                 cap=cap)
                 | "GroupBands" >> shuffle("GroupBands")
                 | "Sets" >> beam.FlatMap(_group_sets, hot=beam.pvalue.AsDict(hot), cap=cap))
        leaders = (found | "Leaders" >> beam.FlatMap(
            lambda t: [t[1]] if t[0] == "leader" else [])
            | "GroupLeaders" >> shuffle("GroupLeaders")
            | "LeaderSets" >> beam.FlatMap(_leader_set, cap=cap))
        members = ((found | "Members" >> beam.FlatMap(
            lambda t: [t[1]] if t[0] == "member" else []), leaders)
            | "AllMembers" >> beam.Flatten()
            | "TagSet" >> beam.Map(lambda kv: (kv[0], ("set", kv[1]))))
        sigs = signatures | "TagSignature" >> beam.Map(lambda kv: (kv[0], ("sig", kv[1])))
        edges = ((members, sigs) | "SignaturesAndSets" >> beam.Flatten()
                 | "JoinSignatures" >> shuffle("JoinSignatures")
                 | "ToSets" >> beam.FlatMap(_signature_to_sets)
                 | "GroupCandidates" >> shuffle("GroupCandidates")
                 | "StarEdges" >> beam.FlatMap(_star_edges, thr, cap)
                 | "DistinctEdges" >> BoundedDistinct())
        largest = (found | "GroupSizes" >> beam.FlatMap(
            lambda t: [t[1]] if t[0] == "size" else [])
            | "Largest" >> beam.CombineGlobally(max).without_defaults())
        state = (edges | "BothWays" >> beam.FlatMap(lambda e: [(e[0], e[1]), (e[1], e[0])])
                 | "Adjacency" >> shuffle("Adjacency")
                 | "Init" >> beam.Map(lambda kv: (kv[0], (kv[0], sorted(set(kv[1]))))))
        for r in range(self.rounds):
            state = (state | f"Send{r}" >> beam.FlatMap(_send_label)
                     | f"Round{r}" >> shuffle("LabelRounds") | f"Min{r}" >> beam.Map(_min_label))
        labels = state | "Labels" >> beam.Map(lambda kv: (kv[0], kv[1][0]))
        dups = labels | "NearDups" >> beam.FlatMap(
            lambda kv: [(kv[0], ("near_duplicate", kv[1]))] if kv[1] != kv[0] else [])
        return dups, labels, largest


class Containment(beam.PTransform):
    """``(chars, id, {line key: characters})`` of each page's long lines -> ``(id,
    ("near_duplicate_containment", ""))`` of every page whose long lines mostly
    (``threshold``) belong to smaller pages.  The lines go to bucket tables (line key ->
    holders) filled before the shuffle with a memory bound (PartialTables): a few hundred
    tables cross it, not one element per line."""

    def __init__(self, buckets: int, threshold: float):
        super().__init__()
        self.buckets, self.threshold = buckets, threshold

    def expand(self, pages):
        threshold = self.threshold
        return (pages | "LongLines" >> beam.ParDo(PartialTables(
            _long_line_buckets, _holders_add, buckets=self.buckets))
            | "GroupLines" >> shuffle("GroupLines")
            | "Holders" >> beam.Map(_merged(_holders_merge))
            | "Votes" >> beam.FlatMap(lambda kv: (
                (d, v) for holders in kv[1].values() for d, v, _ in line_votes(holders)))
            | "PerDoc" >> BoundedCombinePerKey(_sum_tuples)
            | "Contained" >> beam.FlatMap(lambda kv: [
                (kv[0], ("near_duplicate_containment", ""))] if is_contained(
                    *kv[1], threshold) else []))


class Decide(beam.PTransform):
    """``(kept records, [duplicate reasons...], cluster sizes (with ``rehydrate``),
    perplexity counts (with ``shares``))`` -> Decide's outputs: stats rows (main; a page that stays is ``kept``, a
    duplicate counts under its reason), ``removed`` ``(shard, ("removed", (id, (reason,
    cluster))))`` and ``(shard, ("factor", (id, copies)))``, and ``sizes`` (per site, the
    characters that stay).  A page's first reason by the order of reason names wins; a page
    that stays may still be past its site's keep_best_share cut (the cut is computed from
    the ``(site, perplexity bin)`` counts of the pages that passed the rules), and with
    cluster sizes ``(id, pages)`` it is re-hydrated; only the ids that change and their
    reasons go on to the writers."""

    def __init__(self, shard_of_range: dict, shares: dict | None = None,
                 rehydrate: bool = False):
        super().__init__()
        self.shard_of_range, self.shares, self.rehydrate = shard_of_range, shares or {}, rehydrate

    def expand(self, inputs):
        kept, dups, *more = inputs
        sizes = more.pop(0) if self.rehydrate else None
        counts = more.pop(0) if self.shares else None
        first = dups | "AllDups" >> beam.Flatten() | "FirstReason" >> BoundedCombinePerKey(min)
        tagged = [kept | "TagKept" >> beam.Map(lambda kv: (kv[0], ("kept", kv[1]))),
                  first | "TagReason" >> beam.Map(lambda kv: (kv[0], ("dup", kv[1])))]
        if sizes is not None:
            tagged.append(sizes | "TagSize" >> beam.Map(lambda kv: (kv[0], ("size", kv[1]))))
        cutoffs = {}
        if counts is not None:
            cutoffs = beam.pvalue.AsDict(
                counts | "PagesPerBin" >> beam.CombinePerKey(sum)
                | "BySite" >> beam.Map(lambda kv: (kv[0][0], (kv[0][1], kv[1])))
                | "BinsOfSite" >> beam.GroupByKey()
                | "Cutoff" >> beam.Map(share_cutoff, shares=self.shares))
        return (tagged | "KeptAndReasons" >> beam.Flatten()
                | "JoinDups" >> shuffle("JoinDups")
                | "Decide" >> beam.FlatMap(_decide, self.shard_of_range, cutoffs).with_outputs(
                    REMOVED, SIZES, main="stats"))


class WriteOutputs(beam.PTransform):
    """``(removed, sizes)`` -> the corpus and rejected Parquet shards (WriteParts: each shard
    reads its ranges' staging files once); ``(shard, corpus rows, rejected rows)``."""

    def __init__(self, out: str, shard_ranges: dict, weights: dict, budget,
                 filesystem: FileSystem = FileSystem()):
        super().__init__()
        self.out, self.shard_ranges, self.weights, self.budget = out, shard_ranges, weights, budget
        self.fs = filesystem

    def expand(self, inputs):
        removed, sizes = inputs
        ranges = removed.pipeline | "ShardRanges" >> beam.Create(
            [(s, ("ranges", r)) for s, r in sorted(self.shard_ranges.items())], reshuffle=False)
        return ((ranges, removed) | "RangesAndRemoved" >> beam.Flatten()
                | "GroupDecisions" >> shuffle("GroupDecisions")
                | "Write" >> beam.Map(WriteParts(self.out, self.weights, self.budget,
                                                 self.fs),
                                      sizes=beam.pvalue.AsDict(sizes)))


class Stats(beam.PTransform):
    """The statistics rows ``[site, genre, key, docs, chars, weighted chars]`` as a JSON-lines
    file at ``path`` (small per-key sums, gathered once)."""

    def __init__(self, path: str, weights: dict, budget, genre_of: dict,
                 filesystem: FileSystem = FileSystem()):
        super().__init__()
        self.path, self.weights, self.budget, self.genre_of = path, weights, budget, genre_of
        self.fs = filesystem

    def expand(self, inputs):
        rows, sizes, events, clusters, largest = inputs
        rows = ((rows,
            sizes | "StatWeighted" >> beam.Map(
                _weighted_chars, sizes=beam.pvalue.AsDict(sizes), weights=self.weights,
                budget=self.budget, genre_of=self.genre_of),
            events | "StatEvents" >> beam.Map(lambda e: (("", "", e[0]), (1, 0, 0.0))),
            clusters | "Clusters" >> beam.Map(
                lambda kv: (("", "", "cluster_member"), (kv[1], 0, 0.0))),
            clusters | "ClusterIds" >> beam.Map(lambda kv: kv[0])
            | "DistinctClusters" >> BoundedDistinct()
            | "CountClusters" >> beam.Map(
                lambda c: (("", "", "near_duplicate_clusters"), (1, 0, 0.0))),
            largest | "StatLargest" >> beam.Map(
                lambda n: (("", "", "largest_band_group"), (n, 0, 0.0))))
            | "AllStats" >> beam.Flatten()
            | "SumStats" >> beam.CombinePerKey(_sum_tuples)
            | "StatRow" >> beam.Map(lambda kv: [*kv[0], *kv[1]]))
        return write_json_lines(rows, self.path, self.fs, "WriteStats")
