"""The progress of a running build, shown by the driver from the files the pipeline's stages
publish, so it works with every runner and filesystem (the workers need no channel back).

build-corpus's staging files tell how far it is: ``staging/a-N`` (a piece read: its rows are the
documents read), ``staging/b-N`` (a piece cleaned and judged: its footer counts the documents
that pass the filters), then the output parts.  ``encode`` writes a small JSON file per piece
read (``progress/p-N.json``: documents and bytes) beside its shards.

On a terminal (or with ``SWELM_PROGRESS=1``) one status line is redrawn about once a second:
the stage, pieces done, documents, MB/s.  Elsewhere (a log, a pipe) each stage gets one summary
line when it is done, and no carriage returns are written (``SWELM_PROGRESS=0``: nothing).
"""
from __future__ import annotations

import dataclasses
import posixpath
import sys
import threading
import time
from typing import Callable

from swelm.words import plural

from .io import join


@dataclasses.dataclass
class Stage:
    """One stage as seen from its files: ``pattern`` (a glob) matches the files it publishes,
    one per piece, ``total`` of them when it is done; ``count(path) -> dict`` reads what one file
    says (``docs``, and ``kept``, ``bytes`` where known).  ``running``/``done`` make the words of
    the status and summary lines from the sums of those counts."""
    name: str
    pattern: str
    total: int
    count: Callable[[str], dict]
    running: Callable[[dict], str]
    done: Callable[[dict], str]


def mode() -> str:
    """``"terminal"``, ``"log"`` or ``"off"`` (swelm.console.progress_mode)."""
    from swelm.console import progress_mode
    return progress_mode()


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def rate(n: float, seconds: float) -> str:
    return f"{n / 1e6 / max(seconds, 1e-3):,.1f} MB/s"




class Progress:
    """Show the progress of ``stages`` (in order) while the ``with`` block runs: the command
    ``what`` (``build-corpus``), the filesystem ``fs`` to list the files with."""

    def __init__(self, what: str, fs, stages: list[Stage], stream=None, interval: float = None):
        self.what, self.fs, self.stages = what, fs, stages
        self.mode = mode()
        self.stream = stream or sys.stderr
        self.interval = interval or (1.0 if self.mode == "terminal" else 5.0)
        self.seen: list[dict] = [{} for _ in stages]     # per stage: {path: counts}
        self.finished: list = [None] * len(stages)        # when each stage was seen done
        self.reported = [False] * len(stages)
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = None
        self._width = 0

    def __enter__(self):
        if self.mode != "off" and self.stages:
            self._thread = threading.Thread(target=self._run, name="swelm-progress",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type, *_):
        if self._thread is None:
            return False
        self._stop.set()
        self._thread.join()
        if self.mode == "terminal":
            self._clear()
        if exc_type is None:        # the stages not reported yet (a build faster than a poll)
            try:
                self.poll()
            except Exception:       # (the display never fails a command that worked)
                pass
            for i, stage in enumerate(self.stages):
                if not self.reported[i]:
                    self.finished[i] = self.finished[i] or time.monotonic()
                    self._summary(i)
        return False

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
                if self.mode == "terminal":
                    self._status()
            except Exception:       # a listing that fails now is tried again at the next poll
                continue

    def poll(self) -> None:
        """Read the files published since the last poll; report the stages now done."""
        now = time.monotonic()
        for i, stage in enumerate(self.stages):
            if self.reported[i]:
                continue
            for path in self.fs.match([stage.pattern]):
                if path not in self.seen[i]:
                    try:
                        self.seen[i][path] = stage.count(path)
                    except Exception:   # (a file being replaced: read at the next poll)
                        continue
            if len(self.seen[i]) < stage.total:
                return              # (the later stages are reported after this one)
            if self.finished[i] is None:
                self.finished[i] = now
                if self.mode == "log":
                    self._summary(i)

    def sums(self, i: int) -> dict:
        """The sums of stage ``i``'s counts, with ``files`` seen of ``total`` and the
        ``seconds`` since the previous stage was done (or the start)."""
        begin = next((t for t in reversed(self.finished[:i]) if t is not None), self.t0)
        end = self.finished[i] or time.monotonic()
        out = {"files": len(self.seen[i]), "total": self.stages[i].total,
               "seconds": max(0.0, end - begin)}
        for counts in self.seen[i].values():
            for k, v in counts.items():
                out[k] = out.get(k, 0) + v
        return out

    def _summary(self, i: int) -> None:
        self.reported[i] = True
        print(f"{self.what}: {self.stages[i].done(self.sums(i))}", file=self.stream, flush=True)

    def _status(self) -> None:
        i = next((k for k, s in enumerate(self.stages) if len(self.seen[k]) < s.total),
                 len(self.stages) - 1)
        import shutil
        line = f"{self.what}: {self.stages[i].running(self.sums(i))}"
        line = line[:max(20, shutil.get_terminal_size().columns - 1)]     # never wraps
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def _clear(self) -> None:
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


# -- the stages of the commands -----------------------------------------------------------
def parquet_rows(fs, key: str | None = None) -> Callable[[str], dict]:
    """A staging file's documents (rows, from its footer), and ``key``'s count from the
    footer's key-value metadata."""
    def count(path: str) -> dict:
        import pyarrow.parquet as pq
        with fs.open_read(path) as f:
            meta = pq.read_metadata(f)
        out = {"docs": meta.num_rows}
        if key:
            out[key] = int((meta.metadata or {}).get(key.encode(), b"0"))
        return out
    return count


def build_stages(fs, out: str, ranges: list, piece_bytes: dict, shards: int) -> list[Stage]:
    """build-corpus: reading (``staging/a-N``), cleaning (``staging/b-N``), writing (the
    ``corpus/`` parts).  ``piece_bytes``: ``{range index: bytes}``."""
    from . import staging
    total = sum(piece_bytes.values())
    rows = parquet_rows(fs)

    def read_count(path: str) -> dict:
        index = int(posixpath.basename(path).split(".")[0].split("-")[1])     # a-NNNNNN
        return dict(rows(path), bytes=piece_bytes.get(index, 0))

    def reading(s):
        line = (f"reading {s['files']}/{s['total']} pieces, "
                f"{plural(s.get('docs', 0), 'document')}")
        if total:
            line += (f", {mb(s.get('bytes', 0))} of {mb(total)}, "
                     f"{rate(s.get('bytes', 0), s['seconds'])}")
        return line

    def read_done(s):
        line = f"read {plural(s.get('docs', 0), 'document')} from {plural(s['total'], 'piece')}"
        if total:
            return (line + f" ({mb(s.get('bytes', 0))}) in {s['seconds']:.0f} s, "
                    f"{rate(s.get('bytes', 0), s['seconds'])}")
        return line + f" in {s['seconds']:.0f} s"

    def cleaning(s):
        return (f"cleaning and filtering {s['files']}/{s['total']} pieces, "
                f"{s.get('kept', 0):,} of {plural(s.get('docs', 0), 'document')} pass the filters")

    def clean_done(s):
        return (f"cleaned and filtered {plural(s.get('docs', 0), 'document')}: "
                f"{s.get('kept', 0):,} pass the filters ({s['seconds']:.0f} s)")

    def writing(s):
        return f"deduplicating and writing, {s['files']}/{plural(s['total'], 'output part')}"

    def write_done(s):
        return (f"deduplicated and wrote {plural(s['total'], 'output part')} "
                f"({s['seconds']:.0f} s)")

    folder = join(out, staging.FOLDER)
    return [Stage("read", join(folder, "a-*.parquet"), len(ranges), read_count, reading,
                  read_done),
            Stage("clean", join(folder, "b-*.parquet"), len(ranges),
                  parquet_rows(fs, "kept"), cleaning, clean_done),
            Stage("write", join(out, "corpus", "part-*.parquet"), shards,
                  lambda path: {}, writing, write_done)]


#: the folder (in the shard set's temporary folder) of encode's progress files
ENCODE_FOLDER = "progress"


def encode_stages(fs, folder: str, pieces: int, total_bytes: int, shards: int) -> list[Stage]:
    """encode: reading and tokenising (``progress/p-N.json`` per piece), writing (shards)."""
    import json

    def count(path: str) -> dict:
        return json.loads(fs.read_text(path))

    def reading(s):
        return (f"reading and tokenising {s['files']}/{s['total']} pieces, "
                f"{plural(s.get('docs', 0), 'document')}, {mb(s.get('bytes', 0))} of "
                f"{mb(total_bytes)}, {rate(s.get('bytes', 0), s['seconds'])}")

    def read_done(s):
        return (f"read {plural(s.get('docs', 0), 'document')} from {plural(s['total'], 'piece')}"
                f" ({mb(s.get('bytes', 0))}) in {s['seconds']:.0f} s, "
                f"{rate(s.get('bytes', 0), s['seconds'])}")

    return [Stage("read", join(folder, ENCODE_FOLDER, "p-*.json"), pieces, count, reading,
                  read_done),
            Stage("write", join(folder, "shard-*.arrow"), shards, lambda path: {},
                  lambda s: f"packing and writing, {s['files']}/{plural(s['total'], 'shard')}",
                  lambda s: f"wrote {plural(s['total'], 'shard')} ({s['seconds']:.0f} s)")]
