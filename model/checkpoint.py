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

from swelm.publish import atomic_path, write_json
from swelm.publish import remove_temporaries as publish_temporaries

from .model import ModelError, SwitchConfig, SwitchLM

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
STATE = "state.pt"


class CheckpointError(ModelError):
    pass


def state_dict_for_save(model: torch.nn.Module) -> dict:
    model = getattr(model, "module", model)            # DDP
    model = getattr(model, "_orig_mod", model)         # torch.compile
    return {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}


def save_weights(model: torch.nn.Module, cfg: SwitchConfig, out_dir: str,
                 extra: dict | None = None) -> None:
    """``model.safetensors`` + ``config.json`` into ``out_dir`` (each file replaced atomically)."""
    from safetensors.torch import save_file
    os.makedirs(out_dir, exist_ok=True)
    with atomic_path(os.path.join(out_dir, WEIGHTS)) as tmp:
        save_file(state_dict_for_save(model), tmp,
                  metadata={"format": "pt", "swelm": "switch-lm"})
        os.chmod(tmp, 0o644)
    write_json(os.path.join(out_dir, CONFIG), json.loads(cfg.to_json()))
    if extra:
        write_json(os.path.join(out_dir, "train.json"), extra)


def save_checkpoint(run_dir: str, step: int, model, cfg: SwitchConfig, state: dict,
                    keep: int = 2) -> str:
    """A complete checkpoint folder ``RUN/checkpoints/step-N`` (renamed into place when done);
    older ones beyond ``keep`` are removed; the run's top-level weights are updated."""
    root = os.path.join(run_dir, "checkpoints")
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"step-{step:08d}")
    with atomic_path(final) as tmp:
        save_weights(model, cfg, tmp)
        torch.save(state, os.path.join(tmp, STATE))
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    save_weights(model, cfg, run_dir)
    return final


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
    model.load_state_dict(load_file(os.path.join(ck_dir, WEIGHTS)))
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
    for d in (run_dir, os.path.join(run_dir, "checkpoints")):
        publish_temporaries(d)
        for p in glob.glob(os.path.join(d, ".tmp*")):
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


def load_config(path: str) -> SwitchConfig:
    p = os.path.join(resolve(path), CONFIG)
    try:
        with open(p, encoding="utf-8") as f:
            return SwitchConfig.from_dict(json.load(f))
    except FileNotFoundError:
        raise CheckpointError(f"{p}: missing") from None
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{p}: not a Switch-LM config: {e}") from None


def load_model(path: str, device: str | torch.device = "cpu", dtype=None) -> SwitchLM:
    """The model saved in a run or checkpoint folder, in eval mode."""
    from safetensors.torch import load_file
    folder = resolve(path)
    cfg = load_config(folder)
    model = SwitchLM(cfg)
    try:
        state = load_file(os.path.join(folder, WEIGHTS))
    except Exception as e:     # safetensors raises its own error types
        raise CheckpointError(f"{os.path.join(folder, WEIGHTS)}: cannot read: {e}") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{folder}: weights do not fit config.json "
                              f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    model.to(device=device, dtype=dtype)
    return model.eval()
