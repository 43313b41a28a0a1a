"""The dense GPT-2 language model, with the layout of ``transformers.GPT2LMHeadModel``.

* Blocks: pre-LN, ``x = x + attn(LN(x))`` then ``x = x + mlp(LN(x))``; fused qkv with bias;
  the MLP is ``Linear(d, 4·d) → GELU → Linear(4·d, d)`` (``gelu_new``, the tanh approximation
  GPT-2 was trained with, unless the config says ``gelu``); learned position embeddings; a
  final LN; the output layer is the token embedding (tied).
* Causal only: no bidirectional prefix, no spout, no masks to fill.  The LM tools put the
  model's ``bos_id`` (``<|endoftext|>`` for models trained here) before a text, as the
  training sequences have it.

The forward pass takes the Switch-LM's arguments (KV cache, hidden states, fused loss), so the
trainer, checkpoints and every LM tool work on either architecture.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import ConfigJSON, KVCache, LMOutput, ModelError, lm_loss

ARCH = "gpt2"
ACTIVATIONS = ("gelu_new", "gelu")


@dataclass
class GPT2Config(ConfigJSON):
    """Sizes of a dense GPT-2 (stored as ``config.json`` beside the weights, ``arch: gpt2``)."""
    arch: str = ARCH
    vocab_size: int = 32000
    n_ctx: int = 1024
    d_model: int = 768
    n_head: int = 12
    n_layers: int = 12
    d_ff: int = 0                   # 0 → 4 · d_model
    activation: str = "gelu_new"
    layer_norm_eps: float = 1e-5
    dropout: float = 0.0            # embeddings, attention weights, residual branches (training)
    # the token that ends a text, and the one put before every text (-1: the end token)
    special: dict = field(default_factory=dict)
    bos_id: int = -1
    vocab_sha256: str = ""
    vocab_kind: str = ""

    ARCH = ARCH
    #: the numeric fields: (integer, minimum, exclusive minimum)
    BOUNDS = {"vocab_size": (True, 1, False), "n_ctx": (True, 2, False),
              "d_model": (True, 1, False), "n_head": (True, 1, False),
              "n_layers": (True, 1, False), "d_ff": (True, 0, False),
              "layer_norm_eps": (False, 0, True), "dropout": (False, 0, False),
              "bos_id": (True, -1, False)}
    TEXT = ("vocab_sha256", "vocab_kind")

    def __post_init__(self) -> None:
        self.check_fields()
        if self.activation not in ACTIVATIONS:
            raise ModelError(f"config field 'activation': expected one of {ACTIVATIONS}, got "
                             f"{self.activation!r}")
        if not 0 <= self.dropout < 1:
            raise ModelError(f"config field 'dropout': expected 0 <= dropout < 1, got "
                             f"{self.dropout!r}")
        if not isinstance(self.special, dict) or not all(
                isinstance(v, int) and 0 <= v < self.vocab_size for v in self.special.values()):
            raise ModelError(f"config field 'special': expected an object of token ids below "
                             f"vocab_size {self.vocab_size}, got {self.special!r}")
        if not -1 <= self.bos_id < self.vocab_size:
            raise ModelError(f"config field 'bos_id': expected -1 or a token id below "
                             f"vocab_size {self.vocab_size}, got {self.bos_id}")
        if self.d_ff <= 0:
            self.d_ff = 4 * self.d_model
        if not self.special:
            # without a tokenizer: the last id ends a text, as in the GPT-2 vocabularies
            self.special = {"<|endoftext|>": self.vocab_size - 1}
        if "<|endoftext|>" not in self.special:
            raise ModelError(f"config field 'special': expected an <|endoftext|> entry, got "
                             f"{self.special!r}")
        if self.bos_id == -1:
            self.bos_id = self.special["<|endoftext|>"]

    def describe(self) -> str:
        return f"gpt2, {self.n_layers} layers"

    @property
    def eot_id(self) -> int:
        return self.special["<|endoftext|>"]

    def token(self, name: str) -> int:
        key = f"<|{name}|>"
        if key not in self.special:
            raise ModelError(f"a gpt2 model has no {key} token (it is a causal LM: no prefix, "
                             "no masks)")
        return self.special[key]

    def total_params(self) -> int:
        """Every parameter (an estimate: norms and biases left out), before allocating."""
        d = self.d_model
        return (self.vocab_size + self.n_ctx) * d + self.active_params()

    def active_params(self) -> int:
        """Parameters one token goes through (embeddings excluded), for MFU."""
        d = self.d_model
        return self.n_layers * (4 * d * d + 2 * d * self.d_ff)


#: the GPT-2 sizes (the vocabulary size comes from the shards or the tokenizer)
PRESETS: dict[str, dict] = {
    "gpt2-tiny": dict(n_ctx=128, d_model=64, n_head=4, n_layers=2),      # for tests
    "gpt2-small": dict(n_ctx=1024, d_model=768, n_head=12, n_layers=12),
    "gpt2-medium": dict(n_ctx=1024, d_model=1024, n_head=16, n_layers=24),
    "gpt2-large": dict(n_ctx=1024, d_model=1280, n_head=20, n_layers=36),
}


class Attention(nn.Module):
    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=True)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=True)

    def forward(self, x, cache=None, layer=0):
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, D // self.n_head).permute(2, 0, 3, 1, 4)
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.append(layer, k, v)
        p = self.dropout if self.training else 0.0
        if past == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
        else:       # new positions see the cache and the causal part of themselves
            S = past + T
            mask = (torch.arange(S, device=x.device)[None, :]
                    <= torch.arange(past, S, device=x.device)[:, None])
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))


class Block(nn.Module):
    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.attn = Attention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.fc_in = nn.Linear(cfg.d_model, cfg.d_ff, bias=True)
        self.fc_out = nn.Linear(cfg.d_ff, cfg.d_model, bias=True)
        self.approximate = "tanh" if cfg.activation == "gelu_new" else "none"
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, cache=None, layer=0):
        x = x + self.drop(self.attn(self.ln_1(x), cache, layer))
        h = F.gelu(self.fc_in(self.ln_2(x)), approximate=self.approximate)
        return x + self.drop(self.fc_out(h))


class GPT2LM(nn.Module):
    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
        self.ln_f = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2's initialisation: normal(0.02), the residual projections scaled by
        1/sqrt(2·layers), position embeddings normal(0.01), biases zero, norms one."""
        out_std = 0.02 / math.sqrt(2 * self.cfg.n_layers)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif ".ln_" in name or name.startswith("ln_f"):
                nn.init.ones_(p)
            elif name == "wpe.weight":
                nn.init.normal_(p, std=0.01)
            elif name.endswith(("attn.proj.weight", "fc_out.weight")):
                nn.init.normal_(p, std=out_std)
            else:
                nn.init.normal_(p, std=0.02)

    # the Switch-LM's interface, for the shared tools
    def set_unlimited_capacity(self, on: bool = True) -> "GPT2LM":
        return self

    def moe_impl(self, device) -> str:
        return "dense"

    def new_cache(self, batch: int, max_len: int | None = None, spout=None,
                  dtype=None) -> KVCache:
        if spout is not None:
            raise ModelError("a gpt2 model has no spout")
        p = self.wte.weight
        return KVCache(self.cfg, batch, max_len or self.cfg.n_ctx, p.device, dtype or p.dtype)

    def forward(self, idx: torch.Tensor, *, num_precontext=None, spout=None,
                cache: KVCache | None = None, output_hidden_states: bool = False,
                last_only: bool = False, labels: torch.Tensor | None = None) -> LMOutput:
        """As :meth:`SwitchLM.forward`; ``num_precontext`` and ``spout`` must be None (a causal
        model).  ``hidden_states``: each block's output, the last one after the final norm (as
        transformers' last hidden state)."""
        if num_precontext is not None:
            raise ModelError("a gpt2 model is causal: it takes no bidirectional prefix")
        if spout is not None:
            raise ModelError("a gpt2 model has no spout")
        cfg = self.cfg
        B, T = idx.shape
        past = cache.length if cache is not None else 0
        if past + T > cfg.n_ctx:
            raise ModelError(f"sequence of {past + T} positions is longer than n_ctx {cfg.n_ctx}")
        pos = torch.arange(past, past + T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        hidden = [] if output_hidden_states else None
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
            if hidden is not None:
                hidden.append(x)
        if cache is not None:
            cache.length += T
        x = self.ln_f(x)
        if hidden is not None:
            hidden[-1] = x
        if last_only:
            x = x[:, -1:]
        logits = F.linear(x, self.wte.weight)
        zero = logits.new_zeros((), dtype=torch.float32)
        loss = None
        if labels is not None:
            loss, logits = lm_loss(logits, labels), None
        return LMOutput(logits, zero, zero, zero, hidden, loss)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
