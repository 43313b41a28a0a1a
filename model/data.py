"""Training sequences built on the fly from Arrow token shards (``encode_swe`` / ``swelm encode``).

The shards are memory-mapped; a row is cut into chunks of at most ``seq_len − 3`` tokens, and
every chunk becomes one sequence in the GPTSAN layout::

    lm      <|startoftext|> <|segmenter|> t0 t1 … [<|endoftext|>]   (causal)
    hybrid  <|startoftext|> p0 … pk <|segmenter|> t0 … [<|endoftext|>] (prefix bidirectional)
    mlm     <|startoftext|> p0 … pn <|segmenter|>                      (all prefix)

padded with ``<|nottoken|>``.  Targets are the next token, −1 where ignored: padding, the
prefix's last position (it would predict where the random cut is), and prefix positions whose
next token was not chosen for masking (the prefix is bidirectional, so those would be copies).
8% of prefix tokens are chosen: 80% become ``<|inputmask|>``, 10% a random token, 10% stay.
Runs of three or more identical tokens become ``token <|bagoftoken|>``.

Sample ``k`` is a pure function of ``(seed, k)``: sources are mixed by weight through a keyed
permutation of each epoch (no index arrays are built), so a resumed run, a run with more loader
workers or more ranks sees exactly the same sequences.
"""
from __future__ import annotations

import functools
import glob
import math
import os
from dataclasses import dataclass

import numpy as np

from swelm.tokenizer.shards import TokenRows, read_manifest

from .common import ModelError

MASK_RATE = 0.08
MODES = ("lm", "mlm", "hybrid")


# --------------------------------------------------------------------------- keyed permutation
_M64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64 finaliser."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def key_of(*parts: int) -> int:
    k = 0x5157454C4D
    for p in parts:
        k = _mix(k ^ (int(p) & _M64))
    return k


def permute(i: int, n: int, key: int) -> int:
    """A bijection of ``range(n)`` chosen by ``key`` (4-round Feistel network with cycle walking),
    O(1) memory."""
    if n <= 1:
        return 0
    bits = max(2, (n - 1).bit_length())
    half = (bits + 1) // 2
    mask = (1 << half) - 1
    x = i
    while True:
        left, right = x >> half, x & mask
        for r in range(4):
            left, right = right, left ^ (_mix(key ^ (r << 56) ^ right) & mask)
        x = (left << half) | right
        if x < n:
            return x


# --------------------------------------------------------------------------- sources
@dataclass
class SourceSpec:
    path: str
    weight: float = 1.0
    klass: int = -1


def parse_sources(specs: list[str], flag: str = "--data") -> list[SourceSpec]:
    """``DIR``, ``DIR/*.arrow`` (the folder of the matched files) or a ``FILE.npz`` of the
    reference layout (one int array per chunk, as ``encode_swe --format npz`` and
    gpt2-japanese's ``encode_bpe.py`` write it), optionally ``:WEIGHT`` and ``@CLASS`` (spout
    class of every row), e.g. ``wiki/:2@3``."""
    out = []
    for spec in specs:
        if "://" in spec:
            scheme = spec.split("://", 1)[0]
            copy = {"s3": f"aws s3 cp --recursive {spec} ./shards/",
                    "gs": f"gcloud storage cp -r {spec} ./shards/"}.get(
                scheme, "copy the folder with its manifest.json")
            raise ModelError(f"{flag} {spec}: training reads local shard folders (memory-mapped);"
                             f" copy the set first ({copy}) and pass --data ./shards")
        klass, weight, given = -1, 1.0, spec
        if "@" in spec:
            spec, c = spec.rsplit("@", 1)
            if not c.isdigit():
                raise ModelError(f"{flag} {given}: expected DIR[:WEIGHT][@CLASS] with CLASS a "
                                 f"spout class number >= 0, got {c!r} (training reads local "
                                 "shard folders)")
            klass = int(c)
        head, sep, tail = spec.rpartition(":")
        if sep and head and _is_number(tail):
            spec, weight = head, float(tail)
            if not math.isfinite(weight) or weight < 0:
                raise ModelError(f"{flag} {given}: WEIGHT must be a finite number >= 0, "
                                 f"got {tail!r}")
        if spec.endswith(".npz") and os.path.isfile(spec):
            out.append(SourceSpec(spec, weight, klass))
            continue
        if os.path.exists(spec) and not os.path.isdir(spec):
            from swelm.checks import special_file
            what = special_file(spec) or "a file"
            raise ModelError(f"{flag} {spec}: {what}; expected a token shard folder (with "
                             "its manifest.json) or a .npz file")
        dirs = [spec] if os.path.isdir(spec) else sorted(
            {os.path.dirname(p) or "." for p in glob.glob(spec)})
        if not dirs:
            raise ModelError(f"{flag} {spec}: no token shards match")
        out += [SourceSpec(d, weight, klass) for d in dirs]
    return out


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


class NpzRows:
    """The rows of a ``.npz`` of the reference layout (``arr_0``, ``arr_1``, …: one int array
    per chunk), with the interface of TokenRows.  The file names no vocabulary: ``vocab`` has
    only the largest id, checked against the model's vocabulary by the trainer."""

    def __init__(self, path: str) -> None:
        import zipfile
        try:
            with np.load(path, allow_pickle=False) as z:
                names = sorted(z.files, key=lambda n: (len(n), n))
                arrays = [z[n] for n in names]
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise ModelError(f"{path}: not an .npz token file: {e}") from None
        bad = [n for n, a in zip(names, arrays) if a.ndim != 1 or a.dtype.kind not in "iu"]
        if bad or not all(n.startswith("arr_") for n in names):
            raise ModelError(f"{path}: expected one 1-D integer array per chunk (arr_0, arr_1, "
                             f"…), got {(bad or names)[0]!r}")
        if any(a.size and int(a.min()) < 0 for a in arrays):
            raise ModelError(f"{path}: holds a negative token id")
        self.dir = path
        self.arrays = [a.astype(np.int64, copy=False) for a in arrays]
        self.lengths = np.array([a.size for a in self.arrays], dtype=np.int64)
        top = max((int(a.max()) for a in self.arrays if a.size), default=-1)
        self.vocab = {"max_id": top}

    def row(self, i: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        a = self.arrays[i]
        return a[start:] if stop is None else a[start:stop]

    def row_class(self, i: int) -> int:
        return -1

    def __len__(self) -> int:
        return len(self.arrays)


def open_npz(path: str) -> NpzRows:
    """The rows of an .npz, decompressed once per file version however often it is asked for
    (the trainer reads its largest id, then its rows)."""
    st = os.stat(path)
    return _open_npz(os.path.abspath(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=4)
def _open_npz(path: str, mtime_ns: int, size: int) -> NpzRows:
    return NpzRows(path)


class Source:
    """A shard folder (or an .npz) cut into chunks of at most ``budget`` tokens."""

    def __init__(self, spec: SourceSpec, budget: int, check_ids: bool = True) -> None:
        self.spec = spec
        self.rows = (open_npz(spec.path) if spec.path.endswith(".npz")
                     else TokenRows(spec.path, check_ids=check_ids))
        n = np.maximum(1, -(-self.rows.lengths // budget))
        n = np.where(self.rows.lengths == 0, 0, n)         # an empty row is nothing to train on
        tail = self.rows.lengths - (n - 1) * budget
        # a short tail of a long row (e.g. a packed row a few tokens longer than the budget)
        # is dropped rather than trained as a nearly empty sequence
        n = np.where((n > 1) & (tail < max(1, budget // 8)), n - 1, n)
        self.first_chunk = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
        self.n_chunks = int(self.first_chunk[-1])
        self.budget = budget
        self.draws = int(round(spec.weight * self.n_chunks))

    def chunk(self, c: int) -> tuple[np.ndarray, bool, int]:
        """Tokens of chunk ``c``, whether it ends its row, and the row's class."""
        r = int(np.searchsorted(self.first_chunk, c, side="right")) - 1
        k = c - int(self.first_chunk[r])
        start = k * self.budget
        toks = self.rows.row(r, start, start + self.budget)
        klass = self.spec.klass if self.spec.klass >= 0 else self.rows.row_class(r)
        return toks, start + toks.size == int(self.rows.lengths[r]), klass


class Mixture:
    """Epochs over several sources, each drawn ``weight × chunks`` times per epoch."""

    def __init__(self, specs: list[SourceSpec], budget: int, seed: int,
                 check_ids: bool = True) -> None:
        self.sources = [Source(s, budget, check_ids) for s in specs]
        self.seed = seed
        named = [s for s in self.sources if "sha256" in s.rows.vocab]    # (an .npz names none)
        if len({s.rows.vocab["sha256"] for s in named}) > 1:
            raise ModelError("token shards from different vocabularies: " + ", ".join(
                f"{s.spec.path} ({s.rows.vocab['sha256'][:12]})" for s in named))
        self.vocab = (named or self.sources)[0].rows.vocab if self.sources else {}
        self.bounds = np.concatenate([[0], np.cumsum([s.draws for s in self.sources])])
        self.epoch_size = int(self.bounds[-1])
        if self.epoch_size == 0:
            raise ModelError("no tokens to train on in " + ", ".join(s.path for s in specs)
                             + " (every row is empty)")

    def locate(self, k: int) -> tuple[int, int]:
        """(source, chunk) of sample ``k``."""
        epoch, j = divmod(k, self.epoch_size)
        g = permute(j, self.epoch_size, key_of(self.seed, epoch))
        s = int(np.searchsorted(self.bounds, g, side="right")) - 1
        i = g - int(self.bounds[s])
        src = self.sources[s]
        rnd, i = divmod(i, src.n_chunks)
        return s, permute(i, src.n_chunks, key_of(self.seed, epoch, s, rnd))


# --------------------------------------------------------------------------- sequences
def compress_runs(tokens: np.ndarray, bag: int) -> np.ndarray:
    """Runs of three or more identical tokens → ``token <|bagoftoken|>``."""
    t = np.asarray(tokens, dtype=np.int64)
    if t.size < 3:
        return t
    change = np.flatnonzero(np.diff(t)) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [t.size]]))
    if (lengths < 3).all():
        return t
    keep = np.ones(t.size, dtype=bool)
    second = np.zeros(t.size, dtype=bool)
    for s, n in zip(starts[lengths >= 3], lengths[lengths >= 3]):
        keep[s + 2:s + n] = False
        second[s + 1] = True
    out = t.copy()
    out[second] = bag
    return out[keep]


@dataclass
class Layout:
    seq_len: int
    vocab_size: int
    special: dict
    dense: bool = False     # a gpt2 model: ``bos chunk [eot]``, causal (see build_dense_sequence)
    bos: int = -1           # the token put before every sequence of a dense model (-1: none)

    def tok(self, name: str) -> int:
        return self.special[f"<|{name}|>"]

    @property
    def budget(self) -> int:
        return self.seq_len - (2 if self.dense else 3)


def build_dense_sequence(chunk: np.ndarray, ends_row: bool, layout: Layout):
    """(input ids, targets, 0) of a dense GPT-2 model: ``bos t0 t1 … [<|endoftext|>]`` (the
    end token when the chunk ends its row and does not already end with it), padded with
    ``<|endoftext|>``; targets are the next token, −1 on padding."""
    T = layout.seq_len
    eot = layout.tok("endoftext")
    c = np.asarray(chunk, dtype=np.int64)
    head = [layout.bos] if layout.bos >= 0 else []
    tail = [eot] if ends_row and not (c.size and c[-1] == eot) else []
    seq = np.concatenate([head, c, tail]).astype(np.int64)
    L = seq.size
    if L > T:
        raise ModelError(f"chunk of {c.size} tokens does not fit seq_len {T}")
    x = np.full(T, eot, dtype=np.int64)
    y = np.full(T, -1, dtype=np.int64)
    x[:L] = seq
    y[:L - 1] = seq[1:]
    return x, y, 0


def build_sequence(chunk: np.ndarray, ends_row: bool, mode: str, layout: Layout,
                   rng: np.random.Generator):
    """(input ids, targets, num_precontext), each of ``seq_len``; see the module docstring."""
    if mode not in MODES:
        raise ModelError(f"mode must be one of {MODES}, not {mode!r}")
    T = layout.seq_len
    sot, seg, eot = layout.tok("startoftext"), layout.tok("segmenter"), layout.tok("endoftext")
    c = compress_runs(chunk, layout.tok("bagoftoken"))
    if c.size and c[-1] == eot:
        c, ends_row = c[:-1], True
    n = int(c.size)
    p = 0 if mode == "lm" else n if mode == "mlm" else int(rng.integers(0, n + 1))
    prefix, rest = c[:p].copy(), c[p:]
    chosen = np.zeros(p, dtype=bool)
    if p:
        chosen = rng.random(p) < MASK_RATE
        if mode == "mlm" and not chosen.any():
            chosen[int(rng.integers(0, p))] = True
        kind = rng.random(p)
        rand_ids = rng.integers(0, layout.vocab_size - len(layout.special), p)
        prefix = np.where(chosen & (kind < 0.8), layout.tok("inputmask"), prefix)
        prefix = np.where(chosen & (kind >= 0.8) & (kind < 0.9), rand_ids, prefix)
    tail = [eot] if ends_row and mode != "mlm" else []
    seq = np.concatenate([[sot], prefix, [seg], rest, tail]).astype(np.int64)
    orig = np.concatenate([[sot], c[:p], [seg], rest, tail]).astype(np.int64)
    L = seq.size
    if L > T:
        raise ModelError(f"chunk of {n} tokens does not fit seq_len {T}")
    x = np.full(T, layout.tok("nottoken"), dtype=np.int64)
    y = np.full(T, -1, dtype=np.int64)
    x[:L] = seq
    y[:L - 1] = orig[1:]
    # prefix positions 0..p-1 predict prefix tokens 1..p: only the chosen ones count;
    # position p (last prefix token) would predict the segmenter: ignored
    y[:p] = np.where(chosen, orig[1:p + 1], -1)
    y[p] = -1
    return x, y, p + 1


class SequenceData:
    """Batch ``j`` = samples ``j·B … j·B+B−1``; a pure function of the seed."""

    def __init__(self, specs: list[SourceSpec], mode: str, layout: Layout, batch_size: int,
                 seed: int) -> None:
        if mode not in MODES:
            raise ModelError(f"mode must be one of {MODES}, not {mode!r}")
        self.specs = specs
        self.mix = Mixture(specs, layout.budget, seed)
        self.mode, self.layout, self.batch_size, self.seed = mode, layout, batch_size, seed

    def __getstate__(self):
        # loader workers re-open the memory maps instead of receiving copies of the shards
        return {k: v for k, v in self.__dict__.items() if k != "mix"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        # the ids were checked against the manifests when the main process opened the shards
        self.mix = Mixture(self.specs, self.layout.budget, self.seed, check_ids=False)

    def sample(self, k: int):
        s, c = self.mix.locate(k)
        toks, ends, klass = self.mix.sources[s].chunk(c)
        if self.layout.dense:
            x, y, npc = build_dense_sequence(toks, ends, self.layout)
            return x, y, npc, klass
        rng = np.random.default_rng([self.seed, k])
        x, y, npc = build_sequence(toks, ends, self.mode, self.layout, rng)
        return x, y, npc, klass

    def batch(self, j: int):
        import torch
        items = [self.sample(j * self.batch_size + b) for b in range(self.batch_size)]
        x = torch.from_numpy(np.stack([i[0] for i in items]))
        y = torch.from_numpy(np.stack([i[1] for i in items]))
        npc = torch.tensor([i[2] for i in items])
        klass = torch.tensor([i[3] for i in items])
        return x, y, npc, klass


class _BatchDataset:
    def __init__(self, data: SequenceData) -> None:
        self.data = data

    def __getitem__(self, j: int):
        return self.data.batch(j)


class _Indices:
    """Batch indices ``start, start+stride, …`` (never ending)."""

    def __init__(self, start: int, stride: int) -> None:
        self.start, self.stride = start, stride

    def __iter__(self):
        j = self.start
        while True:
            yield j
            j += self.stride


def loader(data: SequenceData, first: int, rank: int = 0, world: int = 1, workers: int = 0):
    """Batches ``first·world + rank``, ``(first+1)·world + rank``, … built in ``workers``
    processes (in order)."""
    import torch
    return torch.utils.data.DataLoader(
        _BatchDataset(data), batch_size=None, sampler=_Indices(first * world + rank, world),
        num_workers=workers, persistent_workers=False,
        generator=torch.Generator().manual_seed(0),    # keeps the global RNG (router jitter) untouched
        prefetch_factor=4 if workers else None)


def spout_vectors(klass, d_spout: int):
    """One-hot spout vectors (zeros for class −1), or None when no row has a class."""
    import torch
    if d_spout == 0 or bool((klass < 0).all()):
        return None
    v = torch.zeros(len(klass), d_spout)
    ok = klass >= 0
    if bool((klass[ok] >= d_spout).any()):
        raise ModelError(f"spout class {int(klass.max())} ≥ d_spout {d_spout}")
    v[ok.nonzero(as_tuple=True)[0], klass[ok]] = 1.0
    return v


def manifest_vocab(specs: list[SourceSpec]) -> dict:
    """The vocabulary of the shard folders' manifest (``size``, ``sha256``), with ``max_id``,
    the largest id of the .npz sources (which name no vocabulary), when there are any."""
    npz = [s.path for s in specs if s.path.endswith(".npz")]
    folders = [s.path for s in specs if not s.path.endswith(".npz")]
    vocab = dict(read_manifest(folders[0])["vocabulary"]) if folders else {}
    if npz:
        vocab["max_id"] = max(open_npz(p).vocab["max_id"] for p in npz)
    return vocab


__all__ = ["SourceSpec", "parse_sources", "TokenRows", "NpzRows", "Mixture", "Layout",
           "build_sequence", "build_dense_sequence",
           "compress_runs", "SequenceData", "loader", "spout_vectors", "permute", "MODES"]
