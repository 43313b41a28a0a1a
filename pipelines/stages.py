"""The stages of build-corpus as named composite transforms (the pipeline itself is wired in
swelm.pipelines.corpus).  Each composite is a page or less, with its own expand() and a
TestPipeline test on hand-made input (tests/test_corpus_stages.py); per-document work is done by
swelm.corpus_tools (the Document type and its recipe are in corpus_tools.document)."""
from __future__ import annotations

import os
import re

import apache_beam as beam
import numpy as np

from swelm.corpus_tools.dedup import bucket_pairs, exact_key, is_contained, line_votes
from swelm.corpus_tools.document import Document, to_table

from . import fs
from .beam_util import pack, shard_of, shuffle, unpack, write_json_lines

EVENTS = "events"


# -- per-element functions (wiring around corpus_tools) ---------------------------------------
class _Sites:
    """The site rules (read by the driver; they travel with the pipeline), and the filesystem
    options of the DoFns that read or write files."""

    def __init__(self, sites: list, fs_options: fs.Options = fs.Options()):
        self.sites, self.fs_options = list(sites), fs_options

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
        fs.configure(self.fs_options)
        opened = []

        def opener(p):
            f = fs.open_read(p)
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


class CleanPage(_Sites):
    """corpus_tools.document.clean_page with the site's rules, boilerplate lines (a side
    input) and NG words, each set up once per worker."""

    def __init__(self, sites: list):
        super().__init__(sites)
        self.norm, self.ng, self.boiler = None, {}, {}

    def __call__(self, doc: Document, boiler: dict) -> Document:
        from swelm.corpus_tools.document import clean_page
        from swelm.corpus_tools.filter import NGWords
        from swelm.corpus_tools.normalize import Normalizer
        if self.norm is None:
            self.norm = Normalizer()
        site = self.by_name(doc.site)
        if doc.site not in self.boiler:     # the side input is the same for every document
            self.boiler[doc.site] = set(boiler[doc.site])
        if site.ng_word_list and site.name not in self.ng:
            self.ng[site.name] = NGWords(site.ng_word_list, source=site.ng_words)
        return clean_page(doc, site, self.boiler[doc.site], self.norm, self.ng.get(site.name))


class DocBins:
    """``(bin, packed document)`` with the bin the least loaded so far of ``bins``, counting a
    document's characters plus a fixed cost of 600 characters (the per-document cost of the
    filter stage measured on the shared sites, in characters' worth): the bins get about the
    same work."""

    def __init__(self, bins: int) -> None:
        self.bins, self.load = max(1, bins), None

    def __call__(self, capture):
        if self.load is None:
            self.load = [0] * self.bins
        b = min(range(self.bins), key=lambda i: (self.load[i], i))
        self.load[b] += len(capture[0].text) + 600
        return b, capture[1]


def _one_capture(kv):
    """Of the captures of one URL, the one with the most text: (document, its packed bytes)."""
    return max(((unpack(b), b) for b in kv[1]),
               key=lambda c: (len(c[0].text), c[0].text, c[0].rule or ""))


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


def _exact_dups(kv):
    ids = sorted(kv[1])
    return [(i, ("exact_duplicate", ids[0])) for i in ids[1:]]


def _sum_tuples(values):
    """Element-wise sum of equal-length tuples (a combiner: associative and commutative)."""
    values = list(values)
    return tuple(map(sum, zip(*values))) if values else ()


def _mark(kv):
    """The kept documents of an id (none when a filter rejected it) with their first duplicate
    reason, if any."""
    values = list(kv[1])                # ("doc", packed document) and ("dup", reason)
    dup = [v for tag, v in values if tag == "dup"]
    for blob in (v for tag, v in values if tag == "doc"):
        doc = unpack(blob)
        yield doc.replace(rule=dup[0][0], cluster=dup[0][1]) if dup else doc


class WriteShard:
    """Writes one Parquet shard of packed documents into ``folder`` (any filesystem); with
    ``weights``, each document's repeat factor is set, computed once per worker from the
    per-site sizes (a side input, the same for every shard)."""

    def __init__(self, folder: str, fs_options: fs.Options = fs.Options(),
                 weights: dict | None = None, budget=None):
        self.folder, self.fs_options = folder, fs_options
        self.weights, self.budget, self._factors = weights, budget, None

    def __call__(self, item, sizes: dict | None = None):
        from swelm.corpus_tools.weight import factors
        fs.configure(self.fs_options)
        if self.weights is not None and self._factors is None:
            self._factors = factors(sizes, self.weights, self.budget)
        return write_shard(item, self.folder, factors=self._factors)


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


def _long_line_buckets(doc: Document, min_chars: int, buckets: int):
    """A page's long lines for the containment check, grouped by bucket: ``(bucket, (page
    characters, page id, [(line key, line characters), …]))``."""
    from swelm.corpus_tools.dedup import line_keys
    by = {}
    for key, chars in line_keys(doc.text, min_chars).items():
        by.setdefault(_bucket(key, buckets), []).append((key, chars))
    for b, lines in sorted(by.items()):
        yield b, (doc.chars, doc.id, lines)


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


def range_bytes(total_bytes: int, workers: int, runner) -> int:
    """Size of the WARC byte ranges read as one unit: about 64 per worker on the local runner
    (at least 256 kB; one worker reads whole files), 64 MB on other runners."""
    if runner:
        return 64 << 20
    if workers <= 1:
        return 1 << 62
    return max(256 << 10, total_bytes // (64 * workers))



# -- the composite transforms ----------------------------------------------------------------
class ReadPages(beam.PTransform):
    """WARC byte ranges ``{(path, start, end): bytes}`` -> ``(captures, events)``:
    ``(Document, packed)`` for each URL's capture with the most text, and ``(event,
    where)`` of the input problems.  The ranges go to ``bins`` groups of about equal
    bytes (see balanced_bins)."""

    def __init__(self, sites: list, pieces: dict, bins: int,
                 fs_options: fs.Options = fs.Options()):
        super().__init__()
        self.sites, self.pieces, self.bins, self.fs_options = sites, pieces, bins, fs_options

    def expand(self, p):
        read = (p | "WarcRanges" >> beam.Create(balanced_bins(self.pieces, self.bins),
                                                reshuffle=False)
                | "Spread" >> shuffle("Spread")
                | "Ranges" >> beam.FlatMap(lambda kv: sorted(kv[1]))
                | "ReadWarc" >> beam.FlatMap(ReadWarc(self.sites, self.fs_options)).with_outputs(
                    EVENTS, main="pages"))
        # extraction is fused with reading (HTML never crosses a shuffle); then the same
        # URL in several WARCs (recrawls) keeps one capture, the one with the most text
        captures = (read.pages | "ById" >> beam.Map(lambda d: (d.id, pack(d)))
                    | "GroupUrl" >> shuffle("GroupUrl")
                    | "OneCapture" >> beam.Map(_one_capture))
        return captures, read[EVENTS]

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

def local_bins(workers: int, total_bytes: int, per_bin: int = 32 << 20) -> int:
    """Bins for LocalBalance: a multiple of ``workers``, one per ``per_bin`` bytes of WARC
    input per worker at least, so that a bin (which a worker receives whole) stays small on
    any input size."""
    workers = max(1, workers)
    return workers * min(max(1, -(-total_bytes // (workers * per_bin))), max(1, 4096 // workers))


class LocalBalance(beam.PTransform):
    """``(Document, packed)`` -> Documents dealt evenly to the local runner's ``workers``
    processes.  The local runner hands a materialised collection out in chunks of several
    MB but the keys of a shuffle one by one, so the documents go through a shuffle on
    ``bins`` keys (a multiple of the workers, more for a larger input: a worker receives a
    bin whole), each to the least loaded (by its text).  The only runner-specific step of
    build-corpus: other runners balance the work themselves."""

    def __init__(self, workers: int, bins: int | None = None):
        super().__init__()
        self.workers, self.bins = workers, bins or workers

    def expand(self, captures):
        return (captures | "KeyExtracted" >> beam.Map(DocBins(self.bins))
                | "SpreadExtracted" >> shuffle("SpreadExtracted")
                | "Unpack" >> beam.FlatMap(lambda kv: (unpack(b) for b in kv[1])))

class Quality(beam.PTransform):
    """Documents and the boilerplate lines -> documents cleaned and filtered (CleanPage);
    rejected ones carry their rule."""

    def __init__(self, sites: list, boilerplate):
        super().__init__()
        self.sites, self.boilerplate = sites, boilerplate

    def expand(self, docs):
        return docs | "StripNormaliseFilter" >> beam.Map(
            CleanPage(self.sites), boiler=beam.pvalue.AsMultiMap(self.boilerplate))

class ExactDups(beam.PTransform):
    """Kept documents -> ``(id, ("exact_duplicate", smallest id))`` for every document
    whose text another one with a smaller id has."""

    def expand(self, kept):
        return (kept | "ExactKey" >> beam.Map(lambda d: (exact_key(d.text), d.id))
                | "GroupExact" >> shuffle("GroupExact")
                | "ExactDups" >> beam.FlatMap(_exact_dups))

def _band_group(kv, hot: dict, cap: int):
    """``((band key, part), (id, signature))``: a band bucket with more than ``cap`` members
    (``hot``: its size) is split into parts of about ``cap / 2`` members by a hash of the id."""
    from .beam_util import stable_hash
    key, member = kv
    n = hot.get(key)
    return (key, stable_hash(member[0]) % -(-2 * n // cap) if n else 0), member


def _group_pairs(kv, threshold: float, cap: int):
    """The candidate pairs of one band group, and the group's leader (smallest id) for the
    groups of a split bucket: ``("pair", (a, b))`` / ``("leader", (band key, member))`` /
    ``("size", members)``."""
    (key, part), members = kv
    members = sorted(members)
    yield "size", len(members)
    for pair in bucket_pairs([(i, np.frombuffer(s, np.uint32)) for i, s in members],
                             threshold, cap):
        yield "pair", pair
    yield "leader", (key, members[0])


class NearDups(beam.PTransform):
    """Kept documents -> ``(dups, labels, largest)``: ``(id, ("near_duplicate", cluster))`` of
    every member of a near-duplicate cluster but its smallest id, ``(id, cluster)`` of every
    member, and the size of the largest band group compared on one worker.

    Band buckets are grouped on their key; a bucket with more than ``max_bucket`` members (a
    template shared by many pages) is split into groups of about half that by a hash of the
    id, every pair inside a group is checked, and the groups' leaders (smallest ids) are checked
    against each other, so no group is larger than the cap and clusters still join across
    groups.  Signatures cross the shuffle as raw bytes; each round of min-label propagation
    is one shuffle (labels travel with the adjacency lists), so no worker holds the graph."""

    def __init__(self, minhash, jaccard: float, max_bucket: int, rounds: int):
        super().__init__()
        self.mh, self.jaccard, self.max_bucket, self.rounds = (minhash, jaccard, max_bucket,
                                                               rounds)

    def expand(self, kept):
        mh, thr, cap = self.mh, self.jaccard, self.max_bucket
        bands = (kept | "Signature" >> beam.Map(
            lambda d: (d.id, mh.signature(d.text).tobytes()))
            | "BandKeys" >> beam.FlatMap(
                lambda kv: [(k, kv) for k in mh.band_keys(np.frombuffer(kv[1], np.uint32))]))
        hot = (bands | "BandMember" >> beam.Map(lambda kv: (kv[0], 1))
               | "BucketSizes" >> BoundedCombinePerKey(sum)
               | "HotBuckets" >> beam.Filter(lambda kv: kv[1] > cap))
        found = (bands | "SplitHot" >> beam.Map(_band_group, hot=beam.pvalue.AsDict(hot),
                                                 cap=cap)
                 | "GroupBands" >> shuffle("GroupBands")
                 | "Pairs" >> beam.FlatMap(_group_pairs, thr, cap))
        leaders = (found | "Leaders" >> beam.FlatMap(
            lambda t: [t[1]] if t[0] == "leader" else [])
            | "LeadersOfSplit" >> beam.Filter(
                lambda kv, hot: kv[0] in hot, hot=beam.pvalue.AsDict(hot))
            | "GroupLeaders" >> shuffle("GroupLeaders")
            | "LeaderPairs" >> beam.FlatMap(lambda kv: bucket_pairs(
                [(i, np.frombuffer(s, np.uint32)) for i, s in kv[1]], thr, cap)))
        edges = ((found | "GroupPairs" >> beam.FlatMap(
            lambda t: [t[1]] if t[0] == "pair" else []), leaders)
            | "AllPairs" >> beam.Flatten()
            | "DistinctPairs" >> BoundedDistinct())
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
    """Documents -> ``(id, ("near_duplicate_containment", ""))`` of every page whose long
    lines (``min_chars`` or more) mostly (``threshold``) belong to smaller pages.  Each
    page's long lines go to bucket tables (line key -> holders) filled before the shuffle
    with a memory bound (PartialTables): a few hundred tables cross it, not one element
    per line."""

    def __init__(self, min_chars: int, buckets: int, threshold: float):
        super().__init__()
        self.min_chars, self.buckets, self.threshold = min_chars, buckets, threshold

    def expand(self, docs):
        threshold = self.threshold
        return (docs | "LongLines" >> beam.ParDo(PartialTables(
            _long_line_buckets, _holders_add, min_chars=self.min_chars, buckets=self.buckets))
            | "GroupLines" >> shuffle("GroupLines")
            | "Holders" >> beam.Map(_merged(_holders_merge))
            | "Votes" >> beam.FlatMap(lambda kv: (
                (d, v) for holders in kv[1].values() for d, v, _ in line_votes(holders)))
            | "PerDoc" >> BoundedCombinePerKey(_sum_tuples)
            | "Contained" >> beam.FlatMap(lambda kv: [
                (kv[0], ("near_duplicate_containment", ""))] if is_contained(
                    *kv[1], threshold) else []))

class MarkDups(beam.PTransform):
    """``(kept documents, [dups...])`` -> the kept documents, duplicates marked with their
    first reason (by the order of reason names) and cluster."""

    def expand(self, inputs):
        kept, dups = inputs
        first = dups | "AllDups" >> beam.Flatten() | "FirstReason" >> BoundedCombinePerKey(min)
        docs = kept | "KeyKept" >> beam.Map(lambda d: (d.id, ("doc", pack(d))))
        reasons = first | "KeyReason" >> beam.Map(lambda kv: (kv[0], ("dup", kv[1])))
        return ((docs, reasons) | "DocsAndReasons" >> beam.Flatten()
                | "JoinDups" >> shuffle("JoinDups") | "Mark" >> beam.FlatMap(_mark))

class WriteCorpus(beam.PTransform):
    """Kept documents -> Parquet shards in ``folder`` with each document's repeat factor
    set from the per-site sizes; returns ``(site, kept characters)``."""

    def __init__(self, folder: str, shards: int, weights: dict, budget,
                 fs_options: fs.Options = fs.Options()):
        super().__init__()
        self.folder, self.shards, self.weights, self.budget = folder, shards, weights, budget
        self.fs_options = fs_options

    def expand(self, corpus):
        shards = self.shards
        sizes = (corpus | "SiteChars" >> beam.Map(lambda d: (d.site, d.chars))
                 | "CharsPerSite" >> beam.CombinePerKey(sum))
        # the documents go to their shards packed; the writer sets their weights, so the
        # corpus is not materialised a second time to wait for the sizes
        (corpus | "ShardCorpus" >> beam.Map(lambda d: (shard_of(d.id, shards), pack(d)))
         | "GroupCorpus" >> shuffle("GroupCorpus")
         | "Write" >> beam.Map(WriteShard(self.folder, self.fs_options, self.weights,
                                          self.budget), sizes=beam.pvalue.AsDict(sizes)))
        return sizes

class WriteRejects(beam.PTransform):
    """``{stage: documents}`` -> the rejected ones in Parquet shards in ``folder``;
    returns their stats rows.  Rejects are keyed, packed and counted in the stage that
    rejects them, so the shuffle to the writers only moves bytes."""

    def __init__(self, folder: str, shards: int, fs_options: fs.Options = fs.Options()):
        super().__init__()
        self.folder, self.shards, self.fs_options = folder, shards, fs_options

    def expand(self, stages):
        keyed, stats = [], []
        shards = self.shards
        for name, source in stages.items():
            rej = source | f"{name}Rejects" >> beam.Filter(lambda d: d.rejected)
            keyed.append(rej | f"Shard{name}Rejects" >> beam.Map(
                lambda d: (shard_of(d.id, shards), pack(d))))
            stats.append(rej | f"Stat{name}Rejects" >> beam.Map(
                lambda d: ((d.site, d.genre, d.rule), (1, d.chars or 0, 0.0))))
        (keyed | "AllRejects" >> beam.Flatten() | "GroupRejects" >> shuffle("GroupRejects")
         | "Write" >> beam.Map(WriteShard(self.folder, self.fs_options)))
        return stats | "AllRejectStats" >> beam.Flatten()

class Stats(beam.PTransform):
    """The statistics rows ``[site, genre, key, docs, chars, weighted chars]`` as a JSON-lines
    file at ``path`` (small per-key sums, gathered once)."""

    def __init__(self, path: str, weights: dict, budget, genre_of: dict,
                 fs_options: fs.Options = fs.Options()):
        super().__init__()
        self.path, self.weights, self.budget, self.genre_of = path, weights, budget, genre_of
        self.fs_options = fs_options

    def expand(self, inputs):
        corpus, sizes, reject_stats, events, labels, largest = inputs
        rows = ((corpus | "StatKept" >> beam.Map(
            lambda d: ((d.site, d.genre, "kept"), (1, d.chars, 0.0))),
            sizes | "StatWeighted" >> beam.Map(
                _weighted_chars, sizes=beam.pvalue.AsDict(sizes), weights=self.weights,
                budget=self.budget, genre_of=self.genre_of),
            reject_stats,
            events | "StatEvents" >> beam.Map(lambda e: (("", "", e[0]), (1, 0, 0.0))),
            labels | "Clusters" >> beam.Map(
                lambda kv: (("", "", "cluster_member"), (1, 0, 0.0))),
            labels | "ClusterIds" >> beam.Map(lambda kv: kv[1])
            | "DistinctClusters" >> BoundedDistinct()
            | "CountClusters" >> beam.Map(
                lambda c: (("", "", "near_duplicate_clusters"), (1, 0, 0.0))),
            largest | "StatLargest" >> beam.Map(
                lambda n: (("", "", "largest_band_group"), (n, 0, 0.0))))
            | "AllStats" >> beam.Flatten()
            | "SumStats" >> beam.CombinePerKey(_sum_tuples)
            | "StatRow" >> beam.Map(lambda kv: [*kv[0], *kv[1]]))
        return write_json_lines(rows, self.path, self.fs_options, "WriteStats")


# -- writing -----------------------------------------------------------------------------------
def write_shard(item, folder: str, prefix: str = "part", factors: dict | None = None
                ) -> tuple[str, int]:
    """Write ``(shard, packed documents)`` as ``folder/part-NNNNN.parquet`` (any filesystem,
    published whole), sorted by id (then rule: a page's row before its dropped lines' rows), with each document's repeat factor set when ``factors``
    (per site) is given."""
    import pyarrow.parquet as pq
    shard, blobs = item
    docs = sorted(map(unpack, blobs), key=lambda d: (d.id, d.rule or ""))
    if factors is not None:
        docs = [d.replace(weight=round(factors[d.site], 6)) for d in docs]
    path = fs.join(folder, f"{prefix}-{shard:05d}.parquet")
    with fs.create(path) as f:
        pq.write_table(to_table(docs), f, compression="zstd")
    return path, len(docs)
