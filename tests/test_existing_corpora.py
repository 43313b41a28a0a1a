"""Corpora users already have: JSON lines and Hugging Face-style Parquet files (one text
column) through `swelm encode`, `encode_swe` and `swelm build-corpus --input`."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from swelm.cli import main
from swelm.tokenizer import SWEEncoder
from swelm.tokenizer.shards import iter_rows, read_manifest

TEXTS = ["吾輩は猫である。名前はまだ無い。", "どこで生れたかとんと見当がつかぬ。",
         "何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。",
         "東京都千代田区の天気は晴れ、気温は二十度でした。"]


def hf_parquet(path, rows: dict) -> None:
    """A Parquet file as datasets' to_parquet and the Hub's exports write it: the columns,
    and the dataset's features in the schema's ``huggingface`` metadata."""
    table = pa.table(rows)
    features = {k: {"dtype": "string" if pa.types.is_string(t) else "int64", "_type": "Value"}
                for k, t in zip(table.column_names, table.schema.types)}
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    pq.write_table(table.replace_schema_metadata(meta), path, row_group_size=2)


def tokens(folder) -> list[int]:
    return [int(t) for row in iter_rows(str(folder)) for t in row]


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_encode_takes_a_hugging_face_parquet_export(tmp_path):
    data = tmp_path / "train-00000-of-00001.parquet"
    hf_parquet(data, {"id": ["1", "2", "3", "4"], "url": ["u"] * 4, "title": ["t"] * 4,
                      "text": TEXTS})
    assert main(["encode", "--corpus", str(data), "--out", str(tmp_path / "s"),
                 "--seq-len", "8", "--shards", "1"]) == 0
    enc = SWEEncoder.load()
    got = tokens(tmp_path / "s")
    # every text once (packed in a seeded order), each followed by <|endoftext|>
    assert sorted(got) == sorted([t for x in TEXTS for t in [*enc.encode(x), enc.eot_id]])
    m = read_manifest(str(tmp_path / "s"))
    assert m["documents"] == 4 and "skipped_records" not in m
    assert m["tokens_per_genre"] == {"other": len(got)}


@pytest.mark.parametrize("form", ["space", "equals"])
def test_encode_takes_json_lines_with_another_text_field(tmp_path, capsys, form):
    data = tmp_path / "data.jsonl.gz"
    lines = [json.dumps({"body": t, "doc": f"d{i}"}, ensure_ascii=False) for i, t in
             enumerate(TEXTS)]
    lines.insert(2, '{"body": null}')
    lines.insert(3, "not json")
    data.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    flags = (["--text-column", "body", "--id-column", "doc"] if form == "space" else
             ["--text-column=body", "--id-column=doc"])
    assert main(["encode", "--corpus", str(data), "--out", str(tmp_path / "s"), *flags]) == 0
    err = capsys.readouterr().err
    assert (f"warning: 2 records could not be used (first: {data} (line 3): 'body' is null, "
            "not a string)") in err
    m = read_manifest(str(tmp_path / "s"))
    assert m["documents"] == 4 and m["skipped_records"] == 2


def test_encode_takes_a_folder_of_json_lines_and_parquet(tmp_path):
    """The same documents as JSON lines or as Parquet give the same shards (the ids are
    given); a folder stands for its files of both kinds."""
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "sub").mkdir(parents=True)
    b.mkdir()
    ids = ["x1", "x2", "x3", "x4"]
    (a / "sub" / "part.jsonl").write_text("".join(
        json.dumps({"text": t, "id": i}, ensure_ascii=False) + "\n"
        for t, i in zip(TEXTS[:2], ids[:2])), encoding="utf-8")
    (a / "more.json").write_text("".join(
        json.dumps({"text": t, "id": i}) + "\n" for t, i in zip(TEXTS[2:], ids[2:])))
    hf_parquet(b / "data.parquet", {"text": TEXTS, "id": ids})
    for src in (a, b):
        assert main(["encode", "--corpus", str(src), "--out", str(tmp_path / f"s{src.name}"),
                     "--shards", "2", "--seq-len", "16"]) == 0
    assert tokens(tmp_path / "sa") == tokens(tmp_path / "sb")
    for shard in read_manifest(str(tmp_path / "sa"))["shards"]:
        name = shard["file"]
        assert (tmp_path / "sa" / name).read_bytes() == (tmp_path / "sb" / name).read_bytes()


@pytest.mark.parametrize("name, data, words", [
    ("data.jsonl", '[{"text": "a"}]', ["data.jsonl: a JSON array; expected JSON lines"]),
    ("data.jsonl", '{"content": "a"}', ["data.jsonl: no field 'text' in the first record "
                                        "(it has content); name the field with "
                                        "--text-column"]),
    ("data.parquet", '{"text": "a"}', ["data.parquet: text starting '{\"text\": \"a\"}', not "
                                       "Parquet as its name says"]),
])
def test_encode_names_a_file_of_the_wrong_kind(tmp_path, capsys, name, data, words):
    (tmp_path / name).write_text(data + "\n")
    assert main(["encode", "--corpus", str(tmp_path / name), "--out",
                 str(tmp_path / "s")]) == 2
    err = one_line(capsys)
    assert err.startswith(f"swelm encode: --corpus {tmp_path}/") and all(
        w in err for w in words), err
    assert not (tmp_path / "s").exists()


def test_encode_refuses_an_id_column_that_is_not_there(tmp_path, capsys):
    hf_parquet(tmp_path / "d.parquet", {"text": TEXTS})
    assert main(["encode", "--corpus", str(tmp_path / "d.parquet"), "--out",
                 str(tmp_path / "s"), "--id-column", "doc_id"]) == 2
    assert "no column 'doc_id' in it (it has text); name the column with --id-column" in \
        one_line(capsys)
