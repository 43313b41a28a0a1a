"""The file layout of the corpus-quality models (the n-gram model, the quality classifier):
a magic line naming the kind, the length of a JSON header, the header (the model's settings
and where each array lies), then the arrays' bytes, each aligned to 8 bytes.  The same model
gives the same bytes (no time stamps, sorted keys), and loading maps the arrays without a
copy.

>>> import numpy as np
>>> data = pack(b"SWELMTST", {"k": 1}, {"a": np.arange(3, dtype=np.uint32)})
>>> meta, arrays = unpack(data, b"SWELMTST", "x.bin", "a test model")
>>> meta, arrays["a"].tolist()
({'k': 1}, [0, 1, 2])
"""
from __future__ import annotations

import json
import struct

import numpy as np

from . import CorpusError

_DTYPES = ("uint32", "uint64", "float32", "float64", "int64")


def pack(magic: bytes, meta: dict, arrays: dict) -> bytes:
    """The bytes of a model: ``magic`` (8 bytes), ``meta`` and the ``arrays``."""
    specs, blobs, at = [], [], 0
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        blob = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        specs.append({"name": name, "dtype": a.dtype.name, "shape": list(a.shape),
                      "offset": at, "nbytes": len(blob)})
        pad = -len(blob) % 8
        blobs.append(blob + b"\0" * pad)
        at += len(blob) + pad
    header = json.dumps({"meta": meta, "arrays": specs}, sort_keys=True).encode()
    header += b" " * (-len(header) % 8)
    return magic + struct.pack("<Q", len(header)) + header + b"".join(blobs)


def unpack(data: bytes, magic: bytes, where: str, what: str) -> tuple[dict, dict]:
    """``(meta, {name: array})`` of a model written by :func:`pack` with ``magic``; anything
    else is a :class:`CorpusError` naming ``where`` and ``what`` it should be."""
    bad = CorpusError(f"{where}: not {what} (its first bytes are not such a header)")
    if len(data) < 16 or data[:8] != magic:
        raise bad
    (n,) = struct.unpack("<Q", data[8:16])
    try:
        header = json.loads(data[16:16 + n].decode("utf-8"))
        base = 16 + n
        arrays = {}
        for s in header["arrays"]:
            if s["dtype"] not in _DTYPES:
                raise ValueError(s["dtype"])
            start = base + int(s["offset"])
            raw = data[start:start + int(s["nbytes"])]
            a = np.frombuffer(raw, dtype=np.dtype(s["dtype"]).newbyteorder("<"))
            arrays[s["name"]] = a.reshape([int(x) for x in s["shape"]])
        meta = header["meta"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise CorpusError(f"{where}: a damaged file: its header or arrays are not those of "
                          f"{what}") from None
    if not isinstance(meta, dict):
        raise CorpusError(f"{where}: a damaged file: its header is not that of {what}")
    return meta, arrays


def is_complete(data: bytes, magic: bytes) -> bool:
    """Whether ``data`` is a whole model written by :func:`pack` with ``magic`` (a truncated
    or damaged one is not)."""
    try:
        unpack(data, magic, "", "")
    except CorpusError:
        return False
    return True


def read(path: str, reader, what: str, error: type) -> bytes:
    """The bytes of the model file ``path`` (``reader(path) -> bytes`` for any filesystem, the
    local disk by default); a missing or unreadable file is ``error`` naming it and ``what``."""
    try:
        if reader is not None:
            return reader(path)
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except OSError as e:
        raise error(f"{path}: cannot read the {what}: {e}") from None
