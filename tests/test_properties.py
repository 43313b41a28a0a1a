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
