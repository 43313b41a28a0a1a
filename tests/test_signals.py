"""Signals, full disks: Ctrl-C (SIGINT to the terminal's process group) and SIGTERM end the
whole process tree with one line (exit 130 / 143) and leave the destination as it was; a full
disk is one line, not a traceback.  Real processes, real signals, a real small tmpfs."""
from __future__ import annotations

import glob
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT

BASE = ("吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした"
        "所でニャーニャー泣いていた事だけは記憶している。")


def _default_signals():
    """The command starts as from a terminal: Ctrl-C, SIGTERM and SIGHUP at their defaults,
    whatever an earlier test left in this test process (an ignored signal is inherited)."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)


def start(*argv):
    return subprocess.Popen([sys.executable, "-m", "swelm", *map(str, argv)], cwd=ROOT,
                            env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_default_signals)


def group(pid: int) -> list[str]:
    """The processes of the process group ``pid`` leads (the command and its workers)."""
    out = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True).stdout
    return out.split()


def wait_for(condition, proc, what: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            pytest.fail(f"the command ended before {what}: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"never saw {what}")


def ended_in_one_line(proc, code: int, word: str) -> None:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, (proc.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(f": {word}"), err
    deadline = time.time() + 10
    while group(proc.pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not group(proc.pid), "worker processes were left running"


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    src = tmp_path_factory.mktemp("texts")
    text = BASE * 300
    for i in range(6000):
        (src / f"{i:05d}.txt").write_text(text, encoding="utf-8")
    return src


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_encode_swe_ends_its_workers_on_a_signal(texts, tmp_path, sig):
    """SIGTERM to the parent alone, or Ctrl-C to the whole group: the workers end too, the
    exit is 143 / 130 with one line, nothing is published and no temporary is left."""
    dst = tmp_path / "out"
    proc = start("encode-swe", "--src_dir", texts, "--dst_file", dst, "--num_process", "2",
                 "--quiet")
    wait_for(lambda: len(group(proc.pid)) >= 3, proc, "its two workers")
    time.sleep(0.3)
    if sig == "SIGTERM":
        os.kill(proc.pid, signal.SIGTERM)
        ended_in_one_line(proc, 143, "terminated")
    else:
        os.killpg(proc.pid, signal.SIGINT)
        ended_in_one_line(proc, 130, "interrupted")
    assert os.listdir(tmp_path) == []


def test_encode_swe_ends_on_a_hangup(texts, tmp_path):
    """SIGHUP (the terminal closed) ends the command like SIGTERM: one line, exit 129, the
    workers end too."""
    proc = start("encode-swe", "--src_dir", texts, "--dst_file", tmp_path / "out",
                 "--num_process", "2", "--quiet")
    wait_for(lambda: len(group(proc.pid)) >= 3, proc, "its two workers")
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGHUP)
    ended_in_one_line(proc, 129, "hung up")
    assert os.listdir(tmp_path) == []


def test_workers_never_outlive_a_killed_encode_swe(texts, tmp_path):
    """kill -9 of the parent: its workers end with it (they are told by the system) and keep
    no lock, so the next run into the same destination starts at once and completes."""
    dst = tmp_path / "out"
    proc = start("encode-swe", "--src_dir", texts, "--dst_file", dst, "--num_process", "2",
                 "--quiet")
    wait_for(lambda: len(group(proc.pid)) >= 3, proc, "its two workers")
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    deadline = time.time() + 10
    while group(proc.pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not group(proc.pid), "the workers outlived their killed parent"
    again = subprocess.run([sys.executable, "-m", "swelm", "encode-swe", "--src_dir",
                            str(texts), "--dst_file", str(dst), "--num_process", "2", "--quiet"],
                           cwd=ROOT, env=dict(os.environ),
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert (dst / "manifest.json").exists()


@pytest.fixture(scope="module")
def warcs(tmp_path_factory):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter
    root = tmp_path_factory.mktemp("warcs")
    rnd = random.Random(0)
    for k in range(4):
        with open(root / f"w{k}.warc.gz", "wb") as f:
            w = WARCWriter(f, gzip=True)
            for i in range(3000):
                text = "".join(rnd.choice(BASE) for _ in range(600)) + "。"
                http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                        protocol="HTTP/1.1")
                w.write_record(w.create_warc_record(
                    f"http://listed.jp/{k}/{i}", "response", http_headers=http,
                    payload=io.BytesIO(f"<html><body><p>{text}</p></body></html>".encode())))
    (root / "sites.toml").write_text('[[sites]]\nname = "listed"\nseeds = ["http://listed.jp/"]'
                                     '\ngenre = "novel"\n', encoding="utf-8")
    return root


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_during_build_corpus_is_one_line(warcs, tmp_path, workers):
    """Ctrl-C reaches the command and Beam's worker processes alike: one line, exit 130, no
    worker tracebacks, no process left, the previous output as it was."""
    out = tmp_path / "build"
    out.mkdir()
    args = ["build-corpus", "--warc", warcs / "*.warc.gz", "--sites", warcs / "sites.toml",
            "--out", out, "--workers", workers]
    proc = start(*args)
    # interrupted while its pages are being staged (the first staging file is written), not
    # at a fixed delay: a build this small can be done in a second or two
    wait_for(lambda: glob.glob(str(tmp_path / ".build.tmp-*" / "**" / "staging" / "*.parquet"),
                               recursive=True), proc, "the new build staging its pages")
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    ended_in_one_line(proc, 130, "interrupted")
    assert sorted(os.listdir(tmp_path)) == ["build"] and os.listdir(out) == []


def test_a_full_disk_is_one_line(texts, tmp_path):
    """encode_swe onto a 2 MB tmpfs (mounted in a private mount namespace): one line, exit 2,
    nothing left on the disk."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.decode().strip()}")
    full = tmp_path / "full"
    full.mkdir()
    script = (f"mount -t tmpfs -o size=2m tmpfs {full} && {sys.executable} -m swelm encode-swe "
              f"--src_dir {texts} --dst_file {full}/out --num_process 1 --quiet; "
              f"code=$?; ls -A {full}; exit $code")
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=ROOT, capture_output=True,
                       text=True, env=dict(os.environ))
    assert r.returncode == 2 and r.stdout == "", (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left on the device" in lines[0], r.stderr


def test_two_crawls_into_one_output(tmp_path):
    """A second crawl into the output a running crawl writes is refused in one line; the
    first goes on undisturbed, and Ctrl-C then ends it in one line too."""
    from httpkit import ScriptedHandler, start as serve, stop

    class Slow(ScriptedHandler):
        def do_GET(self):
            if self.path == "/robots.txt":
                self.send(404, b"")
                return
            time.sleep(0.3)
            n = int(self.path.strip("/") or 0)
            self.send(200, f'<p>ページ {n}</p><a href="/{n + 1}">次</a>'.encode())

    httpd, base = serve(Slow)
    try:
        rules = tmp_path / "sites.toml"
        rules.write_text(f'[[sites]]\nname = "slow"\nseeds = ["{base}/"]\ngenre = "blog"\n'
                         'politeness = { requests_per_second = 100, max_pages = 1000 }\n')
        out = tmp_path / "crawl"
        first = start("crawl", "--sites", rules, "--out", out)
        wait_for(lambda: (tmp_path / ".crawl.swelm-lock").exists(), first, "its lock")
        second = subprocess.run([sys.executable, "-m", "swelm", "crawl", "--sites", rules,
                                 "--out", out], cwd=ROOT, capture_output=True, text=True,
                                env=dict(os.environ))
        lines = second.stderr.strip().splitlines()
        assert second.returncode == 2 and len(lines) == 1, second.stderr
        assert "another run is writing it" in lines[0]
        assert first.poll() is None
        os.killpg(first.pid, signal.SIGINT)
        ended_in_one_line(first, 130, "interrupted")
    finally:
        stop(httpd)


@pytest.mark.parametrize("ending", ["normal", "bug", "store"])
def test_worker_output_reaches_the_console_unless_the_error_is_one_line(ending):
    """Local worker processes write to the command's stderr: their INFO/WARNING log lines are
    dropped; the rest (tracebacks) is shown when the run ends normally or by a bug, and held
    back when the run ends in an error the command reports in one line (a store that kept
    failing)."""
    code = f"""
import subprocess, sys
from swelm.pipelines.beam_util import filtered_worker_logs
from swelm.pipelines.io import StorageError
try:
    with filtered_worker_logs():
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write("
                        "'INFO:worker:noise\\\\nTraceback (worker)\\\\n')"])
        if {ending!r} == "bug":
            raise ValueError("a bug")
        if {ending!r} == "store":
            raise StorageError("s3://b/x: the store kept failing")
except Exception as e:
    print("raised", type(e).__name__)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ), timeout=120)
    assert "noise" not in r.stderr
    assert ("Traceback (worker)" in r.stderr) == (ending != "store"), r.stderr


def test_nohup_keeps_a_hangup_ignored(texts, tmp_path):
    """Started under ``nohup`` (SIGHUP ignored), the command goes on after a hangup and
    completes."""
    dst = tmp_path / "out"
    proc = subprocess.Popen(["nohup", sys.executable, "-m", "swelm", "encode-swe", "--src_dir",
                             str(texts), "--dst_file", str(dst), "--num_process", "2",
                             "--quiet"], cwd=tmp_path, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    wait_for(lambda: len(group(proc.pid)) >= 3, proc, "its two workers")
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGHUP)          # the parent and its workers, as a hangup
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert (dst / "manifest.json").exists()


def test_nothing_is_published_once_a_signal_came(tmp_path):
    """The interrupt can be raised where Python drops it (a weakref callback): the command goes
    on, but what it then publishes (a file, an output folder) stays unpublished."""
    from swelm import procs, publish
    (tmp_path / "old").mkdir()
    procs.SIGNALLED.append(signal.SIGINT)
    try:
        with pytest.raises(KeyboardInterrupt):
            publish.write_text(str(tmp_path / "a.txt"), "x")
        kind = publish.Kind("test output", ("DONE",), "DONE", lambda b: True)
        with pytest.raises(KeyboardInterrupt):
            with publish.atomic_path(str(tmp_path / "new"), kind) as tmp:
                os.makedirs(tmp)
                open(os.path.join(tmp, "DONE"), "w").close()
    finally:
        procs.SIGNALLED.clear()
    assert sorted(os.listdir(tmp_path)) == ["old"]
    publish.write_text(str(tmp_path / "a.txt"), "x")       # and again once it is over
    assert (tmp_path / "a.txt").read_text() == "x"
