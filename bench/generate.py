"""Generation speed: new tokens/s with and without the KV cache, same model, same run.

    python -m bench.generate [--preset tiny] [--context-tokens 200] [--new-tokens 64]

A randomly initialised model of the preset (a Switch-LM or a dense GPT-2 one such as
gpt2-small; speed does not depend on the weights) continues a
context of real Japanese text greedily, once recomputing every position at each step (the
anchor) and once with the KV cache.  Prints one JSON line each and the ratio cached/uncached;
both must produce the same tokens.
"""
from __future__ import annotations

import argparse
import os
import time


import torch

from bench._common import emit
from swelm.model.lm import LM
from swelm.model.registry import architecture, build_model, make_config
from swelm.tokenizer import SWEEncoder

TEXT = ("吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした"
        "所でニャーニャー泣いていた事だけは記憶している。") * 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny",
                    help="a Switch-LM preset (tiny, small, gptsan-2.8b) or a dense one "
                         "(gpt2-tiny, gpt2-small, gpt2-medium, gpt2-large)")
    ap.add_argument("--context-tokens", type=int, default=None,
                    help="default: n_ctx − new tokens − 3 (at most 400)")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--num-samples", type=int, default=1)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    enc = SWEEncoder.load()
    torch.manual_seed(0)
    over = {}
    if not architecture(make_config(args.preset)).swe_layout:
        over["special"] = {"<|endoftext|>": enc.eot_id}
    cfg = make_config(args.preset, vocab_size=len(enc), vocab_sha256=enc.vocab_sha256, **over)
    model = build_model(cfg).to(args.device).eval().set_unlimited_capacity()
    n = args.context_tokens or min(400, cfg.n_ctx - args.new_tokens - 3)
    ids = enc.encode(TEXT)[:n]
    emit(device=args.device, preset=args.preset, params_M=round(model.num_params() / 1e6, 1),
         context_tokens=len(ids), new_tokens=args.new_tokens, num_samples=args.num_samples)
    out = {}
    for name, cache in (("no_cache", False), ("kv_cache", True)):
        LM(model, enc).sample(ids, max_new_tokens=4, temperature=0, use_cache=cache)   # warm up
        t0 = time.perf_counter()
        s = LM(model, enc).sample(ids, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                   temperature=0, num_samples=args.num_samples, use_cache=cache)
        dt = time.perf_counter() - t0
        n = sum(len(x.ids) for x in s)
        out[name] = (n / dt, [x.ids for x in s])
        emit(mode=name, new_tokens_per_s=round(n / dt, 1), seconds=round(dt, 3))
    same = out["no_cache"][1] == out["kv_cache"][1]
    emit(figure="kv_cache_speedup", ratio=round(out["kv_cache"][0] / out["no_cache"][0], 2),
         same_tokens=same)


if __name__ == "__main__":
    main()
