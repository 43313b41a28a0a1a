"""Beam plumbing: the local runner's worker processes."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("fail", [False, True])
def test_local_worker_quick_exit_keeps_the_exit_status(tmp_path, fail):
    """The local runner's worker processes end right after a normal return; a failure still
    ends the process with its error status (the runner reports a failed worker)."""
    script = tmp_path / "sdk_worker_main.py"        # the name the hook looks for
    script.write_text(
        "import atexit, sys\n"
        "atexit.register(lambda: open(sys.argv[1], 'w').write('teardown ran'))\n"
        "import pipelines\n"
        f"if {fail}:\n    raise RuntimeError('harness failed')\n", encoding="utf-8")
    mark = tmp_path / "mark"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, SWELM_LOCAL_WORKER="1",
               PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, str(script), str(mark)], env=env, capture_output=True,
                       text=True)
    if fail:
        assert r.returncode == 1 and "harness failed" in r.stderr
        assert mark.exists()                        # the normal teardown ran
    else:
        assert r.returncode == 0 and not mark.exists()   # left before the teardown
    env.pop("SWELM_LOCAL_WORKER")
    r = subprocess.run([sys.executable, str(script), str(mark)], env=env)
    assert mark.exists()                            # not a local worker: no quick exit


@pytest.mark.parametrize("workers", [1, 2])
def test_a_lasting_store_failure_ends_the_pipeline_with_one_line(workers):
    """A StorageError raised in a worker (a store that kept failing after every retry) ends
    the pipeline as PipelineStorageError with that error's message, in this process or from a
    worker process's traceback text."""
    import argparse
    import apache_beam as beam
    from swelm.pipelines.beam_util import PipelineStorageError, make_pipeline
    from swelm.pipelines.fs import StorageError

    def fail(x):
        raise StorageError("s3://b/out/part-00000.parquet: upload failed after 10 attempts: "
                           "Could not connect")
    args = argparse.Namespace(runner=None, workers=workers, beam_args=[], verbose=False)
    with pytest.raises(PipelineStorageError) as e:
        with make_pipeline(args) as p:
            p | beam.Create([1]) | beam.Map(fail)
    assert str(e.value) == ("s3://b/out/part-00000.parquet: upload failed after 10 attempts: "
                            "Could not connect")


def test_a_connection_closed_before_its_worker_connected_ends_that_worker():
    """A pipeline that failed while a local worker process was still starting: the worker,
    connecting after its control connection was closed, is told to stop (Beam's runner left it
    waiting for instructions and waited for it to end, forever: a hang seen once in the suite
    with --workers 2)."""
    import threading
    from apache_beam.runners.portability.fn_api_runner import worker_handlers as wh
    from swelm.pipelines.beam_util import _end_late_workers
    _end_late_workers()
    conn = wh.ControlConnection()
    conn.close()                        # the pipeline ended before this worker connected
    conn.set_input(iter([]))            # ... which connects now
    got = []
    reader = threading.Thread(target=lambda: got.append(conn.get_req()), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert got == [wh.BeamFnControlServicer._DONE_MARKER]


def _chunk_bytes(monkeypatch, n: int) -> None:
    """Chunks of ``n`` bytes for this test (the size lives on the installed patch)."""
    from apache_beam.runners.portability.fn_api_runner import execution
    from pipelines import beam_util
    assert beam_util._chunked_shuffle_reads()
    monkeypatch.setattr(execution.GroupingBuffer.partition, "chunk_bytes", n)


def _grouping_buffer(groups: int, values: int, size: int):
    """A GroupingBuffer of the in-process runner holding ``groups`` keys of ``values`` byte
    values each (as the runner fills one from a stage's outputs)."""
    from apache_beam import coders
    from apache_beam.runners.portability.fn_api_runner import execution
    from apache_beam.transforms import core, window
    wv = coders.WindowedValueCoder
    pre = wv(coders.TupleCoder([coders.StrUtf8Coder(), coders.BytesCoder()]),
             coders.coders.GlobalWindowCoder())
    post = wv(coders.TupleCoder([coders.StrUtf8Coder(),
                                 coders.IterableCoder(coders.BytesCoder())]),
              coders.coders.GlobalWindowCoder())
    buf = execution.GroupingBuffer(pre, post, core.Windowing(window.GlobalWindows()))
    out = execution.create_OutputStream()
    for g in range(groups):
        for v in range(values):
            pre.get_impl().encode_to_stream(window.GlobalWindows.windowed_value(
                (f"key-{g}", bytes([v % 256]) * size)), out, True)
    buf.append(out.get())
    return buf, post


def test_shuffle_output_reaches_the_workers_in_chunks(monkeypatch):
    """The in-process runner hands a worker its share of a shuffle in chunks cut at element
    boundaries (the same bytes as Beam's one string per worker), sent as they fill, so a worker
    never holds its whole share at once."""
    from apache_beam.runners.portability.fn_api_runner import execution
    from pipelines import beam_util
    assert beam_util._chunked_shuffle_reads()                 # this Beam has what it needs
    _chunk_bytes(monkeypatch, 64 << 10)
    ours, post = _grouping_buffer(300, 20, 100)
    beams, _ = _grouping_buffer(300, 20, 100)
    chunks = ours.partition(2)
    whole = execution.GroupingBuffer.partition.original(beams, 2)
    assert [len(c) for c in whole] == [1, 1]                  # Beam: one string per worker
    assert all(len(c) >= 4 for c in chunks)
    assert [b"".join(c) for c in chunks] == [b"".join(w) for w in whole]
    for part in chunks:                                       # every chunk decodes on its own
        for chunk in part:
            stream = execution.create_InputStream(chunk)
            while stream.size() > 0:
                key, values = post.get_impl().decode_from_stream(stream, True).value
                assert key.startswith("key-") and len(list(values)) == 20
    assert all(len(c) == 1 for c in _grouping_buffer(0, 0, 0)[0].partition(3))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_pipeline_with_chunked_shuffles_gives_beams_result(tmp_path, monkeypatch, workers):
    """A shuffle much larger than a chunk, through two local worker processes, and through the
    in-process worker of --workers 1 (which runs a bundle inside the request that starts it:
    input sent while the bundle ran was lost there, silently)."""
    import argparse

    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to
    from pipelines import beam_util
    _chunk_bytes(monkeypatch, 4 << 10)
    args = argparse.Namespace(runner=None, workers=workers, beam_args=[], verbose=False)
    n = 40000
    with beam_util.make_pipeline(args) as p:
        sums = (p | beam.Create(range(n)) | beam.Map(lambda i: (i % 97, b"x" * (i % 50)))
                | beam.GroupByKey() | beam.Map(lambda kv: (kv[0], sum(map(len, kv[1])))))
        assert_that(sums, equal_to([(k, sum(i % 50 for i in range(n) if i % 97 == k))
                                    for k in range(97)]))


@pytest.mark.timeout(240)
def test_a_shuffle_larger_than_the_data_channel_queues_does_not_stall(monkeypatch):
    """The runner's queues toward a worker hold one message each (a worker takes 5 more): a
    worker's share of a shuffle of many more messages than that still flows, because it is
    sent while the bundle runs (sent before the bundle starts, it would wait for ever)."""
    import argparse

    import apache_beam as beam
    from apache_beam.runners.worker import data_plane
    from apache_beam.testing.util import assert_that, equal_to
    from pipelines import beam_util
    _chunk_bytes(monkeypatch, 64 << 10)
    monkeypatch.setattr(data_plane, "_DEFAULT_SEND_QUEUE_MAX_ELEMENTS", 1)
    monkeypatch.setattr(data_plane, "_DEFAULT_SEND_QUEUE_MAX_BYTES", 1)
    args = argparse.Namespace(runner=None, workers=2, beam_args=[], verbose=False)
    # 20 MB per worker in about 300 messages: more than the queues and gRPC's buffers hold
    # (sent before the bundle starts, measured: no progress in 2 minutes)
    with beam_util.make_pipeline(args) as p:
        sums = (p | beam.Create(range(400)) | beam.FlatMap(lambda i: [(i, b"y" * 1000)] * 100)
                | beam.GroupByKey() | beam.Map(lambda kv: (kv[0] % 7, len(list(kv[1]))))
                | beam.CombinePerKey(sum))
        assert_that(sums, equal_to([(k, 100 * sum(1 for i in range(400) if i % 7 == k))
                                    for k in range(7)]))
