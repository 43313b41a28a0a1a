"""build-corpus throughput with 1 and 2 local workers on the shared sites.

Unpacks the shared sites, serves them on 127.0.0.1, crawls them once (``swelm crawl``), then
times ``swelm build-corpus`` on the WARC files with ``--workers 1`` and ``--workers 2`` and prints
documents/s, MB/s of WARC payload and the speed-up (target ≥ 1.7× with 2 workers on 2 cores).
Run ``python -m bench.pipeline [--sites lilypond-ja,egov-laws-sjis,…]``.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import tarfile
import tempfile
import time

from bench._common import DATA, SITES, emit
from pipelines.cli import main as swelm
from pipelines.demo_site import serve


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sites", default=",".join(SITES))
    ap.add_argument("--segment-pages", default="200", help="crawl WARC segment size")
    ap.add_argument("--extra", default="", help="extra build-corpus flags, e.g. '--shards 8'")
    ap.add_argument("--relaxed", action="store_true",
                    help="per-site filters for documentation and statutes (only the language, "
                         "length and hiragana rules; scilab keeps the defaults), as the "
                         "integration test: pages are kept, so dedup and the corpus writes run")
    args = ap.parse_args(argv)
    names = args.sites.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        for n in names:
            with tarfile.open(os.path.join(DATA, "sites", n + ".tar.gz")) as tar:
                tar.extractall(tmp, filter="data")
        httpd, base = serve(tmp)
        base = base.rstrip("/")
        rules = os.path.join(tmp, "sites.toml")
        from corpus_tools.sites import THRESHOLDS
        open_ = {k: (0 if k.startswith("min_") else 1e9) for k in THRESHOLDS}
        docs = dict(open_, min_japanese_ratio=0.3, min_length=100, min_hiragana_ratio=0.05)
        relaxed = "filters = { " + ", ".join(f"{k} = {v}" for k, v in docs.items()) + " }\n"
        with open(rules, "w", encoding="utf-8") as f:
            for n in names:
                seed = "web/index.ja.html" if n == "lilypond-ja" else "index.html"
                f.write(f'[[sites]]\nname = "{n}"\nseeds = ["{base}/{n}/{seed}"]\n'
                        f'allow = ["^{base}/{n}/"]\ngenre = "docs"\n'
                        "politeness = { requests_per_second = 2000, concurrency = 8, "
                        "max_pages = 5000, max_bytes = 10000000 }\n")
                if args.relaxed and not n.startswith("scilab"):
                    f.write(relaxed)
                f.write("\n")
        out = os.path.join(tmp, "out")
        t0 = time.perf_counter()
        swelm(["crawl", "--sites", rules, "--out", os.path.join(out, "crawl"), "--workers", "2",
           "--segment-pages", args.segment_pages])
        emit(bench="pipeline_crawl", seconds=round(time.perf_counter() - t0, 1))
        httpd.shutdown()
        warcs = glob.glob(os.path.join(out, "crawl", "warc", "*.warc.gz"))
        mb = sum(os.path.getsize(w) for w in warcs) / 1e6
        times = {}
        for workers in (1, 2):
            dst = os.path.join(out, f"build-{workers}")
            t0 = time.perf_counter()
            swelm(["build-corpus", "--warc", *warcs, "--sites", rules, "--out", dst,
                   "--workers", str(workers), *args.extra.split()])
            times[workers] = time.perf_counter() - t0
            stats = json.load(open(os.path.join(dst, "stats.json"), encoding="utf-8"))
            docs = sum(s["in_docs"] for s in stats["sites"].values())
            emit(bench="pipeline_build_corpus", workers=workers, documents=docs,
                 kept=stats["kept"]["docs"],
                 warc_mb_gz=round(mb, 1), seconds=round(times[workers], 1),
                 docs_per_s=round(docs / times[workers], 1),
                 mb_per_s=round(mb / times[workers], 2))
        emit(bench="pipeline_speedup", rules="relaxed" if args.relaxed else "defaults",
             workers=2, ratio=round(times[1] / times[2], 2), target=1.7,
             cores=os.cpu_count())


if __name__ == "__main__":
    main()
