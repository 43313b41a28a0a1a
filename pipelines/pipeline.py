"""``swelm pipeline``: crawl → build-corpus → encode in a row.

Outputs under ``--out``: ``crawl/`` (WARC + log), ``build/`` (Parquet corpus, rejects, report)
and ``shards/`` (Arrow token shards). ``--demo`` serves the embedded demo site on 127.0.0.1 and
writes its rules to ``--out/sites.toml`` first.
"""
from __future__ import annotations

import argparse
import os


def run(args, beam_args) -> int:
    from pipelines import corpus, crawl, encode
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    server = None
    sites = args.sites
    if args.demo:
        from pipelines.demo_site import SITES_TOML, render, serve
        render(os.path.join(out, "demo-site"))
        server, base = serve(os.path.join(out, "demo-site"))
        sites = os.path.join(out, "sites.toml")
        with open(sites, "w", encoding="utf-8") as f:
            f.write(SITES_TOML.format(base=base))
    if not sites:
        print("swelm pipeline: give --sites FILE (or --demo)")
        return 2
    common = dict(workers=args.workers, runner=args.runner)
    try:
        rc = crawl.run(argparse.Namespace(sites=sites, out=os.path.join(out, "crawl"), site=None,
                                          segment_pages=200, **common), beam_args)
        if rc:
            return rc
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    build = os.path.join(out, "build")
    rc = corpus.run(argparse.Namespace(
        warc=[os.path.join(out, "crawl", "warc", "*.warc.gz")], sites=sites, out=build,
        shards=args.shards, seed=args.seed, bands=16, rows=8, jaccard=0.8, max_bucket=1000,
        cc_rounds=6, containment=0.8, min_line_chars=30, boilerplate_share=0.1, line_buckets=0,
        budget=None, genre_weight={}, **common), beam_args)
    if rc:
        return rc
    return encode.run(argparse.Namespace(
        corpus=[os.path.join(build, "corpus", "*.parquet")], out=os.path.join(out, "shards"),
        vocabulary=args.vocabulary, emoji=None, seq_len=args.seq_len, mode=args.mode,
        shards=args.shards, seed=args.seed, **common), beam_args)


def add_parser(sub) -> None:
    from pipelines.beam_util import add_beam_flags
    p = sub.add_parser("pipeline", help="crawl, build the corpus and encode it, in a row",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sites", default=None, help="site rules file (TOML or YAML)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--demo", action="store_true", help="crawl the embedded demo site")
    p.add_argument("--vocabulary", default=None, help="SWE vocabulary (default: bundled)")
    p.add_argument("--seq-len", type=int, default=1280, help="tokens per row (default 1280)")
    p.add_argument("--mode", choices=("lm", "mlm", "hybrid"), default="lm")
    p.add_argument("--shards", type=int, default=4, help="shards per output (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    add_beam_flags(p)
    p.set_defaults(func=run, beam_pipeline=True)
