"""datatrove's own web pipeline on a folder of WARC files, as FineWeb runs it, for
bench/vs_datatrove.py (run in an interpreter that has datatrove[processing], trafilatura,
spaCy and SudachiPy; imports nothing from swelm).

    python bench/_datatrove_pipeline.py WARC_FOLDER OUT_FOLDER WORKERS

Stage 1 (one task per WARC file): WarcReader → Trafilatura → GopherQualityFilter →
FineWebQualityFilter (both with language="ja", spaCy's Japanese tokenizer) → JsonlWriter of the
filtered pages, and MinhashDedupSignature.  Stages 2–4: MinhashDedupBuckets (one task per
bucket), MinhashDedupCluster, then JsonlReader → MinhashDedupFilter → JsonlWriter (the output).
Every stage runs on LocalPipelineExecutor with WORKERS processes.
"""
import glob
import os
import sys

from datatrove.executor.local import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets,
                                              MinhashDedupCluster, MinhashDedupFilter)
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter
from datatrove.pipeline.readers import JsonlReader, WarcReader
from datatrove.pipeline.writers.jsonl import JsonlWriter
from datatrove.utils.hashing import HashConfig


def main() -> None:
    warcs, out, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    files = len(glob.glob(os.path.join(warcs, "*.warc.gz")))
    lang = "ja"
    config = MinhashConfig(hash_config=HashConfig(precision=64), num_buckets=14,
                           hashes_per_bucket=8)
    logs = os.path.join(out, "logs")
    filtered, sigs = os.path.join(out, "filtered"), os.path.join(out, "signatures")
    buckets, remove = os.path.join(out, "buckets"), os.path.join(out, "remove_ids")
    stage1 = LocalPipelineExecutor(pipeline=[
        WarcReader(warcs, glob_pattern="*.warc.gz", default_metadata={"dump": "bench"}),
        Trafilatura(favour_precision=True, timeout=10.0),
        GopherQualityFilter(language=lang),
        FineWebQualityFilter(language=lang),
        JsonlWriter(filtered),
        MinhashDedupSignature(output_folder=sigs, config=config, language=lang),
    ], tasks=files, workers=workers, logging_dir=os.path.join(logs, "1"))
    stage2 = LocalPipelineExecutor(pipeline=[
        MinhashDedupBuckets(input_folder=sigs, output_folder=buckets, config=config),
    ], tasks=config.num_buckets, workers=workers, logging_dir=os.path.join(logs, "2"),
        depends=stage1)
    stage3 = LocalPipelineExecutor(pipeline=[
        MinhashDedupCluster(input_folder=buckets, output_folder=remove, config=config),
    ], tasks=1, logging_dir=os.path.join(logs, "3"), depends=stage2)
    stage4 = LocalPipelineExecutor(pipeline=[
        JsonlReader(filtered),
        MinhashDedupFilter(input_folder=remove),
        JsonlWriter(os.path.join(out, "output")),
    ], tasks=files, workers=workers, logging_dir=os.path.join(logs, "4"), depends=stage3)
    stage4.run()


if __name__ == "__main__":
    main()
