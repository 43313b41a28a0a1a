"""Training throughput: the Switch preset against a dense model of the same active size, same run.

    python -m bench.train [--preset small] [--batch-size 32] [--seq-len 1024] [--steps 30]

Both models train on random tokens (the data loader is not what is measured) with AdamW, bf16
autocast and ``torch.compile`` on CUDA.  The dense anchor is the same stack with every switch FFN
replaced by one dense FFN of the expert's size (``n_switch_layers=0``, ``n_ext_layers=L``), so it
has the Switch model's active parameters minus the router and the bypass.  Prints one JSON line
per model: tokens/s and MFU (PaLM's convention: 6·active params + 12·L·d·T attention FLOPs per
token, against the GPU's dense bf16 peak, 989 TFLOP/s on an H100; ``mfu_causal_half`` counts
half the attention scores), then the ratio switch/dense (target ≥ 0.7) and the dense MFU
(target ≥ 45%).  ``--grad-accum`` takes several micro-batches per optimizer step, as training
runs do; the Switch model's optimizer step (AdamW over all experts) then weighs less.
The dense GPT-2 family is timed in the same run (``--gpt2``, default gpt2-small on CUDA,
gpt2-tiny on the CPU; ``none`` skips it): tokens/s and MFU, and its ratio to the dense anchor.
Without CUDA it runs the tiny preset on the CPU (the loop MoE against the grouped one), which
only shows that the bench works.
"""
from __future__ import annotations

import argparse
import os
import time


import torch

from bench._common import emit
from swelm.model.registry import build_model, make_config
from swelm.model.switch import SwitchConfig
from swelm.model.train import clip_and_step

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12}


def peak_flops() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    for k, v in PEAK_BF16.items():
        if k in name:
            return v
    return None


def dense_twin(cfg: SwitchConfig) -> SwitchConfig:
    import dataclasses
    d = dataclasses.asdict(cfg)
    d.update(n_switch_layers=0, n_ext_layers=cfg.n_layers, ext_hidden=cfg.expert_hidden)
    return SwitchConfig.from_dict(d)


def flops_per_token(cfg: SwitchConfig, seq_len: int, causal_half: bool = False) -> float:
    """Training FLOPs per token as in the PaLM paper's MFU: 6 per active weight (the tied
    output layer included) plus 12·L·d·T for the attention scores.  ``causal_half`` counts only
    the unmasked half of the scores (what flash attention computes)."""
    attn = 12 * cfg.n_layers * cfg.d_model * seq_len / (2 if causal_half else 1)
    head = 6 * cfg.d_model * cfg.vocab_size
    return 6 * cfg.active_params() + attn + head


def free_cuda() -> None:
    """Release the finished model's memory before the next one is timed."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def run(cfg, args, device) -> dict:
    torch.manual_seed(0)
    model = build_model(cfg).to(device).train()
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4, fused=device.type == "cuda")
    net = torch.compile(model) if args.compile else model
    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
           else torch.autocast("cpu", enabled=False))
    B, T, A = args.batch_size, args.seq_len, args.grad_accum
    xs = torch.randint(0, cfg.vocab_size - 7, (A, B, T + 1), device=device)

    def step():
        for x in xs:
            with amp:
                out = net(x[:, :-1], labels=x[:, 1:])
                loss = out.loss + out.router_loss()
            (loss / A).backward()
        clip_and_step(opt, params, 1.0)
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    float(loss.detach())
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    if args.profile and device.type == "cuda":
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                step()
            torch.cuda.synchronize()
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=args.profile,
                                          max_name_column_width=100),
              flush=True)
    tps = A * B * T * args.steps / dt
    peak = peak_flops()
    out = {"tokens_per_s": round(tps), "active_params_M": round(cfg.active_params() / 1e6, 1),
           "total_params_M": round(model.num_params() / 1e6, 1), "loss": round(float(loss.detach()), 3)}
    if peak:
        out["mfu"] = round(tps * flops_per_token(cfg, T) / peak, 3)
        out["mfu_causal_half"] = round(tps * flops_per_token(cfg, T, True) / peak, 3)
    if device.type == "cuda":
        out["max_mem_GiB"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default=None, help="default: small on CUDA, tiny on CPU")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--seq-len", type=int, default=None)
    ap.add_argument("--grad-accum", type=int, default=1,
                    help="micro-batches per optimizer step (as the trainer's --grad-accum)")
    ap.add_argument("--sdpa", default=None, choices=("flash", "cudnn", "efficient", "math"),
                    help="CUDA: force one scaled-dot-product-attention backend")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--impls", default=None,
                    help="MoE implementations to time, comma-separated, or none (default: "
                         "grouped on CUDA; grouped,loop on the CPU)")
    ap.add_argument("--gpt2", default=None,
                    help="the dense GPT-2 preset timed too (default: gpt2-small on CUDA, "
                         "gpt2-tiny on the CPU; none: skip)")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="CUDA: after timing, print the N most expensive kernels of 3 steps")
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
    else:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        args.compile = False
    args.preset = args.preset or ("small" if cuda else "tiny")
    args.batch_size = args.batch_size or (32 if cuda else 4)
    args.seq_len = args.seq_len or (1024 if cuda else 128)
    args.steps = args.steps or (30 if cuda else 5)
    args.warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    base = make_config(args.preset, d_spout=0)
    emit(device=torch.cuda.get_device_name() if cuda else "cpu", torch=torch.__version__,
         preset=args.preset, batch_size=args.batch_size, seq_len=args.seq_len,
         steps=args.steps, grad_accum=args.grad_accum, sdpa=args.sdpa, compile=args.compile)
    if args.sdpa:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        backend = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
                   "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}
        sdpa_kernel(backend[args.sdpa]).__enter__()
    dense = run(dense_twin(base), args, device)
    free_cuda()
    emit(model="dense", **dense)
    impls = args.impls.split(",") if args.impls else (["grouped"] if cuda else ["grouped", "loop"])
    impls = [i for i in impls if i != "none"]
    results = {}
    for impl in impls:
        cfg = make_config(args.preset, d_spout=0, moe_impl=impl)
        results[impl] = run(cfg, args, device)
        free_cuda()
        emit(model=f"switch-{impl}", n_experts=cfg.n_experts, **results[impl])
    gpt2 = args.gpt2 or ("gpt2-small" if cuda else "gpt2-tiny")
    if gpt2 != "none":
        g = run(make_config(gpt2, vocab_size=base.vocab_size), args, device)
        free_cuda()
        emit(model=gpt2, **g)
    for impl in impls:
        emit(figure="switch_vs_dense_tokens_per_s", impl=impl,
             ratio=round(results[impl]["tokens_per_s"] / dense["tokens_per_s"], 3), target=0.7)
    emit(figure="dense_mfu", value=dense.get("mfu"), target=0.45)
    if gpt2 != "none":
        emit(figure="gpt2_vs_dense_tokens_per_s", preset=gpt2,
             ratio=round(g["tokens_per_s"] / dense["tokens_per_s"], 3))
        emit(figure="gpt2_mfu", preset=gpt2, value=g.get("mfu"))

if __name__ == "__main__":
    main()
