"""``swelm convert``: published GPTSAN weights → Switch-LM, and adding ext layers.

``from-hf DIR``: a checkpoint saved by transformers 4.x's ``GPTSanJapaneseForConditionalGeneration``
(``config.json`` + ``model.safetensors``/``pytorch_model.bin``, sharded or not).  Differences of
that port from the original GPTSAN, and what we do:

* capacity: the port gives each expert a fixed ``expert_capacity`` per *sequence*; the original
  (and this model) computes the capacity from a capacity factor over all tokens of the batch.
  Logits agree wherever no expert overflows (always, with ``set_unlimited_capacity``).
* over-capacity tokens: the port passes them through unchanged (times the router probability);
  the original and this model give them zero from the experts (the bypass still applies).
* ext position embedding: the port initialises it like the others (normal); the original and
  this model start it at zero, so adding ext layers leaves the model's output unchanged.
* left padding: the port shifts positions past left padding; this model takes no padding mask.

``add-ext``: appends N dense ext layers to a checkpoint.  Their output norms start at zero, so the
new model computes exactly what the old one did until it is fine-tuned (``--train-only ext``).
"""
from __future__ import annotations

import glob
import json
import os

import torch

from swelm.errors import first_line

from .checkpoint import CheckpointError, load_model
from .common import ModelError
from .registry import architecture
from .switch import SwitchConfig, SwitchLM


def _read_hf_state(src: str) -> dict:
    index = os.path.join(src, "model.safetensors.index.json")
    files = []
    if os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        files = [os.path.join(src, f) for f in files]
    elif os.path.exists(os.path.join(src, "model.safetensors")):
        files = [os.path.join(src, "model.safetensors")]
    else:
        files = sorted(glob.glob(os.path.join(src, "pytorch_model*.bin")))
    if not files:
        raise CheckpointError(f"{src}: no model.safetensors or pytorch_model.bin")
    state = {}
    for path in files:
        try:
            if path.endswith(".safetensors"):
                from safetensors.torch import load_file
                state.update(load_file(path))
            else:
                state.update(torch.load(path, map_location="cpu", weights_only=True))
        except FileNotFoundError:
            raise CheckpointError(f"{path}: missing (the index names it)") from None
        except Exception as e:      # safetensors' and torch's own error types
            first = first_line(e)[:200]
            raise CheckpointError(f"{path}: cannot read the weights ({type(e).__name__}: "
                                  f"{first}): a damaged, cut or foreign file") from None
    return state


def fit_weights(model, state: dict, src: str) -> None:
    """``model.load_state_dict(state)``, a tensor of another shape named in one line (the
    config.json and the weights of a folder disagree)."""
    own = model.state_dict()
    for k, v in state.items():
        if k in own and tuple(own[k].shape) != tuple(v.shape):
            raise CheckpointError(f"{src}: the weights do not fit its config.json: {k} is "
                                  f"{tuple(v.shape)}, the config makes it {tuple(own[k].shape)}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{src}: missing {missing[:5]}, unexpected {unexpected[:5]}")


def read_hf_config(src: str, model_type: str) -> dict:
    """The ``config.json`` of a transformers folder, which must be of ``model_type``."""
    path = os.path.join(src, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            c = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing; not a transformers checkpoint") from None
    except ValueError as e:
        raise CheckpointError(f"{path}: not JSON: {e}") from None
    if not isinstance(c, dict) or c.get("model_type") != model_type:
        got = c.get("model_type") if isinstance(c, dict) else c
        raise CheckpointError(f"{path}: model_type is {got!r}, expected 'gptsan-japanese' or "
                              "'gpt2'")
    return c


def hf_config(src: str, vocab_sha256: str = "") -> SwitchConfig:
    c = read_hf_config(src, "gptsan-japanese")
    need = ("vocab_size", "max_position_embeddings", "d_model", "num_heads",
            "num_switch_layers", "num_ext_layers", "num_experts", "d_ff", "d_ext", "d_spout")
    lacking = [k for k in need if k not in c]
    if lacking:
        raise CheckpointError(f"{os.path.join(src, 'config.json')}: lacks the field(s) "
                              f"{', '.join(lacking)}")
    return SwitchConfig(vocab_size=c["vocab_size"], n_ctx=c["max_position_embeddings"],
                        d_model=c["d_model"], n_head=c["num_heads"],
                        n_switch_layers=c["num_switch_layers"], n_ext_layers=c["num_ext_layers"],
                        n_experts=c["num_experts"], expert_hidden=c["d_ff"],
                        ext_hidden=c["d_ext"], d_spout=c["d_spout"],
                        layer_norm_eps=c.get("layer_norm_epsilon", 1e-5),
                        vocab_sha256=vocab_sha256)


def from_hf(src: str, vocab_sha256: str = "") -> SwitchLM:
    """Build a Switch-LM holding the weights of a transformers GPTSAN checkpoint."""
    cfg = hf_config(src, vocab_sha256)
    hf = _read_hf_state(src)
    try:
        return _switch_from_state(src, cfg, hf)
    except KeyError as e:
        raise CheckpointError(f"{src}: weight {e.args[0]} is missing (the weights do not fit "
                              "its config.json)") from None
    except RuntimeError as e:       # torch.cat / stack of tensors of other shapes
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise CheckpointError(f"{src}: the weights do not fit its config.json ({first})"
                              ) from None


def _switch_from_state(src: str, cfg: SwitchConfig, hf: dict) -> SwitchLM:
    if any(k.startswith("model.blocks.") and "router.classifier.bias" in k for k in hf):
        raise CheckpointError(f"{src}: router_bias=True is not supported")
    out = {}
    take = lambda k: hf.pop(k)                                         # noqa: E731
    out["wte.weight"] = take("model.embed_tokens.weight")
    out["wpe.weight"] = take("model.position_embeddings.weight")
    if cfg.n_ext_layers:
        out["wpe_ext.weight"] = take("model.extra_position_embeddings.weight")
    out["head.weight"] = take("model.last_project.weight")
    out["head.bias"] = take("model.last_project.bias")
    out["head_bias"] = take("final_logits_bias").reshape(-1)
    hf.pop("lm_head.weight", None)                                     # tied to embed_tokens
    for i in range(cfg.n_layers):
        p = f"model.blocks.{i}."
        a = p + "self_attn.self_attn."
        out[f"blocks.{i}.attn.qkv.weight"] = torch.cat(
            [take(a + "q_proj.weight"), take(a + "k_proj.weight"), take(a + "v_proj.weight")])
        out[f"blocks.{i}.attn.proj.weight"] = take(a + "out_proj.weight")
        for n in ("weight", "bias"):
            out[f"blocks.{i}.ln_attn.{n}"] = take(p + f"self_attn.norm.{n}")
            out[f"blocks.{i}.ln_ffn.{n}"] = take(p + f"feed_forward.norm.{n}")
        f = p + "feed_forward."
        if i < cfg.n_switch_layers:
            out[f"blocks.{i}.ffn.router.weight"] = take(f + "mlp.router.classifier.weight")
            out[f"blocks.{i}.ffn.bypass.weight"] = take(f + "soft_bypass_mlp.weight")
            out[f"blocks.{i}.ffn.w_in"] = torch.stack(
                [take(f + f"mlp.experts.expert_{e}.wi.weight") for e in range(cfg.n_experts)])
            out[f"blocks.{i}.ffn.w_out"] = torch.stack(
                [take(f + f"mlp.experts.expert_{e}.wo.weight") for e in range(cfg.n_experts)])
        else:
            for n in ("weight", "bias"):
                out[f"blocks.{i}.ffn.fc_in.{n}"] = take(f + f"mlp.wi.{n}")
                out[f"blocks.{i}.ffn.fc_out.{n}"] = take(f + f"mlp.wo.{n}")
    if cfg.d_spout:
        for j in range(0, 17, 2):
            out[f"spout.{j}.weight"] = take(f"model.spout.{j}.weight")
    left = [k for k in hf if not k.endswith("position_ids")]
    if left:
        raise CheckpointError(f"{src}: weights this model has no place for: {left[:5]}")
    model = SwitchLM(cfg)
    fit_weights(model, {k: v.float() for k, v in out.items()}, src)
    return model.eval()


def add_ext(src: str, n_layers: int, ext_hidden: int = 0) -> SwitchLM:
    """The model at ``src`` with ``n_layers`` more ext layers that start as the identity."""
    if n_layers < 1:
        raise ModelError("--layers must be at least 1")
    old = load_model(src)
    if not architecture(old).ext_layers:
        raise ModelError(f"{src}: a dense {old.cfg.arch} model has no ext layers; add-ext "
                         "extends a Switch-LM")
    d = json.loads(old.cfg.to_json())
    d["n_ext_layers"] += n_layers
    if ext_hidden:
        if old.cfg.n_ext_layers and ext_hidden != old.cfg.ext_hidden:
            raise ModelError("the existing ext layers have a different ext_hidden")
        d["ext_hidden"] = ext_hidden
    cfg = SwitchConfig.from_dict(d)
    new = SwitchLM(cfg)
    state = new.state_dict()
    old_state = old.state_dict()
    for k, v in old_state.items():
        if k == "spout.16.weight":
            continue                        # its output grows with the layer count
        state[k] = v
    if cfg.d_spout:
        # the spout's last projection gains rows for the new layers (zeros: no effect)
        w = state["spout.16.weight"].zero_()
        w[: old_state["spout.16.weight"].shape[0]] = old_state["spout.16.weight"]
    first = old.cfg.n_layers
    for i in range(first, cfg.n_layers):
        # output norm at zero → the block adds nothing until trained
        state[f"blocks.{i}.ln_attn.weight"].zero_()
        state[f"blocks.{i}.ln_ffn.weight"].zero_()
    new.load_state_dict(state)
    return new.eval()
