"""Unit tests of the SWE encoder on a hand-written fixture vocabulary (both cores)."""
import json

import numpy as np
import pytest

from conftest import FIXTURE_EMOJI, fixture_lines, write_fixture
from swelm.tokenizer import SWEEncoder, VocabularyError


def toks(enc, text, **kw):
    return [enc.id_to_token(i) for i in enc.encode(text, **kw)]


def test_smallest_id_wins_not_longest(fixture_encoder):
    assert toks(fixture_encoder, "している") == ["して", "いる"]
    assert toks(fixture_encoder, "ています") == ["てい", "ます"]
    # 東京 (6) beats 京都 (8) at 東, then 都 (7)
    assert toks(fixture_encoder, "東京都") == ["東京", "都"]


def test_variants_share_an_id_and_decode_to_first_spelling(fixture_encoder):
    enc = fixture_encoder
    assert enc.encode("慶応𢙎応慶應") == [5, 5, 5]
    assert enc.decode([5]) == "慶応"
    assert enc.decode(enc.encode("⽇本")) == "日本"


def test_duplicate_surface_last_line_wins(fixture_encoder):
    enc = fixture_encoder
    assert enc.encode("〇") == [enc.vocab.token_to_id["０"]]
    assert enc.decode(enc.encode("〇")) == "０"


def test_whitespace_dashes_and_comma(fixture_encoder):
    enc = fixture_encoder
    assert toks(enc, "し て\u3000ま\r\nす\n。\r猫\t") == [
        "し", "<SP>", "て", "<SP>", "ま", "<BR>", "す", "<BR>", "。", "<BR>", "猫", "<TAB>"]
    assert toks(enc, "—−,") == ["ー", "ー", ","]
    assert enc.decode(enc.encode("し て\r\nす"), breakline="<br>") == "し て<br>す"


def test_lt_rules(fixture_encoder):
    enc = fixture_encoder
    assert toks(enc, "<|endoftext|>") == ["<|endoftext|>"]
    assert toks(enc, "<<SP>") == ["<", "<SP>"]
    assert toks(enc, "<|endoftext|") == ["<"] + [f"<|byte{b}|>" for b in b"|endoftext|"]
    assert toks(enc, "<|byte65|>") == ["<|byte65|>"]
    assert enc.decode(enc.encode("<|byte65|>")) == "A"


def test_emoji_in_file_order(fixture_encoder):
    enc = fixture_encoder
    # ☠️ precedes 🏴‍☠️ in the file, so the pirate flag is split (a reference quirk).
    assert toks(enc, "🏴\u200d☠️") == ["<|byte240|>", "<|byte159|>", "<|byte143|>", "<|byte180|>",
                                       "<U2000U2BFF>", "<|emoji2|>"]
    assert toks(enc, "😀😃(^^)") == ["<|emoji1|>", "<|emoji1|>", "<|emoji12|>"]
    assert enc.decode(enc.encode("😃(^^)")) == "😀(^_^)"


def test_emoji_key_formed_by_an_earlier_replacement(tmp_path):
    # "o|>" does not occur in the text, only after "x" became "<|emoji1|>": the reference
    # replaces sequentially, so the later key matches the inserted text.
    emoji = {"emoji": {"x": "<|emoji1|>", "1|>!": "<|emoji2|>"},
             "emoji_inv": {f"<|emoji{i}|>": str(i) for i in range(1, 13)}}
    for use_c in (True, False):
        enc = SWEEncoder.load(*write_fixture(tmp_path, emoji=emoji), use_c=use_c)
        assert toks(enc, "x!") == ["<"] + [f"<|byte{b}|>" for b in b"|emoji"] + ["<|emoji2|>"]


def _replace_key_by_key(text, table):
    for k, v in table.items():
        text = text.replace(k, v)
    return text


@pytest.mark.parametrize("table", [
    {"B": "<|emoji10|>", "b<": "<|emoji3|>"},             # a key running into a token
    {"x": "<|emoji1|>", "1|>!": "<|emoji2|>"},            # a key starting inside one
    {"j": "<|emoji4|>", "(^^)": "<|emoji12|>"},           # a key inside a token
    {"a": "<|emoji1|>", "aa": "<|emoji2|>", "<|": "<|emoji3|>"},
])
def test_emoji_tables_whose_keys_meet_inserted_tokens(tmp_path, table):
    """A table whose keys can match text that overlaps an inserted token is not 'inert': the
    compiled core hands the emoji step to Python, and both paths equal str.replace key by key;
    the encoder is freed when dropped (the step holds no reference to it)."""
    import gc
    import weakref
    from swelm.tokenizer.encoder import _tokens_inert
    emoji = {"emoji": table, "emoji_inv": {f"<|emoji{i}|>": str(i) for i in range(1, 13)}}
    files = write_fixture(tmp_path, emoji=emoji)
    c, py = SWEEncoder.load(*files), SWEEncoder.load(*files, use_c=False)
    assert not _tokens_inert(list(table), set(table.values()))
    for text in ("bB|", "x!", "xj1|>!", "aaa<|", "Bb<B", "j(^^)j", "<|emoji1|>a", ""):
        assert c.preprocess(text) == py.preprocess(text) == _replace_key_by_key(
            text.replace(" ", "<SP>"), table), text
        assert c.encode(text) == py.encode(text)
    ref = weakref.ref(c)
    del c
    gc.collect()
    assert ref() is None


def test_an_emoji_key_replaced_by_nothing_joins_its_neighbours(tmp_path):
    """A vocabulary line "z," spells z and the empty string; a key mapped to "" is deleted
    and its neighbours may then form a later key (as str.replace key by key does)."""
    lines = fixture_lines()
    lines = lines[:-7] + ["z,"] + lines[-7:]
    inv = dict(FIXTURE_EMOJI["emoji_inv"], **{"": "z"})
    files = write_fixture(tmp_path, lines, {"emoji": {"Q": "", "ab": "<|emoji1|>"},
                                            "emoji_inv": inv})
    c, py = SWEEncoder.load(*files), SWEEncoder.load(*files, use_c=False)
    assert c.preprocess("aQb") == py.preprocess("aQb") == "<|emoji1|>"


def test_the_shipped_emoji_tables_are_inert():
    from swelm.tokenizer.encoder import _tokens_inert
    enc = SWEEncoder.load()
    assert _tokens_inert(list(enc.emoji.emoji), set(enc.emoji.emoji.values()))


def test_encode_batch_restores_the_collector_and_takes_any_iterable(fixture_encoder):
    import gc
    enc = fixture_encoder
    assert gc.isenabled()
    with pytest.raises(ValueError, match="lone surrogate"):
        enc.encode_batch(["ok", "x\udfff"])
    with pytest.raises(TypeError):
        enc.encode_batch(["ok", 3])
    with pytest.raises(TypeError):
        enc.encode_batch(5)
    assert gc.isenabled()
    gc.disable()
    try:
        enc.encode_batch(["ok"])
        assert not gc.isenabled()            # left as the caller had it
    finally:
        gc.enable()
    texts = ["東京", "", "している"]
    want = [enc.encode(t) for t in texts]
    assert enc.encode_batch(iter(texts)) == enc.encode_batch(tuple(texts)) == want
    assert enc.encode_batch([]) == []


def test_compiled_core_without_tables_and_too_large_tables(monkeypatch, fixture_files, caplog):
    from swelm.tokenizer import encoder
    if encoder._swe is None:
        pytest.skip("C core not built")
    with pytest.raises(RuntimeError, match="not initialised"):
        encoder._swe.Core.__new__(encoder._swe.Core).encode("abc")

    def too_large(*args):
        raise OverflowError("the compiled core holds at most 1048575 ids")
    monkeypatch.setattr(encoder._swe, "Core", too_large)
    with caplog.at_level("WARNING", logger="swelm.tokenizer"):
        enc = SWEEncoder.load(*fixture_files)
    assert not enc.uses_c and enc.encode("東京") == SWEEncoder.load(
        *fixture_files, use_c=False).encode("東京")


def test_encode_array_is_writable_and_decode_errors_agree(fixture_files):
    import numpy as np
    from swelm.tokenizer.vocab import TokenizerError
    for use_c in (True, False):
        enc = SWEEncoder.load(*fixture_files, use_c=use_c)
        arr = enc.encode_array("東京")
        arr[0] = 0                                   # a writable array on both paths
        ids = enc.encode("している")
        assert enc.decode(np.array(ids, dtype=">i4")) == enc.decode(ids) == "している"
        for bad in ([len(enc)], [2 ** 70], [-1]):
            with pytest.raises(TokenizerError, match="out of range"):
                enc.decode(bad)
        with pytest.raises(TypeError):
            enc.decode([1.5])


def test_encode_array_equals_encode(fixture_encoder):
    text = "している東京都°é𩸽😀<|endoftext|>"
    arr = fixture_encoder.encode_array(text)
    assert arr.dtype == np.uint16 and arr.tolist() == fixture_encoder.encode(text)


def test_fallbacks(fixture_encoder):
    enc = fixture_encoder
    assert toks(enc, "°") == ["<KIGOU>"]
    assert toks(enc, "‖•") == ["<U2000U2BFF>", "<U2000U2BFF>"]
    assert toks(enc, "é") == ["<|byte195|>", "<|byte169|>"]
    assert toks(enc, "\x00") == ["<|byte0|>"]
    assert enc.decode(enc.encode("°é𩸽")) == "ǀé𩸽"


def test_decode_invalid_bytes_replaced(fixture_encoder):
    enc = fixture_encoder
    b = lambda i: enc.token_to_id(f"<|byte{i}|>")  # noqa: E731
    assert enc.decode([b(0xE3), b(0x81), enc.token_to_id("猫")]) == "\ufffd猫"
    assert enc.decode(np.array([b(65), b(66)], dtype=np.uint16)) == "AB"


def test_errors(fixture_encoder):
    enc = fixture_encoder
    with pytest.raises(ValueError, match="position 2"):
        enc.encode("猫で\ud800")
    with pytest.raises(ValueError, match="out of range"):
        enc.decode([len(enc)])
    with pytest.raises(ValueError, match="out of range"):
        enc.decode([-1])
    with pytest.raises(ValueError, match="out of range"):
        enc.decode(np.array([len(enc)], dtype=np.int64))
    with pytest.raises(ValueError):
        enc.id_to_token(len(enc))
    with pytest.raises(KeyError):
        enc.token_to_id("<nope>")
    with pytest.raises(TypeError):
        enc.encode(b"bytes")


def test_dropout(fixture_encoder):
    enc = fixture_encoder
    # (no variant spellings: a dropped 慶應 splits into 慶 + 應 and keeps its spelling)
    text = "している東京都ています" * 20
    base = enc.encode(text)
    assert enc.encode(text, dropout=0.0, rng=np.random.default_rng(1)) == base
    a = enc.encode(text, dropout=0.5, rng=np.random.default_rng(7))
    b = enc.encode(text, dropout=0.5, rng=np.random.default_rng(7))
    assert a == b and a != base
    full = enc.encode(text, dropout=1.0, rng=np.random.default_rng(0))
    assert all(len(enc.id_to_token(i)) == 1 or enc.id_to_token(i).startswith("<")
               for i in full)
    for ids in (a, full):
        assert enc.decode(ids) == enc.decode(base)
    # special tokens are never dropped
    assert enc.encode("<|endoftext|>", dropout=1.0, rng=np.random.default_rng(0)) == [
        enc.token_to_id("<|endoftext|>")]
    with pytest.raises(ValueError):
        enc.encode(text, dropout=0.1)
    with pytest.raises(ValueError):
        enc.encode(text, dropout=1.5, rng=np.random.default_rng(0))


def _broken(tmp_path, lines=None, emoji=None):
    v, e = write_fixture(tmp_path, lines=lines, emoji=emoji)
    return v, e


@pytest.mark.parametrize("mutate, message", [
    (lambda ls: [], "empty"),
    (lambda ls: [x for x in ls if x != "<KIGOU>"], "missing special tokens: <KIGOU>"),
    (lambda ls: [x for x in ls if x != "<|byte7|>"], "wrong count of byte tokens"),
    (lambda ls: ls + ["<|byte255|>"], "wrong count of byte tokens"),
    (lambda ls: ls[:-1], "last 7 lines"),
    (lambda ls: ls[:3] + [""] + ls[3:], "line 4: empty line"),
])
def test_malformed_vocabulary(tmp_path, mutate, message):
    v, e = _broken(tmp_path, lines=mutate(fixture_lines()))
    with pytest.raises(VocabularyError, match=message) as info:
        SWEEncoder.load(v, e)
    assert str(v) in str(info.value)


def test_malformed_emoji(tmp_path):
    v, e = write_fixture(tmp_path)
    e.write_text("{not json", encoding="utf-8")
    with pytest.raises(VocabularyError, match="emoji.json"):
        SWEEncoder.load(v, e)
    e.write_text(json.dumps({"emoji": {"x": "<|emoji99|>"}, "emoji_inv": {}}), encoding="utf-8")
    with pytest.raises(VocabularyError, match="not in the vocabulary"):
        SWEEncoder.load(v, e)
    with pytest.raises(VocabularyError, match="not found"):
        SWEEncoder.load(v, tmp_path / "missing.json")


def test_trailing_newline_is_accepted(tmp_path):
    v, e = write_fixture(tmp_path)
    v.write_text("\n".join(fixture_lines()) + "\n", encoding="utf-8")
    assert len(SWEEncoder.load(v, e)) == len(fixture_lines())


def test_load_without_bundled_vocabulary_explains(monkeypatch):
    from swelm.tokenizer import encoder
    monkeypatch.delenv("SWELM_VOCAB", raising=False)
    monkeypatch.setattr(encoder, "bundled_path", lambda name: None)
    with pytest.raises(VocabularyError, match="ja-swe36k.txt.*make vocab"):
        SWEEncoder.load()
