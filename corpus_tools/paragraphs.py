"""Paragraph-level cleaning: every line of an extracted page gets a class, and only the
Japanese prose goes on to the page-level rules (annotate, then decide).

Classes, in the order they are decided:

==============  ===========================================================================
boilerplate     a line on many of the site's pages (the Boilerplate stage's keys)
code            a line of a code block (``<pre>``, ``<textarea>``, multi-line ``<code>``,
                marked by the extractor), or a line with no Japanese that is mostly code
                punctuation (``{}();=<>``…)
navigation      a line of a navigation block (``<nav>``, ``role="navigation"``, ``<footer>``),
                a bar of three or more short items between ``] [``, `` | ``, ``<< >>``,
                ``« »`` with no sentence end (``[ << 前へ ] [トップ][目次] [ 次へ >> ]``), or a
                line with no sentence end whose text is mostly (≥ 50%) link text (a menu
                entry, a "see also" line: boilerpipe's link density)
trail           a navigation trail of section numbers with no sentence end (``7.25 前の節 7.26
                この節 7.27 次の節``, ``前: 2.1 概要 次: 2.3 使い方``): it starts with a section
                number (or a label of a few characters and a colon before one), holds two or
                more, and at most 40 characters per number
toc             a table of contents: three or more lines in a row (blank lines aside) that
                each start with a section number (``1.2``, ``1.2.3.``, ``A.1``, ``第3章``,
                ``第二節``: not ``1.``, which numbers the steps of a procedure), hold at most 60
                characters and end in no sentence mark; a lone numbered heading stays prose
short           a line with fewer than two Japanese characters and no Latin words
foreign         a line whose letters are less than :data:`MIN_JAPANESE` Japanese (kana and
                kanji against Latin letters): an untranslated English paragraph, a menu path
prose           everything else: Japanese sentences, with their English words and numbers
==============  ===========================================================================

A table row (the extractor separates its cells with tabs) is judged cell by cell: its prose
cells stay, joined by a space, and each other cell is dropped with its own class, so an index
or a package table keeps its Japanese descriptions without the identifiers beside them.

>>> prose, dropped, chars = split_paragraphs("必要なプログラムは cifs-utils と smbclient です。\\n"
...                                         "This page is not translated yet.\\n\\ufdd0x = 1;")
>>> prose
'必要なプログラムは cifs-utils と smbclient です。'
>>> [(c, t) for c, t in dropped]
[('code', 'x = 1;'), ('foreign', 'This page is not translated yet.')]
>>> chars["prose"], chars["foreign"]
(32, 27)
"""
from __future__ import annotations

import re

from .extract import CODE_MARK, LINK_CLOSE, LINK_OPEN, NAV_MARK, strip_marks

#: the classes of a line; every one but prose is dropped from the page's text
CLASSES = ("prose", "boilerplate", "code", "navigation", "trail", "toc", "short", "foreign")
DROPPED = CLASSES[1:]
#: share of Japanese characters among a line's letters (kana, kanji and Latin) below which
#: the line is foreign
MIN_JAPANESE = 0.3
#: the same share with each Latin word (identifier, formula variable) counted as three
#: letters, about a Japanese word's length: a line of formulas and argument lists with a few
#: Japanese words between them is foreign too
MIN_JAPANESE_WORDS = 0.43
_LATIN_WORD = re.compile("[A-Za-z\uff21-\uff3a\uff41-\uff5a\u00c0-\u024f]+")

_WS = re.compile(r"\s+")
_JA = re.compile("[\u3041-\u309f\u30a1-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
                 "\uf900-\ufaff\uff66-\uff9f\u3005\u3006\u3007\u30fc]")
_LATIN = re.compile("[A-Za-z\uff21-\uff3a\uff41-\uff5a\u00c0-\u024f]")
_CODE_PUNCT = re.compile(r"[{}()\[\];=<>+*/\\$#&|^~`:%]")
_BLANKS = re.compile(r"\n{3,}")
#: the separators of a navigation bar or breadcrumb line: "] [", " | ", << >> « » › ::
_NAV_SEP = re.compile(r"\]\s*\[|\s[|｜›»]\s|<<|>>|«|»|\s::\s")
_SENTENCE_END = re.compile(r"[。！？]")
_KANJI_NUMBER = "0-9０-９一二三四五六七八九十百"
#: a section number: 7.25, 7.25., 1.2.3, A.1, 第3章, 第二節
#: a section number: 7.25, 7.25., 1.2.3, A.1, 第3章, 第二節 (a first part of at most three
#: digits: 2023.10.01 is a date)
_SECTION = (r"(?:[0-9０-９]{1,3}(?:[.．][0-9０-９]+)+[.．]?|[A-Z][.．][0-9]+(?:[.．][0-9]+)*[.．]?"
            rf"|第[{_KANJI_NUMBER}]+[章節部編款])")
_SECTIONS = re.compile(rf"(?<![\w.．]){_SECTION}(?![\w.．])")
#: a trail starts with a section number, or with a short label before one (前: 次へ >)
_TRAIL_START = re.compile(rf"\s*(?:\S{{1,6}}\s*[:：>»]\s*)?{_SECTION}(?![\w.．])")
_TOC_LINE = re.compile(rf"\s*{_SECTION}\s*\S")
#: lines in a row that make a table of contents, and the longest such line
TOC_RUN, TOC_LINE_CHARS = 3, 60


def classify(line: str, boilerplate: bool = False) -> str:
    """The class of one line (see the module's table).

    >>> [classify(x) for x in ("第一条 この法律は、", "Filters → Generic → GEGL graph",
    ...                        "if (x > 0) { y = f(x); }", "▲ 1", "概要",
    ...                        "7.25 前の節 7.26 この節 7.27 次の節")]
    ['prose', 'foreign', 'code', 'short', 'prose', 'trail']
    """
    if CODE_MARK in line:
        return "code"
    if NAV_MARK in line:
        return "navigation"
    if boilerplate:
        return "boilerplate"
    if LINK_OPEN in line:
        linked, line = _link_chars(line), strip_marks(line)
        if linked >= 0.5 * len(_WS.sub("", line)) and not _SENTENCE_END.search(line):
            return "navigation"           # コード断片集: Spacing (a link)
    dense = _WS.sub("", line)
    bars = len(_NAV_SEP.findall(line))
    if bars >= 2 and not _SENTENCE_END.search(line) and len(dense) <= 40 * (bars + 1):
        return "navigation"               # [ << 前へ ] [トップ][目次] [ 次へ >> ], A | B | C
    sections = len(_SECTIONS.findall(line))
    if (sections >= 2 and not _SENTENCE_END.search(line) and len(dense) <= 40 * sections
            and _TRAIL_START.match(line)):
        return "trail"                    # 7.25 前の節 7.26 この節 7.27 次の節
    ja = len(_JA.findall(dense))
    latin = len(_LATIN.findall(dense))
    if ja == 0 and latin and len(_CODE_PUNCT.findall(dense)) >= max(2, 0.12 * len(dense)):
        return "code"
    if ja < 2 and latin < 2:
        return "short"
    if ja < MIN_JAPANESE * (ja + latin) or ja < MIN_JAPANESE_WORDS * (
            ja + 3 * len(_LATIN_WORD.findall(dense))):
        return "foreign"
    return "prose"


def _link_chars(line: str) -> int:
    """Non-space characters of ``line`` between the extractor's link markers."""
    inside, n = False, 0
    for ch in line:
        if ch == LINK_OPEN:
            inside = True
        elif ch == LINK_CLOSE:
            inside = False
        elif inside and not ch.isspace():
            n += 1
    return n


def _toc_entry(line: str, cls: str | None) -> bool:
    line = strip_marks(line)
    return (cls == "prose" and "\t" not in line and _TOC_LINE.match(line) is not None
            and not _SENTENCE_END.search(line) and len(_WS.sub("", line)) <= TOC_LINE_CHARS)


def _mark_toc(lines: list) -> None:
    """Reclassify as ``toc`` each run of :data:`TOC_RUN` or more numbered short lines
    (blank lines inside a run are passed over); ``lines`` is ``[(line, class or None for a
    blank line)]``, changed in place."""
    run: list[int] = []
    for i, (line, cls) in enumerate(lines + [("x", "end")]):
        if cls is None:
            continue
        if _toc_entry(line, cls):
            run.append(i)
            continue
        if len(run) >= TOC_RUN:
            for j in run:
                lines[j] = (lines[j][0], "toc")
        run = []


def split_paragraphs(text: str, boilerplate_keys: set | frozenset = frozenset()
                     ) -> tuple[str, list[tuple[str, str]], dict[str, int]]:
    """``(prose text, [(class, dropped lines), ...], {class: characters})`` of an extracted
    page: the prose lines as they were (blank lines between paragraphs kept), the dropped
    lines of each class joined by newlines (markers removed; classes in :data:`DROPPED`
    order, only those with lines), and the non-whitespace characters of each class."""
    from .dedup import line_key
    kept: list[str] = []
    dropped: dict[str, list[str]] = {}
    chars = dict.fromkeys(CLASSES, 0)
    lines = [(line, classify(line, bool(boilerplate_keys) and line_key(line) in boilerplate_keys)
              if strip_marks(line).strip() else None) for line in text.split("\n")]
    _mark_toc(lines)
    for line, cls in lines:
        if cls is None:
            kept.append("")
            continue
        if "\t" in line and (cls == "prose" or cls == "navigation" and LINK_OPEN in line
                              and NAV_MARK not in line):
            cells = [c.strip() for c in line.split("\t") if c.strip()]
            if len(cells) > 1:                  # a table row: judged cell by cell
                prose = []
                for cell in cells:
                    c = classify(cell)
                    cell = strip_marks(cell)
                    chars[c] += len(_WS.sub("", cell))
                    if c == "prose":
                        prose.append(cell)
                    else:
                        dropped.setdefault(c, []).append(cell)
                if prose:
                    kept.append(" ".join(prose))
                continue
        clean = strip_marks(line)
        chars[cls] += len(_WS.sub("", clean))
        if cls == "prose":
            kept.append(clean)
        else:
            dropped.setdefault(cls, []).append(clean)
    prose = _BLANKS.sub("\n\n", "\n".join(kept)).strip()
    return prose, [(c, "\n".join(dropped[c])) for c in DROPPED if c in dropped], chars
