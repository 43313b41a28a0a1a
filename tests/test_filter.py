"""Quality metrics and decisions: one fixture per rule, overrides, NG words."""
from __future__ import annotations

import doctest

import pytest

import swelm.corpus_tools.filter as filter_mod
from swelm.corpus_tools.filter import SIGNAL_RULES, NGWords, decide, filter_document, metrics
from swelm.corpus_tools.sites import THRESHOLDS

# A varied, natural paragraph: passes every default rule once it is long enough.
GOOD = ("私たちの町では、毎年秋になると小さな祭りが開かれます。"
        "子どもたちは朝早くから神社に集まり、太鼓の練習を始めました。"
        "昼過ぎには近所の人々が屋台を並べ、焼きそばや団子の香りが通りに広がっていきます。"
        "祖母は若いころに踊った盆踊りの話をしてくれ、母はそれを懐かしそうに聞いていました。"
        "夕方になると提灯に明かりがともり、川沿いの道はゆっくり歩く家族連れでにぎわいます。"
        "今年は雨が心配でしたが、幸いにも空は最後まで晴れたままでした。\n"
        "祭りが終わったあと、私は友人と一緒に片付けを手伝いながら来年の計画について話しました。"
        "新しい出し物を考えるのは難しいけれど、皆で意見を出し合う時間はとても楽しいものです。"
        "帰り道に見上げた星空は驚くほど澄んでいて、秋の訪れをはっきりと感じさせてくれました。"
        "疲れてはいたものの、心の中は満ち足りた気持ちでいっぱいだったことを覚えています。"
        "次の日の朝、町はいつもの静けさを取り戻し、学校へ向かう子どもたちの声だけが響いていました。")


def test_good_document_is_kept_with_all_metrics():
    r = filter_document(GOOD)
    assert r.keep and r.rule is None, r.metrics
    for name in THRESHOLDS:         # the model signals are measured only with a model
        assert (name.split("_", 1)[1] in r.metrics) == (name not in SIGNAL_RULES), name
    assert r.metrics["length"] == len("".join(GOOD.split()))
    assert 0.2 < r.metrics["hiragana_ratio"] < 0.8 and r.metrics["japanese_ratio"] > 0.95


@pytest.mark.parametrize("text,rule", [
    ("This page is written in English only. " * 30, "min_japanese_ratio"),
    ("短い文です。", "min_length"),
    ("東京都千代田区丸ノ内一丁目。" * 40, "min_hiragana_ratio"),
    ("コンピュータとプログラミングのテクニックをまなぶ。" * 20, "max_katakana_ratio"),
    ("私は行く。" * 120, "min_mean_sentence_length"),
    (GOOD + "そして" + "とても" * 80 + "楽しかった。", "max_sentence_length"),
])
def test_each_quality_rule(text, rule):
    assert filter_document(text).rule == rule


def test_mean_sentence_length_too_long():
    sent = "これは句点のないまま非常に長く続いていく文章で、読み手はどこで息をつけばよいのか分からなくなってしまうが、それでも作者は気にせず書き続けていく"
    text = "\n".join([(sent + sent)[:85] + "。" for _ in range(8)])
    m = metrics(text)
    assert m["mean_sentence_length"] > 80 and m["sentence_length"] < 100
    assert decide(m, {"max_mean_sentence_length": 80}) == "max_mean_sentence_length"


def test_repetition_rules():
    lines = ["同じ行がここに何度も繰り返して現れるので、これは重複とみなされます。"] * 5
    text = GOOD + "\n" + "\n".join(lines)
    m = metrics(text)
    assert m["duplicate_line_ratio"] == pytest.approx(4 / 7, abs=1e-3)
    assert filter_document(text).rule == "max_duplicate_line_ratio"
    paras = GOOD + "\n\n" + "\n\n".join(["段落が繰り返されています。同じ内容です。"] * 3)
    assert metrics(paras)["duplicate_paragraph_ratio"] == pytest.approx(2 / 4, abs=1e-3)
    # repeated 5..10-grams without repeated lines: one long line that loops
    loop = "".join(GOOD[:60] for _ in range(4))
    m = metrics(loop)
    assert m["dup_10gram_ratio"] > 0.7 and m["duplicate_line_ratio"] == 0
    assert decide(m, {k: v for k, v in THRESHOLDS.items() if "gram" in k}) == "max_top_2gram_ratio" \
        or decide(m, {k: v for k, v in THRESHOLDS.items() if "dup_" in k}) == "max_dup_5gram_ratio"


def test_ngram_metrics_exact_values():
    m = metrics("ああああ")             # 2-gram "ああ" ×3 covers 3·2/4 → capped at 1
    assert m["top_2gram_ratio"] == 1.0
    m = metrics("abcdeXabcdeY")       # 5-gram "abcde" twice covers 10 of 12 characters
    assert m["dup_5gram_ratio"] == pytest.approx(10 / 12, abs=1e-4)
    assert m["dup_6gram_ratio"] == 0
    assert metrics("abcdefgh")["top_2gram_ratio"] == 0


def test_ellipsis_lines():
    text = "\n".join(["続きはこちら…", "詳しくは・・・", "まとめです。", "あと少し..."])
    assert metrics(text)["ellipsis_line_ratio"] == 0.75


def test_ng_words(tmp_path):
    f = tmp_path / "ng.txt"
    f.write_text("# comment\n禁止語\n悪い言葉\n\n", encoding="utf-8")
    ng = NGWords.from_file(str(f))
    assert ng.words == ("悪い言葉", "禁止語")
    text = GOOD + "禁止語" * 30
    m = metrics(text, ng_words=ng)
    assert m["ng_word_ratio"] == pytest.approx(90 / m["length"], abs=1e-4)
    assert decide(m, {"max_ng_word_ratio": 0.05}) == "max_ng_word_ratio"
    assert metrics(GOOD)["ng_word_ratio"] == 0
    with pytest.raises(ValueError, match="missing.txt"):
        NGWords.from_file(str(tmp_path / "missing.txt"))


def test_site_overrides_and_order():
    short = GOOD[:150]
    assert filter_document(short).rule == "min_length"
    relaxed = dict(THRESHOLDS, min_length=100)
    assert filter_document(short, relaxed).keep
    off = dict(THRESHOLDS, min_length=None)        # None switches a rule off
    assert filter_document(short, off).keep
    assert decide({"length": 10}, {"max_length": 5}) == "max_length"
    with pytest.raises(ValueError, match="min_ or max_"):
        decide({"length": 1}, {"length": 5})


def test_link_ratio_rule():
    assert filter_document(GOOD, link_ratio=0.9).rule == "max_link_ratio"


def test_empty_and_whitespace():
    r = filter_document("  \n\n ")
    assert not r.keep and r.metrics["length"] == 0


def test_metrics_are_deterministic_and_rounded():
    a, b = metrics(GOOD), metrics(GOOD)
    assert a == b
    assert all(round(v, 4) == v for v in a.values() if isinstance(v, float))


def test_doctests():
    assert doctest.testmod(filter_mod).failed == 0


def test_rules_table_and_doctests():
    """One table of rules (name, default, metric function), each metric documented by a doctest
    that passes; the doctests of the Document module pass too."""
    import doctest
    import swelm.corpus_tools.document as document
    from swelm.corpus_tools.filter import RULES, THRESHOLDS
    from swelm.corpus_tools.sites import THRESHOLDS as SITE_THRESHOLDS
    assert SITE_THRESHOLDS is THRESHOLDS and list(THRESHOLDS) == [r.name for r in RULES]
    for r in RULES:
        kind, _, metric = r.name.partition("_")
        assert kind in ("min", "max") and r.metric.__name__ == metric, r
        assert ">>>" in (r.metric.__doc__ or ""), r.name
    for module in (filter_mod, document):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__
