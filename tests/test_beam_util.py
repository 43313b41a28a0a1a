"""Beam plumbing: the local runner's worker processes."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("workers", [1, 2])
def test_a_lasting_store_failure_ends_the_pipeline_with_one_line(workers):
    """A StorageError raised in a worker (a store that kept failing after every retry) ends
    the pipeline as PipelineStorageError with that error's message, in this process or from a
    worker process's traceback text."""
    import argparse
    import apache_beam as beam
    from swelm.pipelines.beam_util import PipelineStorageError, make_pipeline
    from swelm.pipelines.io import StorageError

    def fail(x):
        raise StorageError("s3://b/out/part-00000.parquet: upload failed after 10 attempts: "
                           "Could not connect")
    args = argparse.Namespace(runner=None, workers=workers, beam_args=[], verbose=False)
    with pytest.raises(PipelineStorageError) as e:
        with make_pipeline(args) as p:
            p | beam.Create([1]) | beam.Map(fail)
    assert str(e.value) == ("s3://b/out/part-00000.parquet: upload failed after 10 attempts: "
                            "Could not connect")


#: a sitecustomize that holds every local worker process but the first in its start-up for
#: LATE_WORKER_DELAY seconds (the state a worker is in when a pipeline fails early)
_LATE_WORKER = """
import os, time
try:
    _cmd = open('/proc/self/cmdline', 'rb').read()
except OSError:
    _cmd = b''
if b'sdk_worker_main' in _cmd and os.environ.get('LATE_WORKER_DIR'):
    try:
        os.close(os.open(os.path.join(os.environ['LATE_WORKER_DIR'], 'first'),
                         os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        time.sleep(float(os.environ['LATE_WORKER_DELAY']))
"""

_FAIL_AT_ONCE = """
import argparse, sys
import apache_beam as beam
from swelm.pipelines.beam_util import make_pipeline

def fail(x):
    raise ValueError("bad input")

args = argparse.Namespace(runner=None, workers=2, beam_args=[], verbose=False)
try:
    with make_pipeline(args) as p:
        p | beam.Create([1], reshuffle=False) | beam.Map(fail)
except Exception as e:
    print("pipeline failed:", "bad input" in str(e))
"""


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc (Linux)")
def test_a_worker_that_connects_after_the_pipeline_failed_does_not_hang_the_run(tmp_path):
    """Beam's in-process runner waits for ever for a worker process that connects after the
    pipeline failed (it is never told to stop): one bundle fails at once on the first worker
    while the second is held in its start-up for 3 s.  Without swelm's WorkerReaper this run
    never ends (measured: still waiting after 40 s); with it, it fails in a few seconds."""
    (tmp_path / "sitecustomize.py").write_text(_LATE_WORKER, encoding="utf-8")
    script = tmp_path / "fail.py"
    script.write_text(_FAIL_AT_ONCE, encoding="utf-8")
    env = dict(os.environ, LATE_WORKER_DIR=str(tmp_path), LATE_WORKER_DELAY="3",
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    try:
        r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                           text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("the run hung: a late worker was never ended")
    assert r.stdout.strip() == "pipeline failed: True", r.stderr[-2000:]
    assert (tmp_path / "first").exists()            # the first worker did start


def _small_warc(tmp_path) -> tuple[str, str]:
    """A WARC of a few Japanese pages (two of them the same) and its site rules."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter
    prose = ("吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめ"
             "した所でニャーニャー泣いていた事だけは記憶している。")
    warc = tmp_path / "pages.warc.gz"
    with open(warc, "wb") as f:
        w = WARCWriter(f, gzip=True)
        for i in range(8):
            body = f"<html><body><p>{prose}</p><p>第{i % 6}話。{prose}</p></body></html>"
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                    protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(f"http://example.jp/{i}", "response",
                                                payload=io.BytesIO(body.encode()),
                                                http_headers=http))
    sites = tmp_path / "sites.toml"
    sites.write_text('[[sites]]\nname = "s"\nseeds = ["http://example.jp/"]\ngenre = "novel"\n',
                     encoding="utf-8")
    return str(warc), str(sites)


def test_no_beam_method_comes_from_outside_apache_beam_after_a_build(tmp_path):
    """swelm replaces nothing in Beam: after a whole build-corpus run with local worker
    processes, every function of every loaded apache_beam module and class is Beam's own
    (its code lives under the apache_beam package)."""
    import inspect
    import types

    import apache_beam
    from swelm.cli import main
    warc, sites = _small_warc(tmp_path)
    assert main(["build-corpus", "--warc", warc, "--sites", sites, "--out",
                 str(tmp_path / "out"), "--workers", "2"]) == 0
    beam_dir = os.path.dirname(apache_beam.__file__) + os.sep
    outside = []

    def check(owner: str, name: str, value) -> None:
        fn = getattr(value, "__func__", value)
        code = getattr(fn, "__code__", None)
        if code is None or not isinstance(fn, types.FunctionType):
            return
        path = code.co_filename
        # Beam's own code, code Beam generates (namedtuples: "<string>"), and the standard
        # library's and other installed packages' functions Beam assigns are fine
        if os.path.isabs(path) and not path.startswith(beam_dir) and not any(
                path.startswith(p + os.sep) for p in (sys.prefix, sys.base_prefix)):
            outside.append(f"{owner}.{name}: {code.co_filename}")

    for mod_name, mod in list(sys.modules.items()):
        if not mod_name.startswith("apache_beam") or mod is None:
            continue
        for name, value in list(vars(mod).items()):
            check(mod_name, name, value)
            if inspect.isclass(value) and value.__module__ == mod_name:
                for attr, member in list(vars(value).items()):
                    check(f"{mod_name}.{name}", attr, member)
    assert not outside, outside[:10]
