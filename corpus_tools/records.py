"""Existing corpora as input: JSON lines and Parquet files of already extracted text, as
Hugging Face ``datasets`` (``to_json``, ``to_parquet``, the Hub's Parquet exports), datatrove
and most corpus tools write them: one record per document, its text in one column (``text``
unless told otherwise), with an id, a URL, a site or anything else beside it.

* JSON lines: ``.jsonl``, ``.json`` (``datasets``' ``to_json`` writes JSON lines under that
  name), ``.ndjson``, each also gzip-compressed (``.gz``).  One JSON object per line; blank
  lines are skipped.  A plain file is read in byte ranges (a line belongs to the range its
  first byte is in), a compressed one whole.
* Parquet: read by row groups.

A file is checked before any work (:func:`inspect`): what it is and whether its first record
has the columns asked for; a file of another kind is a :class:`RecordsError` naming what was
found and what was expected.  A later record that cannot be used (not JSON, no text) is a
problem of that record, reported with it by :func:`read`, never an error of the file::

    >>> import io, json
    >>> data = '{"text": "本文", "id": 7}\\n\\n{"text": 3}\\n'.encode()
    >>> opener = lambda path: io.BytesIO(data)
    >>> inspect("a.jsonl", opener, "text", {"id": "--id-column"})
    'jsonl'
    >>> for where, rec, problem in read("a.jsonl", 0, len(data), opener, "text", {"id": "id"}):
    ...     print(where, rec or problem)
    a.jsonl (byte 0) {'text': '本文', 'id': '7'}
    a.jsonl (byte 29) 'text' is a number, not a string
"""
from __future__ import annotations

import gzip
import io
import json
import zlib
from typing import BinaryIO, Callable, Iterator

from swelm.errors import SwelmError, first_line

#: the names of the files read as records (a folder stands for these at any depth)
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")
SUFFIXES = JSONL_SUFFIXES + (".parquet",)

Opener = Callable[[str], BinaryIO]


class RecordsError(SwelmError):
    """A file that is not JSON lines or Parquet of the kind expected (the message names it)."""


def kind_of(path: str) -> str | None:
    """``"jsonl"``, ``"parquet"`` or None, by the file's name."""
    low = path.lower()
    if low.endswith(".parquet"):
        return "parquet"
    return "jsonl" if low.endswith(JSONL_SUFFIXES) else None


def _gzipped(path: str) -> bool:
    return path.lower().endswith(".gz")


def _first_line(f: BinaryIO, limit: int = 64 << 20) -> bytes:
    """The first line that is not blank (at most ``limit`` bytes of it)."""
    while True:
        line = f.readline(limit)
        if not line:
            return b""
        if line.strip():
            return line


def _found(head: bytes) -> str:
    """What a file starting with ``head`` seems to be, in words."""
    if head[:2] == b"\x1f\x8b":
        return "a gzip-compressed file"
    if head[:4] == b"PAR1":
        return "a Parquet file"
    if head[:4] == b"WARC":
        return "a WARC file"
    if head.lstrip()[:1] in (b"<",):
        return "HTML or XML"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    line = text.splitlines()[0] if text else ""
    return f"text starting {line[:40]!r}"


def inspect(path: str, opener: Opener, text: str, required: dict | None = None) -> str:
    """Check that ``path`` is a records file whose (first) record has the column ``text``
    holding a string and the columns ``required`` (``{column: the flag that named it}``); its
    kind (``"jsonl"`` or ``"parquet"``).
    Reads the footer of a Parquet file, the first line of a JSON-lines file."""
    kind = kind_of(path)
    if kind is None:
        raise RecordsError(f"{path}: not a JSON lines or Parquet file name; expected one of "
                           f"{', '.join('*' + s for s in SUFFIXES)}")
    with opener(path) as f:
        head = f.read(64)
        f.seek(0)
        if kind == "parquet":
            return _inspect_parquet(path, f, head, text, required)
        if _gzipped(path):
            if head[:2] != b"\x1f\x8b":
                raise RecordsError(f"{path}: {_found(head)}, not gzip-compressed as its name "
                                   "says; expected JSON lines compressed with gzip")
            f = gzip.GzipFile(fileobj=f)
        try:
            line = _first_line(f)
        except SwelmError:                  # the store, not the file (swelm.pipelines.io)
            raise
        except (OSError, EOFError, zlib.error) as e:
            raise RecordsError(f"{path}: cannot be decompressed ({e}); expected JSON lines "
                               "compressed with gzip" if _gzipped(path) else
                               f"{path}: cannot be read ({e})") from None
        if not line:
            return kind                 # empty: nothing to read, nothing wrong
        if line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        stripped = line.lstrip()
        if stripped[:1] == b"[":
            raise RecordsError(f"{path}: a JSON array; expected JSON lines (one object per "
                               "line, as datasets' to_json writes)")
        try:
            rec = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            if not line.endswith(b"\n") and len(line) >= 64 << 20:
                raise RecordsError(f"{path}: its first line is longer than 64 MB; a JSON-lines "
                                   "record is one document per line") from None
            if _found(line[:200]) == "binary data":
                raise RecordsError(f"{path}: not UTF-8 text, so not JSON lines (JSON lines are "
                                   "UTF-8; is it Shift_JIS or UTF-16?)") from None
            raise RecordsError(f"{path}: {_found(line[:200])}, not JSON lines; expected one "
                               f"JSON object per line with a {text!r} field") from None
        if not isinstance(rec, dict):
            raise RecordsError(f"{path}: the first line is {_json_type(rec)}, not "
                               f"an object; expected one JSON object per line with a {text!r} "
                               "field")
        _check_columns(path, list(rec), text, required or {}, "field", "the first record")
        if not isinstance(rec[text], str):
            raise RecordsError(f"{path}: the first record's {text!r} is "
                               f"{_json_type(rec[text])}, not a string; expected the text "
                               "of the document there (--text-column names another field)")
        return kind


def _inspect_parquet(path: str, f: BinaryIO, head: bytes, text: str, required) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq
    if head[:4] != b"PAR1":
        raise RecordsError(f"{path}: {_found(head)}, not Parquet as its name says")
    try:
        schema = pq.read_schema(f)
    except SwelmError:                      # the store, not the file
        raise
    except (pa.ArrowException, OSError) as e:
        first = first_line(e)
        raise RecordsError(f"{path}: not a readable Parquet file ({first})") from None
    _check_columns(path, schema.names, text, required or {}, "column", "it")
    t = schema.field(text).type
    if pa.types.is_dictionary(t):            # (pandas categoricals)
        t = t.value_type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)
            or getattr(pa.types, "is_string_view", lambda _: False)(t)):
        raise RecordsError(f"{path}: the column {text!r} holds {t}, not strings; expected the "
                           "text of the documents there (--text-column names another column)")
    return "parquet"


def _check_columns(path: str, names: list, text: str, required, word: str, where: str) -> None:
    for col, flag in {text: "--text-column", **dict(required)}.items():
        if col not in names:
            shown = ", ".join(map(str, names[:12])) + (", …" if len(names) > 12 else "")
            raise RecordsError(f"{path}: no {word} {col!r} in {where} (it has {shown or 'none'}"
                               f"); name the {word} with {flag}")


def _json_type(value) -> str:
    """A JSON value's type in JSON's words."""
    return {bool: "a boolean", int: "a number", float: "a number", list: "an array",
            dict: "an object", str: "a string"}.get(type(value), "null")


def plan(path: str, size: int, opener: Opener, piece: int) -> list[tuple[int, int, int]]:
    """The pieces ``(start, end, bytes)`` of a records file read as one unit each: byte
    ranges of about ``piece`` bytes of a plain JSON-lines file, the whole of a compressed one,
    runs of consecutive row groups (``start``, ``end``: row group numbers) of about ``piece``
    bytes of a Parquet file (its data uncompressed)."""
    if kind_of(path) == "parquet":
        import pyarrow.parquet as pq
        with opener(path) as f:
            meta = pq.ParquetFile(f).metadata
        out, first, acc = [], 0, 0
        for i in range(meta.num_row_groups):
            acc += meta.row_group(i).total_byte_size
            if acc >= piece:
                out.append((first, i + 1, acc))
                first, acc = i + 1, 0
        if first < meta.num_row_groups:
            out.append((first, meta.num_row_groups, acc))
        return out
    if size <= 0:
        return []
    if _gzipped(path):
        return [(0, size, size)]
    return [(s, min(s + piece, size), min(s + piece, size) - s) for s in range(0, size, piece)]


def read(path: str, start: int, end: int, opener: Opener, text: str = "text",
         fields: dict | None = None) -> Iterator[tuple[str, dict | None, str]]:
    """The records of one piece (:func:`plan`) as ``(where, record, problem)``: ``where``
    names the record (``path (byte N)``, ``(line N)`` in a compressed file, ``(row N)`` in
    Parquet); ``record`` is ``{"text": str, key: str or None for each key of fields}``
    (``fields`` maps a key to the column holding it; a missing or null value is None, any
    other is turned into a string), or None with the ``problem`` in words."""
    fields = fields or {}
    if kind_of(path) == "parquet":
        yield from _read_parquet(path, start, end, opener, text, fields)
        return
    for where, line in _lines(path, start, end, opener):
        try:
            rec = json.loads(line)
        except UnicodeDecodeError as e:
            yield where, None, f"not valid UTF-8 (byte {e.start}: {e.reason})"
            continue
        except ValueError as e:
            yield where, None, f"not JSON ({getattr(e, 'msg', e)})"
            continue
        if not isinstance(rec, dict):
            yield where, None, f"{_json_type(rec)}, not an object"
            continue
        value = rec.get(text)
        if not isinstance(value, str):
            yield where, None, (f"no {text!r} field" if text not in rec else
                                f"{text!r} is {_json_type(value)}, not a string")
            continue
        yield (where, *_record(value, {k: rec.get(c) for k, c in fields.items()}))


def _record(text: str, values: dict) -> tuple[dict | None, str]:
    """The record, or None and the problem: a lone surrogate (JSON's ``\\ud800`` escapes
    allow one) cannot be written as UTF-8 anywhere further on."""
    rec = {"text": text, **{k: None if v is None else v if isinstance(v, str) else
                            json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list))
                            else str(v) for k, v in values.items()}}
    for key, value in rec.items():
        if value is not None:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as e:
                return None, (f"{key!r} holds a lone surrogate U+{ord(value[e.start]):04X} "
                              f"(character {e.start}), which is not text")
    return rec, ""


def order(where: str) -> tuple:
    """A key that sorts the ``where`` of :func:`read` in file order (``(byte N)``, ``(line
    N)``, ``(row N)`` by number).

    >>> sorted(["a (byte 100)", "a (byte 20)", "a"], key=order)
    ['a', 'a (byte 20)', 'a (byte 100)']
    """
    import re
    m = re.fullmatch(r"(.*) \((?:byte|line|row) (\d+)\)", where)
    return (where, -1) if m is None else (m.group(1), int(m.group(2)))


def _lines(path: str, start: int, end: int, opener: Opener) -> Iterator[tuple[str, bytes]]:
    """The non-blank lines of a JSON-lines piece, with where each is."""
    with opener(path) as raw:
        if _gzipped(path):
            f = gzip.GzipFile(fileobj=raw)
            number = 0
            while True:
                try:
                    line = f.readline()
                except zlib.error as e:     # damaged compressed data: an OSError as others
                    raise OSError(f"{path}: damaged compressed data ({e})") from None
                if not line:
                    return
                number += 1
                if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                    line = line[3:]
                if line.strip():
                    yield f"{path} (line {number})", line
        f = raw if hasattr(raw, "readline") else io.BufferedReader(raw)
        pos = start
        if start > 0:
            # the line that began before this piece belongs to the previous one
            f.seek(start - 1)
            pos = start - 1 + len(f.readline())
        else:
            f.seek(0)
        while pos < end:
            line = f.readline()
            if not line:
                return
            here, pos = pos, pos + len(line)
            if here == 0 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if line.strip():
                yield f"{path} (byte {here})", line


def _read_parquet(path, start, end, opener, text, fields):
    import pyarrow.parquet as pq
    with opener(path) as f:
        pf = pq.ParquetFile(f)
        names = set(pf.schema_arrow.names)
        present = {k: c for k, c in fields.items() if c in names}
        columns = list(dict.fromkeys([text, *present.values()]))
        row = sum(pf.metadata.row_group(i).num_rows for i in range(start))
        for i in range(start, end):
            table = pf.read_row_group(i, columns=columns).to_pydict()
            for j, value in enumerate(table[text]):
                where = f"{path} (row {row + j})"
                if value is None:
                    yield where, None, f"{text!r} is null, not a string"
                    continue
                yield (where, *_record(value, {k: table[c][j] if k in present else None
                                               for k, c in fields.items()}))
            row += len(table[text])
