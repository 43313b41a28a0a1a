"""encode_swe CLI: shards and manifest, npz layout, bad files, determinism, atomic output."""
import hashlib
import os

import numpy as np
import pytest

from swelm.tokenizer import SWEEncoder
from swelm.cli import encode_swe as main
from swelm.tokenizer.shards import iter_rows, read_manifest

DOCS = {
    "a/01.txt": "吾輩は猫である。名前はまだ無い。\nどこで生れたかとんと見当がつかぬ。",
    "a/02.txt": "東京都渋谷区で2024年にAIを使ったサービスを開始！",
    "b/03.txt": "連絡先: taro@example.co.jp 価格は1,980円(税込)",
    "b/04.TXT": "している慶應",
    "b/skip.md": "not a text file",
}


@pytest.fixture
def src(tmp_path):
    root = tmp_path / "src"
    for name, text in DOCS.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    (root / "b" / "05-sjis.txt").write_bytes("シフトJISの文章".encode("cp932"))
    return root


def run(src, dst, vocab, *extra):
    return main(["--src_dir", str(src), "--dst_file", str(dst), "--vocabulary", str(vocab[0]),
                 "--emoji", str(vocab[1]), "--quiet", *extra])


def test_arrow_shards(src, tmp_path, upstream_files, caplog):
    dst = tmp_path / "out"
    assert run(src, dst, upstream_files, "--combine", "0", "--num_process", "2") == 0
    m = read_manifest(dst)
    enc = SWEEncoder.load(*upstream_files)
    assert m["vocabulary"]["sha256"] == hashlib.sha256(open(upstream_files[0], "rb").read()).hexdigest()
    assert m["documents"] == 4 and m["rows"] == 4 and m["skipped_files"] == 1
    rows = list(iter_rows(dst))
    assert all(r.dtype == np.uint16 for r in rows)
    assert sum(len(r) for r in rows) == m["tokens"] == m["tokens_per_genre"]["all"]
    texts = [DOCS[k] for k in ("a/01.txt", "a/02.txt", "b/03.txt", "b/04.TXT")]
    eot = enc.token_to_id("<|endoftext|>")
    for row, text in zip(rows, texts):
        assert row.tolist() == enc.encode(text) + [eot]
    assert "05-sjis.txt" in caplog.text and "not valid UTF-8" in caplog.text
    assert sorted(os.listdir(tmp_path)) == ["out", "src"]   # no temporaries left


def test_combine_and_clean(src, tmp_path, upstream_files):
    dst = tmp_path / "out"
    assert run(src, dst, upstream_files, "--clean_text", "--num_process", "1") == 0
    rows = list(iter_rows(dst))
    assert len(rows) == 1                                       # 4 short docs < 50000 chars
    enc = SWEEncoder.load(*upstream_files)
    joined = "".join(DOCS[k] + "<|endoftext|>" for k in ("a/01.txt", "a/02.txt", "b/03.txt", "b/04.TXT"))
    assert rows[0].tolist() == enc.encode(joined, clean=True)   # per-file == joined
    assert enc.token_to_id("<EMAIL>") in rows[0] and enc.token_to_id("<PRICE>") in rows[0]


def test_deterministic_and_rerun_replaces(src, tmp_path, upstream_files):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(src, a, upstream_files, "--num_process", "2", "--combine", "10") == 0
    assert run(src, b, upstream_files, "--num_process", "1", "--combine", "10") == 0
    for name in sorted(os.listdir(a)):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    (tmp_path / ".a.tmp-deadbeef").mkdir()                      # left by a killed run
    assert run(src, a, upstream_files, "--combine", "10") == 0
    assert not (tmp_path / ".a.tmp-deadbeef").exists()


def test_small_shards(src, tmp_path, upstream_files):
    dst = tmp_path / "out"
    assert run(src, dst, upstream_files, "--combine", "0", "--shard_tokens", "20") == 0
    m = read_manifest(dst)
    assert len(m["shards"]) > 1
    assert sum(s["tokens"] for s in m["shards"]) == m["tokens"]


def test_npz_layout(src, tmp_path, upstream_files):
    assert run(src, tmp_path / "out", upstream_files, "--format", "npz", "--combine", "0") == 0
    z = np.load(tmp_path / "out.npz")
    assert z.files == ["arr_0", "arr_1", "arr_2", "arr_3"]
    assert z["arr_0"].dtype == np.int64
    enc = SWEEncoder.load(*upstream_files)
    assert enc.decode(z["arr_1"]) == DOCS["a/02.txt"] + "<|endoftext|>"


def test_bad_arguments(tmp_path, upstream_files, capsys):
    assert run(tmp_path / "nope", tmp_path / "o", upstream_files) == 2
    (tmp_path / "empty").mkdir()
    assert run(tmp_path / "empty", tmp_path / "o", upstream_files) == 2
    assert main(["--src_dir", str(tmp_path), "--dst_file", str(tmp_path / "o"),
                 "--vocabulary", str(tmp_path / "missing.txt")]) == 2
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--clean_text" in capsys.readouterr().out
