"""The model signals' speed: scoring documents with the n-gram model (build-corpus ``--lm``)
and the quality classifier (``--classifier``), against the page rules' metrics
(``filter_document``, the anchor) on the same text, in the same run, on one core.

The n-gram model is a character 5-gram model of ``--ref-chars`` characters of the
Wikipedia and Aozora parts of the shared ``train.jsonl.gz`` (as ``swelm build-lm --select``
makes it); the classifier is trained on those passages against the man pages.  The scored
text is the shared ``valid.jsonl.gz`` (331 documents, 9 MB), each document scored by itself
as build-corpus scores pages.  Prints MB/s of UTF-8 text for each, the ratios to the rules,
the model's estimation time and size.  Target: n-gram scoring at least 5 MB/s per core.  Run
``python -m bench.quality_signals [--ref-chars 8000000]``.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import time

from bench._common import DATA, emit


def main(argv=None) -> None:
    from swelm.corpus_tools.classifier import QualityClassifier
    from swelm.corpus_tools.filter import filter_document
    from swelm.corpus_tools.ngram_lm import NgramLM
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ref-chars", type=int, default=8_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds (the best counts)")
    args = ap.parse_args(argv)
    ref, other = [], []
    with gzip.open(os.path.join(DATA, "corpus", "train.jsonl.gz"), "rt") as f:
        for line in f:
            d = json.loads(line)
            if ("aozora" in d["source"] or "Wikipedia" in d["source"]) and sum(
                    map(len, ref)) < args.ref_chars:
                ref.append(d["text"])
            elif d["source"].startswith("debian") and len(other) < 2000:
                other.append(d["text"])
    with gzip.open(os.path.join(DATA, "corpus", "valid.jsonl.gz"), "rt") as f:
        texts = [json.loads(line)["text"] for line in f]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    t0 = time.perf_counter()
    lm = NgramLM.train(ref, order=5)
    emit(bench="ngram_build", reference_chars=sum(map(len, ref)),
         seconds=round(time.perf_counter() - t0, 1), ngrams=lm.meta["ngrams"],
         model_mb=round(len(lm.to_bytes()) / 1e6, 1))
    clf = QualityClassifier.train(ref[:2000], other, epochs=2)

    def best(fn) -> float:
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            for x in texts:
                fn(x)
            times.append(time.perf_counter() - t)
        return mb / min(times)
    rules = best(filter_document)
    ngram = best(lm.perplexity)
    score = best(clf.score)
    emit(bench="quality_signals", text_mb=round(mb, 2), documents=len(texts),
         rules_mb_per_s=round(rules, 2), ngram_mb_per_s=round(ngram, 2),
         classifier_mb_per_s=round(score, 2), ngram_vs_rules=round(ngram / rules, 2),
         classifier_vs_rules=round(score / rules, 2), target_ngram_mb_per_s=5.0,
         ngram_meets_target=ngram >= 5.0)


if __name__ == "__main__":
    main()
