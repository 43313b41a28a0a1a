"""The Switch-LM: GPTSAN's architecture in one PyTorch file.

* Blocks: ``x = LN(attn(x)) + x`` then ``x = LN(ffn(x)) + x`` (the norm sits on the branch
  output, as in GPTSAN); fused qkv without bias; learned position embeddings.
* Switch FFN (the first ``n_switch_layers`` blocks): top-1 routing with a capacity; tokens over
  an expert's capacity get zero from the experts; the "softmlp" bypass ``tanh(W x)`` is added to
  the expert output.  Two implementations with the same results: ``loop`` (one matmul per expert,
  the reference and the CPU default) and ``grouped`` (tokens sorted by expert, every expert in
  one ``torch.nn.functional.grouped_mm``; the CUDA default in bf16).  In evaluation, fewer
  tokens than experts (decoding) take each token's own expert weights, gathered.
* Ext layers: dense swish FFN blocks after the switch blocks, with their own position embedding
  (initialised to zero) added before the first of them.
* Prefix-LM: tokens before ``num_precontext`` are seen by every position, the rest is causal.
* Spout: a ``d_spout`` vector → 8 × ``tanh(Linear)`` → ``Linear`` to one extra key/value position
  per layer (kv index 0; token positions then start at 1).
* Output: ``swish(Linear(x)) @ wteᵀ + bias``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from swelm.tokenizer.vocab import special_ids

from .common import ConfigJSON, KVCache, LMOutput, ModelError, lm_loss


@dataclass
class SwitchConfig(ConfigJSON):
    """Every size and routing constant of a Switch-LM (stored as ``config.json`` beside the
    weights)."""
    vocab_size: int = 36000
    n_ctx: int = 1280
    d_model: int = 1024
    n_head: int = 16
    n_switch_layers: int = 10
    n_ext_layers: int = 0
    n_experts: int = 16
    expert_hidden: int = 0          # 0 → 8 · d_model (ReLU, no bias)
    ext_hidden: int = 0             # 0 → 4 · d_model (swish, with bias)
    capacity_factor_train: float = 1.25
    capacity_factor_eval: float = 2.0
    min_capacity: int = 4
    router_jitter: float = 1e-2     # multiplicative input noise, training only
    aux_loss_coef: float = 1e-2     # load-balancing loss weight
    z_loss_coef: float = 1e-4       # router z-loss weight
    d_spout: int = 128              # 0 → no spout
    layer_norm_eps: float = 1e-5
    moe_impl: str = "auto"          # auto | loop | grouped
    # token ids of the special tokens (the SWE vocabulary puts them last)
    special: dict = field(default_factory=dict)
    vocab_sha256: str = ""
    vocab_kind: str = ""            # the tokenizer's kind (swelm.tokenizer.kinds); "" → swe
    arch: str = "switch"

    ARCH = "switch"
    #: the numeric fields: (integer, minimum, exclusive minimum)
    BOUNDS = {"vocab_size": (True, 1, False), "n_ctx": (True, 2, False),
              "d_model": (True, 1, False), "n_head": (True, 1, False),
              "n_switch_layers": (True, 0, False), "n_ext_layers": (True, 0, False),
              "n_experts": (True, 0, False), "expert_hidden": (True, 0, False),
              "ext_hidden": (True, 0, False), "capacity_factor_train": (False, 0, True),
              "capacity_factor_eval": (False, 0, True), "min_capacity": (True, 1, False),
              "router_jitter": (False, 0, False), "aux_loss_coef": (False, 0, False),
              "z_loss_coef": (False, 0, False), "d_spout": (True, 0, False),
              "layer_norm_eps": (False, 0, True)}
    TEXT = ("moe_impl", "vocab_sha256", "vocab_kind")

    def __post_init__(self) -> None:
        self.check_fields()
        if not isinstance(self.special, dict):
            raise ModelError(f"config field 'special': expected an object, got {self.special!r}")
        if self.n_switch_layers + self.n_ext_layers < 1:
            raise ModelError("config: n_switch_layers + n_ext_layers must be at least 1")
        if self.expert_hidden <= 0:
            self.expert_hidden = 8 * self.d_model
        if self.ext_hidden <= 0:
            self.ext_hidden = 4 * self.d_model
        if self.n_switch_layers and self.n_experts < 1:
            raise ModelError("a switch layer needs at least one expert")
        if self.moe_impl not in ("auto", "loop", "grouped"):
            raise ModelError(f"moe_impl must be auto, loop or grouped, not {self.moe_impl!r}")
        if not self.special:
            self.special = special_ids(self.vocab_size)

    @property
    def n_layers(self) -> int:
        return self.n_switch_layers + self.n_ext_layers

    def describe(self) -> str:
        return f"{self.n_switch_layers} switch + {self.n_ext_layers} ext layers"

    def token(self, name: str) -> int:
        return self.special[f"<|{name}|>"]

    def total_params(self) -> int:
        """Every parameter of the model of this config (an estimate within a few percent:
        norms and biases left out), known before anything is allocated."""
        d, v = self.d_model, self.vocab_size
        emb = v * d + self.n_ctx * d * (2 if self.n_ext_layers else 1) + d * d + v
        switch = self.n_experts * 2 * d * self.expert_hidden + d * d + d * self.n_experts
        return (emb + self.n_layers * 4 * d * d + self.n_switch_layers * switch
                + self.n_ext_layers * 2 * d * self.ext_hidden + 18 * self.d_spout * d)

    def active_params(self) -> int:
        """Parameters one token goes through (embeddings excluded), for MFU."""
        d = self.d_model
        attn = 4 * d * d
        switch = 2 * d * self.expert_hidden + d * d + d * self.n_experts
        ext = 2 * d * self.ext_hidden
        return self.n_layers * attn + self.n_switch_layers * switch + self.n_ext_layers * ext + d * d


PRESETS: dict[str, dict] = {
    # seconds on one CPU core; for tests
    "tiny": dict(n_ctx=128, d_model=64, n_head=4, n_switch_layers=2, n_ext_layers=0,
                 n_experts=4, d_spout=16),
    # GPT-2-small active size (12 × 768, 4·d experts) with 16 experts
    "small": dict(n_ctx=1024, d_model=768, n_head=12, n_switch_layers=12, n_ext_layers=0,
                  n_experts=16, expert_hidden=3072),
    # the published GPTSAN 2.8B model
    "gptsan-2.8b": dict(n_ctx=1280, d_model=1024, n_head=16, n_switch_layers=10,
                        n_ext_layers=0, n_experts=16),
}


# --------------------------------------------------------------------------- modules
class Attention(nn.Module):
    def __init__(self, cfg: SwitchConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x, mask, past_kv=None, cache=None, layer=0):
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, D // self.n_head).permute(2, 0, 3, 1, 4)
        if cache is not None:
            k, v = cache.append(layer, k, v)
        elif past_kv is not None:
            k = torch.cat([past_kv[0].to(k.dtype), k], dim=2)
            v = torch.cat([past_kv[1].to(v.dtype), v], dim=2)
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))


class SwitchFFN(nn.Module):
    """Top-1 switch layer with capacity, plus the tanh bypass."""

    def __init__(self, cfg: SwitchConfig) -> None:
        super().__init__()
        self.cfg = cfg
        E, D, H = cfg.n_experts, cfg.d_model, cfg.expert_hidden
        self.router = nn.Linear(D, E, bias=False)
        self.w_in = nn.Parameter(torch.empty(E, H, D))     # per expert, nn.Linear layout
        self.w_out = nn.Parameter(torch.empty(E, D, H))
        self.bypass = nn.Linear(D, D, bias=False)
        self.unlimited = False     # set by SwitchLM.set_unlimited_capacity

    def capacity(self, n_tokens: int) -> int:
        if self.unlimited:
            return n_tokens
        f = self.cfg.capacity_factor_train if self.training else self.cfg.capacity_factor_eval
        return max(self.cfg.min_capacity, math.ceil(f * n_tokens / self.cfg.n_experts))

    def route(self, h: torch.Tensor):
        """Router probabilities (fp32), the chosen expert and its gate per token."""
        hr = h.float()
        if self.training and self.cfg.router_jitter > 0:
            hr = hr * torch.empty_like(hr).uniform_(1 - self.cfg.router_jitter,
                                                     1 + self.cfg.router_jitter)
        logits = F.linear(hr, self.router.weight.float())
        probs = logits.softmax(-1)
        gate, expert = probs.max(-1)
        return logits, probs, gate, expert

    def forward(self, x: torch.Tensor, impl: str = "loop"):
        B, T, D = x.shape
        h = x.reshape(B * T, D)
        N, E = h.shape[0], self.cfg.n_experts
        logits, probs, gate, expert = self.route(h)
        cap = self.capacity(N)
        # position of each token in its expert's queue (earlier tokens first)
        onehot = F.one_hot(expert, E)
        rank = (onehot.cumsum(0) * onehot).sum(-1) - 1
        keep = rank < cap
        if N < E and not self.training:
            out = self._gathered(h, expert, gate, keep)
        elif impl == "grouped":
            out = self._grouped(h, expert, gate, keep)
        else:
            out = self._loop(h, expert, gate, keep)
        out = out + torch.tanh(self.bypass(h))
        # Switch-Transformer auxiliary losses (over every token, before the capacity cut)
        frac = onehot.float().mean(0)
        lb = E * (frac * probs.mean(0)).sum()
        z = torch.logsumexp(logits, -1).pow(2).mean()
        dropped = (~keep).float().mean()
        return out.view(B, T, D), (lb, z, dropped)

    def _loop(self, h, expert, gate, keep):
        out = torch.zeros_like(h)
        for e in range(self.cfg.n_experts):
            idx = torch.nonzero((expert == e) & keep, as_tuple=True)[0]
            if idx.numel() == 0:
                continue
            y = F.linear(F.relu(F.linear(h[idx], self.w_in[e])), self.w_out[e])
            out.index_copy_(0, idx, (y * gate[idx, None].to(y.dtype)).to(out.dtype))
        return out

    def _compute_dtype(self, h):
        dtype, dev = h.dtype, h.device.type
        if torch.is_autocast_enabled(dev):
            dtype = torch.get_autocast_dtype(dev)
        return dtype

    def _gathered(self, h, expert, gate, keep):
        # Fewer tokens than experts (decoding one token per sequence): each token gets its own
        # expert's weights, gathered, so no pass over every expert's weights and no host sync.
        dtype = self._compute_dtype(h)
        w_in = self.w_in.index_select(0, expert).to(dtype)       # (N, H, D)
        w_out = self.w_out.index_select(0, expert).to(dtype)     # (N, D, H)
        y = torch.bmm(F.relu(torch.bmm(h.to(dtype).unsqueeze(1), w_in.transpose(1, 2))),
                      w_out.transpose(1, 2)).squeeze(1)
        return (y * (gate * keep)[:, None].to(y.dtype)).to(h.dtype)

    def _grouped(self, h, expert, gate, keep):
        # Static shapes (every token is computed, dropped ones are zeroed), so the layer
        # compiles without graph breaks.
        E = self.cfg.n_experts
        order = torch.argsort(expert, stable=True)
        counts = torch.zeros(E, dtype=torch.int32, device=h.device).scatter_add_(
            0, expert.to(torch.int64), torch.ones_like(expert, dtype=torch.int32))
        offs = counts.cumsum(0, dtype=torch.int32)
        dtype = self._compute_dtype(h)
        if h.device.type == "cuda" and dtype == torch.float32:
            dtype = torch.bfloat16              # the CUDA kernels take bf16 only
        xs = h.index_select(0, order).to(dtype)
        w_in = self.w_in.to(dtype).transpose(1, 2)
        w_out = self.w_out.to(dtype).transpose(1, 2)
        y = F.grouped_mm(F.relu(F.grouped_mm(xs, w_in, offs=offs)), w_out, offs=offs)
        scale = (gate * keep).index_select(0, order).to(y.dtype)
        y = (y * scale[:, None]).to(h.dtype)
        return torch.empty_like(y).index_copy_(0, order, y)


class DenseFFN(nn.Module):
    def __init__(self, cfg: SwitchConfig) -> None:
        super().__init__()
        self.fc_in = nn.Linear(cfg.d_model, cfg.ext_hidden, bias=True)
        self.fc_out = nn.Linear(cfg.ext_hidden, cfg.d_model, bias=True)

    def forward(self, x, impl=None):
        return self.fc_out(F.silu(self.fc_in(x))), None


class Block(nn.Module):
    def __init__(self, cfg: SwitchConfig, switch: bool) -> None:
        super().__init__()
        self.attn = Attention(cfg)
        self.ln_attn = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.ffn = SwitchFFN(cfg) if switch else DenseFFN(cfg)
        self.ln_ffn = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)

    def forward(self, x, mask, past_kv=None, cache=None, layer=0, impl="loop"):
        x = self.ln_attn(self.attn(x, mask, past_kv, cache, layer)) + x
        y, aux = self.ffn(x, impl)
        return self.ln_ffn(y) + x, aux


class SwitchLM(nn.Module):
    def __init__(self, cfg: SwitchConfig) -> None:
        super().__init__()
        self.cfg = cfg
        D = cfg.d_model
        self.wte = nn.Embedding(cfg.vocab_size, D)
        self.wpe = nn.Embedding(cfg.n_ctx, D)
        self.wpe_ext = nn.Embedding(cfg.n_ctx, D) if cfg.n_ext_layers else None
        self.blocks = nn.ModuleList(
            [Block(cfg, True) for _ in range(cfg.n_switch_layers)]
            + [Block(cfg, False) for _ in range(cfg.n_ext_layers)])
        if cfg.d_spout:
            layers = []
            for _ in range(8):
                layers += [nn.Linear(cfg.d_spout, cfg.d_spout, bias=False), nn.Tanh()]
            layers.append(nn.Linear(cfg.d_spout, cfg.n_layers * 2 * D, bias=False))
            self.spout = nn.Sequential(*layers)
        else:
            self.spout = None
        self.head = nn.Linear(D, D, bias=True)
        self.head_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.reset_parameters()

    # ---------------------------------------------------------------- init
    def reset_parameters(self) -> None:
        cfg = self.cfg
        out_std = 0.02 / math.sqrt(2 * cfg.n_layers)
        for name, p in self.named_parameters():
            if name.endswith("bias") or name == "head_bias":
                nn.init.zeros_(p)
            elif ".ln_" in name:
                nn.init.ones_(p)
            elif name == "wpe.weight":
                nn.init.normal_(p, std=0.01)
            elif name == "wpe_ext.weight":
                nn.init.zeros_(p)
            elif name.endswith("bypass.weight"):
                nn.init.normal_(p, std=0.01)
            elif name.endswith(("proj.weight", "w_out", "fc_out.weight")) and "head" not in name:
                nn.init.normal_(p, std=out_std)
            else:
                nn.init.normal_(p, std=0.02)

    def set_unlimited_capacity(self, on: bool = True) -> "SwitchLM":
        """Route every token to its expert, whatever the capacity factor: an output then does not
        depend on what else is in the batch (the LM tools use this; training does not)."""
        for b in self.blocks:
            if isinstance(b.ffn, SwitchFFN):
                b.ffn.unlimited = on
        return self

    def moe_impl(self, device: torch.device) -> str:
        if self.cfg.moe_impl != "auto":
            return self.cfg.moe_impl
        return "grouped" if device.type == "cuda" else "loop"

    # ---------------------------------------------------------------- helpers
    def spout_kv(self, spout: torch.Tensor):
        """Per layer (k, v), each (B, H, 1, hd), from a (B, d_spout) vector."""
        cfg = self.cfg
        B = spout.shape[0]
        kv = self.spout(spout.to(self.head.weight.dtype)).view(
            B, cfg.n_layers, 2, cfg.n_head, 1, cfg.d_model // cfg.n_head)
        return [(kv[:, i, 0], kv[:, i, 1]) for i in range(cfg.n_layers)]

    def new_cache(self, batch: int, max_len: int | None = None, spout: torch.Tensor | None = None,
                  dtype=None) -> KVCache:
        """An empty KV cache; with ``spout`` its vector fills position 0."""
        p = self.head.weight
        cache = KVCache(self.cfg, batch, max_len or self.cfg.n_ctx, p.device, dtype or p.dtype)
        if spout is not None:
            if self.spout is None:
                raise ModelError("this model has no spout (d_spout = 0)")
            for i, (k, v) in enumerate(self.spout_kv(spout)):
                cache.append(i, k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1))
            cache.length = 1
            cache.has_spout = True
        return cache

    @staticmethod
    def _mask(T: int, past: int, num_precontext, device, first_token: int):
        """Boolean (B|1, 1, T, past+T) mask: causal, plus prefix columns seen by all, plus the
        spout column.  None when plain causal attention does the job."""
        if past == 0 and num_precontext is None:
            return None
        S = past + T
        qi = torch.arange(past, S, device=device)[:, None]
        kj = torch.arange(S, device=device)[None, :]
        m = (kj <= qi)[None, None]
        if num_precontext is not None:
            npc = torch.as_tensor(num_precontext, device=device).reshape(-1, 1, 1, 1)
            m = m | (kj[None, None] < first_token + npc)
        return m

    # ---------------------------------------------------------------- forward
    def forward(self, idx: torch.Tensor, *, num_precontext=None, spout: torch.Tensor | None = None,
                cache: KVCache | None = None, output_hidden_states: bool = False,
                last_only: bool = False, labels: torch.Tensor | None = None) -> LMOutput:
        """``idx`` (B, T) token ids.  ``num_precontext`` (B,) or int: that many first tokens form
        the bidirectional prefix.  ``spout`` (B, d_spout): class vector (without a cache).
        ``cache``: a :class:`KVCache` extended in place.  ``last_only``: logits of the last
        position only (generation).  ``labels`` (B, T), -1 where there is no target: return the
        mean cross-entropy (float32) instead of the logits; compiled, the loss then fuses with
        the output layer and no float32 copy of the logits is ever written."""
        cfg = self.cfg
        B, T = idx.shape
        device = idx.device
        past_kv = None
        if cache is not None:
            past = cache.length
            first_token = 1 if cache.has_spout else 0
            if spout is not None:
                raise ModelError("give the spout to new_cache(), not with a cache")
        elif spout is not None:
            if self.spout is None:
                raise ModelError("this model has no spout (d_spout = 0)")
            past_kv = self.spout_kv(spout)
            past = first_token = 1
        else:
            past = first_token = 0
        if past + T > cfg.n_ctx:
            raise ModelError(f"sequence of {past + T} positions is longer than n_ctx {cfg.n_ctx}")
        pos = torch.arange(past, past + T, device=device)
        x = self.wte(idx) + self.wpe(pos)
        mask = self._mask(T, past, num_precontext, device, first_token)
        impl = self.moe_impl(device)
        lbs, zs, drops, hidden = [], [], [], [] if output_hidden_states else None
        for i, block in enumerate(self.blocks):
            if i == cfg.n_switch_layers and self.wpe_ext is not None:
                x = x + self.wpe_ext(pos)
            x, aux = block(x, mask, past_kv[i] if past_kv else None, cache, i, impl)
            if aux is not None:
                lbs.append(aux[0]); zs.append(aux[1]); drops.append(aux[2])
            if hidden is not None:
                hidden.append(x)
        if cache is not None:
            cache.length += T
        if last_only:
            x = x[:, -1:]
        h = F.silu(self.head(x))
        logits = F.linear(h, self.wte.weight, self.head_bias)
        zero = logits.new_zeros((), dtype=torch.float32)
        mean = (lambda v: torch.stack(v).mean()) if lbs else (lambda v: zero)
        loss = None
        if labels is not None:
            loss, logits = lm_loss(logits, labels), None
        coefs = ((self.cfg.aux_loss_coef, self.cfg.z_loss_coef) if self.cfg.n_switch_layers
                 else None)
        return LMOutput(logits, mean(lbs), mean(zs), mean(drops), hidden, loss, coefs)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
