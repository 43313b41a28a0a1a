"""Atomic publishing of files and folders: the one temp-then-rename helper of swelm.

Everything a command writes appears under its final name only when complete: it is written
under a hidden temporary name beside the destination (``.NAME.tmp-XXXXXXXX``) and renamed.  A
folder that replaces an older one is swapped in (the old one is renamed aside, the new one
renamed in, the old one removed), so a reader sees the old or the new folder, never a mix.
Temporaries a killed run left behind are recognised by their names and removed by the next run.

    with atomic_path("out/model.npy") as tmp:      # a file or a folder, written at tmp
        numpy.save(tmp, array)
    write_json("out/stats.json", stats)             # indent 1, sorted keys, UTF-8, final newline
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import uuid
from typing import Iterator

TMP = "tmp"
OLD = "old"


def temporary_sibling(dst: str, tag: str = TMP) -> str:
    """A fresh hidden name beside ``dst``: ``.NAME.TAG-XXXXXXXX``."""
    parent, name = os.path.split(os.path.abspath(dst))
    return os.path.join(parent, f".{name}.{tag}-{uuid.uuid4().hex[:8]}")


def is_temporary(name: str) -> bool:
    """Whether a file name is one of :func:`temporary_sibling`'s."""
    base = os.path.basename(name)
    return base.startswith(".") and (f".{TMP}-" in base or f".{OLD}-" in base)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def remove_stale_temporaries(dst: str) -> int:
    """Remove the temporaries of ``dst`` that a killed run left beside it; return how many."""
    parent, name = os.path.split(os.path.abspath(dst))
    if not os.path.isdir(parent):
        return 0
    n = 0
    for entry in os.listdir(parent):
        if entry.startswith((f".{name}.{TMP}-", f".{name}.{OLD}-")):
            _remove(os.path.join(parent, entry))
            n += 1
    return n


def remove_temporaries(folder: str) -> int:
    """Remove every temporary under ``folder`` (recursively); return how many."""
    n = 0
    for path in glob.glob(os.path.join(glob.escape(folder), "**", ".*"), recursive=True):
        if is_temporary(path):
            _remove(path)
            n += 1
    return n


def publish(tmp: str, dst: str) -> None:
    """Move a finished file or folder ``tmp`` to ``dst``, replacing what is there atomically."""
    if os.path.isdir(dst) and not os.path.islink(dst):
        old = temporary_sibling(dst, OLD)
        os.rename(dst, old)
        os.rename(tmp, dst)
        shutil.rmtree(old)
    else:
        os.replace(tmp, dst)


@contextlib.contextmanager
def atomic_path(dst: str) -> Iterator[str]:
    """A temporary path to write a file or folder at; published as ``dst`` when the block ends
    without an exception, removed otherwise."""
    parent = os.path.dirname(os.path.abspath(dst))
    os.makedirs(parent, exist_ok=True)
    tmp = temporary_sibling(dst)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    publish(tmp, dst)


def write_bytes(dst: str, data: bytes) -> None:
    with atomic_path(dst) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text(dst: str, text: str) -> None:
    write_bytes(dst, text.encode("utf-8"))


def json_text(obj) -> str:
    """The one JSON layout of swelm's files: indent 1, sorted keys, UTF-8, final newline."""
    return json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def write_json(dst: str, obj) -> None:
    write_text(dst, json_text(obj))
