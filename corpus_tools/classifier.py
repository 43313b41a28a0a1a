"""A trainable quality classifier in the manner of fastText (FineWeb-Edu, Swallow corpus v2):
a linear model over a document's hashed character 1- to 4-grams, averaged over its length,
trained by logistic regression with AdaGrad from examples labelled good and bad.  Its
output, the probability that a document is good, is the ``quality_score`` metric of
build-corpus (``--classifier``).

Why not the fasttext wheel: ``fasttext-wheel`` 0.9.2 installs here, but its ``predict`` calls
``numpy.array(..., copy=False)``, which NumPy 2 refuses, and the ``fasttext`` package is a
source distribution that needs a compiler; the model here is the same kind of model (a bag of
hashed character n-grams into a linear layer), in NumPy, and it scores a document in one
vectorised pass.

    >>> good = ["今日は天気がよいので、公園を散歩しました。"] * 20
    >>> bad = ["ホーム > 製品 > ダウンロード | ログイン"] * 20
    >>> clf = QualityClassifier.train(good, bad, epochs=3, seed=0)
    >>> clf.score("雨が降ったので、家で本を読みました。") > clf.score("ホーム > サポート | ログイン")
    True
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import CorpusError
from .ngram_lm import _keys, _units_char

FORMAT = "swelm-quality-classifier"
VERSION = 1
#: the first bytes of a classifier file (corpus_tools.modelfile)
MAGIC = b"SWELMQC1"


class ClassifierError(CorpusError):
    """A classifier file that is not swelm's, or training input that cannot work."""


def _features(text: str, bits: int, order: int) -> tuple[np.ndarray, np.ndarray]:
    """The document's hashed n-gram buckets and their counts divided by its length."""
    units = _units_char(text)
    if not units.size:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    keys = _keys(units, order)
    parts = [keys[k - 1][k - 1:] for k in range(1, order + 1) if units.size >= k]
    b = (np.concatenate(parts) & np.uint64((1 << bits) - 1)).astype(np.int64)
    idx, counts = np.unique(b, return_counts=True)
    return idx, (counts / units.size).astype(np.float32)


class QualityClassifier:
    """:meth:`train` from good and bad texts, :meth:`score` a text (the probability it is
    good), :meth:`save` / :meth:`load`."""

    def __init__(self, w: np.ndarray, bias: float, meta: dict):
        self.w, self.bias, self.meta = w, float(bias), meta
        self.bits, self.order = int(meta["bits"]), int(meta["order"])

    @classmethod
    def train(cls, good: Sequence[str], bad: Sequence[str], *, epochs: int = 5,
              bits: int = 20, order: int = 4, lr: float = 0.5, l2: float = 1e-6,
              seed: int = 0) -> "QualityClassifier":
        """Logistic regression by AdaGrad over the examples in a seeded order; the classes
        are weighted to count equally however many examples each has."""
        if not good or not bad:
            raise ClassifierError(f"{len(good)} good and {len(bad)} bad examples: both "
                                  "classes need at least one")
        feats = [_features(t, bits, order) for t in good] + [_features(t, bits, order)
                                                             for t in bad]
        y = np.concatenate([np.ones(len(good)), np.zeros(len(bad))])
        cw = np.where(y == 1, len(y) / (2 * len(good)), len(y) / (2 * len(bad)))
        w = np.zeros(1 << bits, np.float64)
        g2 = np.full(1 << bits, 1e-8)
        b, gb2 = 0.0, 1e-8
        rng = np.random.default_rng(seed)
        for _ in range(epochs):
            for i in rng.permutation(len(y)):
                idx, x = feats[i]
                z = float(w[idx] @ x) + b
                p = 1.0 / (1.0 + np.exp(-z)) if z > -30 else 0.0
                err = (p - y[i]) * cw[i]
                grad = err * x + l2 * w[idx]
                g2[idx] += grad * grad
                w[idx] -= lr * grad / np.sqrt(g2[idx])
                gb2 += err * err
                b -= lr * err / np.sqrt(gb2)
        meta = {"format": FORMAT, "version": VERSION, "bits": bits, "order": order,
                "good": len(good), "bad": len(bad), "epochs": epochs, "seed": seed}
        return cls(w.astype(np.float32), b, meta)

    def score(self, text: str) -> float:
        """The probability that ``text`` is good (0..1)."""
        idx, x = _features(text, self.bits, self.order)
        z = float(self.w[idx].astype(np.float64) @ x) + self.bias
        return float(1.0 / (1.0 + np.exp(-np.clip(z, -50, 50))))

    def accuracy(self, good: Sequence[str], bad: Sequence[str],
                 threshold: float = 0.5) -> float:
        right = sum(self.score(t) >= threshold for t in good) + sum(
            self.score(t) < threshold for t in bad)
        return right / max(1, len(good) + len(bad))

    def to_bytes(self) -> bytes:
        from .modelfile import pack
        return pack(MAGIC, dict(self.meta, bias=self.bias), {"w": self.w})

    def save(self, path: str) -> None:
        from swelm.publish import write_bytes
        write_bytes(path, self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> "QualityClassifier":
        from .modelfile import unpack
        try:
            meta, arrays = unpack(data, MAGIC, where,
                                  "a quality classifier (swelm train-classifier writes them)")
        except CorpusError as e:
            raise ClassifierError(str(e)) from None
        if meta.get("version") != VERSION:
            raise ClassifierError(f"{where}: classifier format version {meta.get('version')}; "
                                  f"this swelm reads version {VERSION}")
        w = arrays.get("w")
        if (w is None or w.dtype != np.float32 or not isinstance(meta.get("bits"), int)
                or not 1 <= meta["bits"] <= 26 or w.shape != (1 << meta["bits"],)
                or not isinstance(meta.get("order"), int) or not 1 <= meta["order"] <= 8
                or not isinstance(meta.get("bias", 0.0), (int, float))):
            raise ClassifierError(f"{where}: a damaged file: its weights are not those of a quality "
                                  "classifier")
        return cls(w, meta.get("bias", 0.0), meta)

    @classmethod
    def load(cls, path: str, reader=None) -> "QualityClassifier":
        from .modelfile import read
        return cls.from_bytes(read(path, reader, "quality classifier", ClassifierError), path)
