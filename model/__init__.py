"""The language models (PyTorch): the Switch-Transformer LM (GPTSAN) and the dense GPT-2 family.
The only package that imports torch.

Modules: ``registry`` (the architectures by name: config and model classes, presets, what each
can do; ``make_config``, ``build_model``), one module per architecture importing only
``common`` (config JSON, KV cache, loss, outputs): ``switch`` (the Switch-LM) and ``gpt2`` (the
dense GPT-2), ``hf_gpt2`` (transformers GPT2LMHeadModel folders, both ways), ``data`` (training
sequences from token shards),
``train`` (trainer), ``checkpoint`` (save/load), ``inference`` (loading with the tokenizer, input
layout, decoding), ``lm`` (the ``LM`` class: sampling, beam search, fill, score, vectorize),
``convert`` (Hugging Face and ext layers), ``cli`` (every command handler).

Python API (mirrors the CLI)::

    from swelm.model import LM
    lm = LM.load("RUN")                       # run or checkpoint folder (+ its vocabulary)
    lm.generate("吾輩は", beam=4)              # or num_samples=…, top_k=…, top_p=…
    lm.fill("武田信玄は、[MASK]時代ファンなら…")
    lm.score(["現在も行方不明のまま。"])
    lm.vectorize(["吾輩は猫である。"], layers="last")

Importing the package does not import torch; the names below load on first use.
"""
_LAZY = {
    "LM": "lm", "Generation": "inference", "Filled": "lm", "Scored": "lm",
    "SwitchLM": "switch", "SwitchConfig": "switch", "PRESETS": "switch",
    "make_config": "registry", "build_model": "registry", "architecture": "registry",
    "all_presets": "registry", "load_model": "checkpoint", "save_weights": "checkpoint",
    "ModelError": "common", "GPT2LM": "gpt2", "GPT2Config": "gpt2",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
