"""What both architectures share, and nothing that knows either of them: the error type, the
``config.json`` mixin (reading, writing, field checks), the KV cache, the loss and the forward
pass's output.  ``switch`` and ``gpt2`` import this module only; ``registry`` maps names to
them."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from swelm.errors import SwelmError


class ModelError(SwelmError, ValueError):
    """A model, checkpoint, config or input the model cannot take; the message says which."""


class ConfigJSON:
    """``config.json`` in and out, and the field checks, for the dataclass configs of every
    architecture.  A config class sets ``ARCH`` (its ``arch`` field's only value), ``BOUNDS``
    (numeric fields: integer, minimum, exclusive minimum) and ``TEXT`` (text fields)."""
    ARCH = ""
    BOUNDS = {}
    TEXT = ()

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict):
        if not isinstance(d, dict):
            raise ModelError(f"a config must be a JSON object of fields, got "
                             f"{type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ModelError(f"unknown config fields for arch {cls.ARCH!r}: "
                             f"{', '.join(unknown)}")
        return cls(**d)

    def check_fields(self) -> None:
        """The numeric bounds, the ``arch`` value and the text fields (first of the checks in
        ``__post_init__``)."""
        from swelm.checks import number
        for name, (integer, minimum, exclusive) in self.BOUNDS.items():
            number(getattr(self, name), f"config field {name!r}", minimum=minimum,
                   exclusive=exclusive, integer=integer, error=ModelError)
        if self.arch != self.ARCH:
            raise ModelError(f"config field 'arch': expected {self.ARCH!r}, got {self.arch!r}")
        for name in self.TEXT:
            if not isinstance(getattr(self, name), str):
                raise ModelError(f"config field {name!r}: expected text, got "
                                 f"{getattr(self, name)!r}")
        if self.d_model % self.n_head:
            raise ModelError(f"d_model {self.d_model} is not a multiple of n_head {self.n_head}")


class KVCache:
    """Pre-allocated keys and values of every layer; ``length`` positions are filled."""

    def __init__(self, cfg, batch: int, max_len: int, device, dtype) -> None:
        hd = cfg.d_model // cfg.n_head
        shape = (batch, cfg.n_head, max_len, hd)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.length = 0
        self.max_len = max_len
        self.has_spout = False

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        t = k.shape[2]
        end = self.length + t
        if end > self.max_len:
            raise ModelError(f"KV cache full: {end} positions > {self.max_len}")
        self.k[layer][:, :, self.length:end] = k
        self.v[layer][:, :, self.length:end] = v
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows ``index`` (beam search)."""
        self.k = [k.index_select(0, index) for k in self.k]
        self.v = [v.index_select(0, index) for v in self.v]


def lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (float32) of ``logits`` over the ``labels`` that are not −1."""
    wide = logits if logits.element_size() >= 4 else logits.float()
    return F.cross_entropy(wide.view(-1, wide.shape[-1]), labels.reshape(-1), ignore_index=-1)


@dataclass
class LMOutput:
    logits: torch.Tensor | None     # None when ``labels`` were given (the loss is then computed)
    aux_loss: torch.Tensor          # load-balancing loss, mean over switch layers
    z_loss: torch.Tensor            # router z-loss, mean over switch layers
    dropped: torch.Tensor           # fraction of tokens over capacity, mean over layers
    hidden_states: list | None = None
    loss: torch.Tensor | None = None  # mean cross-entropy over the labels that are not -1
    # the weights of aux_loss and z_loss in the training loss; None: the model has no router
    router_coefs: tuple[float, float] | None = None

    def router_loss(self, cfg=None) -> torch.Tensor:
        """The routers' part of the training loss, weighted by ``cfg``'s ``aux_loss_coef`` and
        ``z_loss_coef`` when given (the trainer's config, which ``--set`` may have changed),
        else by the model's own."""
        if self.router_coefs is None:
            return self.aux_loss          # zero: no router
        aux, z = (cfg.aux_loss_coef, cfg.z_loss_coef) if cfg is not None else self.router_coefs
        return aux * self.aux_loss + z * self.z_loss
