"""``swelm build-corpus``: WARC files → filtered, deduplicated, weighted Parquet corpus.

Stages (each a named Beam step; every per-document function comes from ``corpus_tools``):

1. ReadWarc: HTML responses (status 200) of the WARC files, read in byte ranges cut at record
   boundaries (``corpus_tools.warc``: about 64 per worker on the local runner, 64 MB on other
   runners), so that one large file is spread over workers; each URL is given to the first site
   whose rules accept it (pages of no site are counted and dropped: Common Crawl input works).
2. Extract with the site's profile.
3. Boilerplate: pages per (site, line) counted with a combiner into ``--line-buckets`` tables
   per site; lines on ≥ ``--boilerplate-share`` of a site's pages are removed. Only those keys
   (a few per site) are broadcast.
4. Normalise, then Filter with the site's thresholds and NG words.
5. Exact duplicates: GroupByKey on ``exact_key``; the smallest id stays.
6. Near duplicates: MinHash band keys → GroupByKey → candidate pairs → signature Jaccard check
   → connected components by min-label propagation (``--cc-rounds`` rounds, each one shuffle
   of the labels with the adjacency lists);
   and containment (long-line keys, combined into bucket tables before the shuffle → owner =
   smallest page → share of foreign lines), computed
   over every extracted page, kept or not, so that a page repeating rejected pages is caught.
   A page rejected by a filter keeps that rule; duplicates are marked among the kept pages.
7. Weight: per-site repeat factors from site × genre weights and the optional ``--budget``,
   set on each document by the corpus writer.
8. Write: documents go to ``--shards`` shards by a hash of their id, sorted by id inside a shard,
   written with pyarrow under a temporary name and renamed: the same input gives the same bytes
   whatever the runner or the number of workers.

Output: ``corpus/part-NNNNN.parquet`` (id, url, site, genre, title, lang, text, chars, weight,
metrics JSON), ``rejected/part-NNNNN.parquet`` (the same plus ``rule`` and ``cluster``), and
``stats.json`` + ``stats.md`` + ``plots/*.png``.
"""
from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import re

log = logging.getLogger(__name__)

SCHEMA_FIELDS = ("id", "url", "site", "genre", "title", "lang", "text", "chars", "weight",
                 "metrics", "rule", "cluster")


def doc_id(url: str) -> str:
    return hashlib.blake2b(url.encode("utf-8"), digest_size=10).hexdigest()


# -- per-element functions (wiring around corpus_tools) ---------------------------------------
class ReadWarc:
    """Pages of one byte range ``(path, start, end)`` of a WARC file (see ``corpus_tools.warc``):
    HTML responses with status 200, each given to the first site whose rules accept its URL."""

    def __init__(self, rules: str):
        self.rules = rules
        self.sites = None

    def __call__(self, piece):
        from corpus_tools.charset import decode_html
        from corpus_tools.fetch import HTML_TYPES
        from corpus_tools.sites import load_sites
        from corpus_tools.warc import iter_range
        if self.sites is None:
            self.sites = load_sites(self.rules)
        path, start, end = piece
        read = False
        try:
            for kind, rec in iter_range(path, start, end):
                read = True
                if kind == "damaged":       # the reader resumes at the next record
                    yield {"_event": "damaged_warc", "site": "", "url": path, "error": rec}
                    continue
                if rec.rec_type != "response" or rec.http_headers is None:
                    continue
                url = rec.rec_headers.get_header("WARC-Target-URI")
                status = rec.http_headers.get_statuscode()
                ctype = rec.http_headers.get_header("Content-Type") or "text/html"
                if status != "200" or ctype.split(";")[0].strip() not in HTML_TYPES:
                    continue
                if rec.rec_headers.get_header("WARC-Truncated"):
                    yield {"_event": "truncated_record", "site": "", "url": url}
                    continue
                site = next((s for s in self.sites if s.in_scope(url)), None)
                if site is None:
                    yield {"_event": "no_site", "site": "", "url": url}
                    continue
                try:
                    body = rec.content_stream().read()
                except Exception as exc:    # a damaged record body: the next read resyncs
                    yield {"_event": "damaged_warc", "site": "", "url": path,
                           "error": f"{url}: {type(exc).__name__}: {exc}"}
                    continue
                html = decode_html(body, ctype, site.encoding)[0]
                yield {"id": doc_id(url), "url": url, "site": site.name, "genre": site.genre,
                       "html": html}
        except OSError as exc:
            if start == 0 or read:          # an unopenable file is reported once, not per range
                yield {"_event": "unreadable_warc", "site": "", "url": path, "error": str(exc)}


def _site_table(rules: str) -> dict:
    from corpus_tools.sites import load_sites
    return {s.name: s for s in load_sites(rules)}


class ExtractDoc:
    def __init__(self, rules: str):
        self.rules, self.sites = rules, None

    def __call__(self, page: dict):
        from corpus_tools.extract import extract
        if self.sites is None:
            self.sites = _site_table(self.rules)
        site = self.sites[page["site"]]
        e = extract(page.pop("html"), site.extract)
        page.update(text=e.text, title=e.title, lang=e.lang or "", link_ratio=e.link_ratio)
        if not e.ok:
            page["rule"] = f"extract_{e.outcome}"
        return page


class StripAndFilter:
    def __init__(self, rules: str):
        self.rules, self.sites, self.ng, self.norm, self.boiler = rules, None, {}, None, {}

    def __call__(self, doc: dict, boiler: dict):
        from corpus_tools.dedup import strip_lines
        from corpus_tools.filter import NGWords, filter_document
        from corpus_tools.normalize import Normalizer
        if self.sites is None:
            self.sites = _site_table(self.rules)
            self.norm = Normalizer()
        site = self.sites[doc["site"]]
        if doc["site"] not in self.boiler:     # the side input is the same for every document
            self.boiler[doc["site"]] = set(boiler[doc["site"]])
        text, removed = strip_lines(doc["text"], self.boiler[doc["site"]])
        text = self.norm(text)
        if site.ng_words and site.name not in self.ng:
            self.ng[site.name] = NGWords.from_file(site.ng_words)
        r = filter_document(text, site.filters, ng_words=self.ng.get(site.name),
                            link_ratio=doc.pop("link_ratio", 0.0))
        m = dict(r.metrics, boilerplate_chars=removed)
        doc.update(text=text, chars=m["length"], metrics=json.dumps(m, sort_keys=True))
        if not r.keep:
            doc["rule"] = r.rule
        return doc


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
        self.load[b] += len(capture[0]["text"]) + 600
        return b, capture[1]


def _one_capture(kv):
    """Of the captures of one URL, the one with the most text: (document, its packed bytes)."""
    from pipelines.beam_util import unpack
    return max(((unpack(b), b) for b in kv[1]),
               key=lambda c: (len(c[0]["text"]), c[0]["text"], c[0].get("rule") or ""))


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


class WriteCorpusShard:
    """Writes one corpus shard with each document's repeat factor set; the factors are computed
    once per worker from the per-site sizes (a side input, the same for every shard)."""

    def __init__(self, folder: str, weights: dict, budget):
        self.folder, self.weights, self.budget, self._factors = folder, weights, budget, None

    def __call__(self, item, sizes: dict):
        from corpus_tools.weight import factors
        if self._factors is None:
            self._factors = factors(sizes, self.weights, self.budget)
        return write_shard(item, self.folder, factors=self._factors)


def _weighted_chars(kv, sizes: dict, weights: dict, budget, genre_of: dict):
    """The stats row of a site's weighted characters: its kept characters × its repeat factor
    (the factor is the same for every document of a site)."""
    from corpus_tools.weight import factors
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


def _line_buckets(doc: dict, buckets: int):
    """A page's distinct line keys, grouped by ``(site, bucket)``."""
    from corpus_tools.dedup import line_keys
    by = {}
    for key in line_keys(doc["text"]):
        by.setdefault(_bucket(key, buckets), []).append(key)
    for b, keys in by.items():
        yield (doc["site"], b), keys


def _long_line_buckets(doc: dict, min_chars: int, buckets: int):
    """A page's long lines for the containment check, grouped by bucket: ``(bucket, (page
    characters, page id, [(line key, line characters), …]))``."""
    from corpus_tools.dedup import line_keys
    by = {}
    for key, chars in line_keys(doc["text"], min_chars).items():
        by.setdefault(_bucket(key, buckets), []).append((key, chars))
    for b, lines in sorted(by.items()):
        yield b, (doc["chars"], doc["id"], lines)


def _table_combine(add, merge):
    """A CombineFn into one dict: ``add(table, input)`` puts an input in, ``merge(table, key,
    value)`` folds in an entry of another table (the smaller tables into the largest)."""
    import apache_beam as beam

    class TableCombine(beam.CombineFn):
        def create_accumulator(self):
            return {}

        def add_input(self, acc, item):
            add(acc, item)
            return acc

        def merge_accumulators(self, accs):
            accs = sorted(accs, key=len, reverse=True)
            out = accs[0]
            for acc in accs[1:]:
                for key, value in acc.items():
                    merge(out, key, value)
            return out

        def extract_output(self, acc):
            return acc

    return TableCombine()


def _count_add(table: dict, keys) -> None:
    for k in keys:
        table[k] = table.get(k, 0) + 1


def _count_merge(table: dict, key, count: int) -> None:
    table[key] = table.get(key, 0) + count


def count_keys():
    """A CombineFn: in how many inputs (lists of distinct keys) each key is."""
    return _table_combine(_count_add, _count_merge)


def _holders_add(table: dict, page) -> None:
    chars, doc, lines = page
    for key, c in lines:
        table.setdefault(key, []).append((chars, doc, c))


def _holders_merge(table: dict, key, holders: list) -> None:
    table.setdefault(key, []).extend(holders)


def line_holders():
    """A CombineFn: ``{line key: [(page characters, page id, line characters), …]}`` of the
    inputs ``(page characters, page id, [(line key, line characters), …])``."""
    return _table_combine(_holders_add, _holders_merge)


def _boilerplate_lines(kv, n: dict, share: float):
    """``(site, line key)`` of each counted line that is boilerplate for its site."""
    from corpus_tools.dedup import is_boilerplate
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


# -- writing ----------------------------------------------------------------------------------
def write_shard(item, folder: str, prefix: str = "part", factors: dict | None = None
                ) -> tuple[str, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pipelines.beam_util import unpack
    shard, blobs = item
    docs = sorted(map(unpack, blobs), key=lambda d: d["id"])
    if factors is not None:
        for d in docs:
            d["weight"] = round(factors[d["site"]], 6)
    cols = {f: [d.get(f) for d in docs] for f in SCHEMA_FIELDS}
    schema = pa.schema([("id", pa.string()), ("url", pa.string()), ("site", pa.string()),
                        ("genre", pa.string()), ("title", pa.string()), ("lang", pa.string()),
                        ("text", pa.string()), ("chars", pa.int64()), ("weight", pa.float64()),
                        ("metrics", pa.string()), ("rule", pa.string()), ("cluster", pa.string())])
    table = pa.table(cols, schema=schema)
    path = os.path.join(folder, f"{prefix}-{shard:05d}.parquet")
    tmp = path + ".tmp"
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    return path, len(docs)


def run(args, beam_args) -> int:
    import apache_beam as beam
    import numpy as np
    from corpus_tools.dedup import (MinHasher, bucket_pairs, exact_key, is_contained,
                                    line_votes)
    from corpus_tools.sites import load_sites
    from corpus_tools.warc import plan as warc_plan
    from corpus_tools.weight import effective_weight
    from pipelines.beam_util import (clean_temporaries, make_pipeline, pack, shard_of,
                                     take_json_lines, unpack)
    from pipelines.report import write_report

    rules = os.path.abspath(args.sites)
    sites = load_sites(rules)
    paths = sorted(set(p for pattern in args.warc for p in glob.glob(pattern)))
    if not paths:
        print(f"swelm build-corpus: no WARC files match {' '.join(args.warc)}")
        return 2
    sizes = {p: os.path.getsize(p) for p in paths}
    runner = getattr(args, "runner", None)
    pieces = warc_plan(sizes, range_bytes(sum(sizes.values()), args.workers, runner))
    out = os.path.abspath(args.out)
    for sub in ("corpus", "rejected"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
        for old in glob.glob(os.path.join(out, sub, "part-*.parquet")):
            os.remove(old)                          # a rerun replaces the whole output
    clean_temporaries(out)
    mh = MinHasher(bands=args.bands, rows=args.rows, seed=args.seed)
    weights = {s.name: effective_weight(s.weight, s.genre, args.genre_weight) for s in sites}
    shards, thr, share = args.shards, args.jaccard, args.boilerplate_share

    with make_pipeline(args, beam_args) as p:
        # WARC byte ranges in one bin per worker, of about equal bytes and an equal share of
        # each crawl: the local runner deals the keys of a shuffle out in turn, so each worker
        # reads and extracts the same amount; other runners get one key per range
        bins = len(pieces) if runner else max(1, args.workers)
        records = (p | "WarcRanges" >> beam.Create(balanced_bins(pieces, bins), reshuffle=False)
                   | "Spread" >> beam.GroupByKey()
                   | "Ranges" >> beam.FlatMap(lambda kv: sorted(kv[1]))
                   | "ReadWarc" >> beam.FlatMap(ReadWarc(rules)))
        events = records | "Events" >> beam.Filter(lambda r: "_event" in r)
        pages = records | "Pages" >> beam.Filter(lambda r: "_event" not in r)
        # extraction is fused with reading (HTML never crosses a shuffle); then the same URL in
        # several WARCs (recrawls) keeps one capture, the one with the most text
        captures = (pages | "Extract" >> beam.Map(ExtractDoc(rules))
                    | "ById" >> beam.Map(lambda d: (d["id"], pack(d)))
                    | "GroupUrl" >> beam.GroupByKey() | "OneCapture" >> beam.Map(_one_capture))
        docs = captures | "Doc" >> beam.Map(lambda c: c[0])
        extracted_packed = captures | "Extracted" >> beam.Filter(lambda c: "rule" not in c[0])
        extracted = extracted_packed | "ExtractedDoc" >> beam.Map(lambda c: c[0])
        # boilerplate lines per site
        site_pages = (extracted | "SitePage" >> beam.Map(lambda d: (d["site"], 1))
                      | "PagesPerSite" >> beam.CombinePerKey(sum))
        # pages per line: each page sends its line keys to (site, bucket) counters, so a
        # worker's partial counts cross the shuffle as a few hundred tables, not one element per
        # distinct line
        buckets = args.line_buckets or line_buckets_for(sum(sizes.values()))
        line_pages = (extracted | "LineKeys" >> beam.FlatMap(_line_buckets, buckets=buckets)
                      | "PagesPerLine" >> beam.CombinePerKey(count_keys()))
        boiler = (line_pages
                  | "Boilerplate" >> beam.FlatMap(
                      _boilerplate_lines, n=beam.pvalue.AsDict(site_pages), share=share))
        # the filter waits for the boilerplate lines, so its input is materialised. The local
        # runner deals a materialised collection out to its workers in chunks of several MB,
        # but the keys of a shuffle one by one: there the packed documents go through a
        # shuffle on one key per worker, each to the least loaded (by its text). Other runners
        # balance the work themselves.
        strip_filter = StripAndFilter(rules)
        if runner:
            filtered = extracted | "StripNormaliseFilter" >> beam.Map(
                strip_filter, boiler=beam.pvalue.AsMultiMap(boiler))
        else:
            filtered = (extracted_packed | "KeyExtracted" >> beam.Map(DocBins(args.workers))
                        | "SpreadExtracted" >> beam.GroupByKey()
                        | "StripNormaliseFilter" >> beam.FlatMap(
                            lambda kv, boiler: [strip_filter(unpack(b), boiler) for b in kv[1]],
                            boiler=beam.pvalue.AsMultiMap(boiler)))
        kept = filtered | "Kept" >> beam.Filter(lambda d: "rule" not in d)
        # exact duplicates
        exact = (kept | "ExactKey" >> beam.Map(lambda d: (exact_key(d["text"]), d["id"]))
                 | "GroupExact" >> beam.GroupByKey()
                 | "ExactDups" >> beam.FlatMap(_exact_dups))
        # near duplicates: LSH candidates, Jaccard check, connected components
        # signatures cross the shuffle as raw bytes (cheap to copy, nothing to decode)
        sigs = kept | "Signature" >> beam.Map(
            lambda d: (d["id"], mh.signature(d["text"]).tobytes()))
        edges = (sigs | "BandKeys" >> beam.FlatMap(
            lambda kv: [(k, kv) for k in mh.band_keys(np.frombuffer(kv[1], np.uint32))])
            | "GroupBands" >> beam.GroupByKey()
            | "Pairs" >> beam.FlatMap(lambda kv: bucket_pairs(
                [(i, np.frombuffer(s, np.uint32)) for i, s in kv[1]], thr, args.max_bucket))
            | "DistinctPairs" >> beam.Distinct())
        # min-label propagation: each node's (label, neighbours) travels with the labels sent
        # to it, so a round is one shuffle
        state = (edges | "BothWays" >> beam.FlatMap(lambda e: [(e[0], e[1]), (e[1], e[0])])
                 | "Adjacency" >> beam.GroupByKey()
                 | "Init" >> beam.Map(lambda kv: (kv[0], (kv[0], sorted(set(kv[1]))))))
        for r in range(args.cc_rounds):
            state = (state | f"Send{r}" >> beam.FlatMap(_send_label)
                     | f"Round{r}" >> beam.GroupByKey() | f"Min{r}" >> beam.Map(_min_label))
        labels = state | "Labels" >> beam.Map(lambda kv: (kv[0], kv[1][0]))
        near = labels | "NearDups" >> beam.FlatMap(
            lambda kv: [(kv[0], ("near_duplicate", kv[1]))] if kv[1] != kv[0] else [])
        # containment runs over every extracted page: a split page rejected for quality still
        # makes the "big page" that repeats it a duplicate
        # each page's long lines go to bucket tables (line key → holders) combined before the
        # shuffle, as for the boilerplate counts: a few hundred tables cross it, not one element
        # per line
        contain = (filtered | "LongLines" >> beam.FlatMap(
            _long_line_buckets, min_chars=args.min_line_chars, buckets=buckets)
            | "GroupLines" >> beam.CombinePerKey(line_holders())
            | "Votes" >> beam.FlatMap(lambda kv: (
                (d, v) for holders in kv[1].values() for d, v, _ in line_votes(holders)))
            | "PerDoc" >> beam.CombinePerKey(_sum_tuples)
            | "Contained" >> beam.FlatMap(lambda kv: [
                (kv[0], ("near_duplicate_containment", ""))] if is_contained(
                    *kv[1], args.containment) else []))
        dups = ((exact, near, contain) | "AllDups" >> beam.Flatten()
                | "FirstReason" >> beam.CombinePerKey(min))
        joined = ({"doc": kept | "KeyKept" >> beam.Map(lambda d: (d["id"], pack(d))), "dup": dups}
                  | "JoinDups" >> beam.CoGroupByKey())

        def mark(kv):
            docs_, dup = [unpack(b) for b in kv[1]["doc"]], list(kv[1]["dup"])
            for doc in docs_:                   # none when a filter rejected the page already
                if dup:
                    doc["rule"], doc["cluster"] = dup[0]
                yield doc
        final = joined | "Mark" >> beam.FlatMap(mark)
        # rejects are keyed, packed and counted in the stage that rejects them, so the shuffle
        # to the writers only moves bytes
        rej_keyed, rej_stats = [], []
        for name, source in (("Dup", final), ("Filter", filtered), ("Extract", docs)):
            rej = source | f"{name}Rejects" >> beam.Filter(lambda d: "rule" in d)
            rej_keyed.append(rej | f"Shard{name}Rejects" >> beam.Map(
                lambda d: (shard_of(d["id"], shards), pack(d))))
            rej_stats.append(rej | f"Stat{name}Rejects" >> beam.Map(
                lambda d: ((d["site"], d["genre"], d["rule"]), (1, d.get("chars") or 0, 0.0))))
        corpus = final | "Corpus" >> beam.Filter(lambda d: "rule" not in d)
        sizes = (corpus | "SiteChars" >> beam.Map(lambda d: (d["site"], d["chars"]))
                 | "CharsPerSite" >> beam.CombinePerKey(sum))
        # the documents go to their shards packed from the stage that marks them; the writer
        # sets their weights (per-site factors from the per-site sizes), so the corpus is not
        # materialised a second time to wait for the sizes
        corpus_dir, rej_dir = os.path.join(out, "corpus"), os.path.join(out, "rejected")
        (corpus | "ShardCorpus" >> beam.Map(lambda d: (shard_of(d["id"], shards), pack(d)))
         | "GroupCorpus" >> beam.GroupByKey()
         | "WriteCorpus" >> beam.Map(WriteCorpusShard(corpus_dir, weights, args.budget),
                                     sizes=beam.pvalue.AsDict(sizes)))
        (rej_keyed | "AllRejects" >> beam.Flatten()
         | "GroupRejects" >> beam.GroupByKey() | "WriteRejects" >> beam.Map(write_shard, rej_dir))
        # statistics: small per-key sums gathered once
        genre_of = {s.name: s.genre for s in sites}
        rows = ((corpus | "StatKept" >> beam.Map(
            lambda d: ((d["site"], d["genre"], "kept"), (1, d["chars"], 0.0))),
            sizes | "StatWeighted" >> beam.Map(
                _weighted_chars, sizes=beam.pvalue.AsDict(sizes), weights=weights,
                budget=args.budget, genre_of=genre_of),
            *rej_stats,
            events | "StatEvents" >> beam.Map(lambda e: (("", "", e["_event"]), (1, 0, 0.0))),
            labels | "Clusters" >> beam.Map(lambda kv: (("", "", "cluster_member"), (1, 0, 0.0))),
            labels | "ClusterIds" >> beam.Map(lambda kv: kv[1]) | "DistinctClusters" >> beam.Distinct()
            | "CountClusters" >> beam.Map(lambda c: (("", "", "near_duplicate_clusters"), (1, 0, 0.0))))
            | "AllStats" >> beam.Flatten()
            | "SumStats" >> beam.CombinePerKey(_sum_tuples)
            | "StatJson" >> beam.Map(lambda kv: json.dumps([*kv[0], *kv[1]], ensure_ascii=False)))
        rows | "WriteStats" >> beam.io.WriteToText(os.path.join(out, "stats-rows"),
                                                   shard_name_template="", file_name_suffix=".jsonl")
    table = sorted(take_json_lines(os.path.join(out, "stats-rows.jsonl")))
    stats = write_report(out, table, sites, args)
    print(f"corpus: {stats['kept']['docs']} documents ({stats['kept']['chars']} characters) in "
          f"{os.path.join(out, 'corpus')}; rejected: {stats['rejected_docs']} in "
          f"{os.path.join(out, 'rejected')}; report: {os.path.join(out, 'stats.md')}")
    return 0


def add_parser(sub) -> None:
    import argparse
    from pipelines.beam_util import add_beam_flags
    p = sub.add_parser("build-corpus", help="WARC files -> filtered, deduplicated Parquet corpus",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--warc", nargs="+", required=True, help="WARC files or glob patterns")
    p.add_argument("--sites", required=True, help="site rules file (TOML or YAML)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--shards", type=int, default=4, help="Parquet shards per output (default 4)")
    p.add_argument("--seed", type=int, default=0, help="MinHash seed (default 0)")
    p.add_argument("--bands", type=int, default=16, help="LSH bands (default 16)")
    p.add_argument("--rows", type=int, default=8, help="LSH rows per band (default 8)")
    p.add_argument("--jaccard", type=float, default=0.8,
                   help="signature Jaccard a candidate pair must reach (default 0.8)")
    p.add_argument("--max-bucket", type=int, default=1000,
                   help="documents compared per LSH bucket at most (default 1000)")
    p.add_argument("--cc-rounds", type=int, default=6,
                   help="label-propagation rounds for near-duplicate clusters (default 6)")
    p.add_argument("--containment", type=float, default=0.8,
                   help="share of a page's long lines owned by smaller pages that makes it a "
                        "near-duplicate (default 0.8)")
    p.add_argument("--min-line-chars", type=int, default=30,
                   help="lines this long count for containment (default 30)")
    p.add_argument("--boilerplate-share", type=float, default=0.1,
                   help="lines on this share of a site's pages are boilerplate (default 0.1)")
    p.add_argument("--line-buckets", type=int, default=0,
                   help="line tables per site for the boilerplate counts, and in all for the "
                        "containment check (default: 64, or one per 128 MB of WARC input if "
                        "that is more)")
    p.add_argument("--budget", type=float, default=None,
                   help="characters wanted in the weighted corpus (default: weights as repeats)")
    p.add_argument("--genre-weight", type=_genre_weights, default={},
                   help="genre weights, e.g. 'novel=2,docs=0.5'")
    add_beam_flags(p)
    p.set_defaults(func=run, beam_pipeline=True)


def _genre_weights(text: str) -> dict:
    out = {}
    for part in filter(None, text.split(",")):
        k, _, v = part.partition("=")
        out[k.strip()] = float(v)
    return out
