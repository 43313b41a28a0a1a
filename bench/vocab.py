"""Vocabulary quality: characters per token on real Japanese text, same run, three vocabularies.

    python -m bench.vocab [--sp-train-mb 60]

Prints one JSON line per figure: chars/token on ``valid.jsonl.gz`` for the bundled
vocabulary, the reference ``ja-swe36k.txt`` (the anchor: ``ratio`` = bundled / reference,
target ≥ 1.0) and a SentencePiece unigram model of the same size trained on a slice of
the same training text.  Higher is better (fewer tokens for the same text).
"""
from __future__ import annotations

import argparse
import os


from bench._common import DATA, ROOT, emit, load_texts, train_sentencepiece
from swelm.tokenizer import SWEEncoder


def chars_per_token(encode, texts) -> float:
    return sum(map(len, texts)) / sum(len(encode(t)) for t in texts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sp-train-mb", type=int, default=60)
    ap.add_argument("--cache", default=os.path.join(ROOT, "out", "bench-cache"))
    args = ap.parse_args()
    texts = load_texts("valid.jsonl.gz")
    ours = SWEEncoder.load()
    ref = SWEEncoder.load(os.path.join(DATA, "upstream-swe", "ja-swe36k.txt"),
                          os.path.join(DATA, "upstream-swe", "emoji.json"))
    sp = train_sentencepiece(len(ours), args.sp_train_mb, args.cache)
    a = chars_per_token(ours.encode, texts)
    r = chars_per_token(ref.encode, texts)
    s = chars_per_token(sp.encode, texts)
    emit(figure="chars_per_token", text="valid.jsonl.gz", vocab="bundled ja-swe36k", value=round(a, 4),
         anchor="reference ja-swe36k", anchor_value=round(r, 4), ratio=round(a / r, 4), target_ratio=1.0)
    emit(figure="chars_per_token", text="valid.jsonl.gz", vocab=f"sentencepiece unigram {len(ours)}",
         value=round(s, 4), ratio_to_reference=round(s / r, 4))
    # per source: where the vocabularies differ
    import gzip
    import json
    by_src: dict[str, list[str]] = {}
    with gzip.open(os.path.join(DATA, "corpus", "valid.jsonl.gz"), "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            by_src.setdefault(d.get("domain", "?"), []).append(d["text"])
    for src, ts in sorted(by_src.items()):
        emit(figure="chars_per_token_by_domain", domain=src, docs=len(ts),
             bundled=round(chars_per_token(ours.encode, ts), 4),
             reference=round(chars_per_token(ref.encode, ts), 4),
             sentencepiece=round(chars_per_token(sp.encode, ts), 4))


if __name__ == "__main__":
    main()
