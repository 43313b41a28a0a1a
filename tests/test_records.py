"""corpus_tools.records: JSON lines and Parquet files of extracted text, read in pieces."""
from __future__ import annotations

import doctest
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from swelm.corpus_tools import records
from swelm.corpus_tools.records import RecordsError, inspect, plan, read


def _open(path):
    return open(path, "rb")


def test_doctests():
    from swelm import errors
    assert doctest.testmod(records).failed == 0 and doctest.testmod(errors).failed == 0


def _all(path, piece, **kw):
    size = path.stat().st_size
    return [r for s, e, _ in plan(str(path), size, _open, piece)
            for r in read(str(path), s, e, _open, **kw)]


@pytest.mark.parametrize("piece", [1, 7, 64, 1000, 1 << 20])
def test_every_line_is_read_once_whatever_the_pieces(tmp_path, piece):
    texts = [f"文書{i}" * (i % 13) + "\n改行\u2028入り" for i in range(200)]
    p = tmp_path / "a.jsonl"
    p.write_bytes("\ufeff".encode() + b"".join(
        json.dumps({"text": t, "id": i}, ensure_ascii=bool(i % 2)).encode() + b"\n"
        + (b"\n" if i % 17 == 0 else b"") for i, t in enumerate(texts)))
    got = _all(p, piece, fields={"id": "id", "url": "url"})
    assert [r["text"] for _, r, _ in got] == texts
    assert [r["id"] for _, r, _ in got] == [str(i) for i in range(200)]
    assert all(r["url"] is None for _, r, _ in got)
    assert len({w for w, _, _ in got}) == 200


def test_a_compressed_file_is_one_piece_with_line_numbers(tmp_path):
    p = tmp_path / "a.json.gz"
    p.write_bytes(gzip.compress(b'{"text": "a"}\n[1]\n{"x": 1}\n{"text": null}\nnope\n'
                                b'{"text": "\xff"}\n{"text": "b"}'))
    n = p.stat().st_size
    assert plan(str(p), n, _open, 1) == [(0, n, n)]
    got = _all(p, 1)
    assert [(w.rsplit(" ", 2)[1:], r, why) for w, r, why in got] == [
        (["(line", "1)"], {"text": "a"}, ""),
        (["(line", "2)"], None, "an array, not an object"),
        (["(line", "3)"], None, "no 'text' field"),
        (["(line", "4)"], None, "'text' is null, not a string"),
        (["(line", "5)"], None, "not JSON (Expecting value)"),
        (["(line", "6)"], None, "not valid UTF-8 (byte 10: invalid start byte)"),
        (["(line", "7)"], {"text": "b"}, ""),
    ]


def test_parquet_is_read_by_runs_of_row_groups(tmp_path):
    p = tmp_path / "train-00000-of-00001.parquet"
    n = 1000
    table = pa.table({"text": [f"行{i}" * 20 if i % 100 else None for i in range(n)],
                      "id": list(range(n)), "url": [f"http://x.jp/{i}" for i in range(n)],
                      "meta": [{"a": i} for i in range(n)]})
    pq.write_table(table, p, row_group_size=64)
    pieces = plan(str(p), p.stat().st_size, _open, 4096)
    assert len(pieces) > 2 and pieces[0][0] == 0 and pieces[-1][1] == 16
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    got = _all(p, 4096, fields={"id": "id", "url": "url", "meta": "meta", "site": "site"})
    assert len(got) == n
    assert [w for w, _, _ in got][:2] == [f"{p} (row 0)", f"{p} (row 1)"]
    bad = [(w, why) for w, r, why in got if r is None]
    assert bad == [(f"{p} (row {i})", "'text' is null, not a string") for i in range(0, n, 100)]
    first = got[1][1]
    assert first == {"text": "行1" * 20, "id": "1", "url": "http://x.jp/1",
                     "meta": '{"a": 1}', "site": None}


@pytest.mark.parametrize("name, data, words", [
    ("a.jsonl", b'[{"text": "a"}]\n', ["a JSON array", "JSON lines"]),
    ("a.jsonl", b"WARC/1.0\r\nWARC-Type: warcinfo\r\n", ["a WARC file, not JSON lines"]),
    ("a.json", b'"just a string"\n', ["a string, not an object"]),
    ("a.jsonl", b'{"content": "a", "id": 1}\n', ["no field 'text'", "content, id",
                                                  "--text-column"]),
    ("a.jsonl", b'{"text": 1}\n', ["'text' is a number, not a string"]),
    ("a.jsonl.gz", b'{"text": "a"}\n', ["not gzip-compressed as its name says"]),
    ("a.jsonl.gz", b"\x1f\x8b\x08\x00garbage", ["cannot be decompressed"]),
    ("a.jsonl.gz", gzip.compress(b'{"text": "a"}\n' * 50)[:12] + b"\xff" * 40,
     ["cannot be decompressed"]),
    ("a.parquet", b'{"text": "a"}\n', ["text starting", "not Parquet"]),
    ("a.parquet", b"PAR1" + b"\0" * 20, ["not a readable Parquet file"]),
    ("a.txt", b"text", ["not a JSON lines or Parquet file name", "*.jsonl"]),
    ("a.jsonl", '{"text": "シフトJIS"}\n'.encode("cp932"), ["not UTF-8 text", "Shift_JIS"]),
])
def test_a_file_of_another_kind_is_named_with_what_was_found(tmp_path, name, data, words):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(RecordsError) as e:
        inspect(str(p), _open, "text")
    msg = str(e.value)
    assert msg.startswith(str(p)) and "\n" not in msg and all(w in msg for w in words), msg


def test_inspect_checks_the_columns_asked_for(tmp_path):
    p = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": ["a"], "n": [1]}), p)
    assert inspect(str(p), _open, "text") == "parquet"
    with pytest.raises(RecordsError, match=r"the column 'n' holds int64, not strings"):
        inspect(str(p), _open, "n")
    with pytest.raises(RecordsError, match=r"no column 'doc_id' in it \(it has text, n\); "
                                           r"name the column with --id-column"):
        inspect(str(p), _open, "text", {"doc_id": "--id-column"})
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n\n")
    assert inspect(str(empty), _open, "text") == "jsonl"
    assert plan(str(empty), 2, _open, 1 << 20) == [(0, 2, 2)]
    assert _all(empty, 1) == []


def test_a_lone_surrogate_is_a_bad_record_and_categoricals_are_text(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "\\ud800日本"}\n{"text": "ok", "url": "\\udfff"}\n{"text": "良い"}\n')
    got = _all(p, 1 << 20, fields={"url": "url"})
    assert [(r, why) for _, r, why in got] == [
        (None, "'text' holds a lone surrogate U+D800 (character 0), which is not text"),
        (None, "'url' holds a lone surrogate U+DFFF (character 0), which is not text"),
        ({"text": "良い", "url": None}, "")]
    q = tmp_path / "cat.parquet"
    pq.write_table(pa.table({"text": pa.array(["a", "b", "a"]).dictionary_encode()}), q)
    assert inspect(str(q), _open, "text") == "parquet"
    assert [r["text"] for _, r, _ in _all(q, 1 << 20)] == ["a", "b", "a"]


def test_damaged_compressed_data_later_in_a_file_is_an_os_error(tmp_path):
    """A good start, then damaged compressed data: the records before it, then an OSError
    (which the commands report with the file), never zlib's own error."""
    import random
    body = "".join(json.dumps({"text": f"{i}" + "".join(random.Random(i).choices(
        "あいうえおかきくけこ", k=2000))}, ensure_ascii=False) + "\n" for i in range(300))
    raw = bytearray(gzip.compress(body.encode()))
    raw[len(raw) // 2:len(raw) // 2 + 64] = b"\x00" * 64
    p = tmp_path / "d.jsonl.gz"
    p.write_bytes(bytes(raw))
    with pytest.raises(OSError):
        _all(p, 1)
