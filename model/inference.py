"""Inference plumbing shared by every LM tool: loading a model with its tokenizer (the vocabulary
hash is checked), the input layout, decoding of generated ids, logit filters, and the one result
type of generation (:class:`Generation`).  The tools themselves are methods of
:class:`swelm.model.lm.LM`.

Input layout (as GPTSAN): ``<|startoftext|> prefix… <|segmenter|> context…``; the prefix (and the
start token) is seen bidirectionally, the context and what follows causally.  The LM tools route
every token to its expert (no capacity cut), so a text's output never depends on what else is in
the batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .checkpoint import CheckpointError, load_model
from .data import spout_vectors
from .common import ModelError
from .registry import architecture, spout_width


class InputError(ModelError):
    pass


def free_memory(device) -> int | None:
    """Bytes free for new tensors on ``device``: the GPU's free memory, or the machine's
    available memory (``MemAvailable``) for the CPU; None when unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def layer_sizes(cfg) -> tuple[int, int]:
    """(layers, the widest feed-forward width) of a Switch or GPT-2 config."""
    layers = cfg.n_layers
    hidden = max(getattr(cfg, "expert_hidden", 0) or 8 * cfg.d_model,
                 getattr(cfg, "d_ff", 0) or 4 * cfg.d_model)
    return layers, hidden


def activation_bytes(cfg, seq: int) -> int:
    """Training memory per token of a micro-batch (forward activations kept for the backward
    pass, and the logits with their softmax and gradient: measured on CPU in float32 at about
    three vocabulary-wide rows per token), for sequences of ``seq`` tokens."""
    layers, hidden = layer_sizes(cfg)
    return 4 * (4 * cfg.vocab_size
                + layers * (3 * hidden + 24 * cfg.d_model + 3 * cfg.n_head * seq))


def check_fits(cfg, device, bytes_per_param: int, what: str, *, batch: int = 0,
               seq: int = 0) -> None:
    """Refuse a config whose parameters (``cfg.total_params()``, at ``bytes_per_param``
    bytes each: 16 to train with AdamW in fp32), with the activations of a micro-batch of
    ``batch`` sequences of ``seq`` tokens (:func:`activation_bytes`), do not fit the free
    memory of ``device``: one line naming the sizes, instead of the kernel killing the
    process."""
    from .common import ModelError
    n = cfg.total_params()
    weights, acts = n * bytes_per_param, batch * seq * activation_bytes(cfg, seq)
    need, free = weights + acts, free_memory(device)
    if free is None or need <= 0.9 * free:
        return
    if acts > weights:
        raise ModelError(f"--batch-size {batch}: a micro-batch of {batch} sequences of {seq} "
                         f"tokens needs about {acts / 2**30:,.1f} GiB of activations, and "
                         f"{free / 2**30:.1f} GiB is free on {device}: lower --batch-size "
                         "(raise --grad-accum to keep the tokens per step)")
    raise ModelError(f"{what}: the config has about {n / 1e6:,.0f}M parameters, "
                     f"{weights / 2**30:,.1f} GiB with its gradients and optimizer state, "
                     f"and {free / 2**30:.1f} GiB is free on {device}: choose smaller "
                     "sizes (--config, --set)")


def pick_device(name: str | None) -> torch.device:
    """The device ``--device NAME`` names (default: cuda when there is one, else cpu); a
    device this torch cannot use is one clear error, not an assertion deep in torch."""
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    from .common import ModelError
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ModelError(f"--device {name}: not a device name (cpu, cuda, cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this torch is built without CUDA" if torch.version.cuda is None else
                   "no CUDA device is visible")
            raise ModelError(f"--device {name}: {why} (torch {torch.__version__}); use "
                             "--device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ModelError(f"--device {name}: there are {torch.cuda.device_count()} CUDA "
                             "devices")
    elif dev.type != "cpu":
        backend = getattr(torch, dev.type, None)
        available = getattr(backend, "is_available", None)
        if available is None:
            raise ModelError(f"--device {name}: expected cpu or cuda")
        if not available():
            raise ModelError(f"--device {name}: this machine or this torch "
                             f"({torch.__version__}) has no {dev.type} device; use --device "
                             "cpu")
    return dev


def load(model_path: str, device: str | None = None, vocabulary: str | None = None,
         emoji: str | None = None):
    """(model, tokenizer) ready for the LM tools.  The tokenizer is ``vocabulary`` (any kind),
    else the one kept in the run folder, else the bundled SWE vocabulary; its sha256 must be
    the model's."""
    from swelm.tokenizer.kinds import open_tokenizer
    from .checkpoint import run_tokenizer
    dev = pick_device(device)
    model = load_model(model_path, dev).set_unlimited_capacity()
    kind = model.cfg.vocab_kind or "swe"
    path = vocabulary or run_tokenizer(model_path)
    if path is None and kind != "swe":
        raise CheckpointError(f"{model_path}: the model was trained with a {kind} tokenizer and "
                              "its run folder keeps none: pass --vocabulary FILE")
    enc = open_tokenizer(path, emoji)
    want = model.cfg.vocab_sha256
    if want and enc.sha256 != want:
        where = path or "the bundled vocabulary"
        raise CheckpointError(
            f"vocabulary mismatch: the model was trained with the {kind} tokenizer {want[:12]}…, "
            f"{where} is the {enc.kind} tokenizer {enc.sha256[:12]}… (pass --vocabulary with "
            "the right file)")
    if len(enc) > model.cfg.vocab_size:
        raise CheckpointError(f"the vocabulary has {len(enc)} tokens, the model "
                              f"{model.cfg.vocab_size}")
    return model, enc


def is_dense(model) -> bool:
    """A causal model: ``bos text``, no prefix, no masks (see registry.Architecture)."""
    return architecture(model).causal


def model_device(model) -> torch.device:
    return next(model.parameters()).device


def layout_ids(model, enc, context: str | list[int] = "",
               prefix: str | list[int] | None = None) -> tuple[list[int], int | None]:
    """``<|startoftext|> prefix <|segmenter|> context`` and the bidirectional length; for a
    dense (gpt2) model ``bos context`` and None."""
    cfg = model.cfg
    to_ids = (lambda t: list(t) if not isinstance(t, str) else enc.encode(t))  # noqa: E731
    if is_dense(model):
        if prefix is not None:
            raise InputError("a gpt2 model is causal: it takes no --prefix (give the text as "
                             "the context)")
        return [cfg.bos_id] + to_ids(context), None
    p = to_ids(prefix) if prefix is not None else []
    c = to_ids(context)
    ids = [cfg.token("startoftext")] + p + [cfg.token("segmenter")] + c
    return ids, 1 + len(p)


def decode(enc, ids, cfg) -> str:
    """Text of generated ids: ``<|bagoftoken|>`` repeats the previous token three more times (as
    GPTSAN's decoder), other special tokens are dropped, ``<|endoftext|>`` ends the text."""
    out: list[int] = []
    special = set(cfg.special.values())
    eot = cfg.token("endoftext")
    bag = cfg.special.get("<|bagoftoken|>", -1)
    for t in ids:
        t = int(t)
        if t == eot:
            break
        if t == bag >= 0:
            if out:
                out += [out[-1]] * 3
            continue
        if t in special:
            continue
        out.append(t)
    return enc.decode(out)


def spout_vector(model, klass: int | None, batch: int):
    if klass is None:
        return None
    d = spout_width(model.cfg)
    if d == 0:
        raise InputError("this model has no spout (d_spout = 0)")
    if not 0 <= klass < d:
        raise InputError(f"--spout {klass}: classes are 0..{d - 1}")
    return spout_vectors(torch.full((batch,), klass), d).to(model_device(model))


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Logits with everything outside the top-k / nucleus set to −inf."""
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs > top_p        # keep the token that crosses top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def penalize_repeats(scores: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """transformers' repetition penalty (CTRL's): the scores of the tokens in ``seen`` (per
    row, the context and the output so far) divided by ``penalty`` where positive, multiplied
    where negative."""
    if penalty == 1.0:
        return scores
    got = scores.gather(1, seen)
    return scores.scatter(1, seen, torch.where(got > 0, got / penalty, got * penalty))


@dataclass
class Generation:
    """One generated continuation (a sample or a beam)."""
    ids: list[int]              # new token ids (without the context, up to <|endoftext|>)
    logprobs: list[float]       # log-probability of each new token under the model
    text: str                   # the new text
    score: float                # samples: the summed log-probability; beams: that sum /
    #                             length ** length_penalty, by which beams are ranked

    @property
    def total(self) -> float:
        """The summed log-probability of the new tokens."""
        return float(sum(self.logprobs))


def check_length(model, n_input: int, spout: bool) -> int:
    room = model.cfg.n_ctx - n_input - (1 if spout else 0)
    if room <= 0:
        raise InputError(f"the context is {n_input} tokens; the model takes at most "
                         f"{model.cfg.n_ctx - (1 if spout else 0) - 1} (n_ctx {model.cfg.n_ctx})")
    return room


__all__ = ["load", "decode", "layout_ids", "is_dense", "model_device", "filter_logits",
           "penalize_repeats",
           "check_length", "spout_vector", "pick_device", "Generation", "InputError"]
