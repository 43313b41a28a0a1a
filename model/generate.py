"""Sampling from a Switch-LM: KV cache, top-k, top-p, temperature, min/max new tokens, stop at
``<|endoftext|>``, several samples per call, a spout class, and a bidirectional prefix.

Input layout (as GPTSAN): ``<|startoftext|> prefix… <|segmenter|> context…``; the prefix (and the
start token) is seen bidirectionally, the context and what follows causally.  The LM tools route
every token to its expert (no capacity cut), so a text's output never depends on what else is in
the batch.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import torch

from .checkpoint import CheckpointError, load_model
from .data import spout_vectors
from .model import SwitchLM


class InputError(ValueError):
    pass


def pick_device(name: str | None) -> torch.device:
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load(model_path: str, device: str | None = None, vocabulary: str | None = None,
         emoji: str | None = None):
    """(model, encoder) ready for the LM tools; the encoder's vocabulary must be the model's."""
    from tokenizer import SWEEncoder
    dev = pick_device(device)
    model = load_model(model_path, dev).set_unlimited_capacity()
    enc = SWEEncoder.load(vocabulary, emoji)
    want = model.cfg.vocab_sha256
    if want and enc.vocab_sha256 != want:
        raise CheckpointError(
            f"vocabulary mismatch: the model was trained with vocabulary {want[:12]}…, "
            f"{enc.vocab.path} is {enc.vocab_sha256[:12]}… (pass --vocabulary with the right file)")
    if len(enc) > model.cfg.vocab_size:
        raise CheckpointError(f"the vocabulary has {len(enc)} tokens, the model "
                              f"{model.cfg.vocab_size}")
    return model, enc


def layout_ids(model: SwitchLM, enc, context: str | list[int] = "",
               prefix: str | list[int] | None = None) -> tuple[list[int], int]:
    """``<|startoftext|> prefix <|segmenter|> context`` and the bidirectional length."""
    cfg = model.cfg
    to_ids = (lambda t: list(t) if not isinstance(t, str) else enc.encode(t))  # noqa: E731
    p = to_ids(prefix) if prefix is not None else []
    c = to_ids(context)
    ids = [cfg.token("startoftext")] + p + [cfg.token("segmenter")] + c
    return ids, 1 + len(p)


def decode(enc, ids, cfg) -> str:
    """Text of generated ids: ``<|bagoftoken|>`` repeats the previous token three more times (as
    GPTSAN's decoder), other special tokens are dropped, ``<|endoftext|>`` ends the text."""
    out: list[int] = []
    special = set(cfg.special.values())
    bag, eot = cfg.token("bagoftoken"), cfg.token("endoftext")
    for t in ids:
        t = int(t)
        if t == eot:
            break
        if t == bag:
            if out:
                out += [out[-1]] * 3
            continue
        if t in special:
            continue
        out.append(t)
    return enc.decode(out)


def spout_vector(model: SwitchLM, klass: int | None, batch: int):
    if klass is None:
        return None
    d = model.cfg.d_spout
    if d == 0:
        raise InputError("this model has no spout (d_spout = 0)")
    if not 0 <= klass < d:
        raise InputError(f"--spout {klass}: classes are 0..{d - 1}")
    return spout_vectors(torch.full((batch,), klass), d).to(model.head.weight.device)


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


@dataclass
class Sample:
    ids: list[int]              # new token ids (without the context, up to <|endoftext|>)
    logprobs: list[float]       # log-probability of each new token under the model
    text: str

    @property
    def score(self) -> float:
        return float(sum(self.logprobs))


def check_length(model: SwitchLM, n_input: int, spout: bool) -> int:
    room = model.cfg.n_ctx - n_input - (1 if spout else 0)
    if room <= 0:
        raise InputError(f"the context is {n_input} tokens; the model takes at most "
                         f"{model.cfg.n_ctx - (1 if spout else 0) - 1} (n_ctx {model.cfg.n_ctx})")
    return room


@torch.no_grad()
def sample(model: SwitchLM, enc, context: str | list[int] = "", *, prefix=None,
           max_new_tokens: int = 100, min_new_tokens: int = 0, top_k: int = 0,
           top_p: float = 1.0, temperature: float = 1.0, num_samples: int = 1, seed: int = 0,
           spout: int | None = None, use_cache: bool = True) -> list[Sample]:
    """``num_samples`` continuations of ``context`` (text or token ids)."""
    if max_new_tokens < 1:
        raise InputError("max_new_tokens must be at least 1")
    if not 0 < top_p <= 1:
        raise InputError("top_p must be in (0, 1]")
    if temperature < 0:
        raise InputError("temperature must be ≥ 0")
    cfg = model.cfg
    ids, npc = layout_ids(model, enc, context, prefix)
    room = check_length(model, len(ids), spout is not None)
    max_new = min(max_new_tokens, room)
    dev = model.head.weight.device
    B = num_samples
    x = torch.tensor([ids] * B, device=dev)
    sp = spout_vector(model, spout, B)
    gen = torch.Generator(device=dev).manual_seed(seed)
    eot = cfg.token("endoftext")
    cache = model.new_cache(B, spout=sp) if use_cache else None
    out_ids = torch.empty(B, 0, dtype=torch.long, device=dev)
    out_lp = torch.empty(B, 0, device=dev)
    done = torch.zeros(B, dtype=torch.bool, device=dev)
    step_in = x
    for i in range(max_new):
        if use_cache:
            logits = model(step_in, num_precontext=npc if i == 0 else None, cache=cache,
                           last_only=True).logits[:, -1].float()
        else:
            full = torch.cat([x, out_ids], 1)
            logits = model(full, num_precontext=npc, spout=sp, last_only=True).logits[:, -1]
            logits = logits.float()
        logp = logits.log_softmax(-1)
        if i < min_new_tokens:
            logits[:, eot] = float("-inf")
        if temperature == 0:
            nxt = logits.argmax(-1)
        else:
            probs = filter_logits(logits / temperature, top_k, top_p).softmax(-1)
            nxt = torch.multinomial(probs, 1, generator=gen)[:, 0]
        nxt = torch.where(done, torch.full_like(nxt, eot), nxt)
        out_lp = torch.cat([out_lp, logp.gather(1, nxt[:, None])], 1)
        out_ids = torch.cat([out_ids, nxt[:, None]], 1)
        done |= nxt == eot
        if bool(done.all()):
            break
        step_in = nxt[:, None]
    samples = []
    for b in range(B):
        row = out_ids[b].tolist()
        n = row.index(eot) + 1 if eot in row else len(row)
        samples.append(Sample(row[:n], out_lp[b, :n].tolist(), decode(enc, row[:n], cfg)))
    return samples


def cmd_generate(args) -> int:
    from .tools import LM
    try:
        lm = LM.load(args.model, args.device, args.vocabulary, args.emoji)
        out = lm.generate(args.context, prefix=args.prefix, beam=args.beam,
                          num_samples=args.num_samples, max_new_tokens=args.max_new_tokens,
                          min_new_tokens=args.min_new_tokens, top_k=args.top_k, top_p=args.top_p,
                          temperature=args.temperature, seed=args.seed, spout=args.spout,
                          length_penalty=args.length_penalty)
    except (CheckpointError, InputError, ValueError, FileNotFoundError) as e:
        print(f"swelm generate: {e}", file=sys.stderr)
        return 2
    for s in out:
        if args.json:
            print(json.dumps({"text": args.context + s.text, "new_text": s.text, "ids": s.ids,
                              "tokens": [lm.token_text(i) for i in s.ids],
                              "logprobs": s.logprobs, "score": s.score}, ensure_ascii=False))
        else:
            print(args.context + s.text)
    return 0


__all__ = ["load", "sample", "decode", "layout_ids", "filter_logits", "Sample", "InputError"]
