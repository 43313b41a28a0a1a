"""Sentence-preserving extraction and paragraph-level cleaning (corpus_tools.paragraphs):
hand-written pages for each way a real page lost or mixed its Japanese prose."""
from __future__ import annotations

import doctest
import json

import pytest

from swelm.corpus_tools import paragraphs as paragraphs_mod
from swelm.corpus_tools.document import clean_page, dropped_rows, extract_page
from swelm.corpus_tools.extract import CODE_MARK, NAV_MARK, extract
from swelm.corpus_tools.normalize import Normalizer
from swelm.corpus_tools.paragraphs import classify, split_paragraphs
from swelm.corpus_tools.sites import THRESHOLDS, Extract, Site, SiteRulesError, load_sites


def docs_site(**kw) -> Site:
    """A docs site whose pages need 50 characters of Japanese prose (the fixtures are short)."""
    return Site(name="s", seeds=("http://x.test/",), genre="docs",
                filters={**THRESHOLDS, "min_length": 50}, **kw)


def page(body: str) -> str:
    return f"<!DOCTYPE html><html lang=ja><head><title>t</title></head><body>{body}</body></html>"


PARTICLES = ("<p>必要なプログラムは <span class=pkg>cifs-utils</span> と <span class=pkg>smbclient"
             "</span> パッケージに含まれます。</p>")
MENU = ("<p>メニューから <menuitem>フィルター</menuitem> → <menuitem>汎用</menuitem> → "
        "<menuitem>GEGL グラフ</menuitem> を選びます。</p>"
        "<p>Choose <b>Filters</b> → <b>Generic</b> → <b>GEGL graph</b>.</p>")
JA_PARAS = ["この章では、楽譜の入力方法について説明します。音符は音名と長さで書きます。",
            "和音は山括弧で囲みます。連桁は自動的に付けられますが、手動で指定することもできます。",
            "歌詞は \\lyricmode の中に書き、音符と同じ長さの規則に従います。"]
EN_PARAS = ["This section has not been translated yet. The options below are described in the "
            "English manual; please refer to it for the full list of settings.",
            "Dynamics are entered by adding a command to the note, for example c4\\ff or "
            "c4\\mp; crescendi start with \\< and end with \\!."]
CODE = "\\relative c' {\n  \\clef treble\n  c4 d e f | g1 \\bar \"|.\"\n}"


def test_particles_between_inline_elements_are_kept():
    e = extract(page(PARTICLES))
    assert "必要なプログラムは cifs-utils と smbclient パッケージに含まれます。" in e.text


def test_menu_paths_keep_their_arrows_and_spaces():
    e = extract(page(MENU))
    assert "メニューから フィルター → 汎用 → GEGL グラフ を選びます。" in e.text
    assert "Choose Filters → Generic → GEGL graph." in e.text


def test_main_content_mode_is_still_there_and_drops_particles():
    """The old extraction (``extract = "main"``) is kept for comparison: it glues the
    package names together (the reason it is no longer the default)."""
    e = extract(page(PARTICLES + "".join(f"<p>{p}</p>" for p in JA_PARAS)), Extract(main=True))
    assert "cifs-utils と smbclient" not in e.text


def test_code_blocks_are_marked_or_dropped_never_mixed_into_prose():
    html = page(f"<p>{JA_PARAS[0]}</p><pre>{CODE}</pre><div><code>x = 1\ny = 2</code></div>"
                f"<p>インラインの <code>\\clef</code> は文の一部です。</p>"
                f"<textarea>{CODE}</textarea>")
    e = extract(html)
    code_lines = [line for line in e.text.split("\n") if CODE_MARK in line]
    assert any("\\clef treble" in line for line in code_lines)
    assert any("x = 1" in line for line in code_lines) and any("y = 2" in line for line in code_lines)
    # inline code stays in its sentence
    assert "インラインの \\clef は文の一部です。" in e.text
    prose, dropped, chars = split_paragraphs(e.text)
    assert "clef treble" not in prose and "x = 1" not in prose
    assert JA_PARAS[0] in prose and "インラインの \\clef は文の一部です。" in prose
    assert dict(dropped)["code"].count("\\clef treble") == 2 and chars["code"] > 0
    dropped_html = extract(html, Extract(code="drop"))
    assert CODE_MARK not in dropped_html.text and "clef treble" not in dropped_html.text
    assert JA_PARAS[0] in dropped_html.text


def test_navigation_blocks_are_marked():
    e = extract(page("<nav><a href=/>ホーム</a> | <a href=/doc>文書</a></nav>"
                     f"<p>{JA_PARAS[0]}</p><footer>© 2026 サイトの運営者</footer>"))
    prose, dropped, _ = split_paragraphs(e.text)
    assert prose == JA_PARAS[0]
    assert "ホーム" in dict(dropped)["navigation"] and "運営者" in dict(dropped)["navigation"]


def test_a_marker_in_the_page_itself_is_not_taken_for_one():
    e = extract(page(f"<p>{JA_PARAS[0]}{CODE_MARK}{NAV_MARK}</p>"))
    assert CODE_MARK not in e.text and split_paragraphs(e.text)[0] == JA_PARAS[0]


def test_a_marker_in_a_text_record_is_not_taken_for_one():
    """Text read from JSON lines or Parquet (--input) goes through the same classifier: a
    line that starts with the code or navigation mark is still prose."""
    from swelm.corpus_tools.document import text_document
    from swelm.corpus_tools.extract import LINK_CLOSE, LINK_OPEN
    lines = [CODE_MARK + JA_PARAS[0], NAV_MARK + JA_PARAS[1],
             LINK_OPEN + JA_PARAS[2] + LINK_CLOSE]
    doc = text_document({"text": "\n".join(lines), "title": NAV_MARK + "t"}, docs_site(),
                        "a.jsonl")
    assert doc.title == "t"
    out = clean_page(doc, docs_site(), set(), Normalizer())
    assert out.rule is None and out.text.split("\n") == JA_PARAS and not out.dropped


def test_half_english_page_keeps_its_japanese():
    body = "".join(f"<p>{j}</p><p>{en}</p>" for j, en in zip(JA_PARAS, EN_PARAS + [""]))
    doc = extract_page("http://x.test/a", docs_site(), page(body))
    out = clean_page(doc, docs_site(), set(), Normalizer())
    assert not out.rejected, out.rule
    for j in JA_PARAS:
        assert Normalizer()(j) in out.text
    assert "translated" not in out.text
    foreign = dict(out.dropped)["foreign"]
    assert "not been translated" in foreign and "Dynamics" in foreign
    m = json.loads(out.metrics)
    assert m["line_chars"]["foreign"] > 100 and m["line_chars"]["prose"] > 80
    # the same page judged as a whole (paragraphs = false) fails the Japanese share
    whole = clean_page(doc, docs_site(paragraphs=False), set(), Normalizer())
    assert whole.rule == "min_japanese_ratio" and not whole.dropped


def test_a_long_code_line_and_a_url_line_do_not_reject_the_page():
    url = "https://example.org/" + "a/b-c_d" * 45
    assert len(url) > 300
    body = (f"<p>{JA_PARAS[0]}</p><p>{url}</p><pre>{'x' * 400} = 1;</pre>"
            f"<p>{JA_PARAS[1]}</p><p>{JA_PARAS[2]}</p>")
    site = docs_site()
    doc = clean_page(extract_page("http://x.test/b", site, page(body)), site, set(), Normalizer())
    assert not doc.rejected, doc.rule
    assert url not in doc.text and "xxxx" not in doc.text
    classes = dict(doc.dropped)
    assert url in classes["code"] and "xxxx" in classes["code"]      # markup, not prose


def test_table_rows_keep_their_japanese_cells_only():
    # an index and a package table: identifiers and English beside Japanese descriptions
    rows = ("<tr><td></td><td><a href=a>TimeSignature, example of overriding "
            "(TimeSignature をオーバライドする例)</a></td><td><a href=b>5.3.2 オブジェクトのサイズ"
            "</a></td><td>5.3.3 オブジェクトの向き</td></tr>"
            "<tr><td>bash</td><td>V:821, I:999</td><td>7163</td>"
            "<td>シェルの標準的な実装で、対話的な利用とスクリプトの両方に使われます。</td></tr>"
            "<tr><td>Ctrl+C</td><td>Copy</td></tr>")
    body = f"<p>{JA_PARAS[0]}</p><table>{rows}</table><p>{JA_PARAS[1]}</p>"
    site = docs_site()
    doc = clean_page(extract_page("http://x.test/t", site, page(body)), site, set(), Normalizer())
    assert not doc.rejected, doc.rule
    lines = doc.text.split("\n")
    assert "5.3.3 オブジェクトの向き" in lines
    assert "シェルの標準的な実装で、対話的な利用とスクリプトの両方に使われます。" in lines
    for gone in ("TimeSignature", "bash", "V:821", "7163", "Ctrl+C", "Copy"):
        assert gone not in doc.text, gone
    dropped = dict(doc.dropped)
    # a cell that is a link is an index entry, navigation by its link density
    assert "TimeSignature, example of overriding" in dropped["navigation"]
    assert "5.3.2 オブジェクトのサイズ" in dropped["navigation"]
    assert "7163" in dropped["short"] and "V:821, I:999" in dropped["code"]
    # characters are counted per cell, the tabs between cells are not text
    m = json.loads(doc.metrics)["line_chars"]
    assert m["short"] == 4 and m["code"] == len("V:821,I:999")
    # a row of Japanese cells keeps them all, joined by a space
    prose, dropped, _ = split_paragraphs("第一条\t\tこの法律は、国民の健康を守ることを目的とする。")
    assert prose == "第一条 この法律は、国民の健康を守ることを目的とする。" and dropped == []


def test_boilerplate_lines_are_a_class_of_their_own():
    from swelm.corpus_tools.dedup import line_key
    text = "サイトのトップへ戻る\n" + JA_PARAS[0] + "\n" + JA_PARAS[1]
    prose, dropped, chars = split_paragraphs(text, {line_key("サイトのトップへ戻る")})
    assert prose == JA_PARAS[0] + "\n" + JA_PARAS[1]
    assert dropped == [("boilerplate", "サイトのトップへ戻る")]
    assert chars["boilerplate"] == len("サイトのトップへ戻る")


def test_dropped_rows_carry_the_page_and_the_class():
    site = Site(name="s", seeds=("http://x.test/",), genre="docs")
    html = page(f"<p>{JA_PARAS[0]}</p><p>{EN_PARAS[0]}</p><pre>{CODE}</pre>")
    doc = clean_page(extract_page("http://x.test/c", site, html), site, set(), Normalizer())
    rows = dropped_rows(doc)
    assert [r.rule for r in rows] == ["paragraph_code", "paragraph_foreign"]
    assert all(r.id == doc.id and r.url == doc.url and r.site == "s" for r in rows)
    assert rows[1].text == EN_PARAS[0] and rows[1].chars == len("".join(EN_PARAS[0].split()))


@pytest.mark.parametrize("line,cls", [
    ("第一条 この法律は、国の行政機関の組織の基準を定める。", "prose"),
    ("LilyPond は GNU プロジェクトの一部です。", "prose"),
    ("Use the オプション dialog to change every setting of the program.", "foreign"),
    ("for (i = 0; i < n; i++) { s += a[i]; }", "code"),
    ("1.2.3", "short"),
    ("▲", "short"),
    ("目次", "prose"),
    ("[ << 音楽記譜法 ] [トップ][目次][インデックス] [ 専門的な記譜法 >> ]", "navigation"),
    ("ホーム » 製品 » カメラ", "navigation"),
    ("ホーム | 製品 | サポート", "navigation"),
    ("配列 a[1] と a[2] を比べる", "prose"),
    ("メニューから フィルター → 汎用 → GEGL グラフ を選びます。", "prose"),
])
def test_classify(line, cls):
    assert classify(line) == cls


def test_site_rules_take_paragraphs_and_code(tmp_path):
    rules = tmp_path / "sites.toml"
    rules.write_text('[[sites]]\nname = "a"\nseeds = ["http://a.test/"]\ngenre = "docs"\n'
                     'paragraphs = false\nextract = { code = "drop" }\n'
                     '[[sites]]\nname = "b"\nseeds = ["http://b.test/"]\ngenre = "docs"\n'
                     'extract = "main"\n', encoding="utf-8")
    a, b = load_sites(str(rules))
    assert not a.paragraphs and a.extract.code == "drop" and not a.extract.main
    assert b.paragraphs and b.extract.main
    for bad, field in (('paragraphs = "yes"', "paragraphs"),
                       ('extract = { code = "keep" }', "extract.code"),
                       ('extract = "mainly"', "extract")):
        rules.write_text('[[sites]]\nname = "a"\nseeds = ["http://a.test/"]\ngenre = "docs"\n'
                         + bad + "\n", encoding="utf-8")
        with pytest.raises(SiteRulesError, match=f"field '{field}'"):
            load_sites(str(rules))


def test_doctests():
    assert doctest.testmod(paragraphs_mod).failed == 0


# -- link text, trails and tables of contents ---------------------------------------------------
MARKS = "".join(chr(c) for c in range(0xFDD0, 0xFDF0))


def test_a_line_of_links_is_navigation_and_no_mark_reaches_any_text():
    body = (f"<p>{JA_PARAS[0]}</p><p>参照: <a href=a>コード断片集: 譜の配置</a></p>"
            f"<p>詳しくは <a href=b>入力の方法</a> を参照してください。</p>"
            f"<p>{JA_PARAS[1]}</p><a href=c><img src=i.png></a>")
    html = page(body).replace("<title>t</title>", "<title>題 <a href=x>名</a></title>")
    site = docs_site()
    raw = extract_page("http://x.test/l", site, html)
    assert raw.title == "題 <a href=x>名</a>"          # the title is text, never marked
    doc = clean_page(raw, site, set(), Normalizer())
    assert "詳しくは 入力の方法 を参照してください。" in doc.text.split("\n")   # a sentence stays
    dropped = dict(doc.dropped)
    assert "参照: コード断片集: 譜の配置" in dropped["navigation"]
    for text in [doc.text, *dropped.values(), *(r.text for r in dropped_rows(doc))]:
        assert not set(text) & set(MARKS), repr(text)
    assert all(line.strip() for v in dropped.values() for line in v.split("\n"))
    # a page whose only link holds an image has no text
    assert extract(page("<a href=x><img src=i.png></a>")).outcome == "empty"


def test_marking_links_leaves_the_link_ratio_as_it_was():
    links = "".join(f"<a href=p{i}>項目{i}</a> " for i in range(40))
    e = extract(page(f"<p>{JA_PARAS[0] * 2}</p><div>{links}</div>"))
    anchors = sum(len(f"項目{i}") for i in range(40))
    visible = len(JA_PARAS[0] * 2) + anchors
    assert e.link_ratio == round(anchors / visible, 4)


@pytest.mark.timeout(120)
def test_links_cost_linear_time_on_broken_markup():
    # unclosed "<a " tags (2 MB): a scan to the next ">" from each would take hours
    e = extract("<html><body>" + "<a x " * 400000 + "</body></html>")
    assert e.outcome in ("ok", "empty")


@pytest.mark.parametrize("line,cls", [
    ("7.25 前の節 7.26 この節 7.27 次の節", "trail"),
    ("前: 2.1 概要 次: 2.3 使い方", "trail"),
    # two version numbers or dates in a heading are not a trail
    ("Python 3.11 と 3.12 の違いについて", "prose"),
    ("バージョン 1.2.3 から 1.3.0 への移行手順", "prose"),
    ("2023.10.01 更新 2023.09.01 公開", "prose"),
])
def test_trails(line, cls):
    assert classify(line) == cls


def test_tables_of_contents_but_not_numbered_steps_or_a_lone_heading():
    toc = "1.1 はじめに\n1.2 インストール\n\n1.3 使い方\n第2章 設定"
    prose, dropped, chars = split_paragraphs(toc + "\n本文です。")
    assert prose == "本文です。" and dict(dropped)["toc"] == toc.replace("\n\n", "\n")
    steps = "1. 電源ボタンを押す\n2. 設定画面を開く\n3. 保存する"
    assert split_paragraphs(steps)[0] == steps
    heading = "1.2 インストール\nパッケージを入れます。\n1.3 使い方\n起動します。"
    assert split_paragraphs(heading)[0] == heading
