"""Per-document quality metrics and the keep/reject decision (annotate, then decide).

The rules and default thresholds follow the Swallow corpus (Okazaki et al., 2024, "Building a
Large Japanese Web Corpus for Large Language Models"), which adapts Gopher's quality and
repetition rules to Japanese characters.  :data:`RULES` is the one table of them: each rule's
name, default and metric function (with a doctest), in checking order; a site may override any
of them.  Ratios are over non-whitespace characters.

>>> r = filter_document("短い。")
>>> r.keep, r.rule, r.metrics["length"]
(False, 'min_length', 3)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from . import CorpusError
from .dedup import codepoints, extend_ngrams

_WS = re.compile(r"\s+")
_SENTENCE = re.compile(r"[。！？!?．\n]+")
_PARAGRAPH = re.compile(r"\n\s*\n")
_ELLIPSIS_END = ("…", "・", "...", "‥")
#: script runs as words: kanji (with 々〆〇), hiragana, katakana (with ー), Latin, digits
_WORD = re.compile("[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff\u3005-\u3007]+|[\u3041-\u309f]+"
                   "|[\u30a1-\u30ff\u31f0-\u31ff\uff66-\uff9f]+|[A-Za-z\u00c0-\u024f]+|[0-9]+|\\S")
#: a sentence line: ends (before closing brackets and quotes) with a sentence mark
_SENTENCE_LINE = re.compile("[。！？]|(?:[!?．.]|ます|ません|です|でした|である)[」』）)】〕\"'”’]*$")
_JAPANESE_CHAR = re.compile("[\u3041-\u309f\u30a1-\u30ff\u4e00-\u9fff]")
#: line-end punctuation of FineWeb's line_punct_ratio (its TERMINAL_PUNCTUATION, Japanese
#: marks included)
_LINE_PUNCT = tuple("。！？!?．.…」』\"'")
#: the FineWeb-2 stop words of jpn_Jpan (configs/jpn_Jpan.yml)
FINEWEB2_JPN_STOPWORDS = frozenset("のにをはたてがとで年し・月れさ")
_KANJI = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF),
          (0x3005, 0x3005), (0x3006, 0x3006), (0x3007, 0x3007))


@dataclass(frozen=True)
class FilterResult:
    keep: bool
    rule: str | None          # the first threshold the document failed, None when kept
    metrics: dict
    failed: tuple = ()        # every threshold it failed, in checking order


class NGWords:
    """An NG-word list (one word per line, ``#`` comments). Matches are counted in characters."""

    def __init__(self, words, source: str = "<list>"):
        words = sorted({w.strip() for w in words if w.strip() and not w.startswith("#")},
                       key=lambda w: (-len(w), w))
        self.source = source
        self.words = tuple(words)
        self._re = re.compile("|".join(map(re.escape, words))) if words else None

    @classmethod
    def from_file(cls, path: str) -> "NGWords":
        try:
            with open(path, encoding="utf-8") as f:
                return cls(f.read().splitlines(), source=path)
        except (OSError, UnicodeDecodeError) as exc:
            raise CorpusError(f"{path}: cannot read NG-word list: {exc}") from None

    def chars(self, text: str) -> int:
        if self._re is None:
            return 0
        return sum(m.end() - m.start() for m in self._re.finditer(text))


def _duplicates(items: list[str]) -> tuple[float, float]:
    """Gopher's duplicate share: elements (and their characters) that repeat an earlier one."""
    seen, dup, dup_chars, chars = set(), 0, 0, 0
    for it in items:
        chars += len(it)
        if it in seen:
            dup += 1
            dup_chars += len(it)
        else:
            seen.add(it)
    return dup / max(1, len(items)), dup_chars / max(1, chars)


def _ngram_stats(cp: np.ndarray) -> dict:
    """Top 2/3/4-gram coverage and duplicate 5..10-gram coverage of a code-point array."""
    out = {}
    L = len(cp)
    h = cp
    for n in range(2, 11):
        h = extend_ngrams(h, cp, n)
        if n <= 4:
            top = 0
            if len(h):
                _, counts = np.unique(h, return_counts=True)
                top = int(counts.max()) if counts.max() > 1 else 0
            out[f"top_{n}gram_ratio"] = min(1.0, top * n / max(1, L))
        else:
            covered = 0
            if len(h):
                _, inverse, counts = np.unique(h, return_inverse=True, return_counts=True)
                starts = np.flatnonzero(counts[inverse] > 1)
                if len(starts):
                    # starts are distinct, so plain indexed updates do what np.add.at does
                    delta = np.zeros(L + 1, dtype=np.int32)
                    delta[starts] += 1
                    delta[starts + n] -= 1
                    covered = int(np.count_nonzero(np.cumsum(delta[:L])))
            out[f"dup_{n}gram_ratio"] = covered / max(1, L)
    return out


class TextStats:
    """What the metrics of one text are computed from; each part is computed once, when a
    metric first needs it."""

    def __init__(self, text: str, ng_words: NGWords | None = None, link_ratio: float = 0.0,
                 signals: dict | None = None):
        self.text, self.ng_words, self.link = text, ng_words, float(link_ratio)
        self.signals = signals or {}

    @cached_property
    def cp(self) -> np.ndarray:
        """Code points of the non-whitespace characters."""
        return codepoints(_WS.sub("", self.text))

    @cached_property
    def n(self) -> int:
        return len(self.cp)

    def count(self, *ranges: tuple[int, int], exclude: tuple[int, ...] = ()) -> int:
        cp = self.cp
        mask = np.zeros(len(cp), dtype=bool)
        for lo, hi in ranges:
            mask |= (cp >= lo) & (cp <= hi)
        for c in exclude:
            mask &= cp != c
        return int(np.count_nonzero(mask))

    @cached_property
    def sentences(self) -> list[int]:
        """Non-whitespace lengths of the sentences (ending at 。！？!?． or a newline)."""
        return [n for n in (len(_WS.sub("", s)) for s in _SENTENCE.split(self.text)) if n]

    @cached_property
    def lines(self) -> list[str]:
        return [line.strip() for line in self.text.split("\n") if line.strip()]

    @cached_property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in _PARAGRAPH.split(self.text) if p.strip()]

    @cached_property
    def ngrams(self) -> dict:
        return _ngram_stats(self.cp)

    @cached_property
    def hiragana(self) -> int:
        return self.count((0x3041, 0x309F))

    @cached_property
    def katakana(self) -> int:
        return self.count((0x30A0, 0x30FF), (0xFF66, 0xFF9F))

    @cached_property
    def duplicate_lines(self) -> tuple[float, float]:
        return _duplicates(self.lines)

    @cached_property
    def duplicate_paragraphs(self) -> tuple[float, float]:
        return _duplicates(self.paragraphs)

    @cached_property
    def words(self) -> list[str]:
        """Words by a script-run approximation (no Japanese word segmenter is a dependency):
        each run of kanji, of hiragana, of katakana, of Latin letters or of digits is one
        word, as is each other non-space character."""
        return _WORD.findall(self.text)


# -- the metrics, one function each ------------------------------------------------------------
def length(s: TextStats) -> int:
    """Non-whitespace characters.

    >>> length(TextStats("吾輩は 猫"))
    4
    """
    return s.n


def japanese_ratio(s: TextStats) -> float:
    """Hiragana, katakana, kanji (with 々〆〇) and Japanese punctuation, over all characters.

    >>> japanese_ratio(TextStats("日本語とABCD"))
    0.5
    """
    return (s.hiragana + s.katakana + s.count(*_KANJI) + s.count(
        (0x3000, 0x303F), (0xFF01, 0xFF65), exclude=(0x3005, 0x3006, 0x3007))) / max(1, s.n)


def hiragana_ratio(s: TextStats) -> float:
    """Hiragana over all characters.

    >>> hiragana_ratio(TextStats("ひらがなカタカナ"))
    0.5
    """
    return s.hiragana / max(1, s.n)


def katakana_ratio(s: TextStats) -> float:
    """Katakana (full and half width) over all characters.

    >>> katakana_ratio(TextStats("ひらがなカタカナｶﾀｶﾅ"))
    0.6666666666666666
    """
    return s.katakana / max(1, s.n)


def mean_sentence_length(s: TextStats) -> float:
    """Mean sentence length in characters.

    >>> mean_sentence_length(TextStats("短い。少し長い文。"))
    3.5
    """
    return sum(s.sentences) / max(1, len(s.sentences))


def sentence_length(s: TextStats) -> int:
    """The longest sentence, in characters (a long code or URL line counts as one).

    >>> sentence_length(TextStats("短い。少し長い文。"))
    5
    """
    return max(s.sentences, default=0)


def ellipsis_line_ratio(s: TextStats) -> float:
    """Lines ending in … ・ ... ‥ (truncated teasers), over all lines.

    >>> ellipsis_line_ratio(TextStats("続きは…\\n本文。"))
    0.5
    """
    return sum(1 for line in s.lines if line.endswith(_ELLIPSIS_END)) / max(1, len(s.lines))


def duplicate_ratio(unit: str, chars: bool):
    """Gopher: ``unit`` elements (lines, or blank-line separated paragraphs) that repeat an
    earlier one, over all of them; with ``chars`` the same in characters.

    >>> duplicate_ratio("line", False)(TextStats("a\\nb\\na\\na"))
    0.5
    >>> duplicate_ratio("paragraph", True)(TextStats("aa\\n\\nb\\n\\naa"))
    0.4
    """
    def metric(s: TextStats) -> float:
        return getattr(s, f"duplicate_{unit}s")[1 if chars else 0]
    metric.__name__ = f"duplicate_{unit}{'_char' if chars else ''}_ratio"
    metric.__doc__ = duplicate_ratio.__doc__
    return metric


def ngram_ratio(kind: str, n: int):
    """Gopher's repetition of character ``n``-grams: ``top``, the characters covered by the
    most frequent one; ``dup``, the characters covered by those that occur more than once.

    >>> ngram_ratio("top", 2)(TextStats("ababab"))
    1.0
    >>> ngram_ratio("dup", 5)(TextStats("あいうえおかあいうえお"))
    0.9090909090909091
    """
    name = f"{kind}_{n}gram_ratio"

    def metric(s: TextStats) -> float:
        return s.ngrams[name]
    metric.__name__, metric.__doc__ = name, ngram_ratio.__doc__
    return metric


def ng_word_ratio(s: TextStats) -> float:
    """Characters matched by the site's NG-word list.

    >>> ng_word_ratio(TextStats("悪い言葉を含む", ng_words=NGWords(["悪い"])))
    0.2857142857142857
    """
    return (s.ng_words.chars(s.text) / max(1, s.n)) if s.ng_words else 0.0


def link_ratio(s: TextStats) -> float:
    """Share of the page's visible text inside <a> (measured at extraction).

    >>> link_ratio(TextStats("x", link_ratio=0.25))
    0.25
    """
    return s.link


def prose_chars(s: TextStats) -> int:
    """Characters of the lines that hold Japanese sentences: a line with kana or kanji that
    has a Japanese sentence mark (。！？), or ends in ``!?．.`` or a polite or written
    predicate (ます, ません, です, でした, である: help pages often leave the mark out), before
    any closing brackets or quotes.  Headings, menus, indexes and tables of contents have
    none.

    >>> prose_chars(TextStats("7.25 見出し\\n本文です。"))
    5
    """
    return sum(len(_WS.sub("", line)) for line in s.lines
               if _SENTENCE_LINE.search(line) and _JAPANESE_CHAR.search(line))


def perplexity(s: TextStats):
    """Perplexity per character under the n-gram model of build-corpus ``--lm``
    (corpus_tools.ngram_lm); None without one.

    >>> perplexity(TextStats("x", signals={"perplexity": 42.5}))
    42.5
    """
    return s.signals.get("perplexity")


def quality_score(s: TextStats):
    """Probability of being good under the classifier of build-corpus ``--classifier``
    (corpus_tools.classifier); None without one.

    >>> quality_score(TextStats("x")) is None
    True
    """
    return s.signals.get("quality_score")


def line_punct_ratio(s: TextStats) -> float:
    """FineWeb's share of lines that end in punctuation.

    >>> line_punct_ratio(TextStats("本文です。\\n見出し"))
    0.5
    """
    return sum(line.endswith(_LINE_PUNCT) for line in s.lines) / max(1, len(s.lines))


def newline_word_ratio(s: TextStats) -> float:
    """FineWeb's line breaks per word (a list-like page has many); words as
    :attr:`TextStats.words` counts them.

    >>> newline_word_ratio(TextStats("項目\\n項目\\n項目"))
    0.6667
    """
    return round(s.text.count("\n") / max(1, len(s.words)), 4)


def mean_word_length(s: TextStats) -> float:
    """Gopher's mean word length in characters (words by script runs).

    >>> mean_word_length(TextStats("東京都に行く"))    # 東京都 に 行 く
    1.5
    """
    return sum(map(len, s.words)) / max(1, len(s.words))


def alpha_word_ratio(s: TextStats) -> float:
    """Gopher's share of words with a letter in them (kana and kanji are letters).

    >>> alpha_word_ratio(TextStats("第 3 章 123"))
    0.5
    """
    return sum(any(c.isalpha() for c in w) for w in s.words) / max(1, len(s.words))


def stop_words(s: TextStats) -> int:
    """Gopher's stop-word count: words that are FineWeb-2's Japanese stop words (the
    particles の に を は…, which script runs leave inside a hiragana run, are counted as
    characters).

    >>> stop_words(TextStats("東京の月は"))
    3
    """
    return sum(c in FINEWEB2_JPN_STOPWORDS for c in s.text)


def word_count(s: TextStats) -> int:
    """Words (script runs).

    >>> word_count(TextStats("東京都に行く。"))
    5
    """
    return len(s.words)


@dataclass(frozen=True)
class Rule:
    """A threshold: ``min_METRIC`` rejects below its value, ``max_METRIC`` above it."""
    name: str
    default: float
    metric: Callable[[TextStats], float]


#: Every filter rule, in the order they are checked (a rejected document names the first it
#: fails, so the language check comes first), with its default: the Swallow corpus rules for
#: Japanese web text.  A site overrides any of them by name, or switches it off with None.
RULES = (
    Rule("min_japanese_ratio", 0.5, japanese_ratio),
    Rule("min_length", 400, length),
    Rule("min_hiragana_ratio", 0.2, hiragana_ratio),
    Rule("max_katakana_ratio", 0.5, katakana_ratio),
    Rule("min_mean_sentence_length", 20, mean_sentence_length),
    Rule("max_mean_sentence_length", 90, mean_sentence_length),
    Rule("max_sentence_length", 200, sentence_length),
    Rule("max_ellipsis_line_ratio", 0.2, ellipsis_line_ratio),
    Rule("max_duplicate_line_ratio", 0.30, duplicate_ratio("line", False)),
    Rule("max_duplicate_paragraph_ratio", 0.30, duplicate_ratio("paragraph", False)),
    Rule("max_duplicate_line_char_ratio", 0.20, duplicate_ratio("line", True)),
    Rule("max_duplicate_paragraph_char_ratio", 0.20, duplicate_ratio("paragraph", True)),
    *(Rule(f"max_top_{n}gram_ratio", limit, ngram_ratio("top", n))
      for n, limit in ((2, 0.20), (3, 0.18), (4, 0.16))),
    *(Rule(f"max_dup_{n}gram_ratio", round(0.15 - 0.01 * (n - 5), 2), ngram_ratio("dup", n))
      for n in range(5, 11)),
    Rule("max_ng_word_ratio", 0.05, ng_word_ratio),
    Rule("max_link_ratio", 0.5, link_ratio),
    Rule("min_prose_chars", 1, prose_chars),
    # the FineWeb / Gopher rules of the fineweb2-jpn preset (off in the Swallow rules)
    Rule("min_line_punct_ratio", None, line_punct_ratio),
    Rule("max_newline_word_ratio", None, newline_word_ratio),
    Rule("min_word_count", None, word_count),
    Rule("min_mean_word_length", None, mean_word_length),
    Rule("max_mean_word_length", None, mean_word_length),
    Rule("min_alpha_word_ratio", None, alpha_word_ratio),
    Rule("min_stop_words", None, stop_words),
    # model signals: measured only with build-corpus --lm / --classifier
    Rule("max_perplexity", None, perplexity),
    Rule("min_quality_score", None, quality_score),
)
#: the rules whose metric needs a model: ``{rule: the build-corpus flag that gives it}``
SIGNAL_RULES = {"max_perplexity": "--lm", "min_quality_score": "--classifier"}
#: the rules measured on the text alone
TEXT_RULES = tuple(r.name for r in RULES if r.name not in SIGNAL_RULES)
#: ``{rule name: default}``, in checking order.
THRESHOLDS = {r.name: r.default for r in RULES}

_NGRAM_RULES = tuple(r.name for r in RULES if "gram_ratio" in r.name)
#: Genre presets: the rules that differ from the Swallow web defaults for genres whose good
#: pages do not look like web prose, chosen on the shared sites and corpus
#: (bench/corpus_quality.py; the README has the figures).  The paragraph classifier has
#: already taken out code, navigation, foreign and boilerplate lines, so the page rules see
#: only a page's Japanese prose.  Every other genre (blog, news, qa, forum, wiki,
#: encyclopedia, dictionary, academic, other) keeps the web defaults.
#:
#: - every preset switches the character n-gram repetition rules off: on characters (not
#:   Gopher's words) they grow with a text's length and its terminology; duplicate 5-gram
#:   coverage is 0.36-0.79 (median) on the documentation and statute sites and above 0.15 on
#:   most whole Aozora novels.  Repetition is still caught by the line and paragraph rules,
#:   and copies by deduplication.
#: - docs: help pages are short (LibreOffice's median page holds 182 characters of prose),
#:   are written in short imperative sentences and menu paths, are kanji- and katakana-heavy
#:   technical text (median hiragana share 0.16 on the Debian manuals), and repeat a line per
#:   table row; their tables of contents are link lists.
#: - legal: statutes are one long sentence per clause (a fifth of e-Gov pages have one over
#:   500 characters), kanji-heavy, and repeat their formulas (前項の規定により…).
#: - novel: dialogue runs make many short sentences, and a long narrative sentence is not junk;
#:   poems have no sentence marks (min_prose_chars off).
GENRE_PRESETS = {
    "docs": {**dict.fromkeys(_NGRAM_RULES), "min_japanese_ratio": 0.2, "min_length": 50,
             "min_hiragana_ratio": 0.05, "min_mean_sentence_length": 5,
             "max_mean_sentence_length": 200, "max_sentence_length": 1000,
             "max_duplicate_line_ratio": 0.5, "max_duplicate_paragraph_ratio": 0.5,
             "max_duplicate_line_char_ratio": 0.5, "max_duplicate_paragraph_char_ratio": 0.5,
             "max_link_ratio": None},
    "legal": {**dict.fromkeys(_NGRAM_RULES), "min_length": 50, "min_hiragana_ratio": 0.1,
              "min_mean_sentence_length": 5, "max_mean_sentence_length": 400,
              "max_sentence_length": None, "max_duplicate_line_ratio": 0.5,
              "max_duplicate_paragraph_ratio": 0.5, "max_duplicate_line_char_ratio": 0.5,
              "max_duplicate_paragraph_char_ratio": 0.5},
    "novel": {**dict.fromkeys(_NGRAM_RULES), "min_mean_sentence_length": 8,
              "max_mean_sentence_length": 150, "max_sentence_length": 1000,
              "min_prose_chars": None},
}


#: FineWeb-2's published Japanese configuration (github.com/huggingface/fineweb-2,
#: configs/jpn_Jpan.yml, and the README's global changes: paragraph repetition rules off,
#: FineWeb's char_dup_ratio 0.1, short-line rule removed), over the Gopher and FineWeb
#: defaults it keeps (duplicate line characters, ellipsis lines 0.3, 50 words at least).
#: Mapped onto swelm's metrics: FineWeb-2 counts n-grams and words with a word tokenizer,
#: swelm counts characters and script runs (TextStats.words), so the n-gram limits are
#: stricter here on the same text; its GlotLID score >= 0.886 has no counterpart (the
#: Japanese-character share stands for it), and the repetition rules are theirs.
FINEWEB2_JPN = {
    **dict.fromkeys(THRESHOLDS),
    "min_japanese_ratio": 0.5,
    "max_duplicate_line_ratio": 0.375,
    "max_duplicate_line_char_ratio": 0.1,
    "max_top_2gram_ratio": 0.121, "max_top_3gram_ratio": 0.129, "max_top_4gram_ratio": 0.145,
    "max_dup_5gram_ratio": 0.307, "max_dup_6gram_ratio": 0.283, "max_dup_7gram_ratio": 0.264,
    "max_dup_8gram_ratio": 0.248, "max_dup_9gram_ratio": 0.234, "max_dup_10gram_ratio": 0.223,
    "max_ellipsis_line_ratio": 0.3,
    "min_line_punct_ratio": 0.167,
    "max_newline_word_ratio": 0.162,
    "min_word_count": 50,
    "min_mean_word_length": 1, "max_mean_word_length": 5,
    "min_alpha_word_ratio": 0.759,
    "min_stop_words": 2,
    "min_prose_chars": 1,
}
#: the rule sets build-corpus --preset chooses: ``swallow`` (the web defaults, adjusted per
#: genre by GENRE_PRESETS) or ``fineweb2-jpn`` (the same for every genre, as published)
PRESETS = ("swallow", "fineweb2-jpn")


def thresholds_for(genre: str, preset: str = "swallow") -> dict:
    """The default thresholds of a genre under a preset: the Swallow web defaults with the
    genre's adjustments, or FineWeb-2's Japanese rules.

    >>> thresholds_for("legal")["max_sentence_length"], thresholds_for("blog")["min_length"]
    (None, 400)
    >>> thresholds_for("docs", "fineweb2-jpn")["min_line_punct_ratio"]
    0.167
    """
    if preset == "fineweb2-jpn":
        return dict(FINEWEB2_JPN)
    if preset != "swallow":
        raise CorpusError(f"preset {preset!r}: expected one of {', '.join(PRESETS)}")
    return {**THRESHOLDS, **GENRE_PRESETS.get(genre, {})}


_METRICS = {r.metric.__name__: r.metric for r in RULES}


def metrics(text: str, *, ng_words: NGWords | None = None, link_ratio: float = 0.0,
            signals: dict | None = None) -> dict:
    """All filter metrics of one document (floats rounded to 4 places), and its line count;
    ``signals`` are the model scores measured outside (``perplexity``, ``quality_score``),
    absent when not measured."""
    s = TextStats(text, ng_words=ng_words, link_ratio=link_ratio, signals=signals)
    m = {name: fn(s) for name, fn in _METRICS.items()}
    m["lines"] = len(s.lines)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()
            if v is not None}


def _metric_of(threshold: str) -> tuple[str, str]:
    kind, _, name = threshold.partition("_")
    if kind not in ("min", "max"):
        raise CorpusError(f"threshold {threshold!r} must start with min_ or max_")
    return kind, name


def _failures(m: dict, thresholds: dict | None):
    """The rules (threshold names, in :data:`THRESHOLDS` order) that the metrics ``m`` fail:
    ``min_x`` when ``m[x] < min_x``, ``max_x`` when ``m[x] > max_x``; None switches one off."""
    for name, limit in (THRESHOLDS if thresholds is None else thresholds).items():
        if limit is None:
            continue
        kind, metric = _metric_of(name)
        value = m.get(metric)
        if value is None:           # a model signal not measured (no --lm / --classifier)
            continue
        if (kind == "min" and value < limit) or (kind == "max" and value > limit):
            yield name


def decide(m: dict, thresholds: dict | None = None) -> str | None:
    """The first rule (threshold name, in :data:`THRESHOLDS` order) that ``m`` fails, or None."""
    return next(_failures(m, thresholds), None)


def filter_document(text: str, thresholds: dict | None = None, *, ng_words: NGWords | None = None,
                    link_ratio: float = 0.0, signals: dict | None = None) -> FilterResult:
    """Annotate ``text`` with :func:`metrics` and decide: the first failed rule rejects, and
    every failed rule is listed."""
    m = metrics(text, ng_words=ng_words, link_ratio=link_ratio, signals=signals)
    failed = tuple(_failures(m, thresholds))
    return FilterResult(not failed, failed[0] if failed else None, m, failed)
