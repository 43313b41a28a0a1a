"""Build an SWE vocabulary from text (``swelm build-vocab``, ``make vocab``).

Output: a vocabulary in exactly the reference format (see :mod:`tokenizer.vocab`):

* subword entries of 2-3 characters within one class: Japanese (kanji, kana and the
  punctuation 、。「」『』・, mixed freely), Latin letters, digits; counted on text whose
  variant characters were first mapped to their standard form;
* every JIS X 0208 character, printable ASCII, and every other character seen at least
  ``min_char_count`` times (JIS X 0213 characters: at least once) as single-character entries;
* each entry's variant spellings (:mod:`tokenizer.variants`) on its line, standard first;
  multi-character entries get every combination of their characters' variants (up to
  ``max_spellings``; spellings over 3 characters can never match and are left out);
* the 285 special and fallback tokens at the end, in the reference's order.

Order.  The encoder takes the *smallest id* among the spellings of the next 1-3
characters, so the order of the subword entries decides the splits.  The builder starts
from the n-gram counts and then re-ranks by use: it encodes a sample with the current
vocabulary, orders the entries by how often the encoder actually emitted them, replaces
entries it never uses by the next candidates, and repeats (``rounds``).  ``bench/vocab.py``
compares the result with the reference vocabulary and SentencePiece; the README has the
figures and the orderings that were tried.

Memory is bounded by the count tables (pruned when they exceed ``max_table``), not by the
size of the input, which is streamed.  The same input and options give the same bytes.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from itertools import product
from typing import Iterable, Iterator

import numpy as np

from .variants import VariantTable
from .vocab import (N_BYTE_TOKENS, REQUIRED_TAGS, SPECIAL_TOKENS, EmojiTable, VocabularyError,
                    parse_vocabulary)

# The reference's tail: tags, emoji classes, byte tokens, special tokens (ids size-285 ...).
TAIL = (["<BR>", "<SP>", "<TAB>", "<URL>", "<EMAIL>", "<TEL>", "<DATE>", "<PRICE>", "<BLOCK>",
         "<KIGOU>", "<U2000U2BFF>"]
        + [f"<|emoji{i}|>" for i in range(1, 13)]
        + [f"<|byte{i}|>" for i in range(N_BYTE_TOKENS)]
        + list(SPECIAL_TOKENS))
assert len(TAIL) == 285 and set(REQUIRED_TAGS) <= set(TAIL)

# Classes of characters that may form subword entries together, and the longest entry of
# each: Japanese (kanji, hiragana, katakana and the punctuation that joins them in running
# text, so that 行って, した。 and 」と are entries), Latin letters, digits.  Entries across
# scripts compress Japanese far better than entries within one script (1.57 -> 1.97
# characters per token on the shared validation text; docs/tokenizer.md).
SCRIPTS = {
    "japanese": ("[ぁ-ゖゝゞァ-ヺー-ヾ々〆〇\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003ffff"
                 "、。「」『』・]", 3),
    "latin": ("[A-Za-z]", 3),
    "digits": ("[0-9]", 3),
}
# Characters the encoder rewrites before matching: never entries of their own.
REWRITTEN = set(" \u3000\n\r\t—−")


#: Orders of the subword entries that the builder can produce (measured in bench/vocab.py):
#: "count": by n-gram count (the reference's choice); "length": longer entries first, by
#: count within a length; "usage": re-ranked by how often the encoder uses each entry;
#: "length-usage": longer first, by use within a length, unused entries replaced each round.
ORDERS = ("count", "length", "usage", "length-usage")


@dataclass
class BuildOptions:
    size: int = 36000
    min_char_count: int = 5
    min_ngram_count: int = 3
    max_spellings: int = 32
    rounds: int = 4
    sample_chars: int = 12_000_000
    max_table: int = 30_000_000
    order: str = "length-usage"   # see ORDERS


def iter_texts(paths: Iterable[str]) -> Iterator[str]:
    """Texts from JSON lines (``text`` field, optionally gzipped), ``.txt`` or Parquet."""
    for path in paths:
        if os.path.isdir(path):
            for cur, dirs, files in os.walk(path):
                dirs.sort()
                yield from iter_texts(os.path.join(cur, f) for f in sorted(files))
            continue
        from swelm.checks import regular_file
        regular_file(path, "--input")
        low = path.lower()
        if low.endswith(".parquet"):
            yield from _parquet_texts(path)
        elif low.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")):
            opener = gzip.open if low.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        t = json.loads(line)["text"]
                    except (json.JSONDecodeError, KeyError, TypeError) as e:
                        raise VocabularyError(f"{path}:{n}: expected a JSON object with a "
                                         f"\"text\" field ({e})") from None
                    if t:
                        yield t
        elif low.endswith(".txt"):
            with open(path, encoding="utf-8") as f:
                yield f.read()


def _parquet_texts(path: str) -> Iterator[str]:
    """The ``text`` column of a Parquet file (strings); a file that is cut, not Parquet, or
    without a string ``text`` column is one clear error naming it."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    try:
        pf = pq.ParquetFile(path)
        field = pf.schema_arrow.field("text") if "text" in pf.schema_arrow.names else None
    except (pa.ArrowException, OSError) as e:
        raise VocabularyError(f"{path}: not a readable Parquet file ({e})") from None
    if field is None:
        raise VocabularyError(f"{path}: no \"text\" column (columns: "
                              f"{', '.join(pf.schema_arrow.names) or 'none'})")
    if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
        raise VocabularyError(f"{path}: column \"text\" holds {field.type}, expected strings")
    try:
        for batch in pf.iter_batches(columns=["text"]):
            yield from (t for t in batch.column(0).to_pylist() if t)
    except (pa.ArrowException, OSError) as e:
        raise VocabularyError(f"{path}: cannot be read to its end ({e})") from None


def _two_byte_charset(codec: str) -> set[str]:
    """Single characters encoded by the two-byte EUC codes of ``codec``."""
    out = set()
    for hi in range(0xA1, 0xFF):
        for lo in range(0xA1, 0xFF):
            try:
                c = bytes([hi, lo]).decode(codec)
            except UnicodeDecodeError:
                continue
            if len(c) == 1:
                out.add(c)
    return out


def jis_x_0208() -> set[str]:
    return _two_byte_charset("euc_jp")


def jis_x_0213() -> set[str]:
    return _two_byte_charset("euc_jis_2004")


class NgramCounter:
    """Streaming counts of characters and of the n-grams within each class of SCRIPTS."""

    def __init__(self, variants: VariantTable, max_table: int = 30_000_000) -> None:
        self.table = variants.char_map()
        self.chars: Counter = Counter()
        self.grams: Counter = Counter()
        self.max_table = max_table
        self.pruned_below = 0
        self.n_chars = 0
        self._pats = [re.compile(f"(?=({cls}{{{n}}}))")
                      for cls, longest in SCRIPTS.values() for n in range(2, longest + 1)]

    def add(self, text: str) -> None:
        text = text.translate(self.table)
        self.n_chars += len(text)
        self.chars.update(text)
        for p in self._pats:
            self.grams.update(p.findall(text))
        if len(self.grams) > self.max_table:
            self.prune()

    def prune(self) -> None:
        """Lossy counting: drop the rarest n-grams, remember the threshold."""
        counts = np.fromiter(self.grams.values(), dtype=np.int64, count=len(self.grams))
        cut = int(np.quantile(counts, 0.5))
        self.pruned_below = max(self.pruned_below, cut + 1)
        self.grams = Counter({g: c for g, c in self.grams.items() if c > cut})


def _single_chars(counter: NgramCounter, variants: VariantTable, emoji: EmojiTable,
                  opts: BuildOptions) -> list[str]:
    is_variant = variants.to_standard
    jis0208, jis0213 = jis_x_0208(), jis_x_0213()
    ascii_printable = {chr(c) for c in range(0x21, 0x7F)}
    keep = set()
    for c in jis0208 | ascii_printable:
        keep.add(variants.standard(c))
    for c, n in counter.chars.items():
        if n >= opts.min_char_count or (c in jis0213 and n >= 1):
            keep.add(c)
    emoji_single = {k for k in emoji.emoji if len(k) == 1}
    out = []
    for c in keep:
        if len(c) != 1 or c in is_variant or c in REWRITTEN or c in emoji_single:
            continue
        cat = unicodedata.category(c)
        if cat in ("Cc", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"):
            continue
        out.append(c)
    # A character whose line holds a longer spelling (ガ holds ｶﾞ) must come before the
    # characters that spelling starts with (ｶ, on カ's line), or the smallest-id rule would
    # never choose it; so those lines go first.
    longer = {s for v, s in variants.to_standard.items() if len(v) > 1 and len(s) == 1}
    out.sort(key=lambda c: (c not in longer, -counter.chars.get(c, 0), c))
    return out


def _filler_chars(have: set[str], variants: VariantTable, emoji: EmojiTable, n: int) -> list[str]:
    """``n`` more single characters for a small input: JIS X 0213, then CJK by code point."""
    if n <= 0:
        return []
    emoji_single = {k for k in emoji.emoji if len(k) == 1}
    cands = sorted(jis_x_0213()) + [chr(c) for c in range(0x4E00, 0xA000)] + \
        [chr(c) for c in range(0x3400, 0x4DC0)] + [chr(c) for c in range(0x20000, 0x2A6E0)]
    out: list[str] = []
    seen = set(have)
    for c in cands:
        if (c not in seen and c not in variants.to_standard and c not in emoji_single
                and c not in REWRITTEN and unicodedata.category(c) not in ("Cn", "Cc", "Co", "Cs")):
            out.append(c)
            seen.add(c)
            if len(out) == n:
                return out
    raise VocabularyError(f"cannot fill the vocabulary: {n} more entries needed")


def _ideographic(c: str) -> bool:
    cp = ord(c)
    return (0x2E80 <= cp <= 0x2FDF or 0x3400 <= cp <= 0x4DBF or 0x4E00 <= cp <= 0x9FFF
            or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x3FFFF)


def _width_form(v: str) -> bool:
    return 0xFF01 <= ord(v[0]) <= 0xFF9F


def _spellings(e: str, var_of: dict[str, list[str]]) -> list[str]:
    """Variant spellings of entry ``e`` (besides ``e``), most useful first."""
    if len(e) == 1:
        return list(var_of.get(e, []))
    out = list(var_of.get(e, []))                   # whole-word variants: ㌔ for キロ
    wide = [next((v for v in var_of.get(c, []) if _width_form(v)), None) for c in e]
    if all(wide):
        out.append("".join(wide))                   # ｔｈｅ for the, ｶﾀ for カタ
    # ideographic variants of the characters, in every combination (慶應 for 慶応)
    choices = [[c] + [v for v in var_of.get(c, []) if len(v) == 1 and _ideographic(v)]
               for c in e]
    out.extend("".join(p) for p in product(*choices))
    return [v for v in out if v != e]


def _lines(multis: list[str], singles: list[str], variants: VariantTable,
           opts: BuildOptions) -> list[str]:
    """Vocabulary lines: entries with their variant spellings, then the fixed tail."""
    var_of = variants.variants_of()
    entries = multis + singles
    taken = set(entries)
    lines = []
    for e in entries:
        spell = [e]
        if e != ",":                                # the comma line holds the comma alone
            for v in _spellings(e, var_of):
                if len(spell) >= opts.max_spellings:
                    break
                if v not in taken and "," not in v and len(v) <= 3:
                    spell.append(v)
                    taken.add(v)
        lines.append(",".join(spell))
    return lines + TAIL


def assemble(multis: list[str], singles: list[str], variants: VariantTable,
             opts: BuildOptions) -> str:
    return "\n".join(_lines(multis, singles, variants, opts))


def _encoder(text: str, emoji: EmojiTable):
    from .encoder import SWEEncoder
    vocab = parse_vocabulary(text, "<building>")
    return SWEEncoder(vocab, emoji)


def compression(text: str, emoji: EmojiTable, sample: list[str]) -> float:
    """Characters per token of ``sample`` under the vocabulary ``text``."""
    enc = _encoder(text, emoji)
    n_tok = sum(len(enc.encode(t)) for t in sample)
    return sum(len(t) for t in sample) / max(n_tok, 1)


def build_vocabulary(texts: Iterable[str], variants: VariantTable, emoji: EmojiTable,
                     opts: BuildOptions | None = None, progress: bool = False,
                     log=lambda msg: None) -> str:
    opts = opts or BuildOptions()
    if not 8000 <= opts.size <= 65536:
        raise VocabularyError(f"vocabulary size must be between 8000 and 65536, got {opts.size}")
    counter = NgramCounter(variants, opts.max_table)
    # The sample the order is tuned on: every stride-th document, the stride doubling
    # whenever the sample outgrows twice its budget (uniform over the stream, deterministic).
    sample: list[tuple[int, str]] = []
    sample_chars, stride = 0, 1
    if progress:
        from swelm.console import progress_mode
        progress = progress_mode() == "terminal"    # (no carriage-return progress in a log)
    if progress:
        from tqdm import tqdm
        texts = tqdm(texts, unit="doc", desc="counting", mininterval=2.0)
    for i, t in enumerate(texts):
        counter.add(t)
        if i % stride == 0:
            sample.append((i, t))
            sample_chars += len(t)
            if sample_chars > 2 * opts.sample_chars:
                stride *= 2
                sample = [(j, u) for j, u in sample if j % stride == 0]
                sample_chars = sum(len(u) for _, u in sample)
    if counter.n_chars == 0:
        raise VocabularyError("no text in the input")
    log(f"counted {counter.n_chars} characters, {len(counter.chars)} distinct characters, "
        f"{len(counter.grams)} n-grams")
    texts_sample = [t for _, t in sample]
    singles = _single_chars(counter, variants, emoji, opts)
    budget = opts.size - len(TAIL) - len(singles)
    if budget < 0:
        raise VocabularyError(f"size {opts.size} is too small for {len(singles)} single characters")
    by_count = sorted(counter.grams.items(), key=lambda x: (-x[1], x[0]))
    ranked = [g for g, c in by_count if c >= opts.min_ngram_count]
    if len(ranked) < budget:
        # a small input: take rarer n-grams, then fill with more single characters
        ranked = [g for g, _ in by_count]
        extra = _filler_chars(set(singles), variants, emoji, budget - len(ranked))
        singles = singles + extra
        budget = opts.size - len(TAIL) - len(singles)
    if opts.order not in ORDERS:
        raise VocabularyError(f"order must be one of {ORDERS}, got {opts.order!r}")
    by_length = opts.order.startswith("length")
    count = counter.grams
    multis = ranked[:budget]
    pool = ranked[budget:]
    if by_length:
        multis.sort(key=lambda g: (-len(g), -count[g], g))
    if opts.order.endswith("usage"):
        for r in range(opts.rounds):
            text = assemble(multis, singles, variants, opts)
            enc = _encoder(text, emoji)
            use = np.zeros(opts.size, dtype=np.int64)
            for t in texts_sample:
                use += np.bincount(np.asarray(enc.encode(t), dtype=np.int64), minlength=opts.size)
            log(f"round {r + 1}: {sum(map(len, texts_sample)) / max(use.sum(), 1):.4f} characters "
                f"per token on the sample")
            used = {m: int(use[i]) for i, m in enumerate(multis)}
            # replace unused entries (rarest first) by as many fresh candidates as there are
            unused = sorted((m for m in multis if used[m] == 0), key=lambda m: (count[m], m))
            drop = set(unused[:len(pool)])
            keep = [m for m in multis if m not in drop]
            fresh, pool = pool[:len(drop)], pool[len(drop):]
            # used entries by use; new candidates after them (in count order) to be measured
            if by_length:
                score = {**{m: (1 if used[m] else 0, used[m] or count[m]) for m in keep},
                         **{m: (0, count[m]) for m in fresh}}
                multis = sorted(keep + fresh, key=lambda m: (-len(m), -score[m][0], -score[m][1], m))
            else:
                multis = sorted(keep, key=lambda m: (-used[m], m)) + fresh
    return assemble(multis, singles, variants, opts)
