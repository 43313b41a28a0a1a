"""The architectures by name, and what each can do.  Every other module asks this one (the
``Architecture`` of a config or a model) instead of testing an architecture's name, so a new
architecture is a module of its own (its config dataclass, its ``nn.Module``, its presets,
importing only ``common``) plus one entry here.

    >>> architecture("gpt2").causal, architecture("switch").spout
    (True, True)
    >>> sorted(ARCHITECTURES)
    ['gpt2', 'switch']
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass

from .common import ModelError


@dataclass(frozen=True)
class Architecture:
    name: str               # the config's ``arch`` field
    module: str             # the module under swelm.model that holds the two classes
    config_class: str
    model_class: str
    weights_label: str      # the ``swelm`` entry of model.safetensors' metadata
    modes: tuple            # training modes (swelm train --mode)
    causal: bool            # ``bos text``: no bidirectional prefix, no masks to fill
    swe_layout: bool        # its sequences need the SWE special tokens (<|startoftext|>, …)
    spout: bool             # a spout vector (--spout, d_spout)
    experts: bool           # switch layers (--moe-impl, router losses)
    ext_layers: bool        # convert add-ext, train --train-only ext
    to_hf: bool             # convert to-hf (a transformers architecture exists)

    def _module(self):
        return importlib.import_module(f"{__package__}.{self.module}")

    @property
    def config(self):
        return getattr(self._module(), self.config_class)

    @property
    def model(self):
        return getattr(self._module(), self.model_class)

    @property
    def presets(self) -> dict[str, dict]:
        return self._module().PRESETS


ARCHITECTURES = {
    "switch": Architecture(
        "switch", "switch", "SwitchConfig", "SwitchLM", "switch-lm",
        modes=("lm", "mlm", "hybrid"), causal=False, swe_layout=True, spout=True,
        experts=True, ext_layers=True, to_hf=False),
    "gpt2": Architecture(
        "gpt2", "gpt2", "GPT2Config", "GPT2LM", "gpt2",
        modes=("lm",), causal=True, swe_layout=False, spout=False,
        experts=False, ext_layers=False, to_hf=True),
}
#: a config without an ``arch`` field is a Switch-LM's (the first architecture)
DEFAULT = "switch"


def architecture(of) -> Architecture:
    """The architecture of a name, a config, a model or a config dict."""
    if isinstance(of, dict):
        name = of.get("arch", DEFAULT)
    elif isinstance(of, str):
        name = of
    else:
        cfg = getattr(of, "cfg", of)
        name = getattr(cfg, "arch", DEFAULT)
    if not isinstance(name, str) or name not in ARCHITECTURES:
        raise ModelError(f"config field 'arch': expected "
                         f"{' or '.join(repr(a) for a in ARCHITECTURES)}, got {name!r}")
    return ARCHITECTURES[name]


def spout_width(cfg) -> int:
    """The spout vector's width (``d_spout``) of a config; 0 when it has no spout."""
    return cfg.d_spout if architecture(cfg).spout else 0


def is_swelm_config(m: dict) -> bool:
    """A config.json swelm wrote (one of the architectures' dataclass configs), not
    transformers' (which names a ``model_type``)."""
    arch = m.get("arch")
    return (isinstance(arch, str) and arch in ARCHITECTURES and "model_type" not in m
            and "d_model" in m)


def all_presets() -> dict[str, dict]:
    """Every preset by name; those of other architectures than the default name theirs."""
    out = {}
    for a in ARCHITECTURES.values():
        for k, v in a.presets.items():
            out[k] = dict(v) if a.name == DEFAULT else dict(v, arch=a.name)
    return out


def config_from_dict(d: dict):
    """The config of the architecture ``d["arch"]`` names (the default when absent)."""
    if not isinstance(d, dict):
        raise ModelError(f"a config must be a JSON object of fields, got {type(d).__name__}")
    return architecture(d).config.from_dict(d)


def build_model(cfg):
    """A freshly initialised model of ``cfg``'s architecture."""
    return architecture(cfg).model(cfg)


def make_config(name_or_path: str, **overrides):
    """A preset name or a ``config.json`` path, with field overrides; the config of the
    architecture it names."""
    presets = all_presets()
    if name_or_path in presets:
        d = dict(presets[name_or_path])
    else:
        try:
            with open(name_or_path, encoding="utf-8") as f:
                d = json.load(f)
        except FileNotFoundError:
            raise ModelError(f"{name_or_path}: neither a preset ({', '.join(presets)}) "
                             "nor a config file") from None
        except (OSError, ValueError) as e:
            raise ModelError(f"{name_or_path}: not a readable JSON config: {e}") from None
        if not isinstance(d, dict):
            raise ModelError(f"{name_or_path}: a config must be a JSON object of fields, got "
                             f"{type(d).__name__}")
    d.update({k: v for k, v in overrides.items() if v is not None})
    try:
        if not architecture(d).experts:
            d.pop("moe_impl", None)             # (a trainer flag; a dense model has no experts)
        return config_from_dict(d)
    except ModelError as e:
        if name_or_path in presets:
            raise
        raise ModelError(f"{name_or_path}: {e}") from None
