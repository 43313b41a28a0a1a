"""Charset detection and HTML extraction: hand-written pages and the shared sites."""
from __future__ import annotations

import importlib.util
import re
import time
import unicodedata

import pytest

from conftest import site_html
from swelm.corpus_tools.charset import codec_name, decode_html, detect, sniff
from swelm.corpus_tools.extract import anchor_chars, extract, looks_binary
from swelm.corpus_tools.sites import Extract

TEXT = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"

PAGE = f"""<!DOCTYPE html><html lang="ja"><head><title> 猫の頁 </title>
<style>p {{color: red}}</style><script>var x = "スクリプト";</script></head>
<body><nav class="menu"><a href="/">ホーム</a> | <a href="/about">概要</a></nav>
<div id="main"><h1>吾輩は猫である</h1><p>{TEXT}</p><p>第二段落です。<br>改行のあと。</p></div>
<aside class="ad">広告：今だけ半額</aside><footer>© 2026 サイト</footer></body></html>"""


# -- charset ----------------------------------------------------------------------------------
@pytest.mark.parametrize("codec", ["cp932", "euc_jis_2004", "iso2022_jp_ext", "utf-8"])
def test_sniff_japanese_encodings(codec):
    body = ("<html><body><p>" + TEXT * 3 + "</p></body></html>").encode(codec)
    assert sniff(body) == codec
    assert decode_html(body)[0].count("吾輩") == 3


def test_declared_charset_order_and_fallback():
    sjis = ("<meta charset='shift_jis'>" + TEXT).encode("cp932")
    assert detect(sjis) == ("cp932", "meta")
    assert detect(sjis, "text/html; charset=Shift_JIS") == ("cp932", "header")
    # the header lies (utf-8) and so does no meta: the content decides
    assert detect(TEXT.encode("euc_jp"), "text/html; charset=utf-8") == ("euc_jis_2004", "content")
    assert detect(b"\xef\xbb\xbf" + TEXT.encode(), "text/html; charset=cp932") == ("utf-8", "bom")
    assert detect(sjis, override="cp932") == ("cp932", "override")
    assert decode_html(b"\xef\xbb\xbfabc")[0] == "abc"


def test_codec_names():
    assert codec_name("Shift_JIS") == "cp932" and codec_name("x-sjis") == "cp932"
    assert codec_name("EUC-JP") == "euc_jis_2004" and codec_name("no-such-charset") is None
    assert codec_name("UTF8") == "utf-8"


def test_undecodable_bytes_do_not_raise():
    text, codec, _ = decode_html(b"\xff\xfe\xfa\x80 plain")
    assert isinstance(text, str)


# -- extraction -------------------------------------------------------------------------------
def test_auto_extraction_keeps_structure_title_lang():
    e = extract(PAGE)
    assert e.ok and e.title == "猫の頁" and e.lang == "ja"
    assert TEXT in e.text and "第二段落です。\n改行のあと。" in e.text
    assert "スクリプト" not in e.text and "color" not in e.text
    assert 0 < e.link_ratio < 0.2


def test_profile_selectors_override():
    e = extract(PAGE, Extract(auto=False, keep=("#main",)))
    assert e.text.startswith("吾輩は猫である") and "ホーム" not in e.text and "広告" not in e.text
    e = extract(PAGE, Extract(auto=False, drop=("nav", "aside.ad", "footer")))
    assert "ホーム" not in e.text and "広告" not in e.text and "© 2026" not in e.text
    assert TEXT in e.text
    e = extract(PAGE, Extract(auto=False, keep=("#nothing-here",)))
    assert e.outcome == "empty" and e.text == ""


def test_bad_input_outcomes():
    assert extract("\x00\x01\x02binary\x00" * 100).outcome == "binary"
    assert extract("").outcome == "empty"
    e = extract("<p>閉じない<div><span>タグ<table><td>表</p></b></i>")
    assert e.ok and "閉じない" in e.text
    with pytest.raises(ValueError, match="unknown extraction backend"):
        extract(PAGE, backend="nope")
    with pytest.raises(TypeError):
        extract(PAGE.encode())
    assert looks_binary("a\x00b") and not looks_binary(PAGE)


def test_50mb_page_is_cut_and_finishes():
    big = "<html><body>" + ("<p>" + TEXT + "</p>\n") * 600_000 + "</body></html>"
    assert len(big) > 20_000_000
    t = time.monotonic()
    e = extract(big, max_chars=2_000_000)
    assert e.ok and e.truncated and TEXT in e.text
    assert time.monotonic() - t < 60       # a guard against hangs, not a speed test
    deep = "<div>" * 200_000 + "深い" + "</div>" * 200_000
    assert "深い" in extract(deep).text


def test_anchor_chars():
    assert anchor_chars('<a href=1>ホーム</a> x <A href=2><b>次 へ</b></A> <a>閉じない') == 5


@pytest.mark.skipif(importlib.util.find_spec("trafilatura") is None,
                    reason="trafilatura (bench extra) not installed")
def test_trafilatura_backend():
    e = extract(PAGE, backend="trafilatura")
    assert e.ok and TEXT in e.text and e.title == "猫の頁" and e.lang == "ja"


# -- the shared sites -------------------------------------------------------------------------
def test_shift_jis_statutes_decoded():
    pages = site_html("egov-laws-sjis", limit=40)
    laws = [(n, b) for n, b in pages if "/laws/" in n]
    assert len(laws) >= 10
    for name, body in laws:
        text, codec, source = decode_html(body)
        assert codec == "cp932" and "\ufffd" not in text, name
        title = unicodedata.normalize("NFC", name.rsplit("/", 1)[1][:-5])
        e = extract(text)
        assert e.ok and re.search(r"第一条|附\s*則", e.text), name
        assert e.title and e.title.split()[0][:4] in title, (name, e.title)


def test_libreoffice_base_href_and_index():
    from swelm.corpus_tools.fetch import extract_links
    (name, body), = site_html("libreoffice-help-ja", names=("ja/text/swriter/main0110.html",))
    html = decode_html(body)[0]
    assert "<base" in html.lower()
    page = "http://127.0.0.1:8000/" + name.split("/", 1)[1]
    links = extract_links(html, page)
    # <base href="../../../"> makes "text/shared/…" links resolve from the site root
    local = [l for l in links if l.startswith("http://127.0.0.1:8000/")]
    assert local and all(l.startswith("http://127.0.0.1:8000/ja/text/") or "/media/" in l
                         or l.endswith((".css", ".js", "/")) for l in local), local[:5]
    assert not any("/ja/text/swriter/text/" in l for l in local)
    e = extract(html)
    assert e.ok and e.lang and e.lang.startswith("ja")
