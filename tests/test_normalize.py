"""corpus_tools.normalize: every rule, what it changes and what it leaves alone."""
import pytest

from swelm.corpus_tools.normalize import TAGS, NormalizeOptions, Normalizer, normalize
from swelm.tokenizer.variants import load_bundled_variants

ONLY = {name: NormalizeOptions(**{k: (k == name) if k != "tags" else () for k in
                                  ("controls", "whitespace", "width", "variants")}, tags=(), max_run=0)
        for name in ("controls", "whitespace", "width", "variants")}


@pytest.mark.parametrize("rule, text, expected", [
    ("controls", "a\u200bb\ufeffc\x07d\u00ade", "abcde"),
    ("controls", "👩\u200d💻\tタブ\n改行", "👩\u200d💻\tタブ\n改行"),          # ZWJ, tab, newline stay
    ("whitespace", "行1  \t と\u00a0空白 \r\n\r\n\r\n\r\n行2\r行3  ", "行1 と 空白\n\n行2\n行3"),
    ("whitespace", "\u3000字下げ", "\u3000字下げ"),                            # ideographic space stays
    ("width", "ＡＢＣｘｙｚ１２３", "ABCxyz123"),
    ("width", "ｶﾀｶﾅ ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟ ｳﾞ｡｢引用｣､･", "カタカナ ガギグ パピ ヴ。「引用」、・"),
    ("width", "（注）！？：", "（注）！？："),                                  # punctuation stays
    ("variants", "髙橋 德川 﨑 圖書館 學校 邊 邉 𠮟る 慶應", "高橋 徳川 崎 図書館 学校 辺 辺 叱る 慶応"),
    ("variants", "ゐる ゑ ヰ ヱ", "いる え イ エ"),
    ("variants", "① ⑳ ⒈ ㈱ ㊑ ㋾ ㌔ ⽇本", "1 20 1. 株 株 ヲ キロ 日本"),
    ("variants", "埼玉 高橋 国 图书", "埼玉 高橋 国 图书"),                  # standards and Chinese stay
])
def test_rule(rule, text, expected):
    assert Normalizer(ONLY[rule])(text) == expected


def test_width_symbols_option():
    o = NormalizeOptions(width_symbols=True, tags=(), max_run=0)
    assert normalize("（注）！？：ＡＢ", o) == "(注)!?:AB"


REPLACED = [
    ("https://example.jp/a?b=1#x を見て", "<URL> を見て"),
    ("ftp://ftp.example.org/pub/", "<URL>"),
    ("連絡先 taro.yamada+ml@example.co.jp まで", "連絡先 <EMAIL> まで"),
    ("03-1234-5678", "<TEL>"), ("（03）1234-5678", "<TEL>"), ("090-1234-5678", "<TEL>"),
    ("09012345678", "<TEL>"), ("+81-3-1234-5678", "<TEL>"), ("０３－１２３４－５６７８", "<TEL>"),
    ("2024年4月1日(月)", "<DATE>"), ("令和6年4月1日", "<DATE>"), ("平成元年", "<DATE>"),
    ("昭和64年1月", "<DATE>"), ("3月14日", "<DATE>"), ("2024/04/01", "<DATE>"),
    ("２０２４年１２月２５日（水曜日）", "<DATE>"),
    ("1,980円(税込)", "<PRICE>"), ("3万円", "<PRICE>"), ("2億5000万円", "<PRICE>"),
    ("100ドル", "<PRICE>"), ("50ユーロ", "<PRICE>"), ("￥1,000", "<PRICE>"), ("1.5億円", "<PRICE>"),
    ("1000円税抜", "<PRICE>"), ("１，９８０円", "<PRICE>"),
]
NOT_REPLACED = [
    "example.jp", "http:/broken", "foo@bar", "@mention", "12345678", "1234-5678",
    "ISBN 978-4-00-000000-0", "版数1.2.3", "12月", "2024年度の予算", "2024年に開始", "令和6年度", "在庫12345678個",
    "円周率", "円安", "ドルフィン", "千円札", "第3章", "3.14",
]


@pytest.mark.parametrize("text, expected", REPLACED)
def test_tags_replaced(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize("text", NOT_REPLACED)
def test_tags_not_replaced(text):
    assert "<" not in normalize(text), normalize(text)


def test_each_tag_can_be_switched_off():
    text = "https://a.jp 03-1234-5678 2024年4月1日 100円 a@b.jp"
    for tag in TAGS:
        out = normalize(text, NormalizeOptions(tags=tuple(t for t in TAGS if t != tag)))
        assert f"<{tag}>" not in out
        assert all(f"<{t}>" in out for t in TAGS if t != tag), out
    assert normalize(text, NormalizeOptions(tags=())) == text


def test_repeated_runs():
    assert normalize("すごーーーーーーーい！！！！！！！wwwwwwww") == "すごーーーーーい！！！！！wwwww"
    assert normalize("1000000個 ああ", NormalizeOptions(tags=())) == "1000000個 ああ"   # digits stay
    assert normalize("ーーーーーーーー", NormalizeOptions(max_run=2)) == "ーー"
    assert normalize("ーーーーーーーー", NormalizeOptions(max_run=0)) == "ーーーーーーーー"


def test_same_variant_data_as_the_vocabulary():
    """Every variant of the shipped table normalises to its standard (width forms of
    punctuation excepted: they stay unless width_symbols is on)."""
    table = load_bundled_variants().to_standard
    n = Normalizer(NormalizeOptions(width_symbols=True, tags=(), max_run=0, whitespace=False))
    bad = {v: (n(v), s) for v, s in table.items() if n(v) != s and not s.isspace()}
    assert bad == {}


def test_options_are_checked():
    with pytest.raises(ValueError, match="unknown tags"):
        NormalizeOptions(tags=("PHONE",))
    with pytest.raises(ValueError):
        NormalizeOptions(max_run=-1)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", ["1" * 22 + "x", "a" * 40 + "@", "0" * 30 + "-", "1,000" * 10 + "x",
                                  "令和1" * 10, "2024/" * 10, "(" * 50])
def test_adversarial_inputs_finish(seed):
    big = seed * (1_000_000 // len(seed))
    assert isinstance(normalize(big), str)
