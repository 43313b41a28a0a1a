"""swelm pipeline: crawl -> build-corpus -> encode in a row.

Outputs under --out: crawl/ (WARC + log), build/ (Parquet corpus, rejects, report) and shards/
(Arrow token shards).  --demo serves the embedded demo site on 127.0.0.1 and writes its rules to
--out/sites.toml first.
"""
from __future__ import annotations

import dataclasses
import os

from swelm.errors import UsageError
from swelm.options import flag
from swelm.publish import Kind

from .beam_util import BeamOptions
from .encode import ShardOptions


#: the output folder of swelm pipeline: its three stages' outputs and the demo's rules and site
PIPELINE = Kind("a swelm pipeline output", entries=("sites.toml", "demo-site/*", "crawl/*",
                                                    "build/*", "shards/*"))


@dataclasses.dataclass(kw_only=True)
class PipelineOptions(ShardOptions, BeamOptions):
    """The options of ``swelm pipeline`` (``--shards`` and ``--seed`` serve the corpus build
    too)."""
    sites: str | None = flag(None, help="site rules file (TOML or YAML)")
    out: str = flag(help="output folder")
    demo: bool = flag(False, action="store_true", help="crawl the embedded demo site")


OPTIONS = PipelineOptions


def run(args: PipelineOptions) -> int:
    from swelm.tokenizer.shards import SHARD_SET
    from . import corpus, crawl, encode
    from .io import FileSystem, absolute, is_remote, join
    args.check_runner()
    if args.demo and args.sites:
        raise UsageError(f"--demo and --sites {args.sites}: give one (--demo crawls the "
                         "embedded demo site with its own rules)")
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
    runner = args.beam()
    try:
        rc = crawl.run(crawl.CrawlOptions(sites=sites, out=join(out, "crawl"), **runner))
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
    shaping = {f.name: getattr(args, f.name) for f in dataclasses.fields(ShardOptions)}
    return encode.run(encode.EncodeOptions(
        corpus=[join(build, "corpus", "*.parquet")], out=join(out, "shards"), **shaping,
        **runner))
