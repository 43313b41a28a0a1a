"""Exactness against the reference encoder's recorded outputs (../shared/data/parity)."""
import os

import pytest


def test_c_core_is_built():
    """The compiled core must be built wherever a C compiler exists (it is the fast path)."""
    if os.environ.get("SWELM_ALLOW_PURE_PYTHON"):
        pytest.skip("SWELM_ALLOW_PURE_PYTHON is set")
    from swelm.tokenizer import encoder
    assert encoder._swe is not None, "tokenizer._swe was not built; run `make test` or pip install ."


def test_encode_matches_reference(upstream_encoder, parity_records):
    assert len(parity_records) == 960
    mismatches = []
    for r in parity_records:
        if "error" in r:
            with pytest.raises(Exception):
                upstream_encoder.encode(r["text"], clean=r["clean"])
            continue
        ids = upstream_encoder.encode(r["text"], clean=r["clean"])
        if ids != r["ids"]:
            mismatches.append((r["name"], r["clean"], r["text"][:40]))
    assert mismatches == []


def test_decode_matches_reference(upstream_encoder, parity_records):
    bad = [r["name"] for r in parity_records
           if "ids" in r and upstream_encoder.decode(r["ids"]) != r["decoded"]]
    assert bad == []


def test_batch_equals_single(upstream_encoder, parity_records):
    texts = [r["text"] for r in parity_records[:100]]
    assert upstream_encoder.encode_batch(texts, clean=True) == [
        upstream_encoder.encode(t, clean=True) for t in texts]


def test_quirks_named_in_the_readme(upstream_encoder):
    enc = upstream_encoder
    tok = lambda s: [enc.id_to_token(i) for i in enc.encode(s)]  # noqa: E731
    assert tok("している") == ["して", "いる"]                 # smallest id, not longest
    assert tok("東京都渋谷区") == ["東京", "都渋", "谷区"]
    assert enc.decode(enc.encode("慶應")) == "慶応"            # first spelling
    assert enc.encode("<|endoftext|>") == [enc.token_to_id("<|endoftext|>")]
    assert len(enc) == 36000
