"""build-corpus side by side with datatrove's own pipeline, end to end, on the same WARC set.

The WARC set is bench/scale.py's 200 MB set (``--size``; synthesised once into ``--keep``, or
reused from there).  datatrove runs its FineWeb-style pipeline on its LocalPipelineExecutor
with ``--workers`` processes (bench/_datatrove_pipeline.py: WarcReader → Trafilatura → Gopher
and FineWeb quality filters for Japanese → its four MinHash stages → JsonlWriter), in
``--datatrove-python`` (an interpreter with bench/datatrove-requirements.txt installed: make
it with ``python3 -m venv DIR && DIR/bin/pip install -r bench/datatrove-requirements.txt``; by
default this one).  swelm runs ``swelm build-corpus --workers N`` with bench/scale.py's site rules.  For
each: CPU seconds of the whole process tree (from /proc) per MB of WARC, wall seconds, the
peak RSS of the main process and of its largest child, and the documents kept; then the ratio
of their CPU seconds per MB (target: swelm ≥ 3× datatrove, i.e. ratio ≥ 3).

    python -m bench.vs_datatrove [--size 200] [--workers 2] [--keep DIR] [--datatrove-python PY]
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import shutil
import sys
import tempfile

from bench._common import ROOT, emit
from bench.scale import measured_run, rules, warc_set


def _run(cmd: list[str]) -> dict:
    seconds, rss = measured_run(cmd)
    children = [v for p, v in rss.peak.items() if p != rss.pid]
    return {"seconds": seconds, "cpu_seconds": rss.cpu_seconds,
            "main_peak_rss_mb": round(rss.peak.get(rss.pid, 0) / 1024),
            "largest_child_peak_rss_mb": round(max(children, default=0) / 1024)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=float, default=200, help="WARC set size in MB")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", default=None, help="keep the WARC set and outputs here")
    ap.add_argument("--datatrove-python", default=sys.executable,
                    help="the interpreter that has datatrove (default: this one)")
    args = ap.parse_args(argv)
    tmp = args.keep or tempfile.mkdtemp(prefix="swelm-vs-datatrove-")
    os.makedirs(tmp, exist_ok=True)
    folder, mb = warc_set(tmp, args.size)
    sites = os.path.join(tmp, "sites.toml")
    rules(sites)
    results = {}
    out = os.path.join(tmp, "datatrove-out")
    shutil.rmtree(out, ignore_errors=True)
    r = _run([args.datatrove_python, os.path.join(ROOT, "bench", "_datatrove_pipeline.py"),
              folder, out, str(args.workers)])
    kept = 0
    for path in glob.glob(os.path.join(out, "output", "*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            kept += sum(1 for _ in f)
    results["datatrove"] = {**r, "kept": kept}
    out = os.path.join(tmp, "swelm-out")
    r = _run([sys.executable, "-m", "swelm", "build-corpus", "--warc",
              os.path.join(folder, "*.warc.gz"), "--sites", sites, "--out", out,
              "--workers", str(args.workers)])
    with open(os.path.join(out, "stats.json"), encoding="utf-8") as f:
        results["swelm"] = {**r, "kept": json.load(f)["kept"]["docs"]}
    for name, r in results.items():
        emit(bench="vs_datatrove", pipeline=name, warc_mb_gz=round(mb, 1),
             workers=args.workers, seconds=round(r["seconds"], 1),
             cpu_seconds=round(r["cpu_seconds"], 1),
             cpu_s_per_warc_mb=round(r["cpu_seconds"] / mb, 3),
             main_peak_rss_mb=r["main_peak_rss_mb"],
             largest_child_peak_rss_mb=r["largest_child_peak_rss_mb"], kept=r["kept"])
    d, s = results["datatrove"], results["swelm"]
    emit(bench="vs_datatrove_ratio", cpu_ratio=round(d["cpu_seconds"] / s["cpu_seconds"], 2),
         wall_ratio=round(d["seconds"] / s["seconds"], 2), target="cpu_ratio ≥ 3")


if __name__ == "__main__":
    main()
