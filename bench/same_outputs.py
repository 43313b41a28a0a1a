"""Are a change's outputs byte-identical to the code before?  Runs one fixed sequence of
commands into a folder and lists a digest of every file they wrote; a second run of another
checkout, compared with ``--compare``, must list the same digests.

The sequence: build-corpus with 2 workers on a WARC set mirrored from the shared sites
(bench/scale.py), encode of that corpus, a Switch-LM (hybrid) and a gpt2-tiny trained on it,
every LM tool (generate greedy, sampled and with beams, fill, score, vectorize), a run
started from the Switch-LM with ``--init`` and ``--set``, and ``convert to-hf``.  A digest is the sha256 of the file's bytes, except where the bytes hold
what a rerun of the same code changes too: safetensors files are digested by their tensors
and metadata (the writer orders the metadata at random), ``state.pt`` by its values, text by
its lines with the output folder's path and throughput figures taken out; checksum lists and
files of timings are compared by presence.  (The demo is left out: its crawl records the
server's random port and the fetch times.)

    python -m bench.same_outputs OUT              # run and write OUT/hashes.json
    python -m bench.same_outputs --compare A B    # exit 1 when the digests differ
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys


# written with wall-clock figures in them (or checksums of such files): presence only
TIMED = ("metrics.jsonl", "train.log", "run.log", ".png", "checksums.json")
# keys of JSON lines that hold throughput or time
_TIMING_KEY = ("per_s", "seconds", "elapsed", "time")


def _canonical(value, out: str):
    """Nested values as comparable text: tensors by dtype, shape and bytes."""
    import numpy as np
    if hasattr(value, "detach"):
        value = value.detach().cpu().contiguous()
        return ["tensor", str(value.dtype), list(value.shape),
                hashlib.sha256(value.view(-1).view(__import__("torch").uint8).numpy().tobytes()
                               if value.numel() else b"").hexdigest()]
    if isinstance(value, np.ndarray):
        return ["array", str(value.dtype), list(value.shape),
                hashlib.sha256(value.tobytes()).hexdigest()]
    if isinstance(value, dict):
        return {str(k): _canonical(v, out) for k, v in sorted(value.items(), key=str)}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, out) for v in value]
    if isinstance(value, str):
        return value.replace(out, "OUT")
    return value


def digest(path: str, out: str) -> str:
    name = os.path.basename(path)
    if name.endswith(TIMED):
        return "(present)"
    if name.endswith(".safetensors"):
        import struct
        from safetensors.numpy import load_file
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            meta = json.loads(f.read(n)).get("__metadata__", {})
        text = json.dumps([meta, _canonical(load_file(path), out)], sort_keys=True)
    elif name.endswith(".pt"):
        import torch
        text = json.dumps(_canonical(torch.load(path, weights_only=False), out),
                          sort_keys=True, default=repr)
    elif name.endswith((".txt", ".json", ".jsonl", ".md", ".toml")):
        lines = []
        with open(path, encoding="utf-8") as f:
            for line in f.read().replace(out, "OUT").splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    row = None
                if isinstance(row, dict):
                    line = json.dumps({k: v for k, v in row.items()
                                       if not any(t in k for t in _TIMING_KEY)}, sort_keys=True)
                lines.append(line)
        text = "\n".join(lines)
    else:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def swelm(out: str, name: str, *args: str, stdin: str | None = None) -> None:
    """Run one command; its stdout is kept as ``out/stdout/NAME.txt`` (compared too)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    r = subprocess.run([sys.executable, "-m", "swelm", *args], env=env, input=stdin,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"swelm {' '.join(args)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    os.makedirs(os.path.join(out, "stdout"), exist_ok=True)
    with open(os.path.join(out, "stdout", name + ".txt"), "w", encoding="utf-8") as f:
        f.write(r.stdout)


def run(out: str, warc_mb: float) -> None:
    from bench.scale import rules, warc_set
    out = os.path.abspath(out)
    os.makedirs(out, exist_ok=True)
    warcs, _ = warc_set(os.path.join(out, "input"), warc_mb, versions=4)
    sites = os.path.join(out, "input", "sites.toml")
    rules(sites)
    build = os.path.join(out, "build")
    swelm(out, "build-corpus", "build-corpus", "--warc", os.path.join(warcs, "*.warc.gz"),
          "--sites", sites, "--out", build, "--workers", "2", "--shards", "3")
    shards = os.path.join(out, "shards")
    swelm(out, "encode", "encode", "--corpus", os.path.join(build, "corpus", "*.parquet"),
          "--out", shards, "--workers", "2")
    common = ["--seq-len", "64", "--batch-size", "4", "--lr", "3e-3", "--no-progress",
              "--workers", "0", "--log-every", "1", "--steps", "6", "--save-every", "3",
              "--data", shards]
    runs = {"switch": ["--config", "tiny", "--mode", "hybrid"], "gpt2": ["--config", "gpt2-tiny"]}
    for arch, flags in runs.items():
        run_dir = os.path.join(out, "run-" + arch)
        swelm(out, f"train-{arch}", "train", *flags, *common, "--out", run_dir)
        m = ["--model", run_dir]
        swelm(out, f"greedy-{arch}", "generate", *m, "--context", "吾輩は", "--max-length", "12",
              "--top-k", "1")
        swelm(out, f"sample-{arch}", "generate", *m, "--context", "東京", "--max-length", "12",
              "--seed", "7", "--num_generate", "2")
        swelm(out, f"beam-{arch}", "generate", *m, "--context", "今日は", "--max-length", "8",
              "--beam", "2")
        swelm(out, f"score-{arch}", "score", *m, "--tokens", "-",
              stdin="吾輩は猫である。\n京都の秋は紅葉が美しい。\n")
        swelm(out, f"vectorize-{arch}", "vectorize", *m, "--context", "吾輩は猫である。")
        if arch == "switch":
            swelm(out, "fill-switch", "fill", *m, "--context", "吾輩は[MASK]である。")
            # fine-tuning from it with changed router-loss weights
            swelm(out, "train-switch-init", "train", "--init", run_dir, "--set",
                  "aux_loss_coef=0.05", "--mode", "hybrid", *common,
                  "--out", os.path.join(out, "run-switch-init"))
        else:
            swelm(out, "to-hf-gpt2", "convert", "to-hf", run_dir, "--out",
                  os.path.join(out, "hf-gpt2"))
    write_digests(out)


def write_digests(out: str) -> None:
    hashes = {}
    for dirpath, dirs, files in os.walk(out):
        dirs[:] = sorted(d for d in dirs if os.path.join(dirpath, d) != os.path.join(out, "input"))
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, out)
            if rel != "hashes.json":
                hashes[rel] = digest(path, out)
    with open(os.path.join(out, "hashes.json"), "w", encoding="utf-8") as f:
        json.dump(hashes, f, indent=1, sort_keys=True)
    print(json.dumps({"bench": "same_outputs", "files": len(hashes), "out": out}))


def compare(a: str, b: str) -> int:
    one, two = (json.load(open(os.path.join(x, "hashes.json"), encoding="utf-8")) for x in (a, b))
    differ = sorted(k for k in one.keys() | two.keys() if one.get(k) != two.get(k))
    for k in differ:
        print(json.dumps({"differs": k, "a": one.get(k), "b": two.get(k)}))
    print(json.dumps({"bench": "same_outputs", "files": len(one), "differences": len(differ)}))
    return 1 if differ else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", help="output folder (created)")
    ap.add_argument("--warc-mb", type=float, default=8, help="size of the mirrored WARC set")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two runs' hash lists")
    ap.add_argument("--rehash", action="store_true",
                    help="only digest the outputs already in OUT again")
    args = ap.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    if not args.out:
        ap.error("OUT is required unless --compare is given")
    if args.rehash:
        write_digests(os.path.abspath(args.out))
    else:
        run(args.out, args.warc_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
