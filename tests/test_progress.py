"""Progress of long commands: a status line redrawn on a terminal, one summary line per stage
in a log (no carriage returns), nothing with SWELM_PROGRESS=0."""
from __future__ import annotations

import io
import json
import time

import pytest

from swelm.cli import main
from swelm.pipelines import progress
from swelm.pipelines.io import FileSystem


def _stages(folder):
    def count(path):
        return json.loads(open(path).read())
    return [progress.Stage("read", str(folder / "p-*.json"), 3, count,
                           lambda s: f"reading {s['files']}/{s['total']}, {s.get('docs', 0)} docs",
                           lambda s: f"read {progress.plural(s.get('docs', 0), 'document')}"),
            progress.Stage("write", str(folder / "out-*"), 1, lambda p: {},
                           lambda s: "writing", lambda s: f"wrote {s['total']}")]


def _run(folder, mode, monkeypatch):
    """Publish the stages' files one by one; on a terminal, each is waited for in the status
    line before the next comes (no timing: a slow poll only makes the test wait)."""
    monkeypatch.setenv("SWELM_PROGRESS", mode)
    stream = io.StringIO()

    def shown(text):
        deadline = time.monotonic() + 60
        while mode == "1" and text not in stream.getvalue():
            assert time.monotonic() < deadline, stream.getvalue()
            time.sleep(0.02)
    with progress.Progress("cmd", FileSystem(), _stages(folder), stream=stream, interval=0.05):
        docs = 0
        for i in range(3):
            docs += i + 1
            (folder / f"p-{i}.json").write_text(json.dumps({"docs": i + 1}))
            shown(f"reading {i + 1}/3, {docs} docs" if i < 2 else "writing")
        (folder / "out-0").write_text("")
    return stream.getvalue()


def test_a_terminal_gets_a_status_line_then_the_summaries(tmp_path, monkeypatch):
    out = _run(tmp_path, "1", monkeypatch)
    assert "\rcmd: reading 1/3, 1 docs" in out and "\rcmd: reading 2/3, 3 docs" in out
    assert out.endswith("cmd: read 6 documents\ncmd: wrote 1\n"), out


def test_a_log_gets_one_line_per_stage_and_no_carriage_return(tmp_path, monkeypatch):
    out = _run(tmp_path, "", monkeypatch)          # not a terminal (a StringIO, pytest's stderr)
    assert out == "cmd: read 6 documents\ncmd: wrote 1\n"


def test_progress_off(tmp_path, monkeypatch):
    assert _run(tmp_path, "0", monkeypatch) == ""


def test_a_failed_run_prints_no_summary(tmp_path, monkeypatch):
    monkeypatch.setenv("SWELM_PROGRESS", "")
    stream = io.StringIO()
    with pytest.raises(RuntimeError):
        with progress.Progress("cmd", FileSystem(), _stages(tmp_path), stream=stream,
                               interval=0.05):
            raise RuntimeError("stage failed")
    assert stream.getvalue() == ""


def test_build_corpus_and_encode_say_what_each_stage_did(tmp_path, capsys, monkeypatch):
    """In a log: build-corpus's three stages and encode's two, one line each, no \\r."""
    monkeypatch.delenv("SWELM_PROGRESS", raising=False)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"text": f"{i}番目の文書です。" * 30}, ensure_ascii=False)
                            + "\n" for i in range(5)), encoding="utf-8")
    assert main(["build-corpus", "--input", str(data), "--site", "s", "--out",
                 str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("build-corpus: ")]
    assert [line.split(" ")[1] for line in lines] == ["read", "cleaned", "deduplicated"], err
    assert lines[0].startswith("build-corpus: read 5 documents from 1 piece (")
    assert main(["encode", "--corpus", str(data), "--out", str(tmp_path / "s"),
                 "--shards", "1"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and err.startswith(
        "encode: read 5 documents from 1 piece (0.0 MB) in ") and "encode: wrote 1 shard (" in err
    assert not (tmp_path / "s" / "progress").exists()
