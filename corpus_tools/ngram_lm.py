"""A character n-gram language model with interpolated Kneser–Ney smoothing: the quality
signal of CCNet and RedPajama-V2 (a document's perplexity under a model of clean reference
text), estimated and scored with NumPy.

Why not a library: KenLM's Python module only scores (its estimator ``lmplz`` is a C++
program that the PyPI package does not build), and no maintained wheel estimates Kneser–Ney
models.  The estimate here is the textbook one (Chen & Goodman 1998, interpolated, one
discount per order from the counts of counts): the highest order counts n-grams, the lower
orders count the distinct characters before them (continuation counts), and every order
interpolates with the one below, down to a uniform distribution over the characters seen and
one unknown character.  It is stored in backoff form, so scoring looks each n-gram up once:

    log p(w | h) = log P(h w)                    if the n-gram h w is stored
                 = log γ(h) + log p(w | h')      otherwise (h' is h without its first unit)

The units are Unicode characters (``unit = "char"``) or SWE token ids of the bundled
vocabulary (``unit = "swe"``).  Each document is one sequence: ``order - 1`` begin marks, its
units (line ends included), an end mark that is predicted too.  N-grams above the second
order seen fewer than ``min_count`` times are left out (their probability mass goes to the
lower orders), which keeps the model small without changing its ranking of documents much.

The model is a hash table: each n-gram's 64-bit hash picks a bucket of four slots holding a
32-bit fingerprint and the two log10 values; scoring hashes every n-gram of a document with
a few vectorised NumPy operations and gathers the buckets (docs/corpus-tools.md has the
speed).  The entries a full bucket cannot take (about 1%) are kept in a sorted overflow
table that is searched for the keys the buckets miss, so no n-gram is lost.

    >>> lm = NgramLM.train(["吾輩は猫である。名前はまだ無い。"] * 3 + ["猫である。"], order=3)
    >>> lm.perplexity("吾輩は猫である。") < lm.perplexity("である吾輩。猫は")
    True
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from . import CorpusError

FORMAT = "swelm-ngram-lm"
VERSION = 1
#: the first bytes of a model file (corpus_tools.modelfile)
MAGIC = b"SWELMNG1"
UNITS = ("char", "swe")
#: begin and end marks (above every Unicode code point and token id)
BOS, EOS = 0x110000, 0x110001
_SLOTS = 4
_P = np.uint64(0x9E3779B97F4A7C15)
_C1, _C2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_ORDER_SALT = 0xD6E8FEB86659FD93
_U64 = (1 << 64) - 1


class LMError(CorpusError):
    """A model file that is not a swelm n-gram model, or settings that cannot work."""


def _mix(h: np.ndarray, k: int) -> np.ndarray:
    """A 64-bit finaliser (splitmix64) of the polynomial hashes of k-grams, salted by k."""
    z = h ^ np.uint64((k * _ORDER_SALT) & _U64)
    z = (z ^ (z >> np.uint64(30))) * _C1
    z = (z ^ (z >> np.uint64(27))) * _C2
    return z ^ (z >> np.uint64(31))


def _keys(seq: np.ndarray, order: int) -> list[np.ndarray]:
    """``keys[k - 1][i]``: the hash of the k-gram ending at ``seq[i]`` (meaningless for
    ``i < k - 1``, which no caller reads)."""
    h = seq.astype(np.uint64)
    out = [_mix(h, 1)]
    with np.errstate(over="ignore"):
        for k in range(2, order + 1):
            nxt = np.zeros_like(h)
            nxt[1:] = h[:-1] * _P + seq[1:]
            h = nxt
            out.append(_mix(h, k))
    return out


def _units_char(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class _SweUnits:
    """Token ids of the bundled SWE vocabulary (loaded once)."""
    _enc = None

    def __call__(self, text: str) -> np.ndarray:
        if _SweUnits._enc is None:
            from swelm.tokenizer import SWEEncoder
            _SweUnits._enc = SWEEncoder.load()
        return np.asarray(_SweUnits._enc.encode(text), dtype=np.uint32)


def units_of(unit: str):
    """The function text -> unit array of a unit name."""
    if unit == "char":
        return _units_char
    if unit == "swe":
        return _SweUnits()
    raise LMError(f"unit {unit!r}: expected one of {', '.join(UNITS)}")


def _sequence(arrays: list[np.ndarray], order: int) -> tuple[np.ndarray, np.ndarray]:
    """The documents' units in one array, each after ``order - 1`` begin marks and before an
    end mark; and the start of each document's predicted units (its first unit) in it."""
    pad = np.full(order - 1, BOS, dtype=np.uint32)
    end = np.array([EOS], dtype=np.uint32)
    parts, starts, at = [], [], 0
    for a in arrays:
        parts += [pad, a, end]
        starts.append(at + order - 1)
        at += order + len(a)
    seq = np.concatenate(parts) if parts else np.zeros(0, np.uint32)
    return seq, np.asarray(starts, dtype=np.int64)


def _discount(c: np.ndarray) -> float:
    n1, n2 = int(np.sum(c == 1)), int(np.sum(c == 2))
    if n1 == 0 or n2 == 0:
        return 0.5
    return float(min(max(n1 / (n1 + 2 * n2), 0.05), 0.95))


class NgramLM:
    """A trained model: :meth:`train`, :meth:`load`/:meth:`save`, :meth:`perplexity`."""

    def __init__(self, fp: np.ndarray, vals: np.ndarray, meta: dict,
                 spill_keys: np.ndarray | None = None, spill_vals: np.ndarray | None = None):
        self.fp, self.vals, self.meta = fp, vals, meta
        self.spill_keys = np.zeros(0, np.uint64) if spill_keys is None else spill_keys
        self.spill_vals = np.zeros((0, 2), np.float32) if spill_vals is None else spill_vals
        self.order = int(meta["order"])
        self.unit = meta["unit"]
        self.unk = float(meta["unk_log10"])
        self._mask = np.uint64(len(fp) - 1)
        # the buckets that overflowed: only their keys are looked for in the overflow table
        self._full = np.zeros(len(fp), bool)
        self._full[(self.spill_keys & self._mask).astype(np.intp)] = True
        self._units = units_of(self.unit)

    # -- estimation -------------------------------------------------------------------------
    @classmethod
    def train(cls, texts: Iterable[str], order: int = 5, unit: str = "char",
              min_count: int = 2) -> "NgramLM":
        """Estimate a model from texts (each a document)."""
        if not 1 <= order <= 8:
            raise LMError(f"order {order}: expected 1 to 8")
        if min_count < 1:
            raise LMError(f"min_count {min_count}: expected 1 or more")
        units = units_of(unit)
        arrays = [units(t) for t in texts]
        seq, starts = _sequence(arrays, order)
        predicted = np.flatnonzero(seq != BOS)
        if not len(arrays) or not predicted.size:
            raise LMError("no text to train on")
        keys = _keys(seq, order)
        uniq, first, raw = [], [], []
        for k in range(1, order + 1):
            u, f, r = np.unique(keys[k - 1][predicted], return_index=True, return_counts=True)
            uniq.append(u)
            first.append(predicted[f])
            raw.append(r)
        entries = []            # (keys, log10 p, log10 backoff or nan, order, count) per part
        prob_below = None
        for k in range(1, order + 1):
            u, pos = uniq[k - 1], first[k - 1]
            if k == order:
                c = raw[k - 1].astype(np.float64)
            else:               # continuation counts: distinct units before each k-gram
                suffix = keys[k - 1][first[k]]
                c = np.bincount(np.searchsorted(u, suffix), minlength=len(u)).astype(np.float64)
            d = _discount(c)
            if k == 1:
                total, types = c.sum(), len(u)
                vocab = types + 1                      # the characters seen and one unknown
                lower = 1.0 / vocab
                p = (np.maximum(c - d, 0) + d * types * lower) / total
                unk = np.log10(d * types * lower / total)
            else:
                ctx = keys[k - 2][pos - 1]
                uc, inv = np.unique(ctx, return_inverse=True)
                denom = np.bincount(inv, weights=c)
                types = np.bincount(inv).astype(np.float64)
                gamma = d * types / denom
                below = prob_below[np.searchsorted(uniq[k - 2], keys[k - 2][pos])]
                p = np.maximum(c - d, 0) / denom[inv] + gamma[inv] * below
                keep = raw[k - 1] >= (min_count if k >= 3 else 1)
                # the backoff of a context whose continuations were left out: the mass they
                # leave, over the mass of the same units one order down, so that the
                # probabilities after it still sum to 1 (γ itself when none is left out)
                kept_p = np.bincount(inv[keep], weights=p[keep], minlength=len(uc))
                kept_below = np.bincount(inv[keep], weights=below[keep], minlength=len(uc))
                backoff = np.maximum(1.0 - kept_p, 1e-12) / np.maximum(1.0 - kept_below, 1e-12)
                # a context's backoff is stored when one of its continuations is (else it is 1)
                with_child = np.bincount(inv[keep], minlength=len(uc)) > 0
                entries.append((uc[with_child], np.full(int(with_child.sum()), np.nan),
                                np.log10(backoff[with_child]), k - 1,
                                np.zeros(int(with_child.sum()))))
            if k == 1:
                keep = np.ones(len(u), bool)
            entries.append((u[keep], np.log10(p[keep]), np.full(int(keep.sum()), np.nan), k,
                            raw[k - 1][keep].astype(np.float64)))
            prob_below = p
        fp, vals, spill_keys, spill_vals, n = _table(entries)
        meta = {"format": FORMAT, "version": VERSION, "order": order, "unit": unit,
                "min_count": min_count, "unk_log10": float(unk), "ngrams": int(n),
                "documents": len(arrays), "units": int(predicted.size)}
        return cls(fp, vals, meta, spill_keys, spill_vals)

    # -- scoring ----------------------------------------------------------------------------
    def _lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(log10 p or nan, log10 backoff or 0)`` of each key."""
        b = (keys & self._mask).astype(np.intp)
        fp = (keys >> np.uint64(32)).astype(np.uint32)
        fp[fp == 0] = 1
        eq = self.fp[b] == fp[:, None]
        found = eq.any(axis=1)
        v = self.vals[b, eq.argmax(axis=1)]
        if len(self.spill_keys):            # the keys full buckets miss: the overflow table
            miss = np.flatnonzero(~found & self._full[b])
            at = np.minimum(np.searchsorted(self.spill_keys, keys[miss]),
                            len(self.spill_keys) - 1)
            hit = self.spill_keys[at] == keys[miss]
            v[miss[hit]] = self.spill_vals[at[hit]]
            found[miss[hit]] = True
        lp = np.where(found, v[:, 0], np.nan)
        bo = np.where(found & ~np.isnan(v[:, 1]), v[:, 1], 0.0)
        return lp, bo

    def log10_probs(self, arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The log10 probability of every predicted unit of the documents (their units and
        end marks), and the start of each document's in that array."""
        seq, starts = _sequence(arrays, self.order)
        keys = _keys(seq, self.order)
        looked = [self._lookup(k) for k in keys]
        pred = np.flatnonzero(seq != BOS)
        lp1 = looked[0][0][pred]
        r = np.where(np.isnan(lp1), self.unk, lp1)
        for k in range(2, self.order + 1):
            lp = looked[k - 1][0][pred]
            bo = looked[k - 2][1][pred - 1]
            r = np.where(np.isnan(lp), bo + r, lp)
        # each document's predicted units start where its units do, counted in pred
        offsets = starts - (self.order - 1) * np.arange(1, len(starts) + 1)
        return r, offsets

    def perplexities(self, texts: list[str]) -> list[float]:
        """The perplexity of each text (per unit, its end mark counted)."""
        if not texts:
            return []
        arrays = [self._units(t) for t in texts]
        r, offsets = self.log10_probs(arrays)
        sums = np.add.reduceat(r, offsets)
        counts = np.array([len(a) + 1 for a in arrays], dtype=np.float64)
        return [float(x) for x in np.power(10.0, -sums / counts)]

    def perplexity(self, text: str) -> float:
        """The perplexity of one text (per unit, its end mark counted)."""
        return self.perplexities([text])[0]

    # -- files ------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        from .modelfile import pack
        return pack(MAGIC, self.meta, {"fp": self.fp, "vals": self.vals,
                                       "spill_keys": self.spill_keys,
                                       "spill_vals": self.spill_vals})

    def save(self, path: str) -> None:
        """Write the model to ``path`` atomically."""
        from swelm.publish import write_bytes
        write_bytes(path, self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> "NgramLM":
        from .modelfile import unpack
        try:
            meta, arrays = unpack(data, MAGIC, where, "an n-gram model (swelm build-lm writes them)")
        except CorpusError as e:
            raise LMError(str(e)) from None
        if meta.get("version") != VERSION:
            raise LMError(f"{where}: n-gram model format version {meta.get('version')}; this "
                          f"swelm reads version {VERSION} (build it again with swelm build-lm)")
        fp, vals = arrays.get("fp"), arrays.get("vals")
        sk, sv = arrays.get("spill_keys"), arrays.get("spill_vals")
        n = 0 if fp is None else len(fp)
        if (vals is None or sk is None or sv is None or fp.dtype != np.uint32
                or vals.dtype != np.float32 or n & (n - 1) or n == 0
                or fp.shape != (n, _SLOTS) or vals.shape != (n, _SLOTS, 2)
                or sk.dtype != np.uint64 or sv.shape != (len(sk), 2)
                or meta.get("unit") not in UNITS or not isinstance(meta.get("order"), int)
                or not 1 <= meta["order"] <= 8):
            raise LMError(f"{where}: a damaged file: its tables are not those of an n-gram model")
        try:
            return cls(fp, vals, meta, sk, sv)
        except (KeyError, TypeError, ValueError):
            raise LMError(f"{where}: a damaged file: its settings are not those of an n-gram "
                          "model") from None

    @classmethod
    def load(cls, path: str, reader=None) -> "NgramLM":
        """Read a model written by :meth:`save` (``reader(path) -> bytes`` for any
        filesystem; the local disk by default)."""
        from .modelfile import read
        return cls.from_bytes(read(path, reader, "n-gram model", LMError), path)


def _table(entries):
    """The bucketed hash table of the entries ``(keys, log10 p, log10 backoff, order,
    count)`` (an n-gram and a context with the same key are one entry holding both): the
    fingerprints and values of the buckets, the sorted keys and values of the entries a
    full bucket could not take (its higher orders and rarer n-grams), and the entries."""
    keys = np.concatenate([e[0] for e in entries])
    lp = np.concatenate([e[1] for e in entries])
    bo = np.concatenate([e[2] for e in entries])
    order = np.concatenate([np.full(len(e[0]), e[3], np.int8) for e in entries])
    count = np.concatenate([e[4] for e in entries])
    u, inv = np.unique(keys, return_inverse=True)
    ulp = np.full(len(u), np.nan, np.float32)
    ubo = np.full(len(u), np.nan, np.float32)
    is_ngram = ~np.isnan(lp)
    ulp[inv[is_ngram]] = lp[is_ngram]
    ubo[inv[~is_ngram]] = bo[~is_ngram]
    uorder = np.full(len(u), 127, np.int8)
    np.minimum.at(uorder, inv, order)
    ucount = np.zeros(len(u))
    np.maximum.at(ucount, inv, count)
    n = len(u)
    buckets = 1 << max(1, int(np.ceil(np.log2(max(n, 2) / 2))))
    b = (u & np.uint64(buckets - 1)).astype(np.int64)
    fp = (u >> np.uint64(32)).astype(np.uint32)
    fp[fp == 0] = 1
    by = np.lexsort((-ucount, uorder, b))
    bs = b[by]
    rank = np.arange(n) - np.searchsorted(bs, bs, side="left")
    ok = rank < _SLOTS
    tfp = np.zeros((buckets, _SLOTS), np.uint32)
    tvals = np.full((buckets, _SLOTS, 2), np.nan, np.float32)
    sel = by[ok]
    tfp[bs[ok], rank[ok]] = fp[sel]
    tvals[bs[ok], rank[ok], 0] = ulp[sel]
    tvals[bs[ok], rank[ok], 1] = ubo[sel]
    spill = np.sort(by[~ok])                 # indices into u: sorted keys
    svals = np.stack([ulp[spill], ubo[spill]], axis=1).astype(np.float32)
    return tfp, tvals, u[spill], svals.reshape(-1, 2), n
