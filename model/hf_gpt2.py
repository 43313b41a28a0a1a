"""``swelm convert from-hf`` / ``to-hf`` for dense GPT-2 models: ``transformers.GPT2LMHeadModel``
folders in both directions.

A transformers GPT-2 keeps its linear layers as ``Conv1D`` (weights stored ``(in, out)``); this
model uses ``nn.Linear`` (``(out, in)``), so every such weight is transposed on the way in and
out.  The fused ``c_attn`` has q, k and v in that order, each split into heads contiguously,
which is this model's ``qkv`` layout.  The output layer is tied to the token embedding on both
sides.  What this architecture does not compute is refused on import: attention not scaled by
1/sqrt(head size), scaling by the layer index, upcast-reordered attention, an untied output
layer, cross-attention, activations other than GELU.

The tokenizer travels with the weights: ``from-hf`` takes a SentencePiece model (``spiece.model``
or another ``*.model``, as colorfulscoop's gpt2-small-ja ships it) or an SWE ``vocab.txt`` from
the folder (or ``--vocabulary``) and keeps a SentencePiece one in the run folder; ``to-hf``
writes ``spiece.model`` with a ``tokenizer_config.json`` for ``BertGenerationTokenizer`` (the
class colorfulscoop's model card names), or ``vocab.txt`` + ``emoji.json`` for
``GPTNeoXJapaneseTokenizer``.
"""
from __future__ import annotations

import glob
import json
import os
import shutil

import torch

from swelm.publish import Kind, atomic_path, write_json

from .checkpoint import CheckpointError
from .gpt2 import GPT2Config, GPT2LM

#: what ``to-hf`` writes (a folder of these is replaced by a new export, nothing else is)
HF_FOLDER = Kind("a Hugging Face GPT-2 folder",
                 entries=("config.json", "model.safetensors", "generation_config.json",
                          "spiece.model", "tokenizer_config.json", "special_tokens_map.json",
                          "vocab.txt", "emoji.json", "swelm_tokenizer.json"),
                 marker="config.json",
                 recognise=lambda b: b'"swelm_export"' in b and b'"gpt2"' in b)

_GELU = {"gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_new", "gelu_fast": "gelu_new",
         "gelu": "gelu"}


def is_gpt2_folder(src: str) -> bool:
    try:
        with open(os.path.join(src, "config.json"), encoding="utf-8") as f:
            return json.load(f).get("model_type") == "gpt2"
    except (OSError, ValueError, AttributeError):
        return False


def find_tokenizer(src: str) -> str | None:
    """The tokenizer file shipped in a transformers folder: a SentencePiece model or an SWE
    vocabulary."""
    from swelm.tokenizer.kinds import kind_of
    names = ["spiece.model", "tokenizer.model"] + sorted(
        os.path.basename(p) for p in glob.glob(os.path.join(src, "*.model"))) + ["vocab.txt"]
    for name in dict.fromkeys(names):
        path = os.path.join(src, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                if kind_of(f.read()) in ("sentencepiece", "swe"):
                    return path
    return None


def hf_gpt2_config(src: str, tok=None) -> GPT2Config:
    """This model's config for the transformers GPT-2 in ``src`` (unsupported options
    refused, each naming its field)."""
    from .convert import read_hf_config
    path = os.path.join(src, "config.json")
    c = read_hf_config(src, "gpt2")
    act = c.get("activation_function", "gelu_new")
    if act not in _GELU:
        raise CheckpointError(f"{path}: field activation_function: expected one of "
                              f"{', '.join(_GELU)}, got {act!r}")
    for field, want in (("scale_attn_weights", True), ("scale_attn_by_inverse_layer_idx", False),
                        ("reorder_and_upcast_attn", False), ("tie_word_embeddings", True),
                        ("add_cross_attention", False)):
        if c.get(field, want) != want:
            raise CheckpointError(f"{path}: field {field}: this model supports {want} only, "
                                  f"got {c[field]!r}")
    V = c["vocab_size"]
    in_vocab = (lambda i: isinstance(i, int) and 0 <= i < V)      # noqa: E731
    if tok is not None:
        if len(tok) > V:
            raise CheckpointError(f"{src}: the tokenizer has {len(tok)} tokens, the model "
                                  f"{V}")
        eot = tok.eot_id
        bos = c.get("bos_token_id")
        # a SentencePiece model's own <s> when the config names it
        if not (in_vocab(bos) and tok.kind == "sentencepiece"):
            bos = eot
    else:
        eot = c.get("eos_token_id") if in_vocab(c.get("eos_token_id")) else V - 1
        bos = c.get("bos_token_id") if in_vocab(c.get("bos_token_id")) else eot
    d = c["n_embd"]
    pdrop = max(float(c.get(k, 0.0) or 0.0) for k in ("resid_pdrop", "embd_pdrop", "attn_pdrop"))
    return GPT2Config(vocab_size=V, n_ctx=c["n_positions"], d_model=d, n_head=c["n_head"],
                      n_layers=c["n_layer"], d_ff=c.get("n_inner") or 4 * d,
                      activation=_GELU[act], layer_norm_eps=c.get("layer_norm_epsilon", 1e-5),
                      dropout=pdrop, special={"<|endoftext|>": eot}, bos_id=bos,
                      vocab_sha256=tok.sha256 if tok is not None else "",
                      vocab_kind=tok.kind if tok is not None else "")


#: (this model's name, transformers' name without ``transformer.``, transposed)
def _names(cfg: GPT2Config):
    yield "wte.weight", "wte.weight", False
    yield "wpe.weight", "wpe.weight", False
    for i in range(cfg.n_layers):
        for ours, theirs, conv in (("ln_1", "ln_1", False), ("ln_2", "ln_2", False),
                                   ("attn.qkv", "attn.c_attn", True),
                                   ("attn.proj", "attn.c_proj", True),
                                   ("fc_in", "mlp.c_fc", True), ("fc_out", "mlp.c_proj", True)):
            yield f"blocks.{i}.{ours}.weight", f"h.{i}.{theirs}.weight", conv
            yield f"blocks.{i}.{ours}.bias", f"h.{i}.{theirs}.bias", False
    yield "ln_f.weight", "ln_f.weight", False
    yield "ln_f.bias", "ln_f.bias", False


def gpt2_from_hf(src: str, tok=None) -> GPT2LM:
    """A GPT2LM holding the weights of the transformers GPT-2 in ``src``."""
    from .convert import _read_hf_state
    cfg = hf_gpt2_config(src, tok)
    hf = _read_hf_state(src)
    prefix = "transformer." if any(k.startswith("transformer.") for k in hf) else ""
    out = {}
    for ours, theirs, conv in _names(cfg):
        key = prefix + theirs
        if key not in hf:
            raise CheckpointError(f"{src}: weight {key} is missing")
        w = hf.pop(key)
        out[ours] = (w.t() if conv else w).contiguous().float()
    lm_head = hf.pop("lm_head.weight", None)
    if lm_head is not None and not torch.equal(lm_head.float(), out["wte.weight"]):
        raise CheckpointError(f"{src}: lm_head.weight differs from the token embedding (an "
                              "untied output layer is not supported)")
    left = [k for k in hf if not k.endswith(("attn.bias", "attn.masked_bias"))]
    if left:
        raise CheckpointError(f"{src}: weights this model has no place for: {left[:5]}")
    from .convert import fit_weights
    model = GPT2LM(cfg)
    fit_weights(model, out, src)
    return model.eval()


def gpt2_to_hf(model: GPT2LM, out_dir: str, tokenizer_path: str | None, emoji=None) -> list[str]:
    """Write ``model`` (and its tokenizer) as a transformers GPT-2 folder into ``out_dir``
    (published whole when complete); the names of the files written."""
    from safetensors.torch import save_file
    cfg = model.cfg
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    hf = {}
    for ours, theirs, conv in _names(cfg):
        w = state[ours].float()
        hf["transformer." + theirs] = (w.t() if conv else w).contiguous()
    config = {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": cfg.vocab_size, "n_positions": cfg.n_ctx, "n_ctx": cfg.n_ctx,
        "n_embd": cfg.d_model, "n_layer": cfg.n_layers, "n_head": cfg.n_head,
        "n_inner": cfg.d_ff, "activation_function": cfg.activation,
        "layer_norm_epsilon": cfg.layer_norm_eps, "resid_pdrop": cfg.dropout,
        "embd_pdrop": cfg.dropout, "attn_pdrop": cfg.dropout, "initializer_range": 0.02,
        "bos_token_id": cfg.bos_id, "eos_token_id": cfg.eot_id, "pad_token_id": cfg.eot_id,
        "scale_attn_weights": True, "tie_word_embeddings": True, "torch_dtype": "float32",
        "swelm_export": {"arch": "gpt2", "vocab_kind": cfg.vocab_kind or "swe",
                         "vocab_sha256": cfg.vocab_sha256},
    }
    written = ["config.json", "model.safetensors", "generation_config.json"]
    with atomic_path(out_dir, HF_FOLDER) as tmp:
        os.makedirs(tmp)
        save_file(hf, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
        os.chmod(os.path.join(tmp, "model.safetensors"), 0o644)    # (safetensors writes 0600)
        # one start/end convention everywhere: the model's own (its bos before a text, its
        # end token after it), in config.json, generation_config.json and the tokenizer files
        write_json(os.path.join(tmp, "generation_config.json"),
                   {"bos_token_id": cfg.bos_id, "eos_token_id": cfg.eot_id,
                    "pad_token_id": cfg.eot_id})
        written += _write_tokenizer(tmp, tokenizer_path, emoji, cfg.bos_id, cfg.eot_id)
        write_json(os.path.join(tmp, "config.json"), config)         # the marker: last
    return written


def _write_tokenizer(folder: str, path: str | None, emoji, bos: int, eos: int) -> list[str]:
    """The tokenizer files, their start and end tokens the model's ``bos`` and ``eos`` ids
    (the model's end token also pads).  The transformers tokenizer adds no token itself:
    ``tok(tok.bos_token + text + tok.eos_token)`` is what ``swelm score`` scores."""
    from swelm.tokenizer.kinds import open_tokenizer
    tok = open_tokenizer(path, emoji)
    if tok.kind == "sentencepiece":
        shutil.copyfile(tok.path, os.path.join(folder, "spiece.model"))
        specials = {"bos_token": tok.sp.id_to_piece(bos), "eos_token": tok.sp.id_to_piece(eos),
                    "pad_token": tok.sp.id_to_piece(eos)}
        if tok.sp.unk_id() >= 0:
            specials["unk_token"] = tok.sp.id_to_piece(tok.sp.unk_id())
        write_json(os.path.join(folder, "tokenizer_config.json"),
                   {"tokenizer_class": "BertGenerationTokenizer", **specials})
        write_json(os.path.join(folder, "special_tokens_map.json"), specials)
        return ["spiece.model", "tokenizer_config.json", "special_tokens_map.json"]
    if tok.kind == "swe":
        shutil.copyfile(tok.vocab.path, os.path.join(folder, "vocab.txt"))
        shutil.copyfile(tok.emoji.path, os.path.join(folder, "emoji.json"))
        specials = {"bos_token": tok.id_to_token(bos), "eos_token": tok.id_to_token(eos),
                    "pad_token": tok.id_to_token(eos)}
        write_json(os.path.join(folder, "tokenizer_config.json"),
                   {"tokenizer_class": "GPTNeoXJapaneseTokenizer", **specials})
        write_json(os.path.join(folder, "special_tokens_map.json"), specials)
        return ["vocab.txt", "emoji.json", "tokenizer_config.json", "special_tokens_map.json"]
    # bytes and gpt2ja-v2 have no transformers class: the swelm file goes along
    shutil.copyfile(tok.path, os.path.join(folder, "swelm_tokenizer.json"))
    return ["swelm_tokenizer.json"]
