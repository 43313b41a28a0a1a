"""Variant spellings (異体字) for Japanese: which characters share a token with which.

One table maps a *variant* spelling to its *standard* spelling; the vocabulary builder puts
variants on their standard's line (the standard first, so ``decode`` writes it), and the
corpus normaliser uses the same table.  It is derived from Unicode data, for Japanese:

1. **Jinmeiyō old forms** (Unihan ``kJinmeiyoKanji`` = ``2010:U+XXXX``): the 230 traditional
   forms allowed in names map to their Jōyō form (德→徳, 國→国, 應→応, 實→実).
2. **Jōyō substitutes** (``kJoyoKanji`` = ``U+XXXX``): the Jōyō table lists a few characters
   whose commonly printed form is another (𠮟 is printed 叱): the common, BMP form is the
   standard and the listed form its variant (𠮟→叱, 剝→剥, 塡→填, 頰→頬).
3. **Traditional forms of Jōyō kanji** (``kTraditionalVariant`` of a Jōyō/Jinmeiyō kanji S
   that is itself neither): 學→学.  ``kSimplifiedVariant`` is never used: a Simplified-Chinese
   form (图, 边, 应) is not a Japanese variant of a shinjitai form.
4. **Rare glyph variants** (``kSemanticVariant``, ``kZVariant``, ``kSpecializedSemanticVariant``):
   a character outside JIS X 0208 and the Jōyō/Jinmeiyō lists maps to a related character
   that is in them (simplified forms, which carry ``kTraditionalVariant``, are skipped);
   when there are several, the one with the same radical (``kRSUnicode``)
   wins, and if that still leaves several the mapping is skipped (髙→高, 﨑→崎 not 埼).
5. **Compatibility forms** (Unicode NFKC, only in the blocks where it is a spelling and not a
   meaning change): CJK compatibility ideographs and Kangxi/CJK radicals (⽇→日), full-width
   ASCII (Ａ→A), half-width katakana (ｶ→カ, and ｶﾞ→ガ as a two-character spelling), circled
   and parenthesised characters stripped of their frame (①→1, ⒈→1, ㈱→株, ㊑→株, ㋾→ヲ), and
   squared words (㌔→キロ).
6. **Old kana**: ゐ→い, ゑ→え, ヰ→イ, ヱ→エ.
7. **Supplement**: traditional forms of Jōyō kanji that Unihan links to nothing Japanese
   (圖→図, 邊/邉→辺, …), listed in :data:`SUPPLEMENT`.

Mappings are resolved transitively; a standard form is never itself a variant.
"""
from __future__ import annotations

import bz2
import os
import re
import unicodedata
from dataclasses import dataclass, field

DEFAULT_UNIHAN_DIRS = ("/usr/share/unicode", "/usr/share/unicode-data")

#: Traditional forms of Jōyō kanji with no Japanese link in Unihan (rule 7).
SUPPLEMENT = {
    "圖": "図", "邊": "辺", "邉": "辺", "澤": "沢", "驛": "駅", "擇": "択", "譯": "訳", "釋": "釈",
    "齋": "斎", "關": "関", "觀": "観", "權": "権", "歡": "歓", "續": "続", "讀": "読", "變": "変",
    "戀": "恋", "蠻": "蛮", "灣": "湾", "劑": "剤", "濟": "済", "聲": "声", "廢": "廃", "發": "発",
    "辭": "辞", "亂": "乱", "畫": "画", "擴": "拡", "覺": "覚", "區": "区", "驅": "駆", "毆": "殴",
    "歐": "欧", "樞": "枢", "營": "営", "勞": "労", "獨": "独", "觸": "触", "屬": "属", "囑": "嘱",
    "當": "当", "黨": "党", "爐": "炉", "擔": "担", "膽": "胆", "譽": "誉", "舉": "挙", "寫": "写",
    "雙": "双", "齒": "歯", "齡": "齢", "豫": "予", "點": "点", "壓": "圧", "會": "会", "繪": "絵",
    "兩": "両", "滿": "満", "寶": "宝", "假": "仮", "萬": "万", "稱": "称", "證": "証", "隱": "隠",
    "穩": "穏", "數": "数", "圍": "囲", "鹽": "塩", "醬": "醤", "隨": "随", "髓": "髄", "嶽": "岳",
    "巖": "巌", "處": "処", "據": "拠", "鑛": "鉱", "參": "参", "慘": "惨", "鐵": "鉄", "體": "体",
    "舊": "旧", "號": "号", "辯": "弁", "瓣": "弁", "辨": "弁", "淺": "浅", "錢": "銭", "殘": "残",
    "踐": "践", "晝": "昼", "盡": "尽", "收": "収", "讓": "譲",
}

_OLD_KANA = {"ゐ": "い", "ゑ": "え", "ヰ": "イ", "ヱ": "エ"}
_NFKC_BLOCKS = [
    (0x2460, 0x24FF),   # enclosed alphanumerics
    (0x2E80, 0x2FDF),   # CJK radicals supplement, Kangxi radicals
    (0x3200, 0x33FF),   # enclosed CJK letters and months, CJK compatibility
    (0xF900, 0xFAFF),   # CJK compatibility ideographs
    (0xFF01, 0xFF5E),   # full-width ASCII
    (0xFF61, 0xFF9F),   # half-width katakana and punctuation
    (0x2F800, 0x2FA1F),  # CJK compatibility ideographs supplement
]
_FRAME = re.compile(r"^\((.+)\)$")


@dataclass
class VariantTable:
    """``variant spelling -> standard spelling``; spellings may have several characters."""
    to_standard: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def standard(self, s: str) -> str:
        return self.to_standard.get(s, s)

    def variants_of(self) -> dict[str, list[str]]:
        """Standard -> its variants, for placing variants on vocabulary lines ("1." counts
        as "1": ⒈ and ㏇ share the token of 1 and Co)."""
        out: dict[str, list[str]] = {}
        for v, s in sorted(self.to_standard.items()):
            if len(s) > 1 and s.endswith("."):
                s = s[:-1]
            out.setdefault(s, []).append(v)
        return out

    def write_tsv(self, path: str) -> None:
        """``variant<TAB>standard`` lines, sorted (shipped beside the vocabulary)."""
        from swelm.publish import write_text
        lines = ["# variant\tstandard  (tokenizer.variants; rebuilt by make variants)\n"]
        lines += [f"{v}\t{s}\n" for v, s in sorted(self.to_standard.items())]
        write_text(path, "".join(lines))

    @classmethod
    def read_tsv(cls, path: str) -> "VariantTable":
        table = {}
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.startswith("#") or not line.strip():
                    continue
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 2 or not parts[0] or not parts[1]:
                    raise ValueError(f"{path}:{n}: expected 'variant<TAB>standard'")
                table[parts[0]] = parts[1]
        return cls(table, source=path)

    def char_map(self) -> dict[int, str]:
        """``str.translate`` table for single-character variants (counting, normalising)."""
        return {ord(v): s for v, s in self.to_standard.items() if len(v) == 1}


def load_bundled_variants() -> VariantTable:
    """The variant table shipped with the bundled vocabulary (no Unihan data needed)."""
    from .encoder import bundled_path
    path = bundled_path("variants.tsv")
    if path is None:
        raise FileNotFoundError("the bundled vocab/variants.tsv is missing: build it with `make variants`")
    return VariantTable.read_tsv(path)


def _read_unihan(directory: str, name: str) -> list[tuple[str, str, str]]:
    for fname in (f"Unihan_{name}.txt", f"Unihan_{name}.txt.bz2"):
        path = os.path.join(directory, fname)
        if os.path.isfile(path):
            opener = bz2.open if path.endswith(".bz2") else open
            with opener(path, "rt", encoding="utf-8") as f:
                rows = []
                for line in f:
                    if line.startswith("#") or not line.strip():
                        continue
                    cp, fld, val = line.rstrip("\n").split("\t", 2)
                    rows.append((chr(int(cp[2:], 16)), fld, val))
                return rows
    raise FileNotFoundError(
        f"{directory}: Unihan_{name}.txt(.bz2) not found; install Debian's unicode-data "
        "package (apt-get install unicode-data) or pass the folder holding the Unihan files")


def find_unihan_dir(explicit: str | None = None) -> str:
    cands = [explicit] if explicit else [os.environ.get("SWELM_UNIHAN", ""), *DEFAULT_UNIHAN_DIRS]
    for d in cands:
        if d and (os.path.isfile(os.path.join(d, "Unihan_Variants.txt.bz2"))
                  or os.path.isfile(os.path.join(d, "Unihan_Variants.txt"))):
            return d
    raise FileNotFoundError(
        "Unihan variant data not found (looked in " + ", ".join(c for c in cands if c) +
        "): install Debian's unicode-data package (apt-get install unicode-data), or set "
        "SWELM_UNIHAN to a folder with Unihan_Variants.txt, Unihan_OtherMappings.txt and "
        "Unihan_IRGSources.txt (plain or .bz2)")


def _cps(val: str) -> list[str]:
    return [chr(int(v.split("<")[0][2:], 16)) for v in val.split() if v.startswith("U+")]


def compatibility_variants() -> dict[str, str]:
    """Rule 5: NFKC spellings in the blocks listed above (variant -> standard)."""
    out: dict[str, str] = {}
    for lo, hi in _NFKC_BLOCKS:
        for cp in range(lo, hi + 1):
            c = chr(cp)
            if unicodedata.category(c) == "Cn":
                continue
            n = unicodedata.normalize("NFKC", c)
            if n == c or not n.strip():
                continue
            m = _FRAME.match(n)
            if m and len(n) > 2:
                n = m.group(1)                         # ㈱ (株) -> 株, ⑴ (1) -> 1
            if "," in n or n == c:
                continue
            out[c] = n
    # half-width kana with a voiced/semi-voiced mark: one character in the standard spelling
    for cp in range(0xFF66, 0xFF9E):
        for mark in "ﾞﾟ":
            pair = chr(cp) + mark
            n = unicodedata.normalize("NFKC", pair)
            if len(n) == 1:
                out[pair] = n
    return out


def build_variant_table(unihan_dir: str | None = None) -> VariantTable:
    d = find_unihan_dir(unihan_dir)
    variants = _read_unihan(d, "Variants")
    other = _read_unihan(d, "OtherMappings")
    irg = _read_unihan(d, "IRGSources")
    joyo, jinmei, jis0, radical = set(), set(), set(), {}
    to: dict[str, str] = {}
    for c, fld, val in other:
        if fld == "kJoyoKanji":
            if val.startswith("U+"):
                for t in _cps(val):
                    to[t] = c                          # rule 2: 𠮟 -> 叱
            joyo.add(c)
        elif fld == "kJinmeiyoKanji":
            if ":U+" in val:
                to[c] = _cps(val.split(":", 1)[1])[0]  # rule 1: 德 -> 徳
            else:
                jinmei.add(c)
        elif fld == "kJis0":
            jis0.add(c)
    for c, fld, val in irg:
        if fld == "kRSUnicode":
            radical[c] = val.split()[0].split(".")[0].rstrip("'")
    official = joyo | jinmei
    by_char: dict[str, dict[str, list[str]]] = {}
    for c, fld, val in variants:
        by_char.setdefault(c, {}).setdefault(fld, []).extend(_cps(val))
    # rule 3
    for s in sorted(official):
        for t in by_char.get(s, {}).get("kTraditionalVariant", []):
            if t != s and t not in official and t not in to:
                to[t] = s
    # rule 4
    for x in sorted(by_char):
        fields = by_char[x]
        if x in official or x in jis0 or x in to or "kTraditionalVariant" in fields:
            continue                                   # (a simplified form: never Japanese)
        cands = sorted({s for f in ("kZVariant", "kSemanticVariant", "kSpecializedSemanticVariant")
                        for s in fields.get(f, []) if s in official or s in jis0})
        if len(cands) > 1:
            same = [s for s in cands if radical.get(s) and radical.get(s) == radical.get(x)]
            cands = same if same else cands
        if len(cands) > 1:
            off = [s for s in cands if s in official]
            cands = off if len(off) == 1 else cands
        if len(cands) == 1:
            to[x] = cands[0]
    # rules 5-7
    for v, s in compatibility_variants().items():
        to.setdefault(v, s)
    for v, s in {**_OLD_KANA, **SUPPLEMENT}.items():
        to.setdefault(v, s)
    return VariantTable(_resolve(to), source=d)


def _resolve(to: dict[str, str]) -> dict[str, str]:
    """Follow chains to the final standard; drop cycles and standards that are variants."""
    out = {}
    for v in sorted(to):
        seen, s = {v}, to[v]
        while s in to and s not in seen:
            seen.add(s)
            s = to[s]
        if s != v and s not in seen - {s}:
            out[v] = s
    standards = set(out.values())
    return {v: s for v, s in out.items() if v not in standards and s not in out}
