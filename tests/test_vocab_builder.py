"""The vocabulary builder, on a small corpus written for the tests, and the bundled files."""
import gzip
import json
import os
import re

import pytest

from conftest import FIXTURE_EMOJI, ROOT
from swelm.tokenizer import SWEEncoder
from swelm.tokenizer.builder import (SCRIPTS, TAIL, BuildOptions, build_vocabulary, compression,
                               iter_texts, jis_x_0208)
from swelm.tokenizer.variants import VariantTable
from swelm.tokenizer.vocab import EmojiTable, parse_vocabulary

CORPUS = [
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。",
    "慶應義塾大学の學生が東京都で研究している。慶応の学生は多い。",
    "今日は良い天気ですね。明日も晴れるといいですね。",
    "The quick brown fox jumps over the lazy dog. Python 3.11 and ｔｈｅ ＡＢＣ.",
    "カタカナのテキストとｶﾀｶﾅのテキスト。ガス、ｶﾞｽ。キロメートルは㌔とも書く。",
    "髙橋さんと高橋さんは2024年4月1日に会議をしている。",
] * 20
VARIANTS = VariantTable({"髙": "高", "應": "応", "學": "学", "Ａ": "A", "Ｂ": "B", "Ｃ": "C",
                         "ｔ": "t", "ｈ": "h", "ｅ": "e", "ｶ": "カ", "ﾀ": "タ", "ｶﾞ": "ガ",
                         "ｽ": "ス", "㌔": "キロ", "ゐ": "い"})
EMOJI = EmojiTable("fixture", FIXTURE_EMOJI["emoji"], FIXTURE_EMOJI["emoji_inv"])
SCRIPT_RES = {name: (re.compile(f"{cls}+"), n) for name, (cls, n) in SCRIPTS.items()}


@pytest.fixture(scope="module")
def built():
    opts = BuildOptions(size=8000, min_char_count=1, min_ngram_count=2, rounds=2)
    return build_vocabulary(iter(CORPUS), VARIANTS, EMOJI, opts)


def entries(text):
    return [line.split(",")[0] if line != "," else "," for line in text.split("\n")]


def test_format_and_tail(built):
    v = parse_vocabulary(built, "built")
    assert len(v) == 8000
    assert built.split("\n")[-285:] == TAIL
    assert not built.endswith("\n")


def test_entries_stay_within_one_class(built):
    for e in entries(built)[:-285]:
        if len(e) == 1:
            continue
        fits = [name for name, (rx, longest) in SCRIPT_RES.items()
                if rx.fullmatch(e) and len(e) <= longest]
        assert fits, e


def test_variants_share_a_line_standard_first(built):
    lines = {line.split(",")[0]: line.split(",") for line in built.split("\n") if line != ","}
    assert "髙" in lines["高"] and "應" in lines["応"] and "ｶﾞ" in lines["ガ"]
    assert lines["慶応"][:2] == ["慶応", "慶應"]
    enc = SWEEncoder(parse_vocabulary(built, "built"), EMOJI)
    assert enc.decode(enc.encode("髙橋と慶應とｶﾞｽ")) == "高橋と慶応とガス"


def test_every_jis_x_0208_character_is_spelled(built):
    spelled = {s for line in built.split("\n") for s in (line.split(",") if line != "," else [","])}
    missing = [c for c in jis_x_0208() if c not in spelled and c not in " \u3000—−"
               and VARIANTS.standard(c) not in spelled]
    assert missing == []


def test_deterministic(built):
    opts = BuildOptions(size=8000, min_char_count=1, min_ngram_count=2, rounds=2)
    assert build_vocabulary(iter(CORPUS), VARIANTS, EMOJI, opts) == built


def test_length_usage_order_compresses_best():
    def cpt(order):
        opts = BuildOptions(size=8000, min_char_count=1, min_ngram_count=2, order=order, rounds=2)
        return compression(build_vocabulary(iter(CORPUS), VARIANTS, EMOJI, opts), EMOJI, CORPUS[:6])
    assert cpt("length-usage") >= cpt("count")


def test_bad_options_and_inputs(tmp_path):
    with pytest.raises(ValueError, match="between 8000 and 65536"):
        build_vocabulary(iter(CORPUS), VARIANTS, EMOJI, BuildOptions(size=100))
    with pytest.raises(ValueError, match="no text"):
        build_vocabulary(iter([]), VARIANTS, EMOJI, BuildOptions(size=8000))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "あ"}\n{"txt": 1}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        list(iter_texts([str(bad)]))


def test_input_formats(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    (tmp_path / "a.txt").write_text("テキスト", encoding="utf-8")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"text": "ジェイソン"}) + "\n")
    pq.write_table(pa.table({"text": ["パーケイ", None]}), tmp_path / "c.parquet")
    assert list(iter_texts([str(tmp_path)])) == ["テキスト", "ジェイソン", "パーケイ"]


def _build_vocab_cli(*args):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "swelm", "build-vocab", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_build_vocab_with_a_variant_table_file(tmp_path):
    """`build-vocab --variants FILE` (no Unihan data needed) gives the vocabulary that the same
    table gives through the library, in both flag spellings; bad tables are one line."""
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in CORPUS),
                      encoding="utf-8")
    table = tmp_path / "variants.tsv"
    VARIANTS.write_tsv(str(table))
    emoji = tmp_path / "emoji.json"
    emoji.write_text(json.dumps(FIXTURE_EMOJI, ensure_ascii=False), encoding="utf-8")
    common = ["--input", corpus, "--emoji", emoji, "--size", "8000", "--min-char-count", "1",
              "--rounds", "2"]
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    r = _build_vocab_cli(*common, "--variants", table, "--out", a)
    assert r.returncode == 0, r.stderr
    r = _build_vocab_cli(*common, f"--variants={table}", f"--out={b}")
    assert r.returncode == 0, r.stderr
    opts = BuildOptions(size=8000, min_char_count=1, rounds=2)
    expected = build_vocabulary(iter(CORPUS), VariantTable.read_tsv(str(table)), EMOJI, opts)
    assert a.read_text(encoding="utf-8") == b.read_text(encoding="utf-8") == expected
    bad = tmp_path / "bad.tsv"
    bad.write_text("髙 高\n", encoding="utf-8")
    for args, message in (
            (["--variants", tmp_path / "none.tsv"], "--variants .*none.tsv: file not found"),
            (["--variants", bad], "--variants .*bad.tsv: .*bad.tsv:1: expected 'variant<TAB>standard'"),
            (["--variants", table, "--unihan", tmp_path], "--variants FILE or --unihan DIR, not both")):
        r = _build_vocab_cli(*common, *args, "--out", tmp_path / "c.txt")
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert re.search(message, r.stderr), r.stderr
    assert not (tmp_path / "c.txt").exists()


# --- the bundled files -------------------------------------------------------------------
BUNDLED = os.path.join(ROOT, "vocab", "ja-swe36k.txt")


@pytest.fixture(scope="module")
def bundled():
    assert os.path.isfile(BUNDLED), "vocab/ja-swe36k.txt must be committed (make vocab)"
    return SWEEncoder.load()


def test_bundled_is_the_default(bundled):
    assert len(bundled) == 36000
    assert os.path.samefile(bundled.vocab.path, BUNDLED)
    assert bundled.id_to_token(35999) == "<|endoftext|>" and bundled.id_to_token(35715) == "<BR>"
    assert bundled.decode(bundled.encode("吾輩は猫である。")) == "吾輩は猫である。"


@pytest.mark.parametrize("variant, standard", [
    ("髙", "高"), ("﨑", "崎"), ("德", "徳"), ("邊", "辺"), ("邉", "辺"), ("國", "国"), ("圖", "図"),
    ("學", "学"), ("𠮟", "叱"), ("慶應", "慶応"), ("ｶﾞ", "ガ"), ("①", "1"), ("㈱", "株"), ("ゐ", "い"),
])
def test_bundled_hard_cases(bundled, variant, standard):
    assert bundled.encode(variant) == bundled.encode(standard)
    assert bundled.decode(bundled.encode(variant)) == standard


def test_bundled_compresses_better_than_reference(bundled, upstream_files):
    from conftest import shared
    with open(shared("corpus", "mini.jsonl"), encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f][:200]
    ref = SWEEncoder.load(*upstream_files)
    ours = sum(map(len, texts)) / sum(len(bundled.encode(t)) for t in texts)
    theirs = sum(map(len, texts)) / sum(len(ref.encode(t)) for t in texts)
    assert ours >= theirs, (ours, theirs)


def test_bundled_reaches_its_compression_on_the_shared_validation_text(bundled):
    """Characters per token on valid.jsonl.gz (1.57 with entries within one script; entries
    across Japanese scripts and punctuation bring it over 1.9)."""
    from conftest import shared
    with gzip.open(shared("corpus", "valid.jsonl.gz"), "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    chars = sum(map(len, texts))
    assert chars / sum(len(ids) for ids in bundled.encode_batch(texts)) >= 1.9
