"""Beam plumbing shared by the pipelines: runner choice, deterministic sharded writes."""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import threading

from swelm.checks import integer_arg
from swelm.errors import SwelmError, UsageError

# the default logging format of Beam's worker processes: "INFO:apache_beam.runners...:text"
_WORKER_NOISE = re.compile(rb"^(?:DEBUG|INFO|WARNING):[\w.]*:")


#: the most of the workers' own output kept for the console (its tail)
_KEEP = 1 << 20


@contextlib.contextmanager
def filtered_worker_logs():
    """While the block runs, what local worker processes write to stderr (they inherit this
    process's stderr and configure their own logging) is held back: lines they log below ERROR
    in Python's default format are dropped, the rest (their tracebacks) is written out when
    the block ends, unless the block ends in an error the command reports in one line (a store
    that kept failing: the workers' tracebacks of it are that line's detail) or a signal
    came."""
    import select
    import signal
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    # Ctrl-C reaches the workers too (one process group), and each prints its interrupted
    # threads' tracebacks; the command itself reports the interrupt in one line.  The signal's
    # byte on the wakeup pipe (written the moment the signal comes, before any worker has
    # printed) switches the pump to dropping everything the workers write from then on.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    try:
        old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    except ValueError:                  # not the main thread: no wakeup fd
        old_wakeup = None
    kept: list[bytes] = []
    state = {"size": 0, "signalled": False}

    def keep(data: bytes) -> None:
        kept.append(data)
        state["size"] += len(data)
        while state["size"] > _KEEP and len(kept) > 1:
            state["size"] -= len(kept.pop(0))

    def pump():
        buf = b""
        with os.fdopen(read_end, "rb", buffering=0) as src:
            while True:
                ready = select.select([read_end, wake_r], [], [])[0]
                if wake_r in ready:
                    os.read(wake_r, 64)
                    state["signalled"] = True
                if read_end not in ready:
                    continue
                chunk = src.read(65536)
                if not chunk:
                    break
                if state["signalled"]:
                    continue
                parts = re.split(rb"([\r\n])", buf + chunk)
                buf = parts.pop()
                out = b"".join(text + sep for text, sep in zip(parts[::2], parts[1::2])
                               if not _WORKER_NOISE.match(text))
                if out:
                    keep(out)
        if buf and not state["signalled"] and not _WORKER_NOISE.match(buf):
            keep(buf)

    thread = threading.Thread(target=pump, name="worker-logs", daemon=True)
    thread.start()
    reported = False
    try:
        yield
    except BaseException as e:
        reported = isinstance(e, KeyboardInterrupt) or storage_problem(e) is not None
        raise
    finally:
        sys.stderr.flush()
        if old_wakeup is not None:
            signal.set_wakeup_fd(old_wakeup)
        os.dup2(saved, 2)          # our end of the pipe closes; the pump sees its end
        thread.join(timeout=10)
        if not reported and not state["signalled"]:
            for data in list(kept):
                os.write(2, data)
        if not thread.is_alive():       # (else a worker still holds the pipe: leave it be)
            os.close(saved)
            os.close(wake_r)
            os.close(wake_w)


def add_beam_flags(p) -> None:
    p.add_argument("--workers", type=integer_arg(minimum=1), default=1,
                   help="local worker processes for the in-process runner (default 1)")
    p.add_argument("--runner", default=None,
                   help="a Beam runner (DataflowRunner, FlinkRunner, SparkRunner, …); default: "
                        "Beam's in-process FnApiRunner, which downloads nothing")


class PipelineStorageError(SwelmError):
    """The pipeline failed because the store kept failing an operation (fs.StorageError in a
    worker); the message is that error's one line."""


_STORAGE = re.compile(r"StorageError: (.+?)(?: \[while running [^\]]*\])*$", re.M)


def storage_problem(exc: BaseException) -> str | None:
    """The message of a StorageError that ended a pipeline, if one did: raised in this process
    (the exception or its cause) or reported in a worker's traceback text."""
    from .fs import StorageError
    seen = exc
    while seen is not None:
        if isinstance(seen, StorageError):
            return re.sub(r" \[while running [^\]]*\]", "", str(seen))
        seen = seen.__cause__ or seen.__context__
    found = _STORAGE.findall(str(exc))
    return found[-1].strip() if found else None


#: with this environment variable naming a file, every shuffle made by :func:`shuffle` counts
#: the bytes it carries (a Beam counter per shuffle) and the run writes them there as JSON
SHUFFLE_METRICS_ENV = "SWELM_SHUFFLE_METRICS"
SHUFFLE_NAMESPACE = "swelm.shuffle"


def shuffle(name: str):
    """A ``GroupByKey`` named ``name``; with :data:`SHUFFLE_METRICS_ENV` set (the benchmarks
    set it) the elements are measured on their way in first: their pickled size, added to the
    Beam counter ``swelm.shuffle/NAME`` (bytes) and ``NAME:elements``."""
    import apache_beam as beam
    if not os.environ.get(SHUFFLE_METRICS_ENV):
        return beam.GroupByKey()

    class Metered(beam.PTransform):
        def expand(self, pcoll):
            return (pcoll | "Measure" >> beam.Map(_measure, name)
                    | "GroupByKey" >> beam.GroupByKey())
    return Metered()


def _measure(element, name: str):
    import pickle

    from apache_beam.metrics import Metrics
    Metrics.counter(SHUFFLE_NAMESPACE, name).inc(len(pickle.dumps(element, protocol=5)))
    Metrics.counter(SHUFFLE_NAMESPACE, name + ":elements").inc()
    return element


def _write_shuffle_metrics(result, path: str) -> None:
    """The shuffle counters of a finished run, ``{name: {"bytes": n, "elements": n}}``."""
    from apache_beam.metrics.metric import MetricsFilter

    from . import fs
    result.wait_until_finish()
    out: dict = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(SHUFFLE_NAMESPACE))[
            "counters"]:
        name = c.key.metric.name
        base, _, what = name.partition(":")
        out.setdefault(base, {"bytes": 0, "elements": 0})[what or "bytes"] += c.committed or 0
    fs.write_json(path, out)


def _pipeline_class(quiet_workers: bool):
    import apache_beam as beam

    class Pipeline(beam.Pipeline):
        """A Beam pipeline whose failure by a store error is one clear line
        (PipelineStorageError); with ``quiet_workers``, local worker processes' INFO and
        WARNING lines stay off the console."""

        def run(self, *a, **kw):
            try:
                with filtered_worker_logs() if quiet_workers else contextlib.nullcontext():
                    result = super().run(*a, **kw)
                    metrics = os.environ.get(SHUFFLE_METRICS_ENV)
                    if metrics:
                        _write_shuffle_metrics(result, metrics)
                    return result
            except Exception as e:
                problem = storage_problem(e)
                if problem is None:
                    raise
                raise PipelineStorageError(problem) from e

    return Pipeline


def _end_late_workers() -> None:
    """Make the in-process runner end a worker that connects after the pipeline was closed.

    Beam's ``ControlConnection.close`` sends its end-of-stream only to a worker that has
    already connected.  When a pipeline fails within its first second (a bad input found by the
    first bundle), a worker process still starting up connects afterwards, waits for
    instructions that never come, and the runner waits for that process to end: the command
    hangs at 0% CPU.  Here a connection closed before its worker connected keeps the
    end-of-stream queued, so a late worker is told to stop as soon as it connects.  (Applied
    once, to the runner of this process; the end-of-stream is what a connected worker gets.)"""
    from apache_beam.runners.portability.fn_api_runner import worker_handlers as wh
    conn = wh.ControlConnection
    if getattr(conn.close, "_swelm_late_workers", False):
        return
    original = conn.close

    def close(self):
        with conn._lock:
            if self._state == wh.BeamFnControlServicer.UNSTARTED_STATE:
                self._push_queue.put(wh.BeamFnControlServicer._DONE_MARKER)
        original(self)      # (a second end-of-stream, if the worker connected meanwhile, is unread)

    close._swelm_late_workers = True
    conn.close = close


#: Bytes of a shuffle's output per message from the in-process runner to a worker.
SHUFFLE_CHUNK_BYTES = 8 << 20


def _chunked_shuffle_reads() -> bool:
    """Make the in-process runner hand a shuffle's output to its workers in messages of about
    :data:`SHUFFLE_CHUNK_BYTES` (cut at element boundaries) while the bundle runs; True when
    applied.

    Beam's FnApiRunner encodes a worker's whole share of a GroupByKey's output as one byte
    string and sends it as one message, so a worker held its whole share of every shuffle at
    once and its memory grew with the input (measured with a plain GroupByKey and no swelm
    code: 281, 437, 689 MB for 0.2, 0.8, 1.6 million elements), and any stage's input went
    as one message when its stream closed.  Here the same bytes, in the same order, are cut
    at element boundaries and sent one message after the other by a thread while the bundle
    runs (Beam sends a bundle's input before starting it, which with bounded queues would wait
    for ever), so a worker holds a few messages; the driver still holds the whole shuffle,
    as the in-process runner always does.  The in-process worker of ``--workers 1`` runs a
    bundle inside the request that starts it, so its input is written before, as Beam does.
    Cluster runners stream shuffle reads themselves.  Only the global window (what the
    pipelines use) is chunked; anything else, or a Beam whose buffer lacks the fields this
    relies on, keeps Beam's own behaviour."""
    import threading

    from apache_beam.runners.portability.fn_api_runner import execution
    from apache_beam.runners.portability.fn_api_runner import fn_runner as manager
    from apache_beam.runners.worker import data_plane
    from apache_beam.transforms.window import GlobalWindow, GlobalWindows
    from apache_beam.utils import windowed_value
    buffer = execution.GroupingBuffer
    if getattr(buffer.partition, "_swelm_chunked", False):
        return True
    probe = buffer.__init__.__code__.co_names
    sender = getattr(getattr(manager, "BundleManager", None), "_send_input_to_worker", None)
    if sender is None or "output_stream" not in sender.__code__.co_names or not all(
            n in probe for n in ("_table", "_grouped_output", "_post_grouped_coder",
                                 "_key_coder", "_windowing")):
        return False
    original = buffer.partition

    def partition(self, n: int):
        if self._grouped_output or not self._windowing.is_default():
            return original(self, n)
        wrap = GlobalWindows.windowed_value(
            None, timestamp=GlobalWindow().max_timestamp(),
            pane_info=windowed_value.PaneInfo(
                is_first=True, is_last=True, timing=windowed_value.PaneInfoTiming.ON_TIME,
                index=0, nonspeculative_index=0)).with_value
        coder = self._post_grouped_coder.get_impl()
        key_coder = self._key_coder.get_impl()
        parts: list = [[] for _ in range(n)]
        streams = [execution.create_OutputStream() for _ in range(n)]
        for idx, (encoded_key, values) in enumerate(self._table.items()):
            out = streams[idx % n]
            coder.encode_to_stream(wrap((key_coder.decode(encoded_key), values)), out, True)
            if out.size() >= partition.chunk_bytes:
                parts[idx % n].append(out.get())
                streams[idx % n] = execution.create_OutputStream()
        for ix, out in enumerate(streams):
            if out.size() or not parts[ix]:
                parts[ix].append(out.get())
        self._grouped_output = parts
        self._table.clear()
        return parts

    def send(self, process_bundle_id, read_transform_id, byte_streams) -> None:
        # each chunk ends on an element boundary and is sent as one message, by a thread of
        # its own: Beam sends a bundle's input before it starts the bundle and reads
        # its output, so a worker's share larger than the data channel's queues would wait for
        # ever on a worker that cannot start (Beam's own split path streams input the same way)
        out = self._worker_handler.data_conn.output_stream(process_bundle_id,
                                                           read_transform_id)
        if isinstance(self._worker_handler.data_conn, data_plane.InMemoryDataChannel):
            # the in-process worker (--workers 1) runs the bundle inside the request that
            # starts it and reads only what its channel holds by then: its input is written
            # first, as Beam does (that channel is unbounded, so this cannot wait)
            for chunk in byte_streams or []:
                out.write(chunk)
            out.close()
            return
        failed: list = []

        def write():
            try:
                for chunk in byte_streams or []:
                    out.write(chunk)
                    out.flush()
                out.close()
            except BaseException as e:      # the bundle fails instead of hanging or losing data
                failed.append(e)

        thread = threading.Thread(target=write, name="swelm-send-input", daemon=True)
        thread.start()
        self.__dict__.setdefault("_swelm_senders", []).append((thread, failed))

    def process_bundle(self, *a, **kw):
        try:
            result = run_bundle(self, *a, **kw)
        except BaseException:
            self.__dict__.pop("_swelm_senders", None)   # a failed bundle's input is dropped
            raise
        for thread, failed in self.__dict__.pop("_swelm_senders", []):
            thread.join()
            if failed:
                raise RuntimeError(f"sending a bundle's input failed: {failed[0]}")
        return result

    run_bundle = manager.BundleManager.process_bundle
    # the chunk size lives on the installed function: the module may be imported under two
    # names (swelm.pipelines, and pipelines from a checkout), the patch is installed once
    partition._swelm_chunked, partition.original = True, original
    partition.chunk_bytes = SHUFFLE_CHUNK_BYTES
    buffer.partition = partition
    manager.BundleManager._send_input_to_worker = send
    manager.BundleManager.process_bundle = process_bundle
    return True


def make_pipeline(args):
    """A ``beam.Pipeline`` for ``args.runner`` or the in-process runner with ``--workers``;
    ``args.beam_args`` are further Beam pipeline options.  Without ``args.verbose`` the local
    worker processes' INFO and WARNING lines stay off the console."""
    from apache_beam.options.pipeline_options import PipelineOptions
    beam_args = list(getattr(args, "beam_args", None) or [])
    if args.runner:
        return _pipeline_class(False)(options=PipelineOptions(["--runner", args.runner,
                                                               *beam_args]))
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    _end_late_workers()
    _chunked_shuffle_reads()
    flags = list(beam_args)
    if any(f.startswith("--environment_type") for f in flags):
        # workers of a portable environment, e.g. a worker pool (--environment_type=EXTERNAL
        # --environment_config=HOST:PORT): the protocol Dataflow and Flink use
        from apache_beam.options.pipeline_options import PortableOptions
        from apache_beam.transforms.environments import Environment
        options = PipelineOptions(flags)
        env = Environment.from_options(options.view_as(PortableOptions))
        return _pipeline_class(False)(runner=FnApiRunner(default_environment=env),
                                      options=options)
    if args.workers <= 1:
        return _pipeline_class(False)(runner=FnApiRunner(), options=PipelineOptions(flags))
    most = 4 * (os.cpu_count() or 1)
    if args.workers > most:
        raise UsageError(f"--workers {args.workers}: local worker processes (about 200 MB "
                         f"each; one per CPU keeps them busy): at most {most} here "
                         f"({os.cpu_count() or 1} CPUs); a cluster runner (--runner) scales "
                         "further")
    from . import LOCAL_WORKER_ENV
    flags += [f"--direct_num_workers={args.workers}", "--direct_running_mode=multi_processing"]
    os.environ[LOCAL_WORKER_ENV] = "1"      # inherited by the worker processes
    quiet = not getattr(args, "verbose", False)
    return _pipeline_class(quiet)(runner=FnApiRunner(), options=PipelineOptions(flags))


def pack(doc: dict) -> bytes:
    """A document as one opaque byte string for a shuffle: the in-process runner's driver then
    copies bytes instead of decoding and re-encoding every field of every document."""
    import pickle
    import zlib
    return zlib.compress(pickle.dumps(doc, protocol=5), 1)


def unpack(blob: bytes) -> dict:
    import pickle
    import zlib
    return pickle.loads(zlib.decompress(blob))


def stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def shard_of(key: str, shards: int) -> int:
    return stable_hash(key) % shards


def write_json_lines(pcoll, path: str, fs_options, label: str = "WriteResults"):
    """The elements of a small PCollection (JSON-serialisable) as one JSON-lines file at
    ``path`` (any filesystem), for the driver to read back with :func:`take_json_lines`.
    Written by our own DoFn, which carries the filesystem options to the workers (Beam's own
    sinks do not get them in worker processes started by a worker pool or the local runner)."""
    import json
    import apache_beam as beam
    from . import fs

    def write(rows):
        if not rows:        # no file: an empty object cannot be written to every store
            return path
        fs.configure(fs_options)
        fs.write_text(path, "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n"
                                    for r in sorted(rows, key=json.dumps)))
        return path
    fs.delete([path])       # what a killed run left
    return (pcoll | f"{label}/Gather" >> beam.combiners.ToList()
            | f"{label}/Write" >> beam.Map(write))


def take_json_lines(path: str) -> list:
    """Read the JSON lines :func:`write_json_lines` wrote (any filesystem; none were written
    for no rows), then remove the file."""
    import json
    from . import fs
    try:
        text = fs.read_text(path)
    except FileNotFoundError:
        return []
    rows = [json.loads(line) for line in text.splitlines() if line]
    fs.delete([path])
    return rows
