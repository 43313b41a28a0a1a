"""``swelm train``: the Switch-LM trainer on Arrow token shards.

AdamW (fused on CUDA), linear warmup then cosine decay, gradient clipping, gradient accumulation,
bf16 autocast on CUDA, optional ``torch.compile``, periodic validation (loss and bits per
character), checkpoints (safetensors + config + optimizer/RNG/data state) from which a rerun
continues with exactly the losses an uninterrupted run would have had.  Under ``torchrun`` it
trains data-parallel (gloo on CPU, NCCL on CUDA).  Writes ``metrics.jsonl`` and ``loss.png``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

from swelm.publish import atomic_path, claim_folder, write_json

from .checkpoint import (CheckpointError, latest_intact, list_checkpoints, load_checkpoint,
                         load_model, remove_temporaries, save_checkpoint,
                         save_tokenizer)
from .data import (Layout, SequenceData, loader, manifest_vocab, parse_sources,
                   spout_vectors)
from .common import ModelError
from .options import TrainConfig
from .registry import architecture, build_model, config_from_dict, make_config, spout_width

log = logging.getLogger("swelm.train")

# arguments that must not change when a run is resumed (they decide which data each step sees)
RESUME_KEYS = ("data", "mode", "seq_len", "batch_size", "grad_accum", "seed", "world")


def default_preset() -> str:
    """The preset of a run given no --config: small on a GPU, tiny on a CPU (small would take
    days there)."""
    return "small" if torch.cuda.is_available() else "tiny"


def lr_at(step: int, args: TrainConfig) -> float:
    warm = args.warmup_steps
    if step < warm:
        return args.lr * (step + 1) / warm
    t = min(1.0, (step - warm) / max(1, args.steps - warm))
    lo = args.lr * args.min_lr_ratio
    if args.schedule == "linear":
        return args.lr - (args.lr - lo) * t
    return lo + 0.5 * (args.lr - lo) * (1 + math.cos(math.pi * t))


def _dist():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local


def data_vocabulary(args, vocab: dict) -> dict:
    """What the model is made for: the shards' tokenizer (``size``, ``sha256``, ``kind``,
    ``eot_id``, and ``max_id`` of .npz sources), from ``--vocabulary`` when given (it must be
    the shards' one), else from the manifest; an .npz alone names none, so the bundled SWE
    vocabulary is taken (what encode_swe uses by default)."""
    from swelm.tokenizer.kinds import open_tokenizer
    from swelm.tokenizer.vocab import special_ids
    if args.vocabulary or "size" not in vocab and not args.init:
        tok = open_tokenizer(args.vocabulary)
        if vocab.get("sha256") and vocab["sha256"] != tok.sha256:
            raise ModelError(f"--vocabulary {args.vocabulary}: the shards were encoded with the "
                             f"{vocab.get('kind', 'swe')} tokenizer {vocab['sha256'][:12]}…, "
                             f"this file is the {tok.kind} tokenizer {tok.sha256[:12]}…")
        vocab = dict(vocab, size=len(tok), sha256=tok.sha256, kind=tok.kind, eot_id=tok.eot_id)
    vocab = dict(vocab)
    vocab.setdefault("kind", "swe")
    if "eot_id" not in vocab and vocab["kind"] == "swe" and "size" in vocab:
        # (manifests written before the field existed: SWE puts its special tokens last)
        vocab["eot_id"] = special_ids(vocab["size"])["<|endoftext|>"]
    return vocab


def _config(args, vocab: dict):
    if args.init:
        from .checkpoint import load_config
        cfg = load_config(args.init)
        if args.set:
            d = json.loads(cfg.to_json())
            d.update(_parse_sets(args.set))
            cfg = config_from_dict(d)
    else:
        over = _parse_sets(args.set)
        over.setdefault("vocab_size", vocab.get("size"))
        over.setdefault("vocab_sha256", vocab.get("sha256", ""))
        over.setdefault("vocab_kind", vocab.get("kind", "swe"))
        preset = args.config or default_preset()
        if not architecture(make_config(preset)).swe_layout and "eot_id" in vocab:
            over.setdefault("special", {"<|endoftext|>": vocab["eot_id"]})
        cfg = make_config(preset, **over)
    arch = architecture(cfg)
    if arch.swe_layout and cfg.vocab_kind not in ("", "swe"):
        raise ModelError(f"the Switch-LM's sequence layout needs the SWE special tokens; the "
                         f"data is encoded with a {cfg.vocab_kind} tokenizer: train a dense "
                         "model (--config gpt2-small, gpt2-medium, gpt2-large)")
    if args.mode not in arch.modes:
        raise ModelError(f"--mode {args.mode}: a {arch.name} model is causal and trains on "
                         f"--mode {' or '.join(arch.modes)} only (mlm and hybrid need the "
                         "Switch-LM's bidirectional prefix)")
    if args.moe_impl and arch.experts:
        cfg.moe_impl = args.moe_impl
    kinds = (cfg.vocab_kind or "swe", vocab.get("kind", "swe"))
    if cfg.vocab_sha256 and vocab.get("sha256") and cfg.vocab_sha256 != vocab["sha256"]:
        raise ModelError(f"the shards were encoded with the {kinds[1]} tokenizer "
                         f"{vocab['sha256'][:12]}…, the model was trained with the {kinds[0]} "
                         f"tokenizer {cfg.vocab_sha256[:12]}…")
    if kinds[0] != kinds[1] and "size" in vocab:
        raise ModelError(f"the shards were encoded with a {kinds[1]} tokenizer, the model was "
                         f"trained with a {kinds[0]} one")
    if vocab.get("max_id", -1) >= cfg.vocab_size:
        raise ModelError(f"the .npz data holds token id {vocab['max_id']}, outside the model's "
                         f"vocabulary of {cfg.vocab_size} tokens (an .npz names no vocabulary: "
                         "give --init a model of the vocabulary it was encoded with)")
    if vocab.get("size") and vocab["size"] > cfg.vocab_size:
        raise ModelError(f"the shards use {vocab['size']} token ids, the model has "
                         f"{cfg.vocab_size}")
    return cfg


def _parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep:
            raise ModelError(f"--set {item}: expected FIELD=VALUE")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def trainable(model, which: str) -> list:
    if which == "all":
        for p in model.parameters():
            p.requires_grad_(True)
        return [p for p in model.parameters()]
    if not architecture(model).ext_layers:
        raise ModelError(f"--train-only ext: a {model.cfg.arch} model has no ext layers")
    if model.cfg.n_ext_layers == 0:
        raise ModelError("--train-only ext: the model has no ext layers "
                         "(add them with `swelm convert add-ext`)")
    for p in model.parameters():
        p.requires_grad_(False)
    params = list(model.wpe_ext.parameters())
    for b in model.blocks[model.cfg.n_switch_layers:]:
        params += list(b.parameters())
    for p in params:
        p.requires_grad_(True)
    return params


def _optimizer(params, args, device):
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": args.weight_decay},
              {"params": rest, "weight_decay": 0.0}]
    kw = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95), eps=1e-8, **kw)


def clip_and_step(opt: torch.optim.Optimizer, params, max_norm: float) -> torch.Tensor:
    """Clip the gradients to a total 2-norm of ``max_norm`` and take the optimizer step;
    returns the norm before clipping.  A fused optimizer divides the gradients by its
    ``grad_scale`` inside its own kernel (the interface of ``torch.amp.GradScaler``), which
    saves a read and a write of every gradient; other optimizers get the gradients divided
    first."""
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.nn.utils.get_total_norm(grads, foreach=True)
    scale = (norm / max_norm).clamp(min=1.0)
    if opt.defaults.get("fused"):
        opt.grad_scale = scale
        try:
            opt.step()
        finally:
            del opt.grad_scale
    else:
        torch._foreach_div_(grads, scale)
        opt.step()
    return norm


class Validator:
    """Loss and bits per character on the first ``batches`` batches of held-back shards."""

    def __init__(self, specs, mode, layout, batch_size, batches, vocab_sha256,
                 vocabulary: str | None = None) -> None:
        self.data = SequenceData(specs, mode, layout, batch_size, seed=0)
        self.mode = mode
        self.batches = batches
        self.layout = layout
        self.enc = None
        try:
            from swelm.tokenizer.kinds import open_tokenizer
            enc = open_tokenizer(vocabulary)
            if not vocab_sha256 or enc.sha256 == vocab_sha256:
                self.enc = enc
        except Exception:            # no bundled vocabulary: loss only
            self.enc = None
        if self.enc is None:
            log.info("validation: the bundled vocabulary is not the shards' one (give "
                     "--vocabulary); no bits per character, loss only")

    @torch.no_grad()
    def __call__(self, model, device, autocast) -> dict:
        was = model.training
        model.eval()
        nats, n_tok, n_chars = 0.0, 0, 0
        special = set(self.layout.special.values()) | {self.layout.bos}
        for j in range(self.batches):
            x, y, npc, klass = self.data.batch(j)
            x, y = x.to(device), y.to(device)
            spout = spout_vectors(klass, spout_width(model.cfg))
            with autocast:
                out = model(x, num_precontext=None if self.mode == "lm" else npc.to(device),
                            spout=None if spout is None else spout.to(device))
            ce = F.cross_entropy(out.logits.float().view(-1, out.logits.shape[-1]), y.view(-1),
                                 ignore_index=-1, reduction="sum")
            nats += float(ce)
            n_tok += int((y >= 0).sum())
            if self.enc is not None:
                for row in y.cpu().tolist():
                    ids = [t for t in row if t >= 0 and t not in special]
                    n_chars += len(self.enc.decode(ids))
        model.train(was)
        out = {"valid_loss": nats / max(1, n_tok), "valid_tokens": n_tok}
        if n_chars:
            out["valid_bpc"] = nats / math.log(2) / n_chars
        return out


def plot_metrics(run_dir: str) -> None:
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    tr = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    va = [(r["step"], r["valid_loss"]) for r in rows if "valid_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    if tr:
        ax.plot(*zip(*tr), label="train loss")
    if va:
        ax.plot(*zip(*va), "o-", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(os.path.join(run_dir, "loss.png")) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def _truncate_metrics(run_dir: str, step: int) -> None:
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return
    keep = []
    for line in open(path, encoding="utf-8"):
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line)
        except (json.JSONDecodeError, KeyError):
            continue                     # a line cut by a kill
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.writelines(keep)


def train(args: TrainConfig) -> dict:
    """Run (or continue) training; returns the last metrics."""
    world, rank, local = _dist()
    distributed = world > 1
    from .inference import pick_device
    device = pick_device(args.device)
    if device.type == "cuda" and distributed:
        if local >= torch.cuda.device_count():
            raise ModelError(f"process LOCAL_RANK={local} has no GPU of its own "
                             f"({torch.cuda.device_count()} CUDA device(s)): start at most "
                             "that many processes per node, or train on CPU processes "
                             "(gloo) with --device cpu")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if distributed:
        import torch.distributed as dist
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        return _train(args, device, world, rank)
    finally:
        if distributed:
            import torch.distributed as dist
            dist.barrier()
            dist.destroy_process_group()


@dataclasses.dataclass
class _Run:
    """What the step loop works with, built once by :func:`_setup`."""
    args: TrainConfig
    cfg: object                 # the architecture's config dataclass
    model: torch.nn.Module
    net: torch.nn.Module                 # the model as trained (DDP and/or compiled)
    opt: torch.optim.Optimizer
    params: list
    device: torch.device
    world: int
    rank: int
    run_args: dict                       # saved with every checkpoint; RESUME_KEYS must match
    data: SequenceData
    validator: "Validator | None"
    autocast: object

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup(args: TrainConfig, device, world: int, rank: int) -> _Run:
    from .inference import check_fits
    specs = parse_sources(list(args.data))
    vocab = data_vocabulary(args, manifest_vocab(specs))
    cfg = _config(args, vocab)
    seq_len = args.seq_len or cfg.n_ctx
    if seq_len > cfg.n_ctx:
        raise ModelError(f"--seq-len {seq_len} > n_ctx {cfg.n_ctx}")
    if seq_len < 8:
        raise ModelError("--seq-len must be at least 8")
    layout = Layout(seq_len, cfg.vocab_size, cfg.special, dense=architecture(cfg).causal,
                    bos=getattr(cfg, "bos_id", -1))
    data = SequenceData(specs, args.mode, layout, args.batch_size, args.seed)
    run_args = {"data": [f"{s.path}:{s.weight}@{s.klass}" for s in specs], "mode": args.mode,
                "seq_len": seq_len, "batch_size": args.batch_size, "grad_accum": args.grad_accum,
                "seed": args.seed, "world": world, "steps": args.steps, "lr": args.lr}
    torch.manual_seed(args.seed)
    if args.init:
        model = load_model(args.init)
        if architecture(cfg).experts:
            model.cfg.moe_impl = cfg.moe_impl
        check_fits(model.cfg, device, 12, "--init", batch=args.batch_size, seq=seq_len)
    else:
        check_fits(cfg, device, 16, "--config/--set", batch=args.batch_size, seq=seq_len)
        model = build_model(cfg)
    model.to(device).train()
    params = trainable(model, args.train_only)
    opt = _optimizer(params, args, device)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else contextlib.nullcontext())
    validator = (Validator(parse_sources(list(args.valid), "--valid"), args.mode, layout, args.batch_size,
                           args.eval_batches, cfg.vocab_sha256, args.vocabulary)
                 if args.valid and rank == 0 else None)
    return _Run(args, cfg, model, model, opt, params, device, world, rank, run_args, data,
                validator, autocast)


def _resume(r: _Run) -> int:
    """The step to start from: that of the run's last checkpoint (model, optimizer and RNG
    restored), else 0 for a new run (its config written)."""
    args = r.args
    if r.main:
        from .checkpoint import RUN
        claim_folder(args.out, RUN)         # ours from now on, even if killed before config.json
        remove_temporaries(args.out)
    # the newest intact checkpoint (a truncated one, e.g. from a full disk, is skipped)
    ck = latest_intact(args.out, log.warning if r.main else (lambda m: None))
    torch.manual_seed(args.seed * 1000 + r.rank + 1)      # router jitter stream of this rank
    if ck is None:
        if list_checkpoints(args.out):
            raise CheckpointError(f"{args.out}: every checkpoint is damaged; use a new --out "
                                  "(or remove checkpoints/) to start again")
        if r.main:
            write_json(os.path.join(args.out, "config.json"), json.loads(r.cfg.to_json()))
            if args.vocabulary:
                save_tokenizer(args.vocabulary, args.out)
            _truncate_metrics(args.out, 0)
        return 0
    state = load_checkpoint(ck, r.model, r.opt, r.device, r.rank,
                            expect={k: r.run_args.get(k) for k in RESUME_KEYS})
    if r.main:
        log.info("resuming %s from step %d", args.out, state["step"])
        _truncate_metrics(args.out, state["step"])
    return state["step"]


def _train_step(r: _Run, batches, step: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One optimizer step over ``grad_accum`` micro-batches: (mean losses [ce, aux, z,
    dropped] over the micro-batches and ranks, gradient norm, learning rate)."""
    args, cfg = r.args, r.cfg
    lr = lr_at(step, args)
    for g in r.opt.param_groups:
        g["lr"] = lr
    sums = torch.zeros(4, device=r.device)
    for micro in range(args.grad_accum):
        x, y, npc, klass = next(batches)
        x, y, npc = x.to(r.device, non_blocking=True), y.to(r.device), npc.to(r.device)
        spout = spout_vectors(klass, spout_width(cfg))
        sync = (contextlib.nullcontext() if r.world == 1 or micro == args.grad_accum - 1
                else r.net.no_sync())
        with sync, r.autocast:
            # lm sequences have no prefix beyond <|startoftext|>, which causal attention
            # already shows to every position: plain causal (flash) attention
            out = r.net(x, num_precontext=None if args.mode == "lm" else npc,
                        spout=None if spout is None else spout.to(r.device), labels=y)
            ce = out.loss
            loss = ce + out.router_loss(r.cfg)
        (loss / args.grad_accum).backward()
        sums += torch.stack([ce.detach(), out.aux_loss.detach().float(),
                             out.z_loss.detach().float(), out.dropped.detach().float()])
    if r.world > 1:
        import torch.distributed as dist
        dist.all_reduce(sums)
        sums /= r.world
    sums /= args.grad_accum
    # a diverged step is never applied: the weights stay those of the last finite step (the
    # sums are the same on every rank, so every rank stops together)
    if not bool(torch.isfinite(sums[:3]).all()):
        raise NonFiniteLoss(_diverged(r, step, "loss", float(sums[0])))
    if args.grad_clip > 0:
        gnorm = clip_and_step(r.opt, r.params, args.grad_clip)
        if not bool(torch.isfinite(gnorm)):
            raise NonFiniteLoss(_diverged(r, step, "gradient norm", float(gnorm)))
    else:
        gnorm = torch.zeros(())
        r.opt.step()
    r.opt.zero_grad(set_to_none=True)
    return sums, gnorm, lr


class NonFiniteLoss(ModelError):
    """Training diverged: a loss or gradient norm that is NaN or infinite."""


def _diverged(r: _Run, step: int, what: str, value: float) -> str:
    cks = list_checkpoints(r.args.out)
    keep = (f"{r.args.out} keeps its last checkpoint ({os.path.basename(cks[-1])}), from "
            "which a rerun continues" if cks else "no checkpoint was saved yet")
    return (f"step {step + 1}: the {what} is {value} (not finite); training stopped before "
            f"the step was applied and {keep}: lower --lr (now {r.args.lr:g}) or raise "
            "--warmup, or check the data")


def _evaluate(r: _Run, step: int) -> dict:
    v = {"step": step, **r.validator(r.model, r.device, r.autocast)}
    log.info("step %d: %s", step, " ".join(f"{k} {val:.4g}" for k, val in v.items()
                                           if k != "step"))
    return v


def _append_metrics(path: str, row: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def _train(args: TrainConfig, device, world: int, rank: int) -> dict:
    r = _setup(args, device, world, rank)
    step = _resume(r)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        r.net = DDP(r.model, device_ids=[device.index] if device.type == "cuda" else None,
                    find_unused_parameters=True)
    if args.compile:
        r.net = torch.compile(r.net)
    batches = iter(loader(r.data, step * args.grad_accum, rank, world, args.workers))
    tokens_per_step = args.batch_size * r.run_args["seq_len"] * args.grad_accum * world
    metrics_path = os.path.join(args.out, "metrics.jsonl")
    bar = None
    # a bar on a terminal; in a log (a file, a pipe) a plain line per metrics line, never \r
    from swelm.console import progress_mode
    shown = progress_mode() if r.main and args.progress else "off"
    lines = shown == "log"
    if r.main and step >= args.steps:
        print(f"swelm train: {args.out} has trained {step} steps (--steps {args.steps}); "
              f"nothing to do (--steps N with N above {step} trains on)", file=sys.stderr)
    elif shown == "terminal":
        from tqdm import tqdm
        bar = tqdm(total=args.steps, initial=step, unit="step", dynamic_ncols=True,
                   mininterval=0.5)
    last: dict = {}
    t0, tok0 = time.perf_counter(), 0
    while step < args.steps:
        sums, gnorm, lr = _train_step(r, batches, step)
        step += 1
        tok0 += tokens_per_step
        if r.main and (step % args.log_every == 0 or step == args.steps):
            dt = time.perf_counter() - t0
            ce_v, aux_v, z_v, drop_v = sums.tolist()
            last = {"step": step, "loss": ce_v, "aux_loss": aux_v, "z_loss": z_v,
                    "dropped": drop_v, "lr": lr, "grad_norm": float(gnorm),
                    "tokens": step * tokens_per_step, "tokens_per_s": tok0 / max(dt, 1e-9)}
            _append_metrics(metrics_path, last)
            t0, tok0 = time.perf_counter(), 0
            if lines:
                print(f"swelm train: step {step}/{args.steps}, loss {last['loss']:.3f}, "
                      f"{last['tokens_per_s']:,.0f} tokens/s", file=sys.stderr, flush=True)
        if bar is not None:
            bar.update(1)
            if last:
                bar.set_postfix(loss=f"{last['loss']:.3f}", tok_s=f"{last['tokens_per_s']:.0f}")
        if r.validator is not None and (step % args.eval_every == 0 or step == args.steps):
            v = _evaluate(r, step)
            _append_metrics(metrics_path, v)
            last.update(v)
        if step % args.save_every == 0 or step == args.steps:
            _save(r, step)
            if r.main:
                plot_metrics(args.out)
    if bar is not None:
        bar.close()
    del r.net
    return last


def _save(r: _Run, step: int) -> None:
    """A checkpoint of every rank's state, written by the main rank."""
    device, world = r.device, r.world
    rng = [torch.get_rng_state()]
    cuda_rng = [torch.cuda.get_rng_state(device)] if device.type == "cuda" else []
    if world > 1:
        import torch.distributed as dist
        rng_all = [None] * world
        dist.all_gather_object(rng_all, rng[0])
        rng = rng_all
        if cuda_rng:
            c_all = [None] * world
            dist.all_gather_object(c_all, cuda_rng[0])
            cuda_rng = c_all
    if r.main:
        state = {"step": step, "optimizer": r.opt.state_dict(), "rng": rng,
                 "cuda_rng": cuda_rng, "args": r.run_args}
        save_checkpoint(r.args.out, step, r.model, r.cfg, state, keep=r.args.keep)
    if world > 1:
        import torch.distributed as dist
        dist.barrier()
