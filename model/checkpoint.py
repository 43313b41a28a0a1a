"""Checkpoints: safetensors weights + ``config.json`` (+ ``state.pt`` with optimizer, RNG and data
position for an exact resume).

A run directory looks like::

    RUN/config.json  RUN/model.safetensors        the latest weights (what the LM tools load)
    RUN/checkpoints/step-00000100/                 model.safetensors config.json state.pt
    RUN/metrics.jsonl  RUN/loss.png

Every file and folder is written under a temporary name and renamed when complete.
"""
from __future__ import annotations

import glob
import json
import os
import re
import shutil

import torch

from swelm.publish import Kind, atomic_path, json_marker, write_json
from swelm.publish import remove_temporaries as publish_temporaries

from .common import ModelError
from .registry import architecture, build_model, config_from_dict, is_swelm_config

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
STATE = "state.pt"
#: a checkpoint's completion marker, written last: the sha256 of each of its files
CHECKSUMS = "checksums.json"


class CheckpointError(ModelError):
    pass


#: one checkpoint folder (a damaged one is replaced when its step is saved again)
CHECKPOINT = Kind("a checkpoint", entries=(WEIGHTS, CONFIG, STATE, CHECKSUMS, "train.json"),
                  marker=CHECKSUMS, recognise=json_marker(lambda m: WEIGHTS in m))
#: what a kill during safetensors' own write leaves: ``.tmp`` and six letters or digits
SAFETENSORS_TEMPORARY = ".tmp" + "[A-Za-z0-9]" * 6
#: a run folder (swelm train continues one; convert writes its top-level files); it holds
#: swelm's owner file from its start, and its config.json is recognised as swelm's too
RUN = Kind("a swelm model run", entries=(CONFIG, WEIGHTS, "train.json", "metrics.jsonl",
                                         "loss.png", "checkpoints/*", SAFETENSORS_TEMPORARY,
                                         "checkpoints/" + SAFETENSORS_TEMPORARY,
                                         "tokenizer.model", "tokenizer.json"),
           marker=CONFIG, recognise=json_marker(is_swelm_config))

#: the tokenizer file kept in a run folder, by kind (an SWE vocabulary is given with
#: --vocabulary, or is the bundled one)
TOKENIZER_FILES = {"sentencepiece": "tokenizer.model", "bytes": "tokenizer.json",
                   "gpt2ja-v2": "tokenizer.json"}


def save_tokenizer(src: str, run_dir: str) -> str | None:
    """A copy of the tokenizer file ``src`` in the run folder (kinds other than SWE), written
    atomically; its path, or None for an SWE vocabulary."""
    from swelm.tokenizer.kinds import kind_of
    with open(src, "rb") as f:
        data = f.read()
    name = TOKENIZER_FILES.get(kind_of(data) or "")
    if name is None:
        return None
    os.makedirs(run_dir, exist_ok=True)
    with atomic_path(os.path.join(run_dir, name)) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return os.path.join(run_dir, name)


def run_tokenizer(path: str) -> str | None:
    """The tokenizer file kept in a run folder (or in the run of a checkpoint folder)."""
    folder = resolve(path)
    for d in (folder, os.path.dirname(os.path.dirname(os.path.abspath(folder)))):
        for name in dict.fromkeys(TOKENIZER_FILES.values()):
            if os.path.isfile(os.path.join(d, name)):
                return os.path.join(d, name)
    return None


def state_dict_for_save(model: torch.nn.Module) -> dict:
    model = getattr(model, "module", model)            # DDP
    model = getattr(model, "_orig_mod", model)         # torch.compile
    return {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}


def save_weights(model: torch.nn.Module, cfg, out_dir: str,
                 extra: dict | None = None) -> None:
    """``model.safetensors`` + ``config.json`` into ``out_dir`` (each file replaced atomically)."""
    from safetensors.torch import save_file
    os.makedirs(out_dir, exist_ok=True)
    with atomic_path(os.path.join(out_dir, WEIGHTS)) as tmp:
        save_file(state_dict_for_save(model), tmp,
                  metadata={"format": "pt",
                            "swelm": architecture(cfg).weights_label})
        os.chmod(tmp, 0o644)
    write_json(os.path.join(out_dir, CONFIG), json.loads(cfg.to_json()))
    if extra:
        write_json(os.path.join(out_dir, "train.json"), extra)


def save_checkpoint(run_dir: str, step: int, model, cfg, state: dict,
                    keep: int = 2) -> str:
    """A complete checkpoint folder ``RUN/checkpoints/step-N`` (renamed into place when done);
    older ones beyond ``keep`` are removed; the run's top-level weights are updated."""
    root = os.path.join(run_dir, "checkpoints")
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"step-{step:08d}")
    with atomic_path(final, CHECKPOINT) as tmp:
        save_weights(model, cfg, tmp)
        torch.save(state, os.path.join(tmp, STATE))
        write_json(os.path.join(tmp, CHECKSUMS),
                   {name: _sha256(os.path.join(tmp, name)) for name in (WEIGHTS, CONFIG, STATE)})
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    save_weights(model, cfg, run_dir)
    return final


def _sha256(path: str) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def damage(ck_dir: str) -> str | None:
    """What is wrong with a checkpoint folder (a file missing, truncated or changed since it was
    written), or None when it is intact.  Checkpoints written before the checksums existed are
    checked by reading their weights and state."""
    marker = os.path.join(ck_dir, CHECKSUMS)
    if os.path.exists(marker):
        try:
            with open(marker, encoding="utf-8") as f:
                sums = json.load(f)
        except (OSError, ValueError) as e:
            return f"{CHECKSUMS} unreadable: {e}"
        for name, want in sorted(sums.items()):
            path = os.path.join(ck_dir, name)
            if not os.path.exists(path):
                return f"{name} is missing"
            if _sha256(path) != want:
                return f"{name} does not match its checksum (truncated or changed)"
        return None
    from safetensors.torch import load_file
    try:
        load_file(os.path.join(ck_dir, WEIGHTS))
        torch.load(os.path.join(ck_dir, STATE), map_location="cpu", weights_only=False)
    except Exception as e:          # safetensors and torch raise their own error types
        return f"unreadable: {type(e).__name__}: {str(e)[:200]}"
    return None


def latest_intact(run_dir: str, warn) -> str | None:
    """The newest checkpoint of ``run_dir`` that is intact; each damaged newer one is reported
    with ``warn(message)`` and skipped."""
    for ck in reversed(list_checkpoints(run_dir)):
        problem = damage(ck)
        if problem is None:
            return ck
        warn(f"checkpoint {ck} is damaged ({problem}); using the one before it")
    return None


def _shape_problem(model, state: dict, where: str) -> str | None:
    """The first tensor whose shape in ``state`` differs from the model's, said in terms of
    the config field that makes the difference when one does."""
    cfg = getattr(model, "cfg", None)
    bounds = getattr(cfg, "BOUNDS", {})
    for name, want in model.state_dict().items():
        got = state.get(name)
        if got is None or tuple(got.shape) == tuple(want.shape):
            continue
        fields = []
        if cfg is not None and len(got.shape) == len(want.shape):
            for a, b in zip(got.shape, want.shape):
                if a != b:
                    fields += [f for f in bounds if getattr(cfg, f, None) == b
                               and isinstance(getattr(cfg, f), int)]
        if fields:
            return (f"{where}: the weights do not fit the config: tensor {name} is "
                    f"{tuple(got.shape)}, the config gives {tuple(want.shape)} (config field "
                    f"{' or '.join(repr(f) for f in dict.fromkeys(fields))} differs from the "
                    "model that was saved)")
        return (f"{where}: the weights do not fit the config: tensor {name} is "
                f"{tuple(got.shape)}, the config gives {tuple(want.shape)}")
    return None


def load_weights_into(model, state: dict, where: str) -> None:
    """``state`` into ``model``, with one clear error for weights of another shape or set."""
    problem = _shape_problem(model, state, where)
    if problem:
        raise CheckpointError(problem)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{where}: weights do not fit config.json "
                              f"(missing {missing[:5]}, unexpected {unexpected[:5]})")


def load_checkpoint(ck_dir: str, model, opt, device: torch.device, rank: int = 0,
                    expect: dict | None = None) -> dict:
    """Restore ``model``, ``opt`` and this rank's RNG streams from a checkpoint folder written by
    :func:`save_checkpoint`; returns its saved state (``step``, ``args``, ...).  ``expect``: run
    arguments that must equal the saved ones (a resumed run sees the same data)."""
    from safetensors.torch import load_file
    state = torch.load(os.path.join(ck_dir, STATE), map_location="cpu", weights_only=False)
    bad = [k for k in (expect or {}) if state["args"].get(k) != expect[k]]
    if bad:
        run_dir = os.path.dirname(os.path.dirname(ck_dir))
        raise CheckpointError(
            f"{run_dir}: its checkpoint was made with different "
            + ", ".join(f"{k} ({state['args'].get(k)} ≠ {expect[k]})" for k in bad)
            + "; use a new --out to start another run")
    load_weights_into(model, load_file(os.path.join(ck_dir, WEIGHTS)), ck_dir)
    opt.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"][rank])
    if device.type == "cuda" and state.get("cuda_rng"):
        torch.cuda.set_rng_state(state["cuda_rng"][rank], device)
    return state


def list_checkpoints(run_dir: str) -> list[str]:
    paths = glob.glob(os.path.join(run_dir, "checkpoints", "step-*"))
    paths = [p for p in paths if re.fullmatch(r"step-\d+", os.path.basename(p))
             and os.path.exists(os.path.join(p, STATE))]
    return sorted(paths)


def remove_temporaries(run_dir: str) -> None:
    """Remove what a killed run left: ours (swelm.publish names) and safetensors' own
    (``.tmpXXXX``)."""
    import fnmatch
    for d in (run_dir, os.path.join(run_dir, "checkpoints")):
        publish_temporaries(d)
        for p in glob.glob(os.path.join(d, ".tmp*")):
            if fnmatch.fnmatchcase(os.path.basename(p), SAFETENSORS_TEMPORARY):
                shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.remove(p)


def resolve(path: str) -> str:
    """The folder holding ``model.safetensors`` for a run folder or a checkpoint folder."""
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such model (give a run folder or a checkpoint folder)")
    if os.path.isfile(path):
        path = os.path.dirname(path) or "."
    if os.path.exists(os.path.join(path, WEIGHTS)):
        return path
    cks = list_checkpoints(path)
    if cks:
        return cks[-1]
    raise CheckpointError(f"{path}: no {WEIGHTS} and no checkpoints/step-* in it")


def load_config(path: str):
    """The config (of either architecture) of a run or checkpoint folder."""
    p = os.path.join(resolve(path), CONFIG)
    try:
        with open(p, encoding="utf-8") as f:
            d = json.load(f)
        if isinstance(d, dict) and "model_type" in d:
            raise CheckpointError(
                f"{path}: a transformers model ({d['model_type']}), not a swelm run; convert "
                f"it first: swelm convert from-hf {path} --out RUN_FOLDER")
        return config_from_dict(d)
    except FileNotFoundError:
        raise CheckpointError(f"{p}: missing") from None
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{p}: not a swelm model config: {e}") from None


def load_model(path: str, device: str | torch.device = "cpu", dtype=None):
    """The model (:class:`SwitchLM` or ``GPT2LM``) saved in a run or checkpoint folder, in eval
    mode."""
    from safetensors.torch import load_file
    folder = resolve(path)
    cfg = load_config(folder)
    model = build_model(cfg)
    try:
        state = load_file(os.path.join(folder, WEIGHTS))
    except Exception as e:     # safetensors raises its own error types
        raise CheckpointError(f"{os.path.join(folder, WEIGHTS)}: cannot read: {e}") from None
    load_weights_into(model, state, folder)
    model.to(device=device, dtype=dtype)
    return model.eval()
