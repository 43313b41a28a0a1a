"""Paragraph-level cleaning: every line of an extracted page gets a class, and only the
Japanese prose goes on to the page-level rules (annotate, then decide).

Classes, in the order they are decided:

==============  ===========================================================================
boilerplate     a line on many of the site's pages (the Boilerplate stage's keys)
code            a line of a code block (``<pre>``, ``<textarea>``, multi-line ``<code>``,
                marked by the extractor), or a line with no Japanese that is mostly code
                punctuation (``{}();=<>``…)
navigation      a line of a navigation block (``<nav>``, ``role="navigation"``, ``<footer>``),
                or a bar of three or more short items between ``] [``, `` | ``, ``<< >>``,
                ``« »`` with no sentence end (``[ << 前へ ] [トップ][目次] [ 次へ >> ]``)
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

from .extract import CODE_MARK, NAV_MARK

#: the classes of a line; every one but prose is dropped from the page's text
CLASSES = ("prose", "boilerplate", "code", "navigation", "short", "foreign")
DROPPED = CLASSES[1:]
#: share of Japanese characters among a line's letters (kana, kanji and Latin) below which
#: the line is foreign
MIN_JAPANESE = 0.3

_WS = re.compile(r"\s+")
_JA = re.compile("[\u3041-\u309f\u30a1-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
                 "\uf900-\ufaff\uff66-\uff9f\u3005\u3006\u3007\u30fc]")
_LATIN = re.compile("[A-Za-z\uff21-\uff3a\uff41-\uff5a\u00c0-\u024f]")
_CODE_PUNCT = re.compile(r"[{}()\[\];=<>+*/\\$#&|^~`:%]")
_BLANKS = re.compile(r"\n{3,}")
#: the separators of a navigation bar or breadcrumb line: "] [", " | ", << >> « » › ::
_NAV_SEP = re.compile(r"\]\s*\[|\s[|｜›»]\s|<<|>>|«|»|\s::\s")
_SENTENCE_END = re.compile(r"[。！？]")


def classify(line: str, boilerplate: bool = False) -> str:
    """The class of one line (see the module's table).

    >>> [classify(x) for x in ("第一条 この法律は、", "Filters → Generic → GEGL graph",
    ...                        "if (x > 0) { y = f(x); }", "▲ 1", "概要")]
    ['prose', 'foreign', 'code', 'short', 'prose']
    """
    if CODE_MARK in line:
        return "code"
    if NAV_MARK in line:
        return "navigation"
    if boilerplate:
        return "boilerplate"
    dense = _WS.sub("", line)
    bars = len(_NAV_SEP.findall(line))
    if bars >= 2 and not _SENTENCE_END.search(line) and len(dense) <= 40 * (bars + 1):
        return "navigation"               # [ << 前へ ] [トップ][目次] [ 次へ >> ], A | B | C
    ja = len(_JA.findall(dense))
    latin = len(_LATIN.findall(dense))
    if ja == 0 and latin and len(_CODE_PUNCT.findall(dense)) >= max(2, 0.12 * len(dense)):
        return "code"
    if ja < 2 and latin < 2:
        return "short"
    if ja < MIN_JAPANESE * (ja + latin):
        return "foreign"
    return "prose"


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
    for line in text.split("\n"):
        if not line.strip():
            kept.append("")
            continue
        cls = classify(line, bool(boilerplate_keys) and line_key(line) in boilerplate_keys)
        if cls == "prose" and "\t" in line:
            cells = [c.strip() for c in line.split("\t") if c.strip()]
            if len(cells) > 1:                  # a table row: judged cell by cell
                prose = []
                for cell in cells:
                    c = classify(cell)
                    chars[c] += len(_WS.sub("", cell))
                    if c == "prose":
                        prose.append(cell)
                    else:
                        dropped.setdefault(c, []).append(cell)
                if prose:
                    kept.append(" ".join(prose))
                continue
        clean = line.replace(CODE_MARK, "").replace(NAV_MARK, "")
        chars[cls] += len(_WS.sub("", clean))
        if cls == "prose":
            kept.append(line)
        else:
            dropped.setdefault(cls, []).append(clean)
    prose = _BLANKS.sub("\n\n", "\n".join(kept)).strip()
    return prose, [(c, "\n".join(dropped[c])) for c in DROPPED if c in dropped], chars
