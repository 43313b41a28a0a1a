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
