"""corpus_tools on the real shared sites and corpus (skipped when the shared data is absent)."""
from __future__ import annotations

import collections
import gzip
import json

import pytest

from conftest import shared, site_html
from swelm.corpus_tools.charset import decode_html
from swelm.corpus_tools.dedup import (MinHasher, boilerplate_keys, containment_duplicates,
                                estimate_jaccard, line_keys, strip_lines)
from swelm.corpus_tools.extract import extract
from swelm.corpus_tools.filter import filter_document


def site_texts(site: str, every: int = 1) -> dict[str, str]:
    return {name: extract(decode_html(body)[0]).text for name, body in site_html(site, every=every)}


@pytest.fixture(scope="module")
def lilypond():
    return site_texts("lilypond-ja")


def test_scilab_mostly_rejected_as_not_japanese():
    docs = site_texts("scilab-help-ja", every=20)
    rules = collections.Counter(filter_document(t).rule for t in docs.values())
    assert rules[None] <= 0.1 * len(docs)
    assert rules["min_japanese_ratio"] >= 0.8 * len(docs), rules


def test_lilypond_navigation_removed_as_boilerplate(lilypond):
    counts = collections.Counter()
    for t in lilypond.values():
        counts.update(line_keys(t).keys())
    keys = boilerplate_keys(counts, len(lilypond))
    back = "<< ドキュメント インデックスに戻る"
    title = "LilyPond — 記譜法リファレンス v2.24.1 (安定版)."
    with_nav = [d for d, t in lilypond.items() if back in t]
    assert len(with_nav) > 0.5 * len(lilypond)
    from swelm.corpus_tools.paragraphs import split_paragraphs
    for d in with_nav[:50]:
        text, removed = strip_lines(lilypond[d], keys)
        assert back not in text and title not in text and removed > 0
        # the page's own prose stays (the manual's table of contents on every page goes)
        prose, dropped, chars = split_paragraphs(lilypond[d], keys)
        assert back not in prose and chars["boilerplate"] > 0
    assert sum(bool(split_paragraphs(lilypond[d], keys)[0]) for d in with_nav) > 0.8 * len(with_nav)


def test_lilypond_big_pages_are_near_duplicates_of_split_pages(lilypond):
    # as in the pipeline: containment over each page's prose (boilerplate, navigation and code
    # lines taken out)
    from swelm.corpus_tools.paragraphs import split_paragraphs
    counts = collections.Counter()
    for t in lilypond.values():
        counts.update(line_keys(t).keys())
    keys = boilerplate_keys(counts, len(lilypond))
    dup = containment_duplicates({d: split_paragraphs(t, keys)[0] for d, t in lilypond.items()})
    big = sorted(d for d in lilypond if d.endswith("-big-page.ja.html"))
    assert len(big) == 5
    for d in big:
        share, owners = dup[d]
        assert share > 0.95 and len(owners) > 20 and all(not o.endswith("big-page.ja.html") for o in owners)
    # the split pages that carry their own text are not flagged
    assert len(dup) < 0.1 * len(lilypond)


def test_aozora_duplicate_editions_found_by_minhash():
    docs = {}
    for name in ("train.jsonl.gz", "valid.jsonl.gz"):
        with gzip.open(shared("corpus", name), "rt", encoding="utf-8") as f:
            for line in f:
                if '"aozora/000148/' in line[:200]:
                    d = json.loads(line)
                    docs[d["id"]] = d["text"]
    pair = ("aozora/000148/763_ruby", "aozora/000148/763_txt")
    if not all(p in docs for p in pair):
        pytest.skip("the duplicate editions are not in this corpus version")
    mh = MinHasher()
    sigs = {d: mh.signature(t) for d, t in docs.items()}
    buckets = collections.defaultdict(set)
    for d, s in sigs.items():
        for k in mh.band_keys(s):
            buckets[k].add(d)
    candidates = {tuple(sorted((a, b))) for m in buckets.values() for a in m for b in m if a < b}
    assert pair in candidates and estimate_jaccard(sigs[pair[0]], sigs[pair[1]]) > 0.9
    accepted = {p for p in candidates if estimate_jaccard(sigs[p[0]], sigs[p[1]]) >= 0.8}
    # every accepted pair is the same work (same file number) in two editions
    assert all(a.split("/")[2].split("_")[0] == b.split("/")[2].split("_")[0] for a, b in accepted)


@pytest.mark.parametrize("site", ["lilypond-ja", "libreoffice-help-ja", "scilab-help-ja",
                                  "egov-laws-sjis", "debian-docs-ja"])
def test_minimal_rules_keep_most_pages_with_japanese_prose(site, tmp_path):
    """The minimal sites.toml (name, seeds, genre) on a real site: at least half of the pages
    that hold Japanese prose are kept (the page rules used to reject nearly all of them)."""
    import re
    from swelm.corpus_tools.document import clean_page, extract_page
    from swelm.corpus_tools.normalize import Normalizer
    from swelm.corpus_tools.sites import load_sites
    genre = "legal" if site.startswith("egov") else "docs"
    path = tmp_path / "sites.toml"
    path.write_text(f'[[sites]]\nname = "{site}"\nseeds = ["http://{site}.test/"]\n'
                    f'genre = "{genre}"\nweight = 1.0\n', encoding="utf-8")
    (rules,) = load_sites(str(path))
    docs = [extract_page(f"http://{site}.test/{name}", rules, decode_html(body)[0])
            for name, body in site_html(site, every=15)]
    counts = collections.Counter()
    for d in docs:
        counts.update(line_keys(d.text).keys())
    boiler = boilerplate_keys(counts, len(docs))
    sentence = re.compile("[\u3041-\u309f]{2}[^\n]*[。．]")   # a Japanese sentence with kana
    norm = Normalizer()
    with_prose = kept = 0
    for d in docs:
        if not sentence.search(d.text):
            continue
        with_prose += 1
        kept += not clean_page(d, rules, boiler, norm).rejected
    assert with_prose >= 2 and kept >= 0.5 * with_prose, (kept, with_prose)
