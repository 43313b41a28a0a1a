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


# -- build-corpus --input -----------------------------------------------------------------
def prose(i: int) -> str:
    """A distinct page of Japanese-looking prose (seeded random kanji words and particles):
    it passes the default web filters, and no two pages share their n-grams."""
    import random
    rng = random.Random(i)
    kanji = [chr(c) for c in range(0x4E00, 0x4E00 + 3000, 3)]
    particles = ["は", "が", "を", "に", "で", "と", "の", "も", "から", "まで"]
    ends = ["した。", "である。", "ました。", "だろう。", "といわれる。"]

    def sentence():
        return "".join("".join(rng.choices(kanji, k=2)) + rng.choice(particles)
                       for _ in range(rng.randint(6, 10))) + "".join(
            rng.choices(kanji, k=2)) + rng.choice(ends)
    return "\n".join("".join(sentence() for _ in range(3)) for _ in range(5))


def rows_of(folder) -> list[dict]:
    import glob
    return [r for f in sorted(glob.glob(str(folder / "*.parquet")))
            for r in pq.read_table(f).to_pylist()]


def test_build_corpus_takes_a_hugging_face_parquet_export(tmp_path, capsys):
    """The records go through the same cleaning, filters and dedup as pages: a copy of a
    text is an exact duplicate, a record no site takes is counted, one without text is
    counted with the file, and the URL decides the site."""
    n = 12
    texts = [prose(i) for i in range(n)] + [prose(3), "短い。"]
    urls = [f"http://neko.jp/{i}" for i in range(n + 1)] + ["http://other.jp/x"]
    data = tmp_path / "train-00000-of-00001.parquet"
    hf_parquet(data, {"text": texts + [None], "url": urls + ["http://neko.jp/none"],
                      "title": [f"第{i}章" for i in range(n + 3)]})
    rules = tmp_path / "sites.toml"
    rules.write_text('[[sites]]\nname = "neko"\ngenre = "novel"\nallow = ["^http://neko\\\\.jp/"]\n')
    out = tmp_path / "build"
    assert main(["build-corpus", "--input", str(data), "--sites", str(rules),
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert (f"warning: {data}: bad_record: 1 record could not be used; the first: {data} "
            "(row 14): 'text' is null, not a string") in err
    kept = rows_of(out / "corpus")
    assert sorted(r["url"] for r in kept) == sorted(urls[:n])
    assert {r["site"] for r in kept} == {"neko"} and {r["genre"] for r in kept} == {"novel"}
    assert {r["title"] for r in kept} == {f"第{i}章" for i in range(n)}
    rejected = {r["url"]: r["rule"] for r in rows_of(out / "rejected")}
    assert rejected[urls[n]] == "exact_duplicate"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["events"] == {"no_site": 1, "bad_record": 1}
    assert stats["settings"]["input"]["text_column"] == "text"
    assert list(stats["input_files"]["bad_record"]) == [str(data)]


@pytest.mark.parametrize("form", ["space", "equals"])
def test_build_corpus_takes_json_lines_of_one_site(tmp_path, form):
    """--site NAME without --sites: every record is of that site, with the default web
    filters and genre other; the id column names the documents."""
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps({"body": prose(i), "key": f"k{i:02d}"},
                                       ensure_ascii=False) + "\n" for i in range(8)),
                    encoding="utf-8")
    flags = (["--input", str(data), "--site", "mine", "--text-column", "body",
              "--id-column", "key"] if form == "space" else
             [f"--input={data}", "--site=mine", "--text-column=body", "--id-column=key"])
    out = tmp_path / "build"
    assert main(["build-corpus", *flags, "--out", str(out)]) == 0
    kept = rows_of(out / "corpus")
    assert sorted(r["id"] for r in kept) == [f"k{i:02d}" for i in range(8)]
    assert {(r["site"], r["genre"], r["url"]) for r in kept} == {("mine", "other", None)}


def test_build_corpus_input_gives_the_same_bytes_with_any_worker_count(tmp_path):
    """A JSON-lines file read in several byte ranges: one or two workers write the same
    files, byte for byte."""
    data = tmp_path / "big.jsonl"
    with open(data, "w", encoding="utf-8") as f:
        for i in range(1200):                   # about 800 kB: several 256 kB pieces
            f.write(json.dumps({"text": prose(i % 300), "url": f"http://a.jp/{i}"},
                               ensure_ascii=False) + "\n")
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"b{workers}"
        assert main(["build-corpus", "--input", str(data), "--site", "a", "--out", str(out),
                     "--workers", workers, "--shards", "2"]) == 0
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert len([f for f in files if f.parts[0] == "corpus"]) == 2
    for f in files:
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
    stats = json.loads((outs[0] / "stats.json").read_text())
    assert stats["sites"]["a"]["in_docs"] == 1200
    assert stats["rules"]["exact_duplicate"] == 900


@pytest.mark.parametrize("argv, words", [
    (["--input", "{data}", "--warc", "{data}"], "--warc {data} and --input {data}: give one"),
    (["--warc", "{data}", "--text-column", "body"], "--text-column body: only with --input"),
    (["--input", "{data}", "--site", "x", "--site-column", "s"],
     "--site x and --site-column s: give one"),
    (["--input", "{data}", "--site", "x", "--sites", "{rules}"],
     "--site x: no such site in --sites {rules} (it has neko)"),
    (["--input", "{data}", "--sites", "{rules}"],
     "--input {data}: no field 'url' in the first record (it has text); name the field with "
     "--url-column (the site rules match it), or give --site NAME"),
    (["--input", "{data}", "--site", "x", "--site-column=s"], "give one"),
    (["--input", "{data}", "--site-column", "domain", "--sites", "{rules}"],
     "no field 'domain' in the first record (it has text); name the field with --site-column"),
])
def test_build_corpus_input_flags_that_cannot_work_are_one_line(tmp_path, capsys, argv, words):
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "本文です。"}\n', encoding="utf-8")
    rules = tmp_path / "sites.toml"
    rules.write_text('[[sites]]\nname = "neko"\ngenre = "novel"\n')
    sub = {"{data}": str(data), "{rules}": str(rules)}
    argv = [sub.get(a, a) for a in argv]
    for k, v in sub.items():
        words = words.replace(k, v)
    assert main(["build-corpus", *argv, "--out", str(tmp_path / "o")]) == 2
    assert words in one_line(capsys)
    assert not (tmp_path / "o").exists()


def test_build_corpus_on_the_shared_corpus_by_its_domain_column(tmp_path):
    """The shared valid.jsonl.gz (JSON lines with id, text, source, domain): each record goes
    to the site its domain names, every record is read."""
    import collections
    import os
    from pathlib import Path
    shared = Path(os.environ.get("JA_SHARED_DATA", "../shared/data")) / "corpus" / "valid.jsonl.gz"
    if not shared.exists():
        pytest.skip(f"shared corpus absent: {shared}")
    with gzip.open(shared, "rt", encoding="utf-8") as f:
        domains = collections.Counter(json.loads(line)["domain"] for line in f)
    rules = tmp_path / "sites.toml"
    rules.write_text("".join(f'[[sites]]\nname = "{d}"\ngenre = "{g}"\n' for d, g in (
        ("literature", "novel"), ("encyclopedia", "encyclopedia"), ("legal", "legal"),
        ("tech-docs", "docs"))))
    out = tmp_path / "build"
    assert main(["build-corpus", "--input", str(shared), "--site-column", "domain",
                 "--id-column", "id", "--sites", str(rules), "--out", str(out)]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert {s: v["in_docs"] for s, v in stats["sites"].items()} == dict(domains)
    assert stats["events"] == {}
    kept = rows_of(out / "corpus")
    assert kept and all(r["id"].split("/")[0] in ("aozora", "law", "nerwiki", "wac", "site",
                                                  "man", "wiki") for r in kept)


# -- encode_swe -----------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["space", "equals", "dashes"])
def test_encode_swe_takes_json_lines_and_parquet(tmp_path, form):
    """A JSON-lines file given as --src_dir, and a folder of .txt, JSON-lines and Parquet
    files: one document per record (each followed by <|endoftext|>), in path order; a record
    without text is skipped and counted."""
    from swelm.tokenizer.encode_swe import run  # noqa: F401  (the command under test)
    enc = SWEEncoder.load()
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text(TEXTS[0], encoding="utf-8")
    (src / "b.jsonl").write_text("".join(json.dumps({"body": t}, ensure_ascii=False) + "\n"
                                         for t in TEXTS[1:3]) + '{"body": 5}\n',
                                 encoding="utf-8")
    hf_parquet(src / "c.parquet", {"body": TEXTS[3:], "id": ["z"]})
    column = {"space": ["--text_column", "body"], "equals": ["--text_column=body"],
              "dashes": ["--text-column", "body"]}[form]
    assert main(["encode-swe", "--src_dir", str(src), "--dst_file", str(tmp_path / "s"),
                 "--quiet", "--num_process", "1", *column]) == 0
    want = [t for x in TEXTS for t in [*enc.encode(x), enc.eot_id]]
    assert tokens(tmp_path / "s") == want
    m = read_manifest(str(tmp_path / "s"))
    assert m["documents"] == 4 and m["skipped_records"] == 1 and m["skipped_files"] == 0
    assert m["source"]["text_column"] == "body"
    # one file as --src_dir
    assert main(["encode-swe", "--src_dir", str(src / "b.jsonl"), "--dst_file",
                 str(tmp_path / "one"), "--quiet", *column]) == 0
    assert tokens(tmp_path / "one") == [t for x in TEXTS[1:3]
                                        for t in [*enc.encode(x), enc.eot_id]]


def test_encode_swe_names_a_records_file_it_cannot_use(tmp_path, capsys):
    """Given as --src_dir: one line and nothing written; found in a folder: skipped with a
    warning, counted, and the rest encoded."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"content": "本文"}\n', encoding="utf-8")
    assert main(["encode-swe", "--src_dir", str(bad), "--dst_file", str(tmp_path / "s"),
                 "--quiet"]) == 2
    assert one_line(capsys) == (
        f"swelm encode-swe: --src_dir {bad}: no field 'text' in the first record (it has "
        "content); name the field with --text-column")
    assert not (tmp_path / "s").exists()
    src = tmp_path / "src"
    src.mkdir()
    (src / "config.json").write_text('[{"not": "lines"}]\n')
    (src / "a.txt").write_text(TEXTS[0], encoding="utf-8")
    assert main(["encode-swe", "--src_dir", str(src), "--dst_file", str(tmp_path / "s"),
                 "--quiet"]) == 0
    assert "config.json: skipped: a JSON array; expected JSON lines" in capsys.readouterr().err
    assert read_manifest(str(tmp_path / "s"))["skipped_files"] == 1


def test_hostile_inputs_of_the_three_commands(tmp_path, capsys):
    """What a hostile run found: a lone surrogate is a bad record, a file cut short is read
    up to the cut and reported, records files without records and FIFOs are one line, a
    stray .json in a folder is passed over, repeated --corpus flags add up, and an output
    inside an input folder is refused."""
    import os
    good = "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in TEXTS)
    data = tmp_path / "s.jsonl"
    data.write_text(good + '{"text": "\\ud800日本"}\n', encoding="utf-8")
    assert main(["build-corpus", "--input", str(data), "--site", "x", "--out",
                 str(tmp_path / "b")]) == 0
    stats = json.loads((tmp_path / "b" / "stats.json").read_text())
    assert stats["events"]["bad_record"] == 1
    assert main(["encode", "--corpus", str(data), "--out", str(tmp_path / "e")]) == 0
    assert "lone surrogate U+D800" in capsys.readouterr().err
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress((good * 50).encode())[:-30])
    assert main(["encode", "--corpus", str(cut), "--out", str(tmp_path / "e2")]) == 0
    assert "read only up to a failure" in capsys.readouterr().err
    assert read_manifest(str(tmp_path / "e2"))["documents"] > 0
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n")
    assert main(["encode-swe", "--src_dir", str(blank), "--dst_file", str(tmp_path / "x"),
                 "--quiet"]) == 2
    assert "no document in it" in one_line(capsys)
    fifo = tmp_path / "f.jsonl"
    os.mkfifo(fifo)
    assert main(["encode-swe", "--src_dir", str(fifo), "--dst_file", str(tmp_path / "x"),
                 "--quiet"]) == 2
    assert "a FIFO, not a regular file" in one_line(capsys)
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "DATA.JSONL").write_text(good, encoding="utf-8")
    (folder / "dataset_infos.json").write_text('{"default": {"features": {}}}\n')
    assert main(["build-corpus", "--input", str(folder), "--site", "x", "--out",
                 str(tmp_path / "b2")]) == 0
    assert f"warning: --input: skipped {folder / 'dataset_infos.json'}: no field 'text'" in \
        capsys.readouterr().err
    other = tmp_path / "o.jsonl"
    other.write_text(good, encoding="utf-8")
    assert main(["encode", f"--corpus={data}", f"--corpus={other}", "--out",
                 str(tmp_path / "e3"), "--shards", "1"]) == 0
    assert read_manifest(str(tmp_path / "e3"))["documents"] == 2 * len(TEXTS)
    capsys.readouterr()
    (folder / "dataset_infos.json").unlink()
    assert main(["build-corpus", "--input", str(folder), "--site", "x", "--out",
                 str(folder / "out")]) == 2
    assert "overlaps the input" in one_line(capsys)


def test_encode_gives_the_same_bytes_when_ids_repeat(tmp_path):
    """Two documents with one id: the same shards with one worker or two."""
    for name in ("a", "b"):
        (tmp_path / f"{name}.jsonl").write_text("".join(
            json.dumps({"id": i, "text": f"{name}{t}"}, ensure_ascii=False) + "\n"
            for i, t in enumerate(TEXTS * 5)), encoding="utf-8")
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"s{workers}"
        assert main(["encode", "--corpus", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"),
                     "--out", str(out), "--workers", workers, "--shards", "1",
                     "--mode", "mlm"]) == 0
        outs.append((out / "shard-00000.arrow").read_bytes())
    assert outs[0] == outs[1]
