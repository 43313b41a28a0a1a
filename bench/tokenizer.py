"""Tokenizer speed: encode/decode MB/s of the SWE encoder against SentencePiece, same run.

    python -m bench.tokenizer [--reference PATH/encode_swe.py] [--sp-train-mb 30]

Prints one JSON line per figure.  The anchor is a SentencePiece unigram model (same
vocabulary size) trained here on a slice of ``train.jsonl.gz`` and timed single-threaded
on the same texts; ``ratio`` is ours / anchor.  Targets: encode ≥ 2× SentencePiece,
decode ≥ 100 MB/s.  Also times the clean stage on 1 MB adversarial inputs (the reference
expressions take seconds to hours on these).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os


from bench._common import DATA, ROOT, emit, load_texts, timed, train_sentencepiece
from swelm.tokenizer import SWEEncoder

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", help="path to the reference encode_swe.py (SWEEncoder_ja)")
    ap.add_argument("--vocab", default=os.path.join(DATA, "upstream-swe", "ja-swe36k.txt"),
                    help="vocabulary to time (default: the reference vocabulary in shared data)")
    ap.add_argument("--emoji", default=None)
    ap.add_argument("--sp-train-mb", type=int, default=30)
    ap.add_argument("--cache", default=os.path.join(ROOT, "out", "bench-cache"))
    args = ap.parse_args()

    texts = load_texts("valid.jsonl.gz")
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    emit(figure="input", file="valid.jsonl.gz", docs=len(texts), mb=round(mb, 2))

    enc = SWEEncoder.load(args.vocab, args.emoji)
    py = SWEEncoder.load(args.vocab, args.emoji, use_c=False)
    ids = [enc.encode(t) for t in texts]
    ours_enc = mb / timed(lambda: [enc.encode(t) for t in texts])
    ours_dec = mb / timed(lambda: [enc.decode(i) for i in ids])
    ours_clean = mb / timed(lambda: [enc.encode(t, clean=True) for t in texts], 1)
    ours_py = mb / timed(lambda: [py.encode(t) for t in texts], 1)

    sp = train_sentencepiece(len(enc), args.sp_train_mb, args.cache)
    sp_ids = [sp.encode(t) for t in texts]
    sp_enc = mb / timed(lambda: [sp.encode(t) for t in texts])
    sp_dec = mb / timed(lambda: [sp.decode(i) for i in sp_ids])

    emit(figure="encode_MBps", impl="swelm (C core)", value=round(ours_enc, 2),
         anchor="sentencepiece", anchor_value=round(sp_enc, 2), ratio=round(ours_enc / sp_enc, 2),
         target_ratio=2.0)
    emit(figure="encode_MBps", impl="swelm clean=True", value=round(ours_clean, 2),
         ratio=round(ours_clean / sp_enc, 2))
    emit(figure="encode_MBps", impl="swelm (pure Python)", value=round(ours_py, 2),
         ratio=round(ours_py / sp_enc, 2))
    emit(figure="decode_MBps", impl="swelm (C core)", value=round(ours_dec, 1),
         anchor="sentencepiece", anchor_value=round(sp_dec, 1), ratio=round(ours_dec / sp_dec, 2),
         target=100)
    emit(figure="tokens_per_char", impl="swelm", value=round(
        sum(map(len, ids)) / sum(map(len, texts)), 4))
    emit(figure="tokens_per_char", impl="sentencepiece", value=round(
        sum(map(len, sp_ids)) / sum(map(len, texts)), 4))

    if args.reference:
        spec = importlib.util.spec_from_file_location("reference_swe", args.reference)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        with open(args.vocab, encoding="utf-8") as f:
            bpe = f.read().split("\n")
        with open(enc.emoji.path, encoding="utf-8") as f:
            emj = json.load(f)
        ref = mod.SWEEncoder_ja(bpe, emj)
        sub = texts[:20]
        sub_mb = sum(len(t.encode("utf-8")) for t in sub) / 1e6
        ref_enc = sub_mb / timed(lambda: [ref.encode(t) for t in sub], 1)
        same = all(ref.encode(t) == enc.encode(t) for t in sub)
        emit(figure="encode_MBps", impl="reference SWEEncoder_ja", value=round(ref_enc, 3),
             ratio_to_sentencepiece=round(ref_enc / sp_enc, 3), same_ids=same)

    for name, seed in [("price_digits_x", "1" * 22 + "x"), ("price_kanji_x", "111111千" * 5 + "x"),
                       ("price_digits_yen", "1" * 25 + "円"), ("email_run", "a" * 40 + "@"),
                       ("date_chain", "2023/" * 10 + "x")]:
        big = seed * (1_000_000 // len(seed))
        dt = timed(lambda: enc.encode(big, clean=True), 1)
        emit(figure="clean_adversarial_1MB_s", input=name, value=round(dt, 3))


if __name__ == "__main__":
    main()
