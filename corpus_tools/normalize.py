"""Normalise Japanese text: one document in, one document out.

Rules, applied in this order (each can be switched off in :class:`NormalizeOptions`):

``controls``    remove control characters (except tab and line ends) and invisible format
                characters: zero-width space/non-joiner, word joiner, BOM, soft hyphen.
                The zero-width *joiner* stays: emoji sequences (👩‍💻) need it.
``whitespace``  ``\\r\\n``/``\\r`` → ``\\n``; no-break and other Unicode spaces → ``' '``
                (the ideographic space U+3000 stays: it indents Japanese paragraphs);
                runs of spaces/tabs → one; spaces at line ends removed; at most one empty
                line in a row; no empty lines at the start or end.
``width``       full-width ASCII letters and digits → half-width (ＡＢＣ１２３ → ABC123);
                half-width katakana → full-width, voiced marks composed (ｶﾞｷﾞ → ガギ), and
                half-width ｡｢｣､･ → 。「」、・.  Full-width punctuation (！？（）：) stays
                unless ``width_symbols`` is on.
``variants``    variant characters to their standard form (髙→高, 德→徳, 﨑→崎, 圖→図), old
                kana (ゐ→い), circled and enclosed characters (①→1, ⒈→1., ㈱→株, ㊑→株),
                squared words (㌔→キロ), Kangxi radicals (⽇→日): the variant table shipped with
                the vocabulary (``vocab/variants.tsv``, from :mod:`tokenizer.variants`), so the
                corpus and the tokenizer agree.
``tags``        typed tags ``<URL> <EMAIL> <TEL> <DATE> <PRICE>`` for Japanese formats
                (full-width digits too; 年月日 with at least a month for western years, era
                years alone (令和6年, not 令和6年度), 円/万円/億円, ドル, 税込/税抜).  The expressions have no nested quantifiers and start only at
                token boundaries, so they run in linear time.
``max_run``     a run of one repeated character (not a digit or space) longer than
                ``max_run`` is shortened to ``max_run`` (ーーーーーー → ーーーーー); 0 turns it off.
"""
from __future__ import annotations

from . import CorpusError

import re
from dataclasses import dataclass, field

from swelm.tokenizer.variants import VariantTable, load_bundled_variants

TAGS = ("URL", "EMAIL", "TEL", "DATE", "PRICE")


@dataclass(frozen=True)
class NormalizeOptions:
    controls: bool = True
    whitespace: bool = True
    width: bool = True
    width_symbols: bool = False
    variants: bool = True
    tags: tuple[str, ...] = TAGS
    max_run: int = 5

    def __post_init__(self) -> None:
        unknown = set(self.tags) - set(TAGS)
        if unknown:
            raise CorpusError(f"unknown tags {sorted(unknown)}; choose from {TAGS}")
        if self.max_run < 0:
            raise CorpusError("max_run must be 0 (off) or positive")


_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200c\u2060\ufeff\u00ad]")
_SPACES = re.compile("[\u00a0\u2000-\u200a\u202f\u205f]")
_HSPACE_RUN = re.compile("[ \t]{2,}")
_TRAILING = re.compile("[ \t]+(?=\n|$)")
_BLANKS = re.compile("\n{3,}")

D = "[0-9０-９]"                      # a digit, half or full width
_DB = "(?<![0-9０-９,.，．])"         # a number starts here
_DE = "(?![0-9０-９])"                # and ends here
NUM = f"(?:{D}{{1,3}}(?:[,，]{D}{{3}})+|{D}+)"

TAG_PATTERNS = {
    "URL": r"(?:https?|ftp)://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+",
    "EMAIL": r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+",
    "TEL": (rf"{_DB}(?:\+81[\- ]?{D}{{1,4}}|[(（]0{D}{{1,4}}[)）]|0{D}{{1,4}})"
            rf"[\-－ー‐]?{D}{{1,4}}[\-－ー‐]{D}{{3,4}}{_DE}"
            rf"|{_DB}0[5789]0{D}{{8}}{_DE}"),
    "DATE": (rf"{_DB}(?:{D}{{4}}年{D}{{1,2}}月(?:{D}{{1,2}}日)?"
             rf"|(?:令和|平成|昭和|大正|明治)(?:元|{D}{{1,2}})年(?!度)(?:{D}{{1,2}}月(?:{D}{{1,2}}日)?)?"
             rf"|{D}{{1,2}}月{D}{{1,2}}日"
             rf"|{D}{{4}}[/\-]{D}{{1,2}}[/\-]{D}{{1,2}}{_DE})"
             r"(?:[(（][日月火水木金土](?:曜日?)?[)）])?"),
    "PRICE": (rf"[¥￥]{NUM}{_DE}"
              rf"|{_DB}{NUM}(?:[.．]{D}+)?(?:兆(?:{NUM})?)?(?:億(?:{NUM})?)?(?:万(?:{NUM})?)?"
              rf"(?:千(?:{NUM})?)?(?:円|ドル|ユーロ)"
              r"(?:[(（]税(?:込|抜)(?:み)?[)）]|税(?:込|抜)(?:み)?)?"),
}

_HALF_KANA_PUNCT = str.maketrans({"｡": "。", "｢": "「", "｣": "」", "､": "、", "･": "・"})


@dataclass
class Normalizer:
    """Callable normaliser; build once, apply to many documents."""
    options: NormalizeOptions = field(default_factory=NormalizeOptions)
    table: VariantTable | None = None

    def __post_init__(self) -> None:
        o = self.options
        if self.table is None and (o.width or o.variants):
            self.table = load_bundled_variants()
        width_map, variant_map, multi = {}, {}, {}
        for v, s in (self.table.to_standard.items() if self.table else ()):
            is_width = 0xFF01 <= ord(v[0]) <= 0xFF9F
            if len(v) > 1:
                if is_width and o.width:
                    multi[v] = s                       # ｶﾞ -> ガ
                continue
            if is_width:
                if v.isalnum() or 0xFF61 <= ord(v) <= 0xFF9F or o.width_symbols:
                    width_map[ord(v)] = s
            else:
                variant_map[ord(v)] = s
        self._width = width_map if o.width else {}
        self._variants = variant_map if o.variants else {}
        self._multi = multi
        self._multi_re = (re.compile("|".join(sorted(map(re.escape, multi), key=len, reverse=True)))
                          if multi else None)
        self._tags = [(re.compile(TAG_PATTERNS[t]), f"<{t}>") for t in TAGS if t in o.tags]
        self._run = re.compile(rf"([^\d\s])\1{{{o.max_run},}}") if o.max_run else None

    def __call__(self, text: str) -> str:
        o = self.options
        if o.controls:
            text = _INVISIBLE.sub("", text)
        if o.whitespace:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            text = _SPACES.sub(" ", text)
            text = _HSPACE_RUN.sub(" ", text)
            text = _TRAILING.sub("", text)
            text = _BLANKS.sub("\n\n", text).strip("\n")
        if self._multi_re is not None:
            text = self._multi_re.sub(lambda m: self._multi[m.group(0)], text)
        if self._width:
            text = text.translate(self._width).translate(_HALF_KANA_PUNCT)
        if self._variants:
            text = text.translate(self._variants)
        for rx, tag in self._tags:
            text = rx.sub(tag, text)
        if self._run is not None:
            text = self._run.sub(lambda m: m.group(1) * o.max_run, text)
        return text


def normalize(text: str, options: NormalizeOptions | None = None) -> str:
    """Normalise one document with ``options`` (default: every rule on)."""
    return _default(options or NormalizeOptions())(text)


_CACHE: dict[NormalizeOptions, Normalizer] = {}


def _default(options: NormalizeOptions) -> Normalizer:
    if options not in _CACHE:
        _CACHE[options] = Normalizer(options)
    return _CACHE[options]
