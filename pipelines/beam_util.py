"""Beam plumbing shared by the pipelines: runner choice, deterministic sharded writes."""
from __future__ import annotations

import glob
import hashlib
import logging
import os

log = logging.getLogger(__name__)


def add_beam_flags(p) -> None:
    p.add_argument("--workers", type=int, default=1,
                   help="local worker processes for the in-process runner (default 1)")
    p.add_argument("--runner", default=None,
                   help="a Beam runner (DataflowRunner, FlinkRunner, SparkRunner, …); default: "
                        "Beam's in-process FnApiRunner, which downloads nothing")


def make_pipeline(args, beam_args: list[str]):
    """A ``beam.Pipeline`` for ``args.runner`` or the in-process runner with ``--workers``."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    # Beam's local workers relay their start-up warnings; keep the console for our messages
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    if args.runner:
        return beam.Pipeline(options=PipelineOptions(["--runner", args.runner, *beam_args]))
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    flags = list(beam_args)
    if args.workers > 1:
        from pipelines import LOCAL_WORKER_ENV
        flags += [f"--direct_num_workers={args.workers}",
                  "--direct_running_mode=multi_processing"]
        os.environ[LOCAL_WORKER_ENV] = "1"      # inherited by the worker processes
    return beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(flags))


def pack(doc: dict) -> bytes:
    """A document as one opaque byte string for a shuffle: the in-process runner's driver then
    copies bytes instead of decoding and re-encoding every field of every document."""
    import pickle
    import zlib
    return zlib.compress(pickle.dumps(doc, protocol=5), 1)


def unpack(blob: bytes) -> dict:
    import pickle
    import zlib
    return pickle.loads(zlib.decompress(blob))


def stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def shard_of(key: str, shards: int) -> int:
    return stable_hash(key) % shards


def clean_temporaries(folder: str) -> int:
    """Remove ``*.tmp*`` files a killed run left behind; return how many."""
    n = 0
    for path in glob.glob(os.path.join(folder, "**", "*.tmp*"), recursive=True):
        try:
            os.remove(path)
            n += 1
        except OSError:
            pass
    return n


def take_json_lines(path: str) -> list:
    """Read the JSON lines a pipeline wrote with ``WriteToText(path, shard_name_template="")``,
    then remove the file and the ``beam-temp-*`` folders Beam leaves beside it."""
    import json
    import shutil
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    os.remove(path)
    for leftover in glob.glob(os.path.join(os.path.dirname(path), "beam-temp-*")):
        shutil.rmtree(leftover, ignore_errors=True)
    return rows


def write_json(path: str, obj) -> None:
    import json
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
