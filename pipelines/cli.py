"""The pipelines' ``swelm`` subcommands: crawl, build-corpus, encode, pipeline.  Registered by
:mod:`swelm.cli`; unknown flags of these commands are passed to Beam as pipeline options."""
from __future__ import annotations

COMMANDS = (
    ("crawl", "crawl", "crawl the sites of a rules file into WARC files"),
    ("build-corpus", "corpus", "WARC files or existing corpora (JSON lines, Parquet) -> "
                               "filtered, deduplicated Parquet corpus"),
    ("encode", "encode", "a corpus (Parquet, JSON lines) -> Arrow token shards"),
    ("pipeline", "pipeline", "crawl, build the corpus and encode it, in a row"),
)


def register(add) -> None:
    """Add the pipelines' subcommands with ``add(name, help=, description=, func=, ...)``."""
    import importlib
    for name, module, help_ in COMMANDS:
        mod = importlib.import_module(f"{__package__}.{module}")
        p = add(name, help=help_, description=mod.__doc__, beam_options=True,
                func=lambda args, mod=mod: mod.run(mod.OPTIONS.from_args(args)))
        mod.OPTIONS.add_flags(p)
