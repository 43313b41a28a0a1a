"""Exact keys, MinHash-LSH, connected components, boilerplate lines, containment; weights."""
from __future__ import annotations

import doctest
import random

import numpy as np
import pytest

import swelm.corpus_tools.weight as weight_mod
from swelm.corpus_tools.dedup import (MinHasher, boilerplate_keys, connected_components,
                                containment_duplicates, estimate_jaccard, exact_key, jaccard,
                                line_keys, shingles, strip_lines)
from swelm.corpus_tools.weight import factors, mix_report, repeats

BASE = ("春はあけぼの。やうやう白くなりゆく山ぎは、すこしあかりて、紫だちたる雲のほそくたなびきたる。"
        "夏は夜。月のころはさらなり、やみもなほ、ほたるの多く飛びちがひたる。また、ただ一つ二つなど、"
        "ほのかにうち光りて行くもをかし。雨など降るもをかし。秋は夕暮れ。夕日のさして山の端いと近う"
        "なりたるに、からすの寝どころへ行くとて、三つ四つ、二つ三つなど、飛びいそぐさへあはれなり。")
OTHER = ("祇園精舎の鐘の声、諸行無常の響きあり。娑羅双樹の花の色、盛者必衰の理をあらはす。"
         "おごれる人も久しからず、ただ春の夜の夢のごとし。たけき者も遂にはほろびぬ、ひとへに風の前の塵に同じ。")


def edit(text: str, n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    chars = list(text)
    for _ in range(n):
        chars[rng.randrange(len(chars))] = rng.choice("あいうえおかきくけこ")
    return "".join(chars)


def test_exact_key_ignores_whitespace_only():
    assert exact_key("春は あけぼの\n") == exact_key("春は  あけぼの")
    assert exact_key("春はあけぼの") != exact_key("春は あけぼの")   # spaces inside count
    assert len(exact_key("")) == 32


def test_shingles_and_exact_jaccard():
    assert len(shingles("あいうえお")) == 1 and len(shingles("")) == 0
    assert len(shingles("あいう")) == 1                     # shorter than n: the text itself
    assert len(shingles("あいうえおか")) == 2
    assert jaccard(BASE, BASE) == 1.0
    assert jaccard(BASE, OTHER) < 0.02
    j = jaccard(BASE, edit(BASE, 3))
    assert 0.8 < j < 1.0


def test_minhash_estimate_and_determinism():
    mh = MinHasher(bands=16, rows=8)
    assert mh.num_perm == 128 and 0.7 < mh.threshold < 0.72
    a, b = mh.signature(BASE), mh.signature(edit(BASE, 5))
    assert a.dtype == np.uint32 and len(a) == 128
    assert abs(estimate_jaccard(a, b) - jaccard(BASE, edit(BASE, 5))) < 0.12
    assert np.array_equal(MinHasher(bands=16, rows=8).signature(BASE), a)
    assert not np.array_equal(MinHasher(bands=16, rows=8, seed=1).signature(BASE), a)
    assert mh.signature(shingles(BASE)).tolist() == a.tolist()
    with pytest.raises(ValueError):
        MinHasher(bands=0)


def test_band_keys_find_near_duplicates_only():
    mh = MinHasher()
    near = set(mh.band_keys(mh.signature(BASE))) & set(mh.band_keys(mh.signature(edit(BASE, 2))))
    far = set(mh.band_keys(mh.signature(BASE))) & set(mh.band_keys(mh.signature(OTHER)))
    assert near and not far
    keys = mh.band_keys(mh.signature(BASE))
    assert len(keys) == 16 and keys[0].startswith("0:") and keys[15].startswith("15:")


def test_connected_components():
    comp = connected_components([("c", "d"), ("b", "c"), ("x", "y")], nodes=["a", "z"])
    assert comp == {"a": "a", "z": "z", "b": "b", "c": "b", "d": "b", "x": "x", "y": "x"}


def test_boilerplate_lines_removed():
    nav = "ホーム | 製品 | お問い合わせ"
    pages = [f"{nav}\n本文その{i}。ここに固有の内容が書かれています。\n© 2026 サイト" for i in range(10)]
    counts: dict[str, int] = {}
    for p in pages:
        for k in line_keys(p):
            counts[k] = counts.get(k, 0) + 1
    keys = boilerplate_keys(counts, site_docs=len(pages), min_share=0.5)
    assert len(keys) == 2
    text, removed = strip_lines(pages[3], keys)
    assert text == "本文その3。ここに固有の内容が書かれています。"
    assert removed == len("ホーム|製品|お問い合わせ") + len("©2026サイト")
    assert boilerplate_keys({k: 2 for k in counts}, site_docs=2, min_share=0.5, min_docs=3) == set()


def test_containment_finds_the_big_page():
    parts = [BASE, OTHER, edit(BASE, 40, seed=3)]
    docs = {f"part{i}": p.replace("。", "。\n") for i, p in enumerate(parts)}
    docs["big"] = "\n".join(docs.values())
    dup = containment_duplicates(docs, min_chars=10)
    assert set(dup) == {"big"} and dup["big"][0] == 1.0
    assert dup["big"][1] == ("part0", "part1", "part2")
    docs["copy"] = docs["part1"]              # an exact copy: the larger id ("part1") loses
    dup = containment_duplicates(docs, min_chars=10)
    assert "part1" in dup and "copy" not in dup


def test_weights_and_repeats():
    assert factors({"a": 100, "b": 300}, {"a": 2.0}) == {"a": 2.0, "b": 1.0}
    f = factors({"a": 100, "b": 300}, {"a": 2.0, "b": 1.0}, budget=1000)
    assert f["a"] == pytest.approx(4.0) and f["b"] == pytest.approx(2.0)
    assert 100 * f["a"] + 300 * f["b"] == pytest.approx(1000)
    n = [repeats(f"doc{i}", 0.3, seed=7) for i in range(4000)]
    assert set(n) == {0, 1} and 0.27 < sum(n) / len(n) < 0.33
    assert n == [repeats(f"doc{i}", 0.3, seed=7) for i in range(4000)]
    assert [repeats(f"doc{i}", 2.5, seed=1) for i in range(100)].count(2) > 30
    with pytest.raises(ValueError):
        factors({"a": 1}, {"a": -1.0})
    with pytest.raises(ValueError):
        factors({"a": 1}, {"a": 1.0}, budget=0)
    with pytest.raises(ValueError):
        repeats("d", float("nan"))
    rep = mix_report({"a": 100, "b": 300}, {"a": 2.0, "b": 1.0}, {"a": "novel", "b": "news"})
    assert rep["genres"]["novel"]["share"] == pytest.approx(0.4)
    assert rep["total_out"] == 500
    assert doctest.testmod(weight_mod).failed == 0
