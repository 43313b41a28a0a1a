"""Each composite stage of build-corpus (swelm.pipelines.stages) on small hand-made input, with
Beam's TestPipeline and assert_that (the whole pipeline is tested in test_pipelines.py)."""
from __future__ import annotations

import io
import json

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter
from swelm.pipelines.io import FileSystem

from swelm.corpus_tools.dedup import MinHasher
from swelm.corpus_tools.sites import load_sites
from swelm.corpus_tools.document import Document, doc_id
from swelm.pipelines import stages as st

PROSE = ("吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした"
         "所でニャーニャー泣いていた事だけは記憶している。吾輩はここで始めて人間というものを見た。")
OTHER = ("春はあけぼの。やうやう白くなりゆく山ぎは、すこしあかりて、紫だちたる雲のほそくたなびきたる。"
         "夏は夜。月のころはさらなり、やみもなほ、蛍の多く飛びちがひたる。また、ただ一つ二つなど。")


def runner():
    return test_pipeline.TestPipeline(runner="FnApiRunner")


def doc(i: str, text: str, site: str = "s", **kw) -> Document:
    return Document(id=i, url=f"http://example.jp/{i}", site=site, genre="novel", text=text,
                    chars=kw.pop("chars", len(text)), **kw)


@pytest.fixture()
def rules(tmp_path):
    path = tmp_path / "sites.toml"
    path.write_text('[[sites]]\nname = "s"\nseeds = ["http://example.jp/"]\ngenre = "novel"\n'
                    'filters = { min_length = 50, min_mean_sentence_length = 0 }\n', encoding="utf-8")
    return load_sites(str(path))


def _response(w, url, body, status="200 OK", ctype="text/html; charset=utf-8"):
    http = StatusAndHeaders(status, [("Content-Type", ctype)], protocol="HTTP/1.1")
    return w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)


def test_read_pages_stages_every_capture_and_chooses_one_per_url(tmp_path, rules):
    from swelm.pipelines import staging
    warc = tmp_path / "a.warc.gz"
    page = f"<html><head><title>猫</title></head><body><p>{PROSE}</p></body></html>"
    with open(warc, "wb") as f:
        w = WARCWriter(f, gzip=True)
        w.write_record(_response(w, "http://example.jp/1", page.encode()))
        w.write_record(_response(w, "http://example.jp/1", (page + "<p>追記。</p>").encode()))
        w.write_record(_response(w, "http://other.jp/x", page.encode()))      # no site
        w.write_record(_response(w, "http://example.jp/404", b"<p>no</p>", status="404 NF"))
    size = warc.stat().st_size
    out = str(tmp_path / "out")
    with runner() as p:
        captures, events = p | st.ReadPages(st.ReadWarc(rules), [(0, (str(warc), 0, size))],
                                            {0: 0}, out)
        chosen, others = captures | st.ChooseCaptures({0: 0})
        assert_that(chosen, equal_to([(0, [(0, [1])])]), label="OneCapturePerUrl")
        assert_that(others, equal_to([("same_id", "", "")]), label="OtherCaptureCounted")
        assert_that(events, equal_to([("no_site", "http://other.jp/x", "http://other.jp/x")]),
                    label="Events")
    staged = list(staging.read(FileSystem(), staging.path(out, "a", 0)))
    assert [(row, d.id, d.title) for row, d in staged] == [
        (0, doc_id("http://example.jp/1"), "猫"), (1, doc_id("http://example.jp/1"), "猫")]
    assert staged[1][1].text.endswith("追記。")
    assert [row for row, _ in staging.read(FileSystem(), staging.path(out, "a", 0), [1])] == [1]


def test_boilerplate(tmp_path):
    menu = "ホーム | 目次 | 検索"
    docs = [doc(f"d{i}", f"{menu}\n本文その{i}です。") for i in range(6)]
    docs += [doc("e0", f"{menu}\n別サイト。", site="t")]
    with runner() as p:
        keys = p | beam.Create(docs) | st.Boilerplate(buckets=4, share=0.5)
        assert_that(keys | beam.Map(lambda kv: kv[0]), equal_to(["s"]))


def test_quality_cleans_stages_and_emits_compact_records(tmp_path, rules):
    from swelm.pipelines import staging
    out = str(tmp_path / "out")
    docs = [doc("good", f"ホーム\n{PROSE}", chars=None), doc("short", "ホーム\n短い。", chars=None),
            doc("wide", "ホーム\n" + PROSE.replace("吾輩", "ＡＢ"), chars=None),
            doc("empty", "", rule="extract_empty", chars=None)]
    with staging.Writer(FileSystem(), staging.path(out, "a", 3)) as w:
        for d in docs:
            w.add(d)
    with runner() as p:
        boiler = p | "Boiler" >> beam.Create([("s", _line_key("ホーム"))])
        got = (p | "Chosen" >> beam.Create([(0, [(3, [0, 1, 2, 3])])])
               | st.Quality(rules, boiler, out, 30))
        assert_that(got[st.KEPT] | beam.Map(lambda kv: (kv[0], kv[1][0], kv[1][3])),
                    equal_to([("good", "s", 3), ("wide", "s", 3)]), label="Kept")
        assert_that(got[st.EXACT] | beam.Map(lambda kv: kv[1]),
                    equal_to([("good", 3, 0), ("wide", 3, 2)]), label="Exact")
        assert_that(got[st.LONG_LINES] | beam.Map(lambda t: t[1]),
                    equal_to(["good", "short", "wide"]), label="LongLines")
        assert_that(got["stats"] | beam.Filter(lambda kv: not kv[0][2].startswith("paragraph_"))
                    | beam.Map(lambda kv: kv[0][2]),
                    equal_to(["min_length", "only:min_length", "extract_empty"]), label="Stats")
    staged = {d.id: d for _, d in staging.read(FileSystem(), staging.path(out, "b", 3))}
    assert {i: (d.rule, d.text.startswith("ホーム"), "ＡＢ" in d.text)
            for i, d in staged.items()} == {
        "good": (None, False, False), "short": ("min_length", False, False),
        "wide": (None, False, False), "empty": ("extract_empty", False, False)}


def _line_key(line):
    from swelm.corpus_tools.dedup import line_key
    return line_key(line)


def test_exact_dups():
    from swelm.corpus_tools.dedup import exact_key

    def keys(docs):
        return [(exact_key(d.text), (d.id, 0, row)) for row, d in enumerate(docs)]
    docs = [doc("b", PROSE), doc("a", PROSE.replace("。", "。 ")), doc("c", OTHER)]
    with runner() as p:
        out, reps = p | beam.Create(keys(docs)) | st.ExactDups()
        assert_that(out, equal_to([]))      # whitespace differs inside a line: not exact
        assert_that(reps, equal_to([("b", (0, 0, 1)), ("a", (0, 1, 1)), ("c", (0, 2, 1))]),
                    label="Representatives")
    docs[1] = doc("a", PROSE)
    with runner() as p:
        out, reps = p | beam.Create(keys(docs)) | st.ExactDups()
        assert_that(out, equal_to([("b", ("exact_duplicate", "a"))]))
        assert_that(reps, equal_to([("a", (0, 1, 2)), ("c", (0, 2, 1))]),
                    label="Representatives")


def test_representative_signatures_are_read_from_staging(tmp_path):
    from swelm.pipelines import staging
    docs = [doc("a", PROSE), doc("b", OTHER), doc("c", PROSE + OTHER)]
    with staging.Writer(FileSystem(), staging.path(str(tmp_path), "b", 4)) as w:
        for d in docs:
            w.add(d)
    mh = MinHasher()
    with runner() as p:
        sigs = (p | beam.Create([("a", (4, 0, 2)), ("c", (4, 2, 1))])
                | st.RepresentativeSignatures(str(tmp_path), mh))
        assert_that(sigs, equal_to([(d.id, mh.signature(d.text).tobytes())
                                    for d in (docs[0], docs[2])]))


def test_clusters_count_every_copy_of_a_text():
    with runner() as p:
        labels = p | "Labels" >> beam.Create([("a", "a"), ("c", "a")])
        reps = p | "Reps" >> beam.Create([("a", (0, 0, 3)), ("c", (0, 1, 1)), ("d", (0, 2, 2)),
                                          ("e", (0, 3, 1))])
        assert_that((labels, reps) | st.Clusters(),
                    equal_to([("a", 3), ("a", 1), ("d", 2)]))


def _signatures(docs):
    return [(d.id, MinHasher().signature(d.text).tobytes()) for d in docs]


def test_near_dups():
    near = PROSE[:-6] + "のである。"
    docs = [doc("x", PROSE * 3), doc("y", (near + PROSE) * 2 + PROSE[:40]), doc("z", OTHER * 3)]
    with runner() as p:
        dups, labels, largest = p | beam.Create(_signatures(docs)) | st.NearDups(
            MinHasher(), 0.5, 100, rounds=3)
        assert_that(dups, equal_to([("y", ("near_duplicate", "x"))]), label="Dups")
        assert_that(labels, equal_to([("x", "x"), ("y", "x")]), label="Labels")
        assert_that(largest, equal_to([2]), label="Largest")


def test_near_dups_split_a_hot_bucket_and_still_join_one_cluster():
    """60 near-identical pages share every band bucket: with a cap of 8 each bucket is split
    into groups of at most 8 members, and the groups' leaders join them into one cluster."""
    docs = [doc(f"d{i:02d}", PROSE * 4 + f"第{i}版。") for i in range(60)]
    with runner() as p:
        dups, labels, largest = p | beam.Create(_signatures(docs)) | st.NearDups(
            MinHasher(), 0.8, 8, rounds=6)
        assert_that(labels, equal_to([(d.id, "d00") for d in docs]), label="Labels")
        assert_that(largest | beam.Map(lambda n: 1 <= n <= 8), equal_to([True]),
                    label="Largest")


def test_containment():
    from swelm.corpus_tools.dedup import line_keys
    parts = [PROSE + f"第{i}章。" for i in range(3)]
    docs = [doc(f"p{i}", t) for i, t in enumerate(parts)] + [doc("big", "\n".join(parts)),
                                                               doc("solo", OTHER)]
    with runner() as p:
        pages = [(d.chars, d.id, line_keys(d.text, 30)) for d in docs]
        out = p | beam.Create(pages) | st.Containment(buckets=4, threshold=0.8)
        assert_that(out, equal_to([("big", ("near_duplicate_containment", ""))]))


def test_decide_keeps_the_first_reason_and_counts_what_stays():
    kept = [("a", ("s", "novel", 10, 0, None)), ("b", ("s", "novel", 10, 1, None)),
            ("c", ("t", "novel", 7, 1, None))]
    with runner() as p:
        k = p | "Kept" >> beam.Create(kept)
        d1 = p | "D1" >> beam.Create([("b", ("near_duplicate", "a")), ("r", ("exact_duplicate", "a"))])
        d2 = p | "D2" >> beam.Create([("b", ("exact_duplicate", "a"))])
        out = (k, (d1, d2)) | st.Decide({0: 0, 1: 5})
        assert_that(out[st.REMOVED], equal_to([(5, ("removed", ("b", ("exact_duplicate", "a"))))]),
                    label="Removed")          # r: a page a filter rejected, no row
        assert_that(out[st.SIZES], equal_to([("s", 10), ("t", 7)]), label="Sizes")
        assert_that(out["stats"], equal_to([(("s", "novel", "kept"), (1, 10, 0.0)),
                                            (("t", "novel", "kept"), (1, 7, 0.0)),
                                            (("s", "novel", "exact_duplicate"), (1, 10, 0.0))]),
                    label="Stats")


def test_write_outputs_reads_each_staging_file_once_and_applies_the_decisions(tmp_path):
    from swelm.pipelines import staging
    out = str(tmp_path)
    corpus = [doc(f"k{i}", PROSE, site="s" if i % 2 else "t") for i in range(5)]
    rejects = [doc("r0", "短い。", rule="min_length", dropped=(("code", "x = 1"),)),
               doc("r1", "", rule="extract_empty", chars=None)]
    for index, docs in ((0, corpus[:3]), (1, corpus[3:] + rejects), (2, [])):
        with staging.Writer(FileSystem(), staging.path(out, "b", index)) as w:
            for d in docs:
                w.add(d)
    with runner() as p:
        removed = p | "Removed" >> beam.Create([(1, ("removed", ("k4", ("near_duplicate", "k0"))))])
        sizes = p | "Sizes" >> beam.Create([("s", 2), ("t", 3)])
        written = (removed, sizes) | st.WriteOutputs(out, {0: [0], 1: [1, 2]},
                                                     {"s": 2.0, "t": 0.5}, None)
        assert_that(written, equal_to([(0, 3, 0), (1, 1, 4)]))
    rows = pq.read_table(str(tmp_path / "corpus")).to_pylist()
    assert [r["id"] for r in rows] == ["k0", "k1", "k2", "k3"]      # in staging order
    assert {r["site"]: r["weight"] for r in rows} == {"s": 2.0, "t": 0.5}
    rej = pq.read_table(str(tmp_path / "rejected" / "part-00001.parquet")).to_pylist()
    assert [(r["id"], r["rule"], r["cluster"]) for r in rej] == [
        ("k4", "near_duplicate", "k0"), ("r0", "min_length", None),
        ("r0", "paragraph_code", None), ("r1", "extract_empty", None)]
    assert [r["chars"] for r in rej] == [len(PROSE), 3, 3, None]


def test_stats(tmp_path):
    path = str(tmp_path / "rows.jsonl")
    with runner() as p:
        c = p | "Corpus" >> beam.Create([(("s", "novel", "kept"), (1, len(PROSE), 0.0)),
                                         (("s", "novel", "kept"), (1, len(OTHER), 0.0))])
        sizes = p | "Sizes" >> beam.Create([("s", len(PROSE) + len(OTHER))])
        rej = p | "Rej" >> beam.Create([(("s", "novel", "min_length"), (2, 10, 0.0))])
        events = p | "Events" >> beam.Create([("no_site", "u1", "u1"), ("no_site", "u2", "u2")])
        clusters = p | "Clusters" >> beam.Create([("k0", 1), ("k0", 1)])
        largest = p | "Largest" >> beam.Create([7])
        rows = (c, rej) | beam.Flatten()
        _ = (rows, sizes, events, clusters, largest) | st.Stats(path, {"s": 2.0}, None,
                                                                 {"s": "novel"})
    rows = sorted(json.loads(line) for line in open(path, encoding="utf-8"))
    n = len(PROSE) + len(OTHER)
    assert rows == sorted([["", "", "cluster_member", 2, 0, 0.0],
                           ["", "", "largest_band_group", 7, 0, 0.0],
                           ["", "", "near_duplicate_clusters", 1, 0, 0.0],
                           ["", "", "no_site", 2, 0, 0.0],
                           ["s", "novel", "kept", 2, n, 2.0 * n],
                           ["s", "novel", "min_length", 2, 10, 0.0]])


def test_every_io_dofn_pickles_with_its_payload(rules, tmp_path):
    """The DoFns carry what they need (rules, word lists, the encoder, filesystem options) and
    survive Beam's pickler, as they must to reach workers that cannot see the driver's files."""
    from apache_beam.internal import pickler
    from swelm.pipelines import crawl, encode
    from swelm.pipelines.io import FileSystem
    from swelm.tokenizer import SWEEncoder
    opts = FileSystem(["--s3_endpoint_url=http://127.0.0.1:1", "--runner=X", "--workers=2"])
    assert opts.options == ("--s3_endpoint_url=http://127.0.0.1:1",)
    enc = SWEEncoder.load()
    fns = [st.ReadWarc(rules, opts), st.CleanPage(rules),
           st.WriteParts(str(tmp_path), {"s": 1.0}, None, opts),
           encode.ReadRecords(opts, "body", "doc"), encode.Tokenize(enc, 0),
           crawl.CrawlSite(rules, str(tmp_path), 10, opts)]
    for fn in fns:
        back = pickler.loads(pickler.dumps(fn))
        assert type(back) is type(fn)
    tok = pickler.loads(pickler.dumps(fns[4]))
    doc = {"id": "a", "genre": "novel", "text": "吾輩は猫である。", "weight": 1.0}
    assert [c[2].tolist() for c in tok(doc)] == [c[2].tolist() for c in fns[4](doc)]
    assert pickler.loads(pickler.dumps(fns[0])).sites == rules
    for fn in (st.StageRanges(st.ReadWarc(rules, opts), str(tmp_path), opts),
               st.CleanStaged(rules, str(tmp_path), 30, opts),
               st.Signatures(str(tmp_path), MinHasher(), opts),
               st.ChosenPages(str(tmp_path), opts)):
        assert pickler.loads(pickler.dumps(fn)).fs == opts


def test_partial_tables_flush_at_their_bound_and_merge_to_the_same_counts():
    """The bounded pre-shuffle tables: with a bound of 2 entries many partial tables are
    emitted, and merged after the shuffle they give the counts of one unbounded table."""
    docs = [doc(f"d{i}", "\n".join(f"行{j}の文章です。" for j in range(i % 5 + 1)))
            for i in range(12)]

    def merged(max_entries):
        with runner() as p:
            out = (p | beam.Create(docs)
                   | beam.ParDo(st.PartialTables(st._line_buckets, st._count_add,
                                                 max_entries=max_entries, buckets=3))
                   | beam.GroupByKey() | beam.Map(st._merged(st._count_merge))
                   | beam.Map(lambda kv: (kv[0], sorted(kv[1].items()))))
            assert_that(out, equal_to(expected), label="Tables")

    from swelm.corpus_tools.dedup import line_keys
    tables = {}
    for d in docs:
        for k in line_keys(d.text):
            b = ("s", int(k[:8], 16) % 3)
            tables.setdefault(b, {})[k] = tables.get(b, {}).get(k, 0) + 1
    expected = [(b, sorted(t.items())) for b, t in tables.items()]
    merged(2)
    merged(1 << 20)


@pytest.mark.parametrize("max_keys", [1, 2, 1 << 20])
def test_bounded_combine_and_distinct_equal_beams_own(max_keys):
    """The memory-bounded combiners give what CombinePerKey and Distinct give, whatever the
    bound (a bound of 1 flushes every element)."""
    pairs = [(f"k{i % 7}", (i, 2 * i)) for i in range(40)] + [("k0", (-5, 1))]
    with runner() as p:
        src = p | beam.Create(pairs)
        assert_that(src | "Bounded" >> st.BoundedCombinePerKey(st._sum_tuples, max_keys),
                    equal_to([(k, tuple(map(sum, zip(*[v for kk, v in pairs if kk == k]))))
                              for k in {k for k, _ in pairs}]), label="Sums")
        assert_that(src | "Min" >> st.BoundedCombinePerKey(min, max_keys),
                    equal_to([(k, min(v for kk, v in pairs if kk == k))
                              for k in {k for k, _ in pairs}]), label="Mins")
        keys = src | "Keys" >> beam.Map(lambda kv: kv[0])
        assert_that(keys | "Distinct" >> st.BoundedDistinct(max_keys),
                    equal_to(sorted({k for k, _ in pairs})), label="Distinct")
