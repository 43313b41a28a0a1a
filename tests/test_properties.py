"""Property tests over arbitrary text (hypothesis)."""
import pytest
from hypothesis import given, settings, strategies as st

from swelm.tokenizer import SWEEncoder

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@pytest.fixture(scope="module")
def both(upstream_files):
    c = SWEEncoder.load(*upstream_files)
    py = SWEEncoder.load(*upstream_files, use_c=False)
    if not c.uses_c:
        pytest.skip("C core not built")
    return c, py


@settings(max_examples=400, deadline=None)
@given(TEXT, st.booleans())
def test_c_and_python_agree_and_ids_in_range(both, text, clean):
    c, py = both
    ids = c.encode(text, clean=clean)
    assert ids == py.encode(text, clean=clean)
    assert all(0 <= i < len(c) for i in ids)
    assert c.decode(ids) == py.decode(ids)


@pytest.fixture(scope="module", params=["reference", "bundled"])
def c_and_py(request):
    """The compiled core and the pure-Python path over one vocabulary: the reference's (shared
    data) and the bundled one (in the repository)."""
    if request.param == "reference":
        files = request.getfixturevalue("upstream_files")
        c, py = SWEEncoder.load(*files), SWEEncoder.load(*files, use_c=False)
    else:
        c, py = SWEEncoder.load(), SWEEncoder.load(use_c=False)
    if not c.uses_c:
        pytest.skip("C core not built")
    return c, py


# Pieces that exercise every step: the whitespace and dash replacements, emoji keys (also
# overlapping ones and the emoticons with '<' and '>'), '<' runs and spelled-out tokens,
# what the clean step replaces (and what only nearly matches), box characters, combining
# marks, astral characters, digits of other scripts.
_PIECES = st.one_of(
    st.characters(blacklist_categories=("Cs",)),
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF, blacklist_categories=("Cs",)),
    st.sampled_from([" ", "\u3000", "\r\n", "\n", "\r", "\t", "—", "−", "ー", "\u0301", "\u0308",
                     "\u200d", "\ufe0f", "☠️", "🏴\u200d☠️", "🏴", "👨\u200d👩\u200d👧", "😀", "(>_<)",
                     "(T_T)", "(ーー;)", "<", "<<", "<SP>", "<BR>", "<TAB>", "<|endoftext|>",
                     "<|emoji1|>", "<|byte65|>", "<BLOCK>", "<KIGOU>", "<URL", "─", "█", "▀",
                     "http://a.jp/x", "https", "://", "a@b.jp", "@", "a", "Z", ".", "03-1234-5678",
                     "2023年", "1999/", "12月", "1日", "(土)", "令和", "5年", "1,980円", "3千万円",
                     "円", "ドル", "ユーロ", "万", "千", "(税込)", "+tax", "1", "0", "12", "/", "-",
                     ":", "１", "٣", "𝟙", "吾輩", "は", "猫", "である", "。", "慶應", "している"]),
)
MIXED = st.lists(_PIECES, max_size=30).map("".join)


@settings(max_examples=1500, deadline=None)
@given(MIXED, st.booleans())
def test_compiled_and_python_paths_agree_on_mixed_text(c_and_py, text, clean):
    c, py = c_and_py
    assert c.preprocess(text, clean) == py.preprocess(text, clean)
    ids = c.encode(text, clean=clean)
    assert ids == py.encode(text, clean=clean)
    assert c.encode_batch([text, text[::-1]], clean=clean) == [
        ids, py.encode(text[::-1], clean=clean)]
    assert c.encode_array(text, clean=clean).tolist() == ids


@pytest.mark.parametrize("text", [
    "<BLOCK>─", "─<BLOCK>", "<BLOCK><BLOCK>", "x<BLOCK>", "<BLOCK>", "<BLOCK", "─", "──x─",
    "<BLOCK>x<BLOCK>", "a@b", "x" * 40 + "@a" + "円" * 3, "円" + "あ" * 15 + "1円" + "あ" * 16 + "2円",
    "1-1-1", "2023/" * 9 + "1/1", "\r\r\n\n\r", "", "<", "a\u3000b\tc—d−e",
    "☠️🏴\u200d☠️", "🏴\u200d☠️", "(ーー;)", "(——;)", "(>_<)(>_<)", "<|emoji1|>😀",
])
@pytest.mark.parametrize("clean", [False, True])
def test_compiled_and_python_paths_agree_on_edges(c_and_py, text, clean):
    c, py = c_and_py
    assert c.preprocess(text, clean) == py.preprocess(text, clean)
    assert c.encode(text, clean=clean) == py.encode(text, clean=clean)


def test_compiled_core_refuses_what_the_python_path_refuses(c_and_py):
    c, py = c_and_py
    for enc in (c, py):
        with pytest.raises(ValueError, match="lone surrogate U\\+D800 at position 3"):
            enc.encode("abc\ud800", clean=True)
        with pytest.raises(ValueError, match="lone surrogate U\\+DC00 at position 1"):
            enc.encode_batch(["ok", "𝟙\udc00"])
        with pytest.raises(TypeError, match="not bytes"):
            enc.encode(b"abc")


@pytest.fixture(scope="module")
def roundtrip_alphabet(upstream_files):
    """Characters that decode to themselves: single-character tokens that are their line's
    first spelling, not part of any variant spelling or emoji key."""
    enc = SWEEncoder.load(*upstream_files)
    variant_chars = {ch for words in enc.vocab.spellings for w in words[1:] for ch in w}
    emoji_chars = {ch for k in enc.emoji.emoji for ch in k}
    safe = sorted(w for words in enc.vocab.spellings for w in words[:1]
                  if len(w) == 1 and w not in variant_chars and w not in emoji_chars
                  and w not in "<ー" and enc.vocab.token_to_id[w] == enc.vocab.spellings.index(words))
    return enc, safe


def normalise(text, vocab):
    """The documented normalisations for the generated inputs below."""
    out = []
    for ch in text.replace("\r\n", "\n").replace("\r", "\n").replace("\u3000", " "):
        cp = ord(ch)
        if ch in vocab:
            out.append(ch)
        elif 0xA1 <= cp <= 0xBF or 0x1C0 <= cp <= 0x1C3 or 0x2B9 <= cp <= 0x362:
            out.append("ǀ")
        elif 0x2000 <= cp <= 0x2BFF:
            out.append("‖")
        else:
            out.append(ch)
    return "".join(out).replace("—", "ー").replace("−", "ー")


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_decode_encode_roundtrip(roundtrip_alphabet, data):
    enc, safe = roundtrip_alphabet
    pieces = st.one_of(
        st.sampled_from(safe),
        st.sampled_from(" \u3000\n\r\t"),
        st.sampled_from(["°", "±", "ǃ", "ˈ", "\u0301", "‖", "•", "※", "⇒"]),   # KIGOU / U2000
        st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),          # byte fallback
    )
    text = "".join(data.draw(st.lists(pieces, max_size=40)))
    assume_known = [ch for ch in text if ord(ch) >= 0x10000 and ch in enc.vocab.token_to_id]
    if assume_known or any(k in text for k in enc.emoji.emoji):
        return
    assert enc.decode(enc.encode(text)) == normalise(text, enc.vocab.token_to_id)
