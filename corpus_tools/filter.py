"""Per-document quality metrics and the keep/reject decision (annotate, then decide).

The rules and default thresholds follow the Swallow corpus (Okazaki et al., 2024, "Building a
Large Japanese Web Corpus for Large Language Models"), which adapts Gopher's quality and
repetition rules to Japanese characters; :data:`corpus_tools.sites.THRESHOLDS` lists them and a
site may override any of them. Ratios are over non-whitespace characters.

>>> r = filter_document("短い。")
>>> r.keep, r.rule, r.metrics["length"]
(False, 'min_length', 3)
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .dedup import codepoints, extend_ngrams
from .sites import THRESHOLDS

_WS = re.compile(r"\s+")
_SENTENCE = re.compile(r"[。！？!?．\n]+")
_PARAGRAPH = re.compile(r"\n\s*\n")
_ELLIPSIS_END = ("…", "・", "...", "‥")


@dataclass(frozen=True)
class FilterResult:
    keep: bool
    rule: str | None          # the first threshold the document failed, None when kept
    metrics: dict


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
            raise ValueError(f"{path}: cannot read NG-word list: {exc}") from None

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


def metrics(text: str, *, ng_words: NGWords | None = None, link_ratio: float = 0.0) -> dict:
    """All filter metrics of one document (floats rounded to 4 places)."""
    dense = _WS.sub("", text)
    cp = codepoints(dense)
    n = len(cp)
    hira = int(np.count_nonzero((cp >= 0x3041) & (cp <= 0x309F)))
    kata = int(np.count_nonzero(((cp >= 0x30A0) & (cp <= 0x30FF)) | ((cp >= 0xFF66) & (cp <= 0xFF9F))))
    kanji = int(np.count_nonzero(((cp >= 0x4E00) & (cp <= 0x9FFF)) | ((cp >= 0x3400) & (cp <= 0x4DBF))
                                 | ((cp >= 0xF900) & (cp <= 0xFAFF)) | ((cp >= 0x20000) & (cp <= 0x3FFFF))
                                 | (cp == 0x3005) | (cp == 0x3006) | (cp == 0x3007)))
    punct = int(np.count_nonzero(((cp >= 0x3000) & (cp <= 0x303F) & (cp != 0x3005) & (cp != 0x3006)
                                  & (cp != 0x3007)) | ((cp >= 0xFF01) & (cp <= 0xFF65))))
    sentences = [len(_WS.sub("", s)) for s in _SENTENCE.split(text)]
    sentences = [s for s in sentences if s]
    lines = [l.strip() for l in text.split("\n") if l.strip()]
    paragraphs = [p.strip() for p in _PARAGRAPH.split(text) if p.strip()]
    dup_lines, dup_line_chars = _duplicates(lines)
    dup_paras, dup_para_chars = _duplicates(paragraphs)
    m = {
        "length": n,
        "hiragana_ratio": hira / max(1, n),
        "katakana_ratio": kata / max(1, n),
        "japanese_ratio": (hira + kata + kanji + punct) / max(1, n),
        "mean_sentence_length": sum(sentences) / max(1, len(sentences)),
        "sentence_length": max(sentences, default=0),
        "ellipsis_line_ratio": sum(1 for l in lines if l.endswith(_ELLIPSIS_END)) / max(1, len(lines)),
        "duplicate_line_ratio": dup_lines,
        "duplicate_line_char_ratio": dup_line_chars,
        "duplicate_paragraph_ratio": dup_paras,
        "duplicate_paragraph_char_ratio": dup_para_chars,
        **_ngram_stats(cp),
        "ng_word_ratio": (ng_words.chars(text) / max(1, n)) if ng_words else 0.0,
        "link_ratio": float(link_ratio),
        "lines": len(lines),
    }
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()}


def _metric_of(threshold: str) -> tuple[str, str]:
    kind, _, name = threshold.partition("_")
    if kind not in ("min", "max"):
        raise ValueError(f"threshold {threshold!r} must start with min_ or max_")
    return kind, name


def decide(m: dict, thresholds: dict | None = None) -> str | None:
    """The first rule (threshold name, in :data:`THRESHOLDS` order) that ``m`` fails, or None.
    ``min_x`` rejects when ``m[x] < min_x``; ``max_x`` when ``m[x] > max_x``."""
    thresholds = THRESHOLDS if thresholds is None else thresholds
    for name, limit in thresholds.items():
        if limit is None:
            continue
        kind, metric = _metric_of(name)
        value = m[metric]
        if (kind == "min" and value < limit) or (kind == "max" and value > limit):
            return name
    return None


def filter_document(text: str, thresholds: dict | None = None, *, ng_words: NGWords | None = None,
                    link_ratio: float = 0.0) -> FilterResult:
    """Annotate ``text`` with :func:`metrics` and decide with :func:`decide`."""
    m = metrics(text, ng_words=ng_words, link_ratio=link_ratio)
    rule = decide(m, thresholds)
    return FilterResult(rule is None, rule, m)
