"""The tokenizer kinds beside SWE: SentencePiece (trained in the test), gpt2-japanese v2
(SentencePiece pieces + byte tokens + <|endoftext|>) and v1 bytes; one interface, recognised
from the file."""
from __future__ import annotations

import gzip
import json
import os
import pickle
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

spm = pytest.importorskip("sentencepiece")

from swelm.tokenizer.kinds import (BYTE_TOKENS, EOT, Tokenizer, bytes_tokenizer_file,  # noqa: E402
                                   gpt2ja_v2_file, kind_of, train_sentencepiece)
from swelm.tokenizer.vocab import VocabularyError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("JA_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
SENTENCES = ["吾輩は猫である。名前はまだ無い。", "どこで生れたかとんと見当がつかぬ。",
             "何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。",
             "The quick brown fox jumps over the lazy dog.", "東京都 渋谷区 1-2-3 に住んでいます。"]


def _texts(n=600, seed=0):
    """The sentences above and made-up sentences of Japanese words taken from the bundled SWE
    vocabulary (so a vocabulary of a few hundred pieces has something to learn)."""
    import random
    import re
    with open(os.path.join(ROOT, "vocab", "ja-swe36k.txt"), encoding="utf-8") as f:
        entries = [line.rstrip("\n").split(",")[0] for line in f]
    ja = [w for w in entries if 2 <= len(w) <= 4
          and re.fullmatch("[\u3041-\u30ff\u4e00-\u9fff]+", w)]
    rng = random.Random(seed)
    # 800 words over at most 300 distinct characters (a vocabulary of 500 pieces must hold
    # every character), whatever the bundled vocabulary's entries are
    words, chars = [], set()
    for w in rng.sample(ja, len(ja)):
        if len(chars | set(w)) <= 300:
            words.append(w)
            chars |= set(w)
            if len(words) == 800:
                break
    return SENTENCES * 4 + ["".join(rng.choice(words[:rng.randint(20, 800)])
                                    for _ in range(rng.randint(4, 14))) + "。"
                            for _ in range(n)]


TEXTS = _texts()


@pytest.fixture(scope="module")
def sp_model():
    return train_sentencepiece(TEXTS, 500, seed=3, character_coverage=0.995)


def real_lines(n=300):
    path = os.path.join(DATA, "corpus", "valid.jsonl.gz")
    if not os.path.exists(path):
        pytest.skip(f"shared corpus not found at {path} (set JA_SHARED_DATA)")
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            out += [x for x in json.loads(line)["text"].split("\n") if x.strip()]
            if len(out) >= n:
                return out[:n]
    return out


def test_training_is_deterministic_for_a_seed(sp_model):
    assert train_sentencepiece(TEXTS, 500, seed=3, character_coverage=0.995) == sp_model
    assert kind_of(sp_model) == "sentencepiece"


def test_sentencepiece_ids_equal_sentencepiece_itself_on_real_text():
    lines = real_lines()
    model = train_sentencepiece(lines, 2000, seed=0, character_coverage=0.98)
    tok = Tokenizer.from_bytes(model)
    sp = spm.SentencePieceProcessor(model_proto=model)
    assert tok.kind == "sentencepiece" and len(tok) == 2000
    assert tok.encode_batch(lines) == [sp.encode(x) for x in lines]
    assert all(tok.decode(sp.encode(x)) == sp.decode(sp.encode(x)) for x in lines)
    assert tok.eot_id == sp.eos_id() and tok.special_tokens["</s>"] == sp.eos_id()
    assert tok.token_to_id(tok.id_to_token(50)) == 50
    with pytest.raises(KeyError):
        tok.token_to_id("no such piece at all")


def test_gpt2ja_v2_layout_and_lossless_unknowns(sp_model):
    tok = Tokenizer.from_bytes(gpt2ja_v2_file(sp_model))
    pieces = spm.SentencePieceProcessor(model_proto=sp_model).get_piece_size()
    assert tok.kind == "gpt2ja-v2" and len(tok) == pieces + BYTE_TOKENS + 1
    assert tok.eot_id == pieces + 255 and tok.id_to_token(tok.eot_id) == EOT
    assert tok.id_to_token(pieces) == "<0x00>" and tok.token_to_id("<0xFE>") == pieces + 254
    text = "吾輩は猫である。😺 𠮷野家 Ω"          # characters the pieces cannot spell
    ids = tok.encode(text)
    assert any(i >= pieces for i in ids) and max(ids) < tok.eot_id
    assert tok.decode(ids) == text
    assert tok.decode(ids + [tok.eot_id]) == text          # <|endoftext|> is not text
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([len(tok)])
    # it travels as bytes (a pipeline's payload) and pickles
    again = pickle.loads(pickle.dumps(tok))
    assert again.encode(text) == ids and again.sha256 == tok.sha256


def test_gpt2ja_v2_round_trip_on_real_text():
    lines = real_lines(200)
    model = train_sentencepiece(lines[:100], 1000, seed=0, character_coverage=0.98)
    tok = Tokenizer.from_bytes(gpt2ja_v2_file(model))
    sp = spm.SentencePieceProcessor(model_proto=model)
    # what SentencePiece's normaliser makes of a line comes back whole, unknown characters
    # included (as byte tokens)
    for line in lines:
        expected = sp.normalize(line).replace("\u2581", " ").removeprefix(" ")
        assert tok.decode(tok.encode(line)) == expected


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_bytes_round_trip_on_any_unicode(text):
    tok = Tokenizer.from_bytes(bytes_tokenizer_file())
    ids = tok.encode(text.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
    assert all(0 <= i < BYTE_TOKENS for i in ids)
    clean = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    assert tok.decode(ids) == clean and tok.decode(ids + [tok.eot_id]) == clean


def test_load_recognises_each_kind_and_refuses_others(tmp_path, sp_model):
    files = {"sentencepiece": sp_model, "gpt2ja-v2": gpt2ja_v2_file(sp_model),
             "bytes": bytes_tokenizer_file()}
    for kind, data in files.items():
        (tmp_path / kind).write_bytes(data)
        tok = Tokenizer.load(tmp_path / kind)
        assert tok.kind == kind and len(tok.sha256) == 64
    swe = Tokenizer.load(os.path.join(ROOT, "vocab", "ja-swe36k.txt"))
    assert swe.kind == "swe" and len(swe) == 36000
    assert swe.decode(swe.encode("吾輩は猫である。")) == "吾輩は猫である。"
    (tmp_path / "junk").write_bytes(b"\n\x05hello")
    with pytest.raises(VocabularyError, match="junk: not a tokenizer swelm knows"):
        Tokenizer.load(tmp_path / "junk")
    with pytest.raises(VocabularyError, match="cannot read"):
        Tokenizer.load(tmp_path / "missing")


def swelm(*args, check=True):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "swelm", *map(str, args)], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_build_vocab_kinds_from_the_command_line(tmp_path):
    src = tmp_path / "texts.jsonl"
    src.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in TEXTS),
                   encoding="utf-8")
    outs = {}
    sizes = {"sentencepiece": 500, "gpt2ja-v2": 500 + 256, "bytes": 256}
    for kind, size in sizes.items():
        out = tmp_path / f"tok-{kind}"
        swelm("build-vocab", "--kind", kind, "--input", src, "--size", size, "--out", out,
              "--character-coverage", "0.995")
        outs[kind] = out
        assert Tokenizer.load(out).kind == kind
        assert len(Tokenizer.load(out)) == size           # --size counts every token
    # same input and seed: the same file; a rerun replaces its own output
    first = outs["sentencepiece"].read_bytes()
    swelm("build-vocab", "--kind", "sentencepiece", "--input", src, "--size", "500", "--out",
          outs["sentencepiece"], "--character-coverage", "0.995")
    assert outs["sentencepiece"].read_bytes() == first
    # tokenize / decode take any kind
    ids = swelm("tokenize", "--vocabulary", outs["gpt2ja-v2"], "吾輩は猫😺").stdout.split()
    assert swelm("decode", "--vocabulary", outs["gpt2ja-v2"], *ids).stdout == "吾輩は猫😺\n"
    # a file of another kind is not overwritten, nor is a kind without its input built
    other = tmp_path / "notes.txt"
    other.write_text("my notes\n", encoding="utf-8")
    r = swelm("build-vocab", "--kind", "bytes", "--out", other, check=False)
    assert r.returncode == 2 and "notes.txt" in r.stderr and other.read_text() == "my notes\n"
    r = swelm("build-vocab", "--kind", "sentencepiece", "--out", tmp_path / "x", check=False)
    assert r.returncode == 2 and "--input is required" in r.stderr
    r = swelm("build-vocab", "--kind", "gpt2ja-v2", "--input", src, "--size", "100", "--out",
              tmp_path / "y", check=False)
    assert r.returncode == 2 and "--size 100" in r.stderr
