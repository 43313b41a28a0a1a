"""The data ablation: does each filter make a better model?  Corpus variants from one WARC set
are tokenised alike, a tiny model is trained on each for the same tokens from the same seed,
and each is scored on the same held-back text.

1. The WARC set: the five shared sites mirrored as bench/scale.py makes them (each page and
   its mirrored copies: exact, near-duplicate and mixed-language, with a mirror navigation
   line), about ``--warc-mb`` MB.
2. The reference model: ``swelm build-lm`` on the Wikipedia and Aozora parts of the shared
   ``train.jsonl.gz`` (``--lm-chars`` characters).
3. Two builds: ``none`` (every page rule off, ``paragraphs = false``: the text as extracted,
   boilerplate share 0.999) and ``full`` (the default rules of each site's genre, paragraph
   classes, ``--lm`` with ``--keep-best-share``, deduplication).  The variants are read from
   their rows:

   ==============  ======================================================================
   none            the ``none`` build's corpus with its duplicates put back
   rules           the ``full`` build's corpus with the pages the n-gram cut and the
                   deduplication took out put back
   rules+lm        ``rules`` less the pages the n-gram cut took out, and less the
                   duplicates above their site's cut (the highest perplexity the cut kept)
   rules+dedup     the ``full`` corpus with the pages the n-gram cut took out put back
   everything      the ``full`` corpus as written
   ==============  ======================================================================

4. Each variant is written as JSON lines, encoded by ``swelm encode-swe`` (the bundled SWE
   vocabulary), and ``swelm train --config tiny`` trains on it for ``--steps`` steps of
   ``--batch-size`` x ``--seq-len`` tokens from seed 0 (a variant with fewer tokens is
   repeated), validating on ``--eval-batches`` batches of the shared ``valid.jsonl.gz``.

Printed per variant: documents, characters, the kept share (of the ``none`` variant's
characters), the training tokens and the validation bits per character.  Target: the
``everything`` variant's bits per character below the ``none`` variant's.  Run ``python -m
bench.ablation [--warc-mb 12] [--steps 300] [--keep DIR]`` (about 20 minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import pyarrow.parquet as pq

from bench._common import DATA, ROOT, SITES, emit

DUP_RULES = ("exact_duplicate", "near_duplicate", "near_duplicate_containment")
VARIANTS = ("none", "rules", "rules+lm", "rules+dedup", "everything")


def swelm(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "swelm", *args], cwd=ROOT,
                          capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS=os.environ.get(
                              "OMP_NUM_THREADS", "2")))
    if proc.returncode:
        raise SystemExit(f"swelm {args[0]} failed: {proc.stderr[-3000:]}")
    return proc.stdout


def rules(path: str, unfiltered: bool) -> None:
    """The five sites on any host (bench/scale.py's mirrors); ``unfiltered``: every page rule
    off and the page as extracted."""
    from swelm.corpus_tools.filter import THRESHOLDS
    with open(path, "w", encoding="utf-8") as f:
        for n in SITES:
            f.write(f'[[sites]]\nname = "{n}"\nseeds = ["http://127.0.0.1/{n}/"]\n'
                    f'allow = ["^http://[^/]+/{n}/"]\n'
                    f'genre = "{"legal" if n.startswith("egov") else "docs"}"\n')
            if unfiltered:
                f.write("paragraphs = false\nfilters = { " + ", ".join(
                    f'{k} = "off"' for k in THRESHOLDS) + " }\n")
            f.write("\n")


def rows(out: str) -> tuple[list[dict], list[dict]]:
    """The corpus rows and the rejected page rows (not the lines taken out) of a build."""
    def read(sub):
        got = []
        for path in sorted(glob.glob(os.path.join(out, sub, "part-*.parquet"))):
            got += pq.read_table(path, columns=["id", "site", "text", "rule",
                                                "metrics"]).to_pylist()
        return got
    return read("corpus"), [r for r in read("rejected")
                            if not (r["rule"] or "").startswith("paragraph_")]


def _perplexity(row: dict) -> float:
    return json.loads(row["metrics"] or "{}").get("perplexity", float("inf"))


def variants(none_out: str, full_out: str) -> dict[str, list[str]]:
    """``{variant: texts}`` (see the module's table)."""
    none_kept, none_rej = rows(none_out)
    kept, rejected = rows(full_out)
    dups = [r for r in rejected if r["rule"] in DUP_RULES]
    cut = [r for r in rejected if r["rule"] == "keep_best_share"]
    highest: dict = {}
    for r in kept:
        highest[r["site"]] = max(highest.get(r["site"], 0.0), _perplexity(r))
    dups_in = [r for r in dups if _perplexity(r) <= highest.get(r["site"], 0.0)]

    def texts(*parts):
        return [r["text"] for part in parts for r in part if r["text"]]
    return {"none": texts(none_kept, [r for r in none_rej if r["rule"] in DUP_RULES]),
            "rules": texts(kept, cut, dups), "rules+lm": texts(kept, dups_in),
            "rules+dedup": texts(kept, cut), "everything": texts(kept)}


def encode(texts: list[str], folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    src = os.path.join(folder, "docs.jsonl")
    with open(src, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    swelm("encode-swe", "--src_dir", src, "--dst_file", os.path.join(folder, "shards"),
          "--num_process", "1", "--quiet")


def train(shards: str, valid: str, out: str, args) -> dict:
    stdout = swelm("train", "--config", "tiny", "--data", shards, "--valid", valid,
                   "--out", out, "--steps", str(args.steps), "--batch-size",
                   str(args.batch_size), "--seq-len", str(args.seq_len), "--seed", "0",
                   "--eval-every", str(args.steps), "--eval-batches", str(args.eval_batches),
                   "--save-every", str(args.steps), "--no-progress")
    return json.loads(stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    from bench.scale import warc_set
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warc-mb", type=float, default=12, help="size of the WARC set (gzipped)")
    ap.add_argument("--versions", type=int, default=3,
                    help="versions of each page: itself and its mirrored copies")
    ap.add_argument("--lm-chars", type=int, default=8_000_000,
                    help="characters of reference text for the n-gram model")
    ap.add_argument("--keep-best-share", type=float, default=0.8,
                    help="the n-gram cut of the full build")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--eval-batches", type=int, default=40)
    ap.add_argument("--keep", default=None, help="keep the WARC set, builds and runs here")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    tmp = args.keep or tempfile.mkdtemp(prefix="swelm-ablation-")
    os.makedirs(tmp, exist_ok=True)
    warcs, mb = warc_set(tmp, args.warc_mb, args.versions)
    lm = os.path.join(tmp, "reference.lm")
    if not os.path.exists(lm):
        t0 = time.perf_counter()
        swelm("build-lm", os.path.join(DATA, "corpus", "train.jsonl.gz"), "--select",
              "source=WikipediaAnnotated|aozora|JGLUE|JaQuAD|ner-wikipedia", "--max-chars",
              str(args.lm_chars), "--out", lm)
        emit(bench="ablation_lm", seconds=round(time.perf_counter() - t0, 1))
    builds = {}
    for name, extra in (("none", ["--boilerplate-share", "0.999"]),
                        ("full", ["--lm", lm, "--keep-best-share", str(args.keep_best_share)])):
        sites = os.path.join(tmp, f"sites-{name}.toml")
        rules(sites, name == "none")
        out = builds[name] = os.path.join(tmp, f"build-{name}")
        t0 = time.perf_counter()
        swelm("build-corpus", "--warc", os.path.join(warcs, "*.warc.gz"), "--sites", sites,
              "--out", out, "--workers", "2", *extra)
        emit(bench="ablation_build", build=name, warc_mb_gz=round(mb, 1),
             seconds=round(time.perf_counter() - t0, 1))
    valid = os.path.join(tmp, "valid")
    if not os.path.exists(os.path.join(valid, "shards")):
        os.makedirs(valid, exist_ok=True)
        swelm("encode-swe", "--src_dir", os.path.join(DATA, "corpus", "valid.jsonl.gz"),
              "--dst_file", os.path.join(valid, "shards"), "--num_process", "1", "--quiet")
    texts = variants(builds["none"], builds["full"])
    base = sum(map(len, texts["none"])) or 1
    results = {}
    for name in VARIANTS:
        folder = os.path.join(tmp, "variant-" + name.replace("+", "-"))
        encode(texts[name], folder)
        t0 = time.perf_counter()
        last = train(os.path.join(folder, "shards"), os.path.join(valid, "shards"),
                     os.path.join(folder, "run"), args)
        chars = sum(map(len, texts[name]))
        results[name] = last["valid_bpc"]
        emit(bench="ablation", variant=name, documents=len(texts[name]), characters=chars,
             kept_share=round(chars / base, 3),
             train_tokens=args.steps * args.batch_size * args.seq_len,
             valid_bpc=round(last["valid_bpc"], 4), train_seconds=round(
                 time.perf_counter() - t0, 1))
    emit(bench="ablation_target", everything_bpc=round(results["everything"], 4),
         none_bpc=round(results["none"], 4),
         everything_below_none=results["everything"] < results["none"],
         minutes=round((time.perf_counter() - t_start) / 60, 1))


if __name__ == "__main__":
    main()
