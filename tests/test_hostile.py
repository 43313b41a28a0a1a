"""Hostile input to the tokenizer and pipeline commands: every bad flag, file or field is one
line on stderr with exit status 2 and nothing written; hangs end; nothing is silently wrong.
(The destination rule has its own file, tests/test_destinations.py; the model commands are in
tests/test_hostile_model.py.)"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT
from swelm.cli import main


def cli(argv, stdin: bytes | None = None) -> tuple[int, str, str]:
    """``swelm ARGV`` in this process: (exit status, stdout, stderr); argument errors too."""
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in argv])
            except SystemExit as e:
                code = e.code
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue(), err.getvalue()


def refused(argv, *words, stdin=None, reports=()) -> str:
    """``swelm ARGV`` exits 2 with one error line holding ``words`` (and, before it, only
    per-file reports holding one of ``reports``)."""
    code, _, err = cli(argv, stdin)
    lines = [line for line in err.strip().splitlines() if line]
    assert code == 2 and lines and "Traceback" not in err, (code, err)
    assert all(any(r in line for r in reports) for line in lines[:-1]), err
    for w in words:
        assert w in lines[-1], lines[-1]
    return lines[-1]


# -- the tokenizer commands ------------------------------------------------------------------
@pytest.mark.parametrize("ids, words", [
    (["99999"], ["token id 99999", "out of the vocabulary's range"]),
    (["--", "-5"], ["token id -5"]),
    (["18446744073709551616"], ["token id 18446744073709551616"]),
    (["x"], ["token id 'x'", "expected an integer"]),
])
def test_decode_bad_ids(ids, words):
    refused(["decode", *ids], *words)


def test_invalid_utf8_on_stdin_is_named_as_such():
    refused(["tokenize"], "standard input", "not valid UTF-8", stdin=b"abc\xff\xfe")


def test_tokenize_lines_split_at_newlines_only():
    text = "一行目\x0cの続き\n二行目\u2028の続き\r\n三行目\x85\x1c\n"
    code, out, _ = cli(["tokenize", "--lines"], stdin=text.encode())
    assert code == 0 and len(out.strip().split("\n")) == 3


def test_vocabulary_that_is_a_folder_or_a_link_loop(tmp_path):
    refused(["tokenize", "x", "--vocabulary", tmp_path], str(tmp_path), "cannot read")
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    refused(["tokenize", "x", "--vocabulary", loop], "loop.txt", "cannot read")


def test_vocabulary_with_a_bom_and_the_emoji_table_beside_it(tmp_path, fixture_files, caplog):
    from swelm.tokenizer import SWEEncoder
    vocab, emoji = fixture_files
    bom = tmp_path / "bom" / "vocab.txt"
    bom.parent.mkdir()
    bom.write_bytes(b"\xef\xbb\xbf" + vocab.read_bytes())
    (bom.parent / "emoji.json").write_bytes(emoji.read_bytes())
    enc = SWEEncoder.load(bom)                     # emoji.json beside it, no warning
    assert enc.id_to_token(0) == "して" and enc.emoji.path == str(bom.parent / "emoji.json")
    assert "no emoji.json beside" not in caplog.text
    alone = tmp_path / "alone" / "vocab.txt"
    alone.parent.mkdir()
    alone.write_bytes(vocab.read_bytes())
    caplog.clear()
    SWEEncoder.load(alone)                         # the bundled emoji table: said once
    assert "no emoji.json beside" in caplog.text and str(alone) in caplog.text


def test_bundled_emoji_fallback_is_warned_once(tmp_path, caplog):
    from swelm.tokenizer import SWEEncoder
    from swelm.tokenizer.encoder import bundled_path
    own = tmp_path / "v.txt"
    own.write_bytes(open(bundled_path("ja-swe36k.txt"), "rb").read())
    SWEEncoder.load(own)
    SWEEncoder.load(own)
    warned = [r for r in caplog.records if "no emoji.json beside" in r.getMessage()]
    assert len(warned) == 1 and "emoji.json" in warned[0].getMessage()


# -- encode_swe ----------------------------------------------------------------------------
@pytest.fixture
def texts(tmp_path):
    src = tmp_path / "texts"
    src.mkdir()
    (src / "a.txt").write_text("吾輩は猫である。", encoding="utf-8")
    return src


def encode_swe(src, dst, *extra):
    return ["encode-swe", "--src_dir", src, "--dst_file", dst, "--quiet", "--num_process", "1",
            *extra]


def test_encode_swe_skips_a_fifo_instead_of_blocking(texts, tmp_path):
    os.mkfifo(texts / "pipe.txt")
    r = subprocess.run([sys.executable, "-m", "swelm", *map(str, encode_swe(
        texts, tmp_path / "out"))], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "pipe.txt: skipped: not a regular file" in r.stderr
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["documents"] == 1


def test_encode_swe_with_every_file_skipped_writes_nothing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "sjis.txt").write_bytes("シフトJIS".encode("cp932"))
    refused(encode_swe(src, tmp_path / "out"), "every document was skipped", "sjis.txt",
            reports=["skipped: not valid UTF-8"])
    assert not (tmp_path / "out").exists() and sorted(os.listdir(tmp_path)) == ["src"]


@pytest.mark.parametrize("flag, value", [("--shard_tokens", "0"), ("--num_process", "0"),
                                         ("--combine", "-1")])
def test_encode_swe_bad_numbers(texts, tmp_path, flag, value):
    refused([*encode_swe(texts, tmp_path / "out"), flag, value], flag, repr(value))


def test_encode_swe_vocabulary_too_large_for_uint16(texts, tmp_path):
    from conftest import write_fixture, fixture_lines
    lines = [f"t{i}" for i in range(70000)] + fixture_lines()[-285:]
    vocab, emoji = write_fixture(tmp_path, lines)
    refused([*encode_swe(texts, tmp_path / "out"), "--vocabulary", vocab, "--emoji", emoji],
            "does not fit uint16")


def test_encode_swe_into_a_read_only_folder(texts, tmp_path):
    """A read-only mount (root ignores permission bits): one line, not a traceback."""
    ro = tmp_path / "ro"
    ro.mkdir()
    script = (f"mount --bind {ro} {ro} && mount -o remount,bind,ro {ro} && "
              f"exec {sys.executable} -m swelm " + " ".join(
                  map(str, encode_swe(texts, ro / "out"))))
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    if "unshare" in r.stderr and r.returncode != 2:
        pytest.skip(f"no mount namespace here: {r.stderr[:200]}")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "cannot write in" in lines[0], r.stderr
    assert "Read-only file system" in lines[0]


def test_a_killed_encode_swe_worker_ends_the_run(tmp_path):
    """kill -9 of one worker (as the out-of-memory killer would): the run ends with one clear
    line and publishes nothing, instead of waiting for ever.  Several rounds: the executor's
    own result thread may die on the race and leave it waiting (at exit too)."""
    src = tmp_path / "src"
    src.mkdir()
    line = "吾輩は猫である。名前はまだ無い。電話は03-1234-5678、価格は1,980円。" * 400
    for i in range(400):
        (src / f"{i:04d}.txt").write_text(line, encoding="utf-8")
    for round_ in range(4):
        out_dir = tmp_path / f"out{round_}"
        proc = subprocess.Popen([sys.executable, "-m", "swelm", *map(str, encode_swe(
            src, out_dir)[:-2]), "--num_process", "2", "--clean_text"], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        children = []
        deadline = time.time() + 60
        while time.time() < deadline and not children:
            out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
            children = [int(p) for p in out.stdout.split()]
            time.sleep(0.05)
        assert children, "no worker processes appeared"
        time.sleep(0.5)
        os.kill(children[0], signal.SIGKILL)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"round {round_}: encode_swe kept waiting for its killed worker")
        assert proc.returncode == 2 and "worker process ended abruptly" in err, err
        assert not out_dir.exists()


# -- build-corpus and encode ----------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["pipeline", "--demo", "--out", str(out), "--seq-len", "64"]) == 0
    return out


def build(demo, out, *extra):
    return ["build-corpus", "--warc", demo / "crawl" / "warc" / "*.warc.gz", "--sites",
            demo / "sites.toml", "--out", out, *extra]


@pytest.mark.parametrize("extra, words", [
    (["--shards", "0"], ["--shards", "'0'"]),
    (["--budget", "nan"], ["--budget", "'nan'"]),
    (["--budget", "inf"], ["--budget", "'inf'"]),
    (["--genre-weight", "blog=nan"], ["--genre-weight", "blog=nan"]),
    (["--genre-weight", "blogs=1"], ["unknown genre 'blogs'"]),
    (["--genre-weight", "blog=0"], ["every site's weight is 0"]),
    (["--jaccard", "1.5"], ["--jaccard"]),
])
def test_build_corpus_bad_options_leave_the_old_output(demo, tmp_path, extra, words):
    out = tmp_path / "build"
    assert main([str(a) for a in build(demo, out)]) == 0
    before = sorted(p.name for p in (out / "corpus").iterdir())
    refused(build(demo, out, *extra), *words)
    assert sorted(p.name for p in (out / "corpus").iterdir()) == before


def test_unknown_encodings_in_the_rules(demo, tmp_path):
    for codec in ("base64", "rot13"):
        rules = tmp_path / f"{codec}.toml"
        rules.write_text((demo / "sites.toml").read_text(encoding="utf-8").replace(
            'genre = "blog"', f'genre = "blog"\nencoding = "{codec}"'), encoding="utf-8")
        refused(["build-corpus", "--warc", demo / "crawl" / "warc" / "*.warc.gz", "--sites",
                 rules, "--out", tmp_path / "o"], "field 'encoding'", codec)


def test_genre_weight_zero_means_no_tokens(demo, tmp_path):
    """A corpus weight of 0 writes no copies (it was taken for 1)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    build_dir = tmp_path / "b"
    (build_dir / "corpus").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a", "b"], "genre": ["docs", "novel"],
                             "text": ["吾輩は猫である。", "名前はまだ無い。"],
                             "weight": [0.0, 1.0]}), build_dir / "corpus" / "part-00000.parquet")
    (build_dir / "stats.json").write_text(json.dumps({"settings": {"command": "build-corpus"}}))
    assert main(["encode", "--corpus", str(build_dir / "corpus" / "*.parquet"), "--out",
                 str(tmp_path / "s"), "--seq-len", "16"]) == 0
    m = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert m["documents"] == 1 and set(m["tokens_per_genre"]) == {"novel"}


@pytest.mark.parametrize("keep, detail", [(0.5, "the file ends inside a record"),
                                           (0.02, "offset ")])
def test_a_warc_cut_inside_a_record_is_damaged_not_used(tmp_path, keep, detail):
    """A partial download: the file ends inside the last record (its payload shorter than its
    Content-Length, or its header unreadable); it is counted as damaged_warc (the file named in
    stats.json) and its page does not enter the corpus."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter
    warc = tmp_path / "cut.warc.gz"
    with open(warc, "wb") as f:
        w = WARCWriter(f, gzip=True)
        for i in range(3):
            rng = np.random.default_rng(i)          # text that gzip cannot shrink much
            words = "".join(chr(c) for c in rng.integers(0x4e00, 0x9fa0, 3000))
            body = (f"<html><body><p>第{i}の文章です。{words}</p></body></html>").encode()
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                    protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(f"http://127.0.0.1/p{i}.html", "response",
                                                payload=io.BytesIO(body), http_headers=http))
    data = warc.read_bytes()
    last = data.rfind(b"\x1f\x8b\x08")             # the last record's gzip member
    warc.write_bytes(data[:last + int((len(data) - last) * keep)])
    rules = tmp_path / "sites.toml"
    rules.write_text('[[sites]]\nname = "t"\nseeds = ["http://127.0.0.1/"]\ngenre = "docs"\n'
                     'filters = { min_length = 0 }\n', encoding="utf-8")
    assert main(["build-corpus", "--warc", str(warc), "--sites", str(rules), "--out",
                 str(tmp_path / "o")]) == 0
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert stats["events"].get("damaged_warc") == 1
    assert detail in json.dumps(stats["input_files"]["damaged_warc"], ensure_ascii=False)
    assert stats["sites"]["t"]["in_docs"] == 2


def test_crawl_resume_does_not_take_another_sites_segments(tmp_path):
    """Site 'deb' must not read 'deb-faq''s segments as its own."""
    from swelm.pipelines.crawl import _segments
    from swelm.pipelines.io import FileSystem
    fs = FileSystem()
    for name in ("deb-00000.jsonl", "deb-00001.jsonl", "deb-faq-00000.jsonl"):
        (tmp_path / "log").mkdir(exist_ok=True)
        (tmp_path / "log" / name).write_text("")
    got = [os.path.basename(p) for p in _segments(fs, str(tmp_path), "log", "deb", ".jsonl")]
    assert got == ["deb-00000.jsonl", "deb-00001.jsonl"]
    assert [os.path.basename(p) for p in _segments(fs, str(tmp_path), "log", "deb-faq",
                                                   ".jsonl")] == ["deb-faq-00000.jsonl"]


def test_shards_with_ids_outside_the_vocabulary_are_refused_when_opened(tmp_path):
    from swelm.tokenizer.shards import ShardFormatError, ShardWriter, TokenRows
    out = tmp_path / "s"
    with ShardWriter(str(out), vocab_sha256="0" * 64, vocab_size=100,
                     source={"tool": "tests"}) as w:
        w.add(np.array([1, 2, 3], dtype=np.uint16))
        w.add(np.array([5, 99], dtype=np.uint16))
    m = json.loads((out / "manifest.json").read_text())
    assert m["shards"][0]["max_id"] == 99
    m["vocabulary"]["size"] = 50                    # a manifest that does not fit its shards
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ShardFormatError, match="shard-00000.arrow holds token id 99"):
        TokenRows(str(out))
    del m["shards"][0]["max_id"]                   # an older set: the ids are read once
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ShardFormatError, match="holds token id 99, outside"):
        TokenRows(str(out))
    m["vocabulary"]["size"] = 100
    m["shards"][0]["rows"] = 3
    m["rows"] = 3
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ShardFormatError, match="manifest says 3"):
        TokenRows(str(out))


def test_encode_swe_caps_its_workers_and_names_a_file_given_as_the_folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"{i}.txt").write_text("吾輩は猫である。", encoding="utf-8")
    code, _, err = cli(["encode-swe", "--src_dir", str(src), "--dst_file", str(tmp_path / "o"),
                        "--num_process", "100000", "--quiet"])
    assert code == 0 and f"--num_process 100000: using {min(3, os.cpu_count() or 1)} worker" \
        in err, err
    (src / "notes.md").write_text("吾輩は猫である。", encoding="utf-8")
    refused(["encode-swe", "--src_dir", str(src / "notes.md"), "--dst_file",
             str(tmp_path / "p")], "--src_dir", "is a file that is not text, JSON lines or "
            "Parquet")
    # one .txt file is encoded as it is
    code, _, err = cli(["encode-swe", "--src_dir", str(src / "0.txt"), "--dst_file",
                        str(tmp_path / "q"), "--quiet"])
    assert code == 0, err


@pytest.mark.parametrize("case, words", [
    ("schema", 'no "text" column (columns: body)'),
    ("ints", 'column "text" holds int64, expected strings'),
    ("cut", "not a readable Parquet file"),
])
def test_build_vocab_sentencepiece_on_a_bad_parquet_file(tmp_path, case, words):
    import pyarrow as pa
    import pyarrow.parquet as pq
    path = tmp_path / f"{case}.parquet"
    if case == "schema":
        pq.write_table(pa.table({"body": ["吾輩は猫である。"]}), path)
    elif case == "ints":
        pq.write_table(pa.table({"text": [1, 2, 3]}), path)
    else:
        pq.write_table(pa.table({"text": ["吾輩は猫である。"] * 500}), path)
        path.write_bytes(path.read_bytes()[:300])
    refused(["build-vocab", "--kind", "sentencepiece", "--input", str(path), "--out",
             str(tmp_path / "sp.model"), "--size", "100"], str(path), words,
            reports=("training SentencePiece",))
    assert not (tmp_path / "sp.model").exists()


def test_build_corpus_sizes_no_machine_holds(tmp_path):
    rules = tmp_path / "sites.toml"
    rules.write_text('[[sites]]\nname = "x"\nseeds = ["http://x.jp/"]\ngenre = "blog"\n')
    warc = tmp_path / "a.warc"
    warc.write_bytes(b"WARC/1.0\r\n")
    base = ["build-corpus", "--warc", str(warc), "--sites", str(rules), "--out",
            str(tmp_path / "o")]
    refused([*base, "--bands", "100000"], "--bands 100000", "at most 4096")
    refused([*base, "--workers", "1000"], "--workers 1000", "at most")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv", [
    ["crawl", "--sites", "{fifo}", "--out", "{tmp}/c"],
    ["build-vocab", "--kind", "sentencepiece", "--input", "{fifo}", "--out", "{tmp}/x.model"],
    ["encode", "--corpus", "{fifo}", "--out", "{tmp}/s"],
    ["score", "{fifo}", "--model", "{tmp}/no-model"],
], ids=["crawl-sites", "build-vocab-input", "encode-corpus", "score-file"])
def test_a_fifo_as_any_input_is_refused_not_read(tmp_path, argv):
    """Reading a FIFO blocks until a writer comes (for ever): every input is a regular
    file or refused."""
    fifo = tmp_path / "input.parquet"
    os.mkfifo(fifo)
    refused([a.replace("{fifo}", str(fifo)).replace("{tmp}", str(tmp_path)) for a in argv],
            str(fifo), "a FIFO, not a regular file")
