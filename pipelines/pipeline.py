"""swelm pipeline: crawl -> build-corpus -> encode in a row.

Outputs under --out: crawl/ (WARC + log), build/ (Parquet corpus, rejects, report) and shards/
(Arrow token shards).  --demo serves the embedded demo site on 127.0.0.1 and writes its rules to
--out/sites.toml first.
"""
from __future__ import annotations

import argparse
import os

from swelm.errors import UsageError
from swelm.publish import Kind


#: the output folder of swelm pipeline: its three stages' outputs and the demo's rules and site
PIPELINE = Kind("a swelm pipeline output", entries=("sites.toml", "demo-site/*", "crawl/*",
                                                    "build/*", "shards/*"))


def run(args) -> int:
    from swelm.tokenizer.shards import SHARD_SET
    from . import corpus, crawl, encode
    from .io import FileSystem, absolute, is_remote, join
    files = FileSystem(args.beam_args)
    out = absolute(args.out)
    # every stage's destination is checked before the first one starts
    files.check_output(out, PIPELINE)
    for sub, kind in (("crawl", crawl.CRAWL), ("build", corpus.BUILD), ("shards", SHARD_SET)):
        files.check_output(join(out, sub), kind)
    files.claim(out, PIPELINE)
    server = None
    sites = args.sites
    if args.demo:
        import tempfile
        from .demo_site import SITES_TOML, render, serve
        # the demo site is served from local files (beside a local --out)
        site_dir = (os.path.join(tempfile.mkdtemp(prefix="swelm-demo-"), "demo-site")
                    if is_remote(out) else os.path.join(out, "demo-site"))
        render(site_dir)
        server, base = serve(site_dir)
        sites = join(out, "sites.toml")
        files.write_text(sites, SITES_TOML.format(base=base))
    if not sites:
        raise UsageError("give --sites FILE (or --demo)")
    runner = dict(workers=args.workers, runner=args.runner, beam_args=args.beam_args,
                  verbose=args.verbose)
    try:
        rc = crawl.run(argparse.Namespace(sites=sites, out=join(out, "crawl"), site=None,
                                          segment_pages=200, **runner))
        if rc:
            return rc
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    build = join(out, "build")
    rc = corpus.run(corpus.CorpusOptions(
        warc=[join(out, "crawl", "warc", "*.warc.gz")], sites=sites, out=build,
        shards=args.shards, seed=args.seed, **runner))
    if rc:
        return rc
    import json
    import sys
    from .report import suggestions
    stats = json.loads(files.read_bytes(join(build, "stats.json")))
    if not stats["kept"]["docs"]:
        print(f"swelm pipeline: the corpus build kept no documents, so there is nothing to "
              f"encode (report: {join(build, 'stats.md')})", file=sys.stderr)
        for name, s in stats["sites"].items():
            print(f"  {name}: {s['in_docs']} pages; " + "; ".join(suggestions(s)),
                  file=sys.stderr)
        return 1
    return encode.run(argparse.Namespace(
        corpus=[join(build, "corpus", "*.parquet")], out=join(out, "shards"),
        vocabulary=args.vocabulary, emoji=None, seq_len=args.seq_len, mode=args.mode,
        shards=args.shards, seed=args.seed, **runner))


def add_arguments(p) -> None:
    from .beam_util import add_beam_flags
    from .encode import add_shard_options
    p.add_argument("--sites", default=None, help="site rules file (TOML or YAML)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--demo", action="store_true", help="crawl the embedded demo site")
    add_shard_options(p)      # --shards and --seed serve the corpus build too
    add_beam_flags(p)
