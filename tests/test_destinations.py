"""The destination rule: an existing destination is replaced only if it is a complete output of
the same kind written by swelm; anything else is refused (exit 2, one line, nothing touched);
a rebuild keeps the previous output whole until the new one is complete."""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from swelm.cli import main
from swelm.publish import (DestinationError, Kind, atomic_path, check_destination, json_marker,
                           remove_stale_temporaries)


def snapshot(folder) -> dict:
    """Every file under ``folder`` with its bytes' digest (hidden files included)."""
    out = {}
    for path in sorted(glob.glob(os.path.join(str(folder), "**", "*"), recursive=True)
                       + glob.glob(os.path.join(str(folder), "**", ".*"), recursive=True)):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


def refused(capsys, argv, *words) -> str:
    """``swelm ARGV`` exits 2 with one line on stderr holding ``words``."""
    capsys.readouterr()             # (what earlier commands of the test printed)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


@pytest.fixture
def texts(tmp_path):
    src = tmp_path / "texts"
    src.mkdir()
    (src / "a.txt").write_text("吾輩は猫である。名前はまだ無い。", encoding="utf-8")
    (src / "b.txt").write_text("どこで生れたかとんと見当がつかぬ。", encoding="utf-8")
    return src


def encode_swe(src, dst, *extra):
    return ["encode-swe", "--src_dir", str(src), "--dst_file", str(dst), "--quiet",
            "--num_process", "1", *extra]


# -- the rule itself -----------------------------------------------------------------------------
KIND = Kind("a test output", entries=("part-*.bin", "done.json"), marker="done.json",
            recognise=json_marker(lambda m: m.get("kind") == "test"))


def test_rule_accepts_missing_empty_and_own_outputs(tmp_path):
    check_destination(str(tmp_path / "new"), KIND)
    (tmp_path / "empty").mkdir()
    check_destination(str(tmp_path / "empty"), KIND)
    own = tmp_path / "own"
    own.mkdir()
    (own / "part-0.bin").write_bytes(b"x")
    (own / "done.json").write_text('{"kind": "test"}')
    (own / ".part-1.bin.tmp-1234abcd").write_bytes(b"partial")     # a temporary: ours
    check_destination(str(own), KIND)
    (own / "done.json").unlink()           # no marker: only swelm's owner file proves it ours
    with pytest.raises(DestinationError, match="no done.json or .swelm-owner.json"):
        check_destination(str(own), KIND)
    (own / ".swelm-owner.json").write_text('{"swelm_output": "a test output"}')
    check_destination(str(own), KIND)
    (own / ".swelm-owner.json").write_text('{"swelm_output": "another output"}')
    with pytest.raises(DestinationError):
        check_destination(str(own), KIND)


@pytest.mark.parametrize("name", [".x.tmp-0123abcd/sub/keep.txt", ".thesis.old-0badcafe/c1.txt",
                                  ".out.tmp-0123abcd/staging/a-000001.parquet"])
def test_a_folder_holding_only_temporary_looking_names_is_not_ours(tmp_path, name):
    """Names shaped like swelm's temporaries do not make a local folder swelm's output: a
    user's files under them are never replaced (a local output is staged beside its
    destination, so a killed first run leaves nothing inside it)."""
    dst = tmp_path / "out"
    (dst / name).parent.mkdir(parents=True)
    (dst / name).write_text("precious")
    with pytest.raises(DestinationError, match="refusing to replace"):
        check_destination(str(dst), KIND)
    assert (dst / name).read_text() == "precious"


@pytest.mark.parametrize("case", ["foreign file", "foreign marker", "file", "link", "overlap"])
def test_rule_refuses_anything_else(tmp_path, case):
    dst = tmp_path / "dst"
    dst.mkdir()
    sources = ()
    if case == "foreign file":
        (dst / "part-0.bin").write_bytes(b"x")
        (dst / "notes.txt").write_text("mine")
    elif case == "foreign marker":
        (dst / "done.json").write_text('{"kind": "other"}')
    elif case == "file":
        dst.rmdir()
        dst.write_text("mine")
    elif case == "link":
        dst.rmdir()
        (tmp_path / "real").mkdir()
        dst.symlink_to(tmp_path / "real")
    else:
        sources = [str(dst / "inputs")]
    with pytest.raises(DestinationError, match="--out"):
        check_destination(str(dst), KIND, sources=sources)


def test_publish_never_replaces_a_foreign_folder(tmp_path):
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "mine.txt").write_text("precious")
    with pytest.raises(DestinationError):
        with atomic_path(str(dst), KIND) as tmp:
            os.makedirs(tmp)
            (open(os.path.join(tmp, "done.json"), "w")).write('{"kind": "test"}')
    assert (dst / "mine.txt").read_text() == "precious"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]   # the temporary went


def test_an_interrupted_swap_gets_the_old_output_back(tmp_path):
    """Killed between renaming the old folder aside and the new one in: the next run restores
    the old output instead of deleting it as a temporary."""
    dst = tmp_path / "out"
    old = tmp_path / ".out.old-0123abcd"
    old.mkdir()
    (old / "done.json").write_text('{"kind": "test"}')
    (tmp_path / ".out.tmp-89abcdef").mkdir()            # the new folder, incomplete
    remove_stale_temporaries(str(dst))
    assert (dst / "done.json").exists() and sorted(os.listdir(tmp_path)) == ["out"]


# -- encode_swe and encode -----------------------------------------------------------------------
def test_encode_swe_refuses_a_folder_of_the_users_files(capsys, texts, tmp_path):
    dst = tmp_path / "mine"
    dst.mkdir()
    (dst / "notes.txt").write_text("precious")
    before = snapshot(tmp_path)
    refused(capsys, encode_swe(texts, dst), "--dst_file", str(dst), "not part of")
    assert snapshot(tmp_path) == before


def test_encode_swe_refuses_source_as_destination(capsys, texts, tmp_path, monkeypatch):
    before = snapshot(tmp_path)
    refused(capsys, encode_swe(texts, texts), "overlaps the input")
    refused(capsys, encode_swe(texts, texts / "out"), "overlaps the input")
    monkeypatch.chdir(tmp_path)
    refused(capsys, encode_swe(texts, os.getcwd()), "--dst_file")      # --dst_file "$PWD"
    assert snapshot(tmp_path) == before


def test_encode_swe_npz_destination(capsys, texts, tmp_path):
    (tmp_path / "d.npz").mkdir()
    (tmp_path / "d.npz" / "x").write_text("mine")
    refused(capsys, encode_swe(texts, tmp_path / "d.npz", "--format", "npz"), "is a folder")
    (tmp_path / "e.npz").write_text("not an npz of ours")
    refused(capsys, encode_swe(texts, tmp_path / "e", "--format", "npz"), "e.npz",
            "not an .npz token file")
    assert (tmp_path / "e.npz").read_text() == "not an npz of ours"
    # our own npz is replaced by a rerun
    assert main(encode_swe(texts, tmp_path / "f", "--format", "npz")) == 0
    assert main(encode_swe(texts, tmp_path / "f", "--format", "npz")) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz", "e.npz", "f.npz", "texts"]


def test_encode_swe_replaces_its_own_shard_set_and_refuses_a_file(capsys, texts, tmp_path):
    dst = tmp_path / "shards"
    assert main(encode_swe(texts, dst)) == 0
    assert main(encode_swe(texts, dst)) == 0
    assert sorted(os.listdir(dst)) == ["manifest.json", "shard-00000.arrow"]
    capsys.readouterr()
    (tmp_path / "file").write_text("mine")
    refused(capsys, encode_swe(texts, tmp_path / "file"), "is a file")


def test_encode_refuses_a_foreign_destination_and_an_incomplete_build(capsys, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    build = tmp_path / "build"
    (build / "corpus").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a"], "genre": ["docs"], "text": ["吾輩は猫である。"],
                             "weight": [1.0]}), build / "corpus" / "part-00000.parquet")
    corpus = str(build / "corpus" / "*.parquet")
    # no stats.json: an interrupted build is refused
    refused(capsys, ["encode", "--corpus", corpus, "--out", str(tmp_path / "s")],
            "not a complete build-corpus output")
    (build / "stats.json").write_text(json.dumps({"settings": {"command": "build-corpus"}}))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    refused(capsys, ["encode", "--corpus", corpus, "--out", str(mine)], "not part of")
    refused(capsys, ["encode", "--corpus", corpus, "--out", str(build / "corpus")],
            "overlaps the input")
    assert (mine / "notes.txt").read_text() == "precious"
    assert main(["encode", "--corpus", corpus, "--out", str(tmp_path / "s"), "--seq-len",
                 "16"]) == 0


def test_encode_names_a_parquet_file_it_cannot_use(capsys, tmp_path):
    """A damaged Parquet file, one without the text column, and a weight that is not a
    number from 0 to 10,000 (a build-corpus --budget far above the input) are one line naming
    the file, before any work."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    good = {"id": ["a"], "genre": ["docs"], "text": ["吾輩は猫である。"], "weight": [1.0]}
    cases = {
        "cut.parquet": ("not a readable Parquet file", None),
        "cols.parquet": ("no column 'text' in it (it has id, body); name the column with "
                         "--text-column", {"id": ["a"], "body": ["x"]}),
        "big.parquet": ("(row 0): the weight 2400000000.0", dict(good, weight=[2.4e9])),
        "nan.parquet": ("(row 0): the weight nan", dict(good, weight=[float("nan")])),
        "neg.parquet": ("(row 0): the weight -1.0", dict(good, weight=[-1.0])),
    }
    for name, (words, data) in cases.items():
        folder = tmp_path / name.split(".")[0]
        folder.mkdir()
        if data is None:
            pq.write_table(pa.table(good), folder / name)
            raw = (folder / name).read_bytes()
            (folder / name).write_bytes(raw[:len(raw) // 2])
        else:
            pq.write_table(pa.table(data), folder / name)
        refused(capsys, ["encode", "--corpus", str(folder), "--out", str(tmp_path / "s")],
                f"--corpus {folder / name}{'' if words.startswith('(') else ':'} {words}")
        assert not (tmp_path / "s").exists()


def test_encode_takes_a_folder(capsys, tmp_path):
    """``--corpus FOLDER``: a build-corpus output stands for its corpus/ parts (never its
    rejected/ ones), another folder for its Parquet files at any depth; a folder without any
    is one line."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    build = tmp_path / "build"
    for sub, text in (("corpus", "吾輩は猫である。"), ("rejected", "名前はまだ無い。")):
        (build / sub).mkdir(parents=True)
        pq.write_table(pa.table({"id": [sub], "genre": ["docs"], "text": [text],
                                 "weight": [1.0]}), build / sub / "part-00000.parquet")
    (build / "stats.json").write_text(json.dumps({"settings": {"command": "build-corpus"}}))
    assert main(["encode", "--corpus", str(build), "--out", str(tmp_path / "s"), "--seq-len",
                 "16"]) == 0
    assert json.loads((tmp_path / "s" / "manifest.json").read_text())["documents"] == 1
    other = tmp_path / "other" / "deep"
    other.mkdir(parents=True)
    shutil.copy(build / "rejected" / "part-00000.parquet", other / "x.parquet")
    assert main(["encode", "--corpus", str(tmp_path / "other"), "--out=" + str(tmp_path / "t"),
                 "--seq-len", "16"]) == 0
    assert json.loads((tmp_path / "t" / "manifest.json").read_text())["documents"] == 1
    wrap = tmp_path / "wrap"                # a folder holding a build: still corpus/ only
    wrap.mkdir()
    shutil.copytree(build, wrap / "build")
    assert main(["encode", "--corpus", str(wrap), "--out", str(tmp_path / "w"), "--seq-len",
                 "16"]) == 0
    assert json.loads((tmp_path / "w" / "manifest.json").read_text())["documents"] == 1
    (tmp_path / "empty").mkdir()
    refused(capsys, ["encode", "--corpus", str(tmp_path / "empty"), "--out",
                     str(tmp_path / "u")], f"--corpus {tmp_path / 'empty'}: a folder with no "
            "JSON-lines or Parquet files")
    assert not (tmp_path / "u").exists()


# -- build-corpus, crawl, pipeline ---------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["pipeline", "--demo", "--out", str(out), "--seq-len", "64"]) == 0
    return out


def test_build_corpus_refuses_foreign_destinations(capsys, demo, tmp_path):
    args = ["build-corpus", "--warc", str(demo / "crawl" / "warc" / "*.warc.gz"), "--sites",
            str(demo / "sites.toml")]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    refused(capsys, [*args, "--out", str(mine)], "--out", "not part of a build-corpus output")
    (tmp_path / "file").write_text("mine")
    refused(capsys, [*args, "--out", str(tmp_path / "file")], "is a file")
    refused(capsys, [*args, "--out", str(demo / "crawl")], "overlaps the input")
    assert (mine / "notes.txt").read_text() == "precious"
    for cmd in (["crawl", "--sites", str(demo / "sites.toml")],
                ["pipeline", "--demo", "--seq-len", "64"]):
        refused(capsys, [*cmd, "--out", str(mine)], "not part of")
    assert sorted(os.listdir(mine)) == ["notes.txt"]


def test_a_killed_rebuild_leaves_the_previous_output_whole(demo, tmp_path):
    """A rebuild killed while its pipeline writes leaves the previous corpus and its report as
    they were; the rerun then replaces them whole."""
    out = tmp_path / "build"
    args = ["build-corpus", "--warc", str(demo / "crawl" / "warc" / "*.warc.gz"), "--sites",
            str(demo / "sites.toml"), "--out", str(out)]
    assert main([*args, "--shards", "2"]) == 0
    before = snapshot(out)
    assert "stats.json" in before and any(k.startswith("corpus/") for k in before)
    proc = subprocess.Popen([sys.executable, "-m", "swelm", *args, "--shards", "3"], cwd=ROOT,
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if glob.glob(str(tmp_path / ".build.tmp-*" / "*" / "part-*.parquet")):
            break                           # the new build is writing its shards
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert snapshot(out) == before          # the old output, whole, with its own report
    assert main([*args, "--shards", "3"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["settings"]["shards"] == 3
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


# -- ownership is proven by content, never by file names (each case once deleted a user's files)
def _user_folder(root, files: dict) -> str:
    d = root / "d"
    d.mkdir()
    for rel, data in files.items():
        p = d / rel
        if rel.endswith("/"):
            p.mkdir(parents=True)
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return str(d)


@pytest.mark.parametrize("files", [
    {".env.tmp-local": b"SECRET=1"},
    {".photos.old-2023/img.jpg": b"\xff\xd8"},
    {"shard-00001.arrow": b"my own arrow file"},
    {".git/": None},
    {".secret.tmp-1": b"k"},
    {"manifest.json": b'{"mine": true}', "shard-00000.arrow": b"x"},
], ids=["tmp-name", "old-name", "shard-name", "empty-git", "tmp-1", "foreign-manifest"])
def test_encode_swe_never_takes_a_folder_for_its_own_by_names(capsys, texts, tmp_path, files):
    dst = _user_folder(tmp_path, files)
    before = snapshot(tmp_path)
    refused(capsys, encode_swe(texts, dst), "--dst_file", dst)
    assert snapshot(tmp_path) == before and os.path.isdir(os.path.join(dst, ".git")) == (
        ".git/" in files)


def test_sibling_names_that_look_like_temporaries_are_the_users(texts, tmp_path):
    """``.d.tmp-keep/`` and ``.d.old-backup/`` beside ``d`` are not swelm's temporaries."""
    for name in (".d.tmp-keep", ".d.old-backup"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "keep.txt").write_text("mine")
    before = snapshot(tmp_path)
    assert main(encode_swe(texts, tmp_path / "d")) == 0
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("d/")} == before
    assert sorted(os.listdir(tmp_path / "d")) == ["manifest.json", "shard-00000.arrow"]


def test_the_model_commands_refuse_a_transformers_folder(capsys, tmp_path):
    """train, convert from-hf and convert add-ext never write into a transformers model; to-hf
    never into a saved tokenizer; train never deletes a user's ``.tmp_keep``."""
    hf = _user_folder(tmp_path, {"config.json": b'{"model_type": "gpt2", "n_embd": 8}',
                                 "model.safetensors": b"weights"})
    src = tmp_path / "src"
    src.mkdir()
    before = snapshot(tmp_path)
    for argv in (["train", "--data", str(src), "--out", hf],
                 ["convert", "from-hf", str(src), "--out", hf],
                 ["convert", "add-ext", str(src), "--out", hf]):
        refused(capsys, argv, "--out", hf, "config.json was not written by swelm")
    tok = tmp_path / "tok"
    tok.mkdir()
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (tok / name).write_text("{}")
    refused(capsys, ["convert", "to-hf", str(src), "--out", str(tok)], str(tok), "refusing")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"arch": "gpt2", "d_model": 8}))
    (run / ".tmp_keep").write_text("mine")
    refused(capsys, ["train", "--data", str(src), "--out", str(run)], ".tmp_keep")
    assert {k: v for k, v in snapshot(tmp_path).items()
            if k.split("/")[0] in ("d", "src")} == before
    assert (run / ".tmp_keep").read_text() == "mine" and len(os.listdir(tok)) == 3


def test_export_hf_writes_its_own_folder_and_refuses_a_users(capsys, tmp_path):
    mine = _user_folder(tmp_path, {"vocab.txt": "私の語彙\n".encode()})
    refused(capsys, ["export-hf", mine], mine, "not a transformers tokenizer export")
    assert (tmp_path / "d" / "vocab.txt").read_text() == "私の語彙\n"
    out = tmp_path / "hf"
    for _ in range(2):                                  # its own export is replaced
        assert main(["export-hf", str(out)]) == 0
    assert sorted(os.listdir(out)) == [".swelm-owner.json", "emoji.json", "vocab.txt"]


def test_build_corpus_and_pipeline_refuse_report_like_user_files(capsys, demo, tmp_path):
    """A user's stats.md and plots/logo.png (no stats.json), a user's sites.toml: refused."""
    d = _user_folder(tmp_path, {"stats.md": b"# my stats", "plots/logo.png": b"\x89PNG"})
    refused(capsys, ["build-corpus", "--warc", str(demo / "crawl" / "warc" / "*.warc.gz"),
                     "--sites", str(demo / "sites.toml"), "--out", d], "--out", d,
            "not a build-corpus output written by swelm")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "sites.toml").write_text("# my rules\n")
    refused(capsys, ["pipeline", "--demo", "--out", str(tmp_path / "p")], "not a swelm "
            "pipeline output written by swelm")
    assert (tmp_path / "p" / "sites.toml").read_text() == "# my rules\n"
    assert sorted(snapshot(tmp_path / "d")) == ["plots/logo.png", "stats.md"]


# -- one run per destination -----------------------------------------------------------------------
def test_a_destination_another_run_writes_is_refused(capsys, texts, tmp_path):
    """A second run into a destination that a live process holds is refused in one line; once
    that process ends (even by kill -9) the destination is free again."""
    dst = tmp_path / "shards"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from swelm.publish import lock_destination; "
         f"lock_destination({str(dst)!r}); print('held', flush=True); sys.stdin.read()"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        refused(capsys, encode_swe(texts, dst), "--dst_file", "another run is writing it")
        assert not dst.exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(encode_swe(texts, dst)) == 0
    assert sorted(os.listdir(tmp_path)) == ["shards", "texts"]       # no lock file left


def test_two_encode_swe_runs_at_once_never_traceback(tmp_path):
    """Two real encode_swe processes into one destination at once: each ends with 0 or the
    one-line refusal, and the destination is one complete shard set."""
    src = tmp_path / "texts"
    src.mkdir()
    for i in range(40):
        (src / f"{i:02d}.txt").write_text("吾輩は猫である。名前はまだ無い。\n" * 300, encoding="utf-8")
    dst = tmp_path / "out"
    argv = [sys.executable, "-m", "swelm", *encode_swe(src, dst)]
    procs = [subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert any(code == 0 for code, _ in results), results
    for code, err in results:
        assert "Traceback" not in err and code in (0, 2), err
        if code == 2:
            assert "another run is writing it" in err and len(err.strip().splitlines()) == 1
    from swelm.tokenizer.shards import read_manifest
    assert read_manifest(str(dst))["documents"] == 40
    assert sorted(os.listdir(tmp_path)) == ["out", "texts"]


def test_an_old_folder_is_renamed_back_only_when_it_is_the_kinds_output(tmp_path):
    """With the kind known, a sibling of the exact ``.NAME.old-XXXXXXXX`` form that is not that
    kind's output stays where it is (neither renamed to the destination nor removed)."""
    stranger = tmp_path / ".out.old-0123abcd"
    stranger.mkdir()
    (stranger / "photo.jpg").write_bytes(b"\xff\xd8")
    remove_stale_temporaries(str(tmp_path / "out"), KIND)
    assert sorted(os.listdir(tmp_path)) == [".out.old-0123abcd"]
    own = tmp_path / ".out.old-89abcdef"
    own.mkdir()
    (own / "done.json").write_text('{"kind": "test"}')
    remove_stale_temporaries(str(tmp_path / "out"), KIND)
    assert (tmp_path / "out" / "done.json").exists() and stranger.exists()


def test_a_crawl_killed_before_its_first_segment_is_continued(tmp_path):
    """A crawl claims its folder and makes ``log/`` and ``warc/`` before the first segment is
    written; killed then, its own empty folders must not make the rerun refuse it."""
    from swelm.pipelines.crawl import CRAWL
    from swelm.publish import claim_folder
    dst = tmp_path / "crawl"
    claim_folder(str(dst), CRAWL)
    (dst / "log").mkdir()
    (dst / "warc").mkdir()
    check_destination(str(dst), CRAWL)
    (dst / "photos").mkdir()                # an empty folder the kind has no files in: the user's
    with pytest.raises(DestinationError, match="photos/"):
        check_destination(str(dst), CRAWL)
    (dst / "photos").rmdir()
    (dst / "log" / "old").mkdir()           # nor deeper than the kind's files go
    with pytest.raises(DestinationError, match="log/old/"):
        check_destination(str(dst), CRAWL)
