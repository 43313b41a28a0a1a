"""The staging files of build-corpus: every document is written once, by the worker that made
it, to a Parquet file under the output's temporary folder (``staging/``), and read back by the
later passes of the same build; only compact records (ids, hashes, counts) cross shuffles.

A staging file holds one WARC range's documents in the order they were made, one row each:
``id`` (string) and ``doc`` (the :class:`~swelm.corpus_tools.document.Document`, packed by
``beam_util.pack``: field for field, including the lines the paragraph classifier took out).
Names are deterministic (``a-NNNNNN.parquet``: the extracted captures of range N;
``b-NNNNNN.parquet``: the chosen captures of range N, cleaned and judged), so a rerun writes the
same files.  Files are written and read in row groups: a worker holds a few thousand documents
at a time, whatever the range's size.  This module owns the format (writer and reader); any
Beam filesystem works.
"""
from __future__ import annotations

import contextlib
from typing import Iterable, Iterator

from .beam_util import pack, unpack
from .io import join

#: the folder under the output's temporary folder
FOLDER = "staging"
#: documents per row group (and per batch read back)
ROW_GROUP = 2000


def path(out: str, stage: str, piece: int) -> str:
    """The staging file of WARC range ``piece`` for ``stage`` (``"a"`` or ``"b"``)."""
    return join(out, FOLDER, f"{stage}-{piece:06d}.parquet")


def _schema():
    import pyarrow as pa
    return pa.schema([("id", pa.string()), ("doc", pa.binary())])


class Writer:
    """Appends documents to one staging file in row groups; the file is published when the
    ``with`` block ends without an exception (``FileSystem.create``)."""

    def __init__(self, filesystem, target: str):
        self.fs, self.target, self.rows = filesystem, target, 0
        #: the documents that passed the filters, when the writer's user counts them: written
        #: to the footer's metadata (``kept``), for the progress display (pipelines.progress)
        self.kept = 0
        self._ids: list = []
        self._docs: list = []

    def __enter__(self):
        import pyarrow.parquet as pq
        self._stack = contextlib.ExitStack()
        f = self._stack.enter_context(self.fs.create(self.target))
        # packed documents are already compressed
        self._pq = self._stack.enter_context(pq.ParquetWriter(f, _schema(), compression="none"))
        return self

    def add(self, doc) -> int:
        """Append ``doc``; its row number in the file."""
        self._ids.append(doc.id)
        self._docs.append(pack(doc))
        if len(self._ids) >= ROW_GROUP:
            self._flush()
        self.rows += 1
        return self.rows - 1

    def _flush(self) -> None:
        import pyarrow as pa
        if self._ids:
            self._pq.write_table(pa.table({"id": self._ids, "doc": self._docs},
                                          schema=_schema()))
            self._ids, self._docs = [], []

    def __exit__(self, *exc):
        if exc[0] is None:
            self._flush()
            self._pq.add_key_value_metadata({"kept": str(self.kept)})
        return self._stack.__exit__(*exc)


def read(filesystem, source: str,
         rows: Iterable[int] | None = None) -> Iterator[tuple[int, object]]:
    """``(row, document)`` of a staging file in order; with ``rows``, only those rows."""
    import pyarrow.parquet as pq
    wanted = None if rows is None else set(rows)
    if wanted is not None and not wanted:
        return
    row = 0
    with filesystem.open_read(source) as f:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=ROW_GROUP, columns=["doc"]):
            for blob in batch.column(0).to_pylist():
                if wanted is None or row in wanted:
                    yield row, unpack(blob)
                row += 1


def remove(filesystem, out: str) -> None:
    """Remove the staging folder of the output folder ``out`` (any filesystem)."""
    filesystem.remove_tree(join(out, FOLDER))
