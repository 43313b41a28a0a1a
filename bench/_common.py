"""Helpers shared by the benchmarks: shared data, JSON figures, the SentencePiece anchor."""
from __future__ import annotations

import gzip
import json
import os
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("JA_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))


def emit(**kw) -> None:
    print(json.dumps(kw, ensure_ascii=False), flush=True)


def load_texts(name: str, limit_bytes: int | None = None) -> list[str]:
    out, n = [], 0
    with gzip.open(os.path.join(DATA, "corpus", name), "rt", encoding="utf-8") as f:
        for line in f:
            t = json.loads(line)["text"]
            out.append(t)
            n += len(t.encode("utf-8"))
            if limit_bytes and n >= limit_bytes:
                break
    return out


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def train_sentencepiece(vocab_size: int, train_mb: int, cache: str):
    import sentencepiece as spm
    prefix = os.path.join(cache, f"sp-unigram-{vocab_size}-{train_mb}mb")
    if not os.path.exists(prefix + ".model"):
        os.makedirs(cache, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
            for t in load_texts("train.jsonl.gz", train_mb << 20):
                for line in t.split("\n"):
                    if line.strip():
                        f.write(line[:4000] + "\n")
            path = f.name
        t0 = time.perf_counter()
        spm.SentencePieceTrainer.train(
            input=path, model_prefix=prefix, vocab_size=vocab_size, model_type="unigram",
            character_coverage=0.9995, input_sentence_size=400000, shuffle_input_sentence=True,
            num_threads=os.cpu_count() or 1, minloglevel=2, seed_sentencepiece_size=1000000)
        os.unlink(path)
        emit(figure="sentencepiece_train_s", value=round(time.perf_counter() - t0, 1))
    return spm.SentencePieceProcessor(model_file=prefix + ".model")




SITES = ("lilypond-ja", "libreoffice-help-ja", "scilab-help-ja", "egov-laws-sjis", "debian-docs-ja")


def site_pages(site: str, limit: int | None = None) -> list[tuple[str, bytes]]:
    """(path, bytes) of the HTML pages of one shared site, read straight from its tarball,
    every k-th page when ``limit`` asks for fewer (a deterministic spread over the site)."""
    import tarfile
    pages = []
    with tarfile.open(os.path.join(DATA, "sites", site + ".tar.gz")) as tar:
        for m in tar:
            if m.isfile() and m.name.endswith((".html", ".htm")):
                pages.append((m.name, tar.extractfile(m).read()))
    pages.sort()
    if limit and len(pages) > limit:
        step = len(pages) / limit
        pages = [pages[int(i * step)] for i in range(limit)]
    return pages
