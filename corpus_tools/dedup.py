"""Deduplication building blocks: exact keys, MinHash-LSH near-duplicates, line containment and
site boilerplate.

Each function works on one document (or one group the pipeline has already formed), so the Beam
pipeline can distribute the work: it groups documents on :meth:`MinHasher.band_keys` to get
candidate pairs, checks each pair with :func:`estimate_jaccard` (or :func:`jaccard`), and joins
the accepted pairs into clusters with connected components.

Near-duplicates are of two kinds and need two tools:

* similar documents of similar size (two editions of a novel, near-identical statutes): the
  Jaccard similarity of their character 5-gram sets is high, and MinHash-LSH finds them;
* a page that contains other pages (a manual's "big page" repeats its split pages): the Jaccard
  similarity is only about ``|small| / |big|``, so no Jaccard threshold can catch it without
  merging unrelated documents. :func:`line_keys` gives each long line a key; the pipeline groups
  on it and the line belongs to the smallest document holding it (:func:`line_votes`); a
  document whose long lines mostly belong to other documents (:func:`is_contained`) is a
  near-duplicate of those.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

_WS = re.compile(r"\s+")
_P = np.uint64(0x100000001B3)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
DEFAULT_BANDS, DEFAULT_ROWS = 16, 8     # chosen in bench/dedup.py (README: "Deduplication")


def _h64(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def exact_key(text: str) -> str:
    """Key for exact deduplication: a 128-bit hash of the text with whitespace runs collapsed."""
    return hashlib.blake2b(_WS.sub(" ", text).strip().encode("utf-8"), digest_size=16).hexdigest()


def _mix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def codepoints(text: str) -> np.ndarray:
    """The text's code points as a uint64 array (the input of the n-gram hashes)."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


def extend_ngrams(h: np.ndarray, cp: np.ndarray, n: int) -> np.ndarray:
    """Polynomial hashes of the ``n``-grams of ``cp`` from those of its ``(n-1)``-grams
    (start from ``h = cp`` for n = 1); 64-bit arithmetic wraps."""
    if len(cp) < n:
        return h[:0]
    with np.errstate(over="ignore"):
        return h[:-1] * _P + cp[n - 1:]


def shingles(text: str, n: int = 5) -> np.ndarray:
    """Sorted unique 64-bit hashes of the character ``n``-grams of ``text`` (whitespace removed;
    a text shorter than ``n`` gives one shingle, itself)."""
    cp = codepoints(_WS.sub("", text))
    if len(cp) == 0:
        return np.zeros(0, dtype=np.uint64)
    h = cp
    for k in range(2, min(n, len(cp)) + 1):
        h = extend_ngrams(h, cp, k)
    with np.errstate(over="ignore"):
        return np.unique(_mix(h))


def jaccard(a: str | np.ndarray, b: str | np.ndarray, n: int = 5) -> float:
    """Exact Jaccard similarity of two texts' (or shingle arrays') character n-gram sets."""
    sa = shingles(a, n) if isinstance(a, str) else a
    sb = shingles(b, n) if isinstance(b, str) else b
    if len(sa) == 0 and len(sb) == 0:
        return 1.0
    inter = len(np.intersect1d(sa, sb, assume_unique=True))
    return inter / (len(sa) + len(sb) - inter)


@dataclass(frozen=True)
class MinHasher:
    """MinHash signatures over character n-grams, and LSH band keys.

    ``bands × rows`` hash functions ``h_i(x) = (a_i·x + b_i) >> 32`` (multiply-shift, a_i odd)
    over the 64-bit shingle hashes; deterministic for ``seed``. Two documents share a band key
    with probability ``1 − (1 − J^rows)^bands``."""
    bands: int = DEFAULT_BANDS
    rows: int = DEFAULT_ROWS
    ngram: int = 5
    seed: int = 0

    def __post_init__(self):
        if self.bands < 1 or self.rows < 1 or self.ngram < 1:
            raise ValueError("bands, rows and ngram must be ≥ 1")
        rng = np.random.default_rng(self.seed)
        k = self.bands * self.rows
        a = rng.integers(1, 2**63, size=k, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        b = rng.integers(0, 2**63, size=k, dtype=np.uint64)
        object.__setattr__(self, "_a", a[:, None])
        object.__setattr__(self, "_b", b[:, None])

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    @property
    def threshold(self) -> float:
        """The Jaccard similarity at which the S-curve is steepest, ≈ (1/bands)^(1/rows)."""
        return (1.0 / self.bands) ** (1.0 / self.rows)

    def signature(self, text: str | np.ndarray) -> np.ndarray:
        """``num_perm`` uint32 minimum hashes (all 0xFFFFFFFF for an empty text)."""
        sh = shingles(text, self.ngram) if isinstance(text, str) else text
        sig = np.full(self.num_perm, np.iinfo(np.uint32).max, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for start in range(0, len(sh), 8192):
                x = sh[None, start:start + 8192]
                np.minimum(sig, ((self._a * x + self._b) >> np.uint64(32)).min(axis=1), out=sig)
        return sig.astype(np.uint32)

    def band_keys(self, signature: np.ndarray) -> list[str]:
        """One key per band, ``"<band>:<16 hex>"``; documents sharing a key are candidates."""
        sig = np.ascontiguousarray(signature, dtype=np.uint32)
        r = self.rows
        return [f"{i}:{_h64(sig[i * r:(i + 1) * r].tobytes())}" for i in range(self.bands)]


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Jaccard estimate from two signatures: the share of equal positions."""
    return float(np.mean(np.asarray(sig_a) == np.asarray(sig_b)))


def bucket_pairs(members, threshold: float, max_bucket: int = 1000):
    """The ``(id_a, id_b)`` pairs (a < b) of one LSH bucket of ``(id, signature)`` members
    whose estimated Jaccard reaches ``threshold``; at most ``max_bucket`` members (smallest
    ids) are compared, which bounds the work a hot bucket can cause."""
    members = sorted(members, key=lambda m: m[0])[:max_bucket]
    for i, (a, sa) in enumerate(members):
        for b, sb in members[i + 1:]:
            if estimate_jaccard(sa, sb) >= threshold:
                yield a, b


def connected_components(pairs, nodes=()) -> dict:
    """Union-find over ``pairs``; maps every node to its cluster's smallest member."""
    parent: dict = {n: n for n in nodes}

    def find(x):
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra
    return {n: find(n) for n in list(parent)}


# -- lines: boilerplate and containment ------------------------------------------------------
#: what line keys ignore: whitespace, and the extractor's marks (code, navigation, link text)
_KEY_IGNORES = re.compile("[\\s\ufdd0-\ufdef]+")


def line_key(line: str) -> str:
    """Key of one line (whitespace-insensitive; the extractor's marks are ignored, so a line
    is the same whether or not a part of it is a link)."""
    return _h64(_KEY_IGNORES.sub("", line).encode("utf-8"))


def line_keys(text: str, min_chars: int = 1) -> dict[str, int]:
    """``{key: characters}`` of the distinct lines of ``text`` with ≥ ``min_chars`` characters
    (whitespace and the extractor's marks excluded, as :func:`line_key`)."""
    out = {}
    for line in text.split("\n"):
        dense = _KEY_IGNORES.sub("", line)
        if len(dense) >= min_chars:
            out[_h64(dense.encode("utf-8"))] = len(dense)
    return out


def is_boilerplate(pages: int, site_docs: int, min_share: float = 0.1, min_docs: int = 5) -> bool:
    """Whether a line on ``pages`` of a site's ``site_docs`` documents is boilerplate: on at
    least ``min_share`` of them, and on at least ``min_docs``."""
    return pages >= max(min_docs, min_share * site_docs)


def boilerplate_keys(line_doc_counts: dict[str, int], site_docs: int, min_share: float = 0.1,
                     min_docs: int = 5) -> set[str]:
    """The keys of :func:`is_boilerplate` lines."""
    return {k for k, c in line_doc_counts.items()
            if is_boilerplate(c, site_docs, min_share, min_docs)}


def strip_lines(text: str, keys: set[str]) -> tuple[str, int]:
    """Remove the lines whose key is in ``keys``; return the text and the characters removed."""
    if not keys:
        return text, 0
    kept, removed = [], 0
    for line in text.split("\n"):
        dense = _KEY_IGNORES.sub("", line)
        if dense and _h64(dense.encode("utf-8")) in keys:
            removed += len(dense)
        else:
            kept.append(line)
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return out, removed


def line_votes(holders):
    """One line's holders, ``(doc chars, doc id, line chars)`` each → ``(doc id, (line chars,
    foreign chars), owner)`` per holder. The line belongs to the smallest holder (then the
    smallest id); for every other holder its characters are foreign."""
    holders = sorted(holders)
    owner = holders[0][1]
    for _, d, chars in holders:
        yield d, (chars, 0 if d == owner else chars), owner


def is_contained(total_chars: int, foreign_chars: int, threshold: float = 0.8) -> bool:
    """Whether a document whose long lines hold ``total_chars``, ``foreign_chars`` of them owned
    by other documents, is a near-duplicate of those."""
    return total_chars > 0 and foreign_chars >= threshold * total_chars


def containment_duplicates(docs: dict[str, str], min_chars: int = 30, threshold: float = 0.8
                           ) -> dict[str, tuple[float, tuple[str, ...]]]:
    """In-memory version of the pipeline's containment step, for small inputs and tests:
    ``{doc_id: (share, owners)}`` for documents whose share of foreign long lines ≥ threshold."""
    holders: dict[str, list] = {}
    for d, t in docs.items():
        size = len(_WS.sub("", t))
        for k, c in line_keys(t, min_chars).items():
            holders.setdefault(k, []).append((size, d, c))
    totals: dict[str, list] = {d: [0, 0, set()] for d in docs}
    for members in holders.values():
        for d, (chars, foreign), owner in line_votes(members):
            totals[d][0] += chars
            totals[d][1] += foreign
            if foreign:
                totals[d][2].add(owner)
    return {d: (round(f / t, 4), tuple(sorted(owners)))
            for d, (t, f, owners) in totals.items() if is_contained(t, f, threshold)}
