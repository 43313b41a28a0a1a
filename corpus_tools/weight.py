"""Per-document repeat factors from per-site/per-genre weights and an optional token budget.

A site's effective weight is ``site.weight × genre_weights[genre]`` (1.0 for a genre not
listed). Without a budget the effective weight is the repeat factor: 2.0 means every document
twice, 0.5 means each document with probability ½. With a budget (in the same unit as the
sizes, characters or tokens) every factor is scaled so that the expected output is the budget
and the sites keep their relative weights.

The fractional part of a factor is decided per document by a hash of ``(seed, doc_id)``:
deterministic for a seed, independent of order and of which worker sees the document.

>>> f = factors({"a": 100, "b": 300}, {"a": 2.0, "b": 1.0})
>>> f
{'a': 2.0, 'b': 1.0}
>>> repeats("doc-1", 2.0, seed=0)
2
"""
from __future__ import annotations

from . import CorpusError

import hashlib
import math


def effective_weight(site_weight: float, genre: str, genre_weights: dict | None = None) -> float:
    return float(site_weight) * float((genre_weights or {}).get(genre, 1.0))


def factors(sizes: dict[str, float], weights: dict[str, float], budget: float | None = None
            ) -> dict[str, float]:
    """Repeat factor per group (site) from its size and effective weight."""
    for name, w in weights.items():
        if not (w >= 0 and math.isfinite(w)):
            raise CorpusError(f"weight of {name!r} must be a finite number ≥ 0, got {w!r}")
    if budget is None:
        return {k: float(weights.get(k, 1.0)) for k in sizes}
    if budget <= 0:
        raise CorpusError(f"token budget must be > 0, got {budget!r}")
    weighted = sum(weights.get(k, 1.0) * s for k, s in sizes.items())
    if weighted <= 0:
        return {k: 0.0 for k in sizes}
    scale = budget / weighted
    return {k: float(weights.get(k, 1.0)) * scale for k in sizes}


def _unit(seed: int, doc_id: str) -> float:
    digest = hashlib.blake2b(f"{seed}\x00{doc_id}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def repeats(doc_id: str, factor: float, seed: int = 0) -> int:
    """How many copies of the document go into the training set (deterministic)."""
    if factor < 0 or not math.isfinite(factor):
        raise CorpusError(f"repeat factor must be a finite number ≥ 0, got {factor!r}")
    whole = math.floor(factor)
    return whole + (1 if _unit(seed, doc_id) < factor - whole else 0)


def mix_report(sizes: dict[str, float], factor_of: dict[str, float],
               genre_of: dict[str, str] | None = None) -> dict:
    """Expected mix: per group and per genre, the input size, expected output and share."""
    out_sizes = {k: s * factor_of.get(k, 1.0) for k, s in sizes.items()}
    total = sum(out_sizes.values()) or 1.0
    groups = {k: {"in": sizes[k], "factor": round(factor_of.get(k, 1.0), 6),
                  "out": round(out_sizes[k], 2), "share": round(out_sizes[k] / total, 6)}
              for k in sorted(sizes)}
    genres: dict[str, dict] = {}
    for k in sorted(sizes):
        g = (genre_of or {}).get(k, "other")
        e = genres.setdefault(g, {"in": 0.0, "out": 0.0})
        e["in"] += sizes[k]
        e["out"] += out_sizes[k]
    for e in genres.values():
        e["share"] = round(e["out"] / total, 6)
        e["out"] = round(e["out"], 2)
    return {"groups": groups, "genres": genres, "total_out": round(total, 2)}
