"""Near-duplicate detection: choose LSH bands × rows on a labelled pair set from shared data.

The pool: every Aozora Bunko work in the shared corpus (it holds duplicate editions of some
works: ruby and plain-text files, two revisions), the e-Gov statutes (near-identical
enforcement orders and amendments), and the lilypond manual's pages (split pages and the "big
pages" that contain them). Labels: every pair is scored with a 512-hash MinHash estimate and
pairs estimated ≥ 0.5 get their exact 5-gram Jaccard; a pair is a near-duplicate when the exact
Jaccard is ≥ ``--threshold`` (the pipeline's Jaccard check). For each bands × rows setting the
figures are: candidate pairs (sharing a band key), recall of labelled pairs among candidates,
precision of candidates, and after the Jaccard check on the signature estimate the final
precision and recall. Also prints MinHash signature throughput. Run ``python -m bench.dedup``.
"""
from __future__ import annotations

import argparse
import collections
import gzip
import itertools
import json
import os
import time

import numpy as np

from bench._common import DATA, emit, site_pages
from swelm.corpus_tools.charset import decode_html
from swelm.corpus_tools.dedup import MinHasher, jaccard, shingles
from swelm.corpus_tools.extract import extract

CONFIGS = [(32, 4), (20, 5), (16, 6), (16, 8), (14, 8), (10, 10), (9, 13), (20, 10), (8, 16)]


def pool() -> dict[str, str]:
    docs = {}
    for name in ("train.jsonl.gz", "valid.jsonl.gz"):
        with gzip.open(os.path.join(DATA, "corpus", name), "rt", encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                if d["id"].startswith(("aozora/", "law/")):
                    docs[d["id"]] = d["text"]
    for path, body in site_pages("lilypond-ja"):
        docs[path] = extract(decode_html(body)[0]).text
    return docs


def pairs_from_keys(keys: list[list[str]]) -> set[tuple[int, int]]:
    buckets = collections.defaultdict(list)
    for i, ks in enumerate(keys):
        for k in ks:
            buckets[k].append(i)
    out = set()
    for members in buckets.values():
        if len(members) > 1:
            out.update(itertools.combinations(sorted(members), 2))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threshold", type=float, default=0.8)
    args = ap.parse_args(argv)
    docs = pool()
    ids = sorted(docs)
    texts = [docs[i] for i in ids]
    chars = sum(map(len, texts))
    t0 = time.perf_counter()
    sh = [shingles(t) for t in texts]
    t_sh = time.perf_counter() - t0
    ref = MinHasher(bands=1, rows=512, seed=12345)
    sigs = np.stack([ref.signature(s) for s in sh])
    n = len(ids)
    labelled = {}
    for start in range(0, n, 32):
        block = sigs[start:start + 32]
        est = (block[:, None, :] == sigs[None, :, :]).mean(axis=2)
        for a, b in zip(*np.nonzero(est >= 0.5)):
            i, j = start + int(a), int(b)
            if i < j:
                labelled[(i, j)] = jaccard(sh[i], sh[j])
    positives = {p for p, j in labelled.items() if j >= args.threshold}
    emit(bench="dedup_pool", docs=n, chars=chars, pairs_scored=len(labelled),
         near_duplicate_pairs=len(positives),
         examples=[(ids[i], ids[j], round(labelled[(i, j)], 3)) for i, j in sorted(positives)[:6]])
    for bands, rows in CONFIGS:
        mh = MinHasher(bands=bands, rows=rows)
        t0 = time.perf_counter()
        s = [mh.signature(x) for x in sh]
        t_sig = time.perf_counter() - t0 + t_sh
        cands = pairs_from_keys([mh.band_keys(x) for x in s])
        hit = cands & positives
        final = {p for p in cands if float(np.mean(s[p[0]] == s[p[1]])) >= args.threshold}
        emit(bench="dedup_lsh", bands=bands, rows=rows, s_curve_threshold=round(mh.threshold, 3),
             candidates=len(cands), recall=round(len(hit) / max(1, len(positives)), 4),
             candidate_precision=round(len(hit) / max(1, len(cands)), 4),
             final_recall=round(len(final & positives) / max(1, len(positives)), 4),
             final_precision=round(len(final & positives) / max(1, len(final)), 4),
             signature_mb_per_s=round(chars * 3 / 1e6 / t_sig, 1))


if __name__ == "__main__":
    main()
