"""The SWE encoder's ``clean=True`` stage: reference-exact replacements in linear time.

The reference encoder replaces URLs, e-mail addresses, phone numbers, dates and prices
by tags with six regular expressions applied one after another, then box-drawing and
block characters by ``<BLOCK>`` (runs collapsed).  Token ids of existing models depend on
exactly which spans those expressions replace, so this module keeps their semantics: the
same leftmost match, the same span.

Three of them backtrack badly in Python's ``re`` when scanning for the leftmost match:
EMAIL is quadratic on long ``[A-Za-z0-9._+]`` runs, DATE is quadratic on chains of
``2023/2023/…``, and PRICE is exponential (``'1'*22+'x'``).  For these we first find the
leftmost start position where the expression *succeeds* with a linear scan (reasoning
below), then take the span:

* EMAIL and DATE: the original expression anchored at that start: once the start is
  known to succeed, the engine takes one greedy path without failing, so this is linear.
* PRICE: the end of a match does not depend on how the digits before the unit were
  parsed (see :func:`_price_start`), so it is read off the unit/tax tail directly.

Where the text has no run that makes them backtrack (32 characters of an address's local
part, 8 chained years), EMAIL and DATE run the expression itself, which is linear there and
faster per match; ``sub_email_linear`` and ``sub_date_linear`` are the scans above.  URL,
TEL and era DATE have bounded backtracking per start position and run as they are.
``tests/test_clean.py`` checks every function against the original expressions on
random strings over the characters that matter.
"""
from __future__ import annotations

import functools
import re

# The reference expressions, verbatim in meaning (they define the ids).
URL_RE = re.compile(r"(https?|ftp)(:\/\/[-_\.!~*\'()a-zA-Z0-9;\/?:\@&=\+$,%#]+)")
EMAIL_RE = re.compile(r"[A-Za-z0-9\._+]*@[\-_0-9A-Za-z]+(\.[A-Za-z]+)*")
TEL_RE = re.compile(r"[\(]{0,1}[0-9]{2,4}[\)\-\(]{0,1}[0-9]{2,4}[\)\-]{0,1}[0-9]{3,4}")
_DATE_TAIL = (r"(\d{1,2}|:|\d{1,2}時|\d{1,2}分|\(日\)|\(月\)|\(火\)|\(水\)|\(木\)|\(金\)|\(土\)"
              r"|㈰|㈪|㈫|㈬|㈭|㈮|㈯)*")
DATE_RE = re.compile(r"([12]\d{3}[/\-年])*(0?[1-9]|1[0-2])[/\-月]((0?[1-9]|[12][0-9]|3[01])日?)*"
                     + _DATE_TAIL)
ERA_DATE_RE = re.compile(r"(明治|大正|昭和|平成|令和|㍾|㍽|㍼|㍻|\u32ff)\d{1,2}年(0?[1-9]|1[0-2])月"
                         r"(0?[1-9]|[12][0-9]|3[01])日" + _DATE_TAIL)
_NUM = r"(0|[1-9]\d*|[1-9]\d{0,2}(,\d{3})+)"
_UNITS = r"(千円|万円|千万円|円|千ドル|万ドル|千万ドル|ドル|千ユーロ|万ユーロ|千万ユーロ|ユーロ)+"
_TAX = r"(\(税込\)|\(税抜\)|\+tax)*"
#: The reference PRICE expression.  Never run it unanchored on untrusted text.
PRICE_RE = re.compile(rf"({_NUM}*億)*({_NUM}*万)*({_NUM}*千)*{_NUM}*{_UNITS}{_TAX}")

KEISEN = ("─━│┃┄┅┆┇┈┉┊┋┌┍┎┏┐┑┒┓└┕┖┗┘┙┚┛├┝┞┟┠┡┢┣┤┥┦┧┨┩┪┫┬┭┮┯┰┱┲┳┴┵┶┷┸┹┺┻┼┽┾┿"
          "╀╁╂╃╄╅╆╇╈╉╊╋╌╍╎╏═║╒╓╔╕╖╗╘╙╚╛╜╝╞╟╠╡╢╣╤╥╦╧╨╩╪╫╬╭╮╯╰╱╲╳╴╵╶╷╸╹╺╻╼╽╾╿")
BLOCKS = "▀▁▂▃▄▅▆▇█▉▊▋▌▍▎▏▐░▒▓▔▕▖▗▘▙▚▛▜▝▞▟"
_BLOCK_TABLE = str.maketrans({k: "<BLOCK>" for k in KEISEN + BLOCKS})
_BLOCK_RUN = re.compile(r"(?:<BLOCK>){2,}")
_ASCII_DIGIT = re.compile(r"[0-9]")


def _splice(text: str, spans: list[tuple[int, int]], tag: str) -> str:
    if not spans:
        return text
    out, q = [], 0
    for s, e in spans:
        out.append(text[q:s])
        out.append(tag)
        q = e
    out.append(text[q:])
    return "".join(out)


# --- EMAIL -----------------------------------------------------------------------------
# A match from start s needs: s.. a run of [A-Za-z0-9._+] ending at an '@' (the run cannot
# stop earlier, '@' is not in the class), then one [-_0-9A-Za-z].  So every '@' followed by
# such a character gives a match, starting where its run starts (or at the search
# position, if that is later), and no earlier start can succeed.
_AT = re.compile(r"@(?=[\-_0-9A-Za-z])")
_LOCAL_RUN = re.compile(r"[A-Za-z0-9._+]+")


_LONG_LOCAL_RUN = re.compile(r"[A-Za-z0-9._+]{32}")


def sub_email(text: str) -> str:
    if not _LONG_LOCAL_RUN.search(text):
        # the expression itself costs at most 32 steps per position here
        return EMAIL_RE.sub("<EMAIL>", text)
    return sub_email_linear(text)


def sub_email_linear(text: str) -> str:
    """EMAIL in linear time on any text (the loop costs more per match than the expression)."""
    ats = [m.start() for m in _AT.finditer(text)]
    if not ats:
        return text
    run_start = {m.end(): m.start() for m in _LOCAL_RUN.finditer(text)}
    spans, q = [], 0
    for a in ats:
        if a < q:
            continue
        s = max(q, run_start.get(a, a))
        m = EMAIL_RE.match(text, s)
        assert m is not None and m.start() == s
        spans.append((s, m.end()))
        q = m.end()
    return _splice(text, spans, "<EMAIL>")


# --- DATE ------------------------------------------------------------------------------
# The expression is Y* M tail, Y = [12]\d{3}[/-年] (5 characters), M = the month and its
# separator, and the tail can always match (it only has starred parts).  A position where
# Y matches never has M (M needs a separator at +1 or +2, Y has digits there), so from a
# start s the engine succeeds iff M matches right after the maximal chain of Ys from s.
_Y_AT = re.compile(r"(?=[12]\d{3}[/\-年])")
_M_AT = re.compile(r"(?=(?:0[1-9]|[1-9]|1[0-2])[/\-月])")


_LONG_YEAR_CHAIN = re.compile(r"(?:[12]\d{3}[/\-年]){8}")


def sub_date(text: str) -> str:
    if not _LONG_YEAR_CHAIN.search(text):
        # the expression itself backtracks over at most 8 years per position here
        return DATE_RE.sub("<DATE>", text)
    return sub_date_linear(text)


def sub_date_linear(text: str) -> str:
    """DATE in linear time on any text (the loop costs more per match than the expression)."""
    months = {m.start() for m in _M_AT.finditer(text)}
    if not months:
        return text
    years = {m.start() for m in _Y_AT.finditer(text)}
    chain_end: dict[int, int] = {}
    for s in sorted(years, reverse=True):
        chain_end[s] = chain_end[s + 5] if s + 5 in years else s + 5
    spans, q = [], 0
    for s in sorted(years | months):
        if s < q:
            continue
        if chain_end.get(s, s) in months:
            m = DATE_RE.match(text, s)
            assert m is not None
            spans.append((s, m.end()))
            q = m.end()
    return _splice(text, spans, "<DATE>")


def sub_era_date(text: str) -> str:
    return ERA_DATE_RE.sub("<DATE>", text)


# --- PRICE -----------------------------------------------------------------------------
# PRICE = P U+ T* with P = (N*億)*(N*万)*(N*千)*N* over the characters \d , 億 万 千 and U
# the units.  Every unit ends in 円, ドル or ユーロ and may begin with 千/万/千万.  So in a
# match, P and the unit's 千/万 prefix cover a maximal run R=[r,e) of those characters and
# a currency word starts at e; the first unit ends after that word whatever the parse of
# R, and the rest (more units, tax) is greedy.  The span is therefore [s, tail_end(e)]
# where s is the leftmost start in R from which R's characters up to a unit start p
# (p in {e, e-1, e-2}) are a word of P.  Words of P are: marker characters in the order
# 億…万…千…, and between them segments of N* (numbers written side by side).
_PRICE_RUN = re.compile(r"(?<![\d,億万千])[\d,億万千]*(?=円|ドル|ユーロ)")
_PRICE_TAIL = re.compile(_UNITS + _TAX)
_ASCII_DIGITS = re.compile(r"[0-9]*")
_NC = re.compile(r"0*(?:[1-9]\d*)?")      # N* without commas
_NC1 = re.compile(r"0*[1-9]\d*")
_FIRST_NZ = re.compile(r"[1-9]")
_MARKER = re.compile(r"[億万千]")
_RANK = {"億": 0, "万": 1, "千": 2}


def _has_nz(s: str) -> bool:
    return _FIRST_NZ.search(s) is not None


def _in_c0(g: str) -> bool:
    """g (digits) = numbers followed by the start of a comma number [1-9]\\d{0,2}."""
    return _NC1.fullmatch(g) is not None and _has_nz(g[-3:])


def _interior_ok(g: str) -> bool:
    return len(g) >= 3 and (len(g) == 3 or _in_c0(g[3:]))


def _last_ok(g: str) -> bool:
    return len(g) >= 3 and _NC.fullmatch(g, 3) is not None


def _in_d(seg: str) -> bool:
    """seg (digits and commas) is a concatenation of numbers (N*)."""
    groups = seg.split(",")
    if len(groups) == 1:
        return _NC.fullmatch(seg) is not None
    return (_in_c0(groups[0]) and all(_interior_ok(g) for g in groups[1:-1])
            and _last_ok(groups[-1]))


def _zeros_before(g: str, f: int) -> int:
    t = f
    while t > 0 and g[t - 1] == "0":
        t -= 1
    return t


def _nc_suffix_min(g: str) -> int:
    m = _FIRST_NZ.search(g)
    if m:
        return _zeros_before(g, m.start())
    return _zeros_before(g, len(g))


def _c0_suffix_min(g: str) -> int | None:
    if not _has_nz(g[-3:]):
        return None
    return _zeros_before(g, _FIRST_NZ.search(g).start())


def _d_suffix_min(seg: str) -> int:
    """Smallest t with seg[t:] in N* (seg: digits and commas)."""
    groups = seg.split(",")
    k = len(groups) - 1
    offsets = [0]
    for g in groups[:-1]:
        offsets.append(offsets[-1] + len(g) + 1)
    if k > 0 and _last_ok(groups[k]):
        # A start in group j needs groups j+1..k-1 to be whole comma groups: find the
        # smallest such j, then the first group from there with a valid suffix wins.
        j = k - 1
        while j > 0 and _interior_ok(groups[j]):
            j -= 1
        for jj in range(j, k):
            t = _c0_suffix_min(groups[jj])
            if t is not None:
                return offsets[jj] + t
    return offsets[k] + _nc_suffix_min(groups[k])


def _p_start_min(w: str) -> int:
    """Smallest s with w[s:] in P (w: characters of \\d , 億 万 千)."""
    marks = [m.start() for m in _MARKER.finditer(w)]
    if not marks:
        return _d_suffix_min(w)
    tail_from = marks[-1] + 1
    if not _in_d(w[tail_from:]):
        return tail_from + _d_suffix_min(w[tail_from:])
    i = len(marks) - 1
    while i > 0:
        left, right = marks[i - 1], marks[i]
        if _RANK[w[left]] > _RANK[w[right]] or not _in_d(w[left + 1:right]):
            break
        i -= 1
    lo = marks[i - 1] + 1 if i > 0 else 0
    return lo + _d_suffix_min(w[lo:marks[i]])


def _price_start(text: str, r: int, e: int) -> int:
    if _ASCII_DIGITS.fullmatch(text, r, e):
        return r                       # the common case: any ASCII digit string is N*
    run = text[r:e].translate(_ONE)
    if not run.isascii():
        run = _OTHER_DIGIT.sub("٣", run)
    return r + _run_start(run)


# The start depends only on which characters are 0, [1-9], another \d, a comma or a marker
# (the functions above test nothing else), so runs are cached by that shape.
_ONE = str.maketrans("23456789", "11111111")
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")


@functools.lru_cache(maxsize=65536)
def _run_start(run: str) -> int:
    """Offset in ``run`` (a maximal run of \\d , 億 万 千 before a currency word, its digits
    written as 0, 1 or ٣) of the leftmost start of a match."""
    e = len(run)
    best = e
    units = [e]
    if e >= 1 and run[-1] in "千万":
        units.append(e - 1)
    if e >= 2 and run[-2:] == "千万":
        units.append(e - 2)
    for p in units:
        best = min(best, _p_start_min(run[:p]))
    return best


def sub_price(text: str) -> str:
    if "円" not in text and "ドル" not in text and "ユーロ" not in text:
        return text
    spans, q = [], 0
    for m in _PRICE_RUN.finditer(text):
        r, e = m.span()
        if r < q:
            continue
        s = _price_start(text, r, e)
        end = _PRICE_TAIL.match(text, e).end()
        spans.append((s, end))
        q = end
    return _splice(text, spans, "<PRICE>")


def sub_blocks(text: str) -> str:
    text = text.translate(_BLOCK_TABLE)
    return _BLOCK_RUN.sub("<BLOCK>", text)


#: Every character that the URL, EMAIL, TEL, DATE, era DATE and PRICE expressions can match,
#: besides the Unicode decimal digits that ``\d`` matches.  A match never holds another
#: character, so text cut at the others can be cleaned piece by piece with the same result
#: (the compiled core does so, and passes on only the pieces where a match is possible).
#: ``tests/test_clean.py`` checks this set against the parsed expressions.
TAG_ALPHABET = ("-_.!~*'();/?:@&=+$,%#" + "0123456789"
                + "abcdefghijklmnopqrstuvwxyz" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                + "年月日時分火水木金土" + "㈰㈪㈫㈬㈭㈮㈯"
                + "明治大正昭和平成令和㍾㍽㍼㍻\u32ff" + "億万千円ドルユーロ税込抜")


def clean_tags(text: str) -> str:
    """The tag replacements of the clean stage: URL, EMAIL, TEL, DATE, era DATE, PRICE.

    Each is skipped when the text lacks what every one of its matches holds ("://", "@", an
    ASCII digit), so that short texts cost little."""
    if "://" in text:
        text = URL_RE.sub("<URL>", text)
    if "@" in text:
        text = sub_email(text)
    if _ASCII_DIGIT.search(text):
        text = TEL_RE.sub("<TEL>", text)
        text = sub_date(text)
        text = sub_era_date(text)
    return sub_price(text)


def clean_text(text: str) -> str:
    """Apply the reference clean stage: URL, EMAIL, TEL, DATE, era DATE, PRICE, BLOCK."""
    return sub_blocks(clean_tags(text))
