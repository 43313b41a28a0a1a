"""Beam plumbing shared by the pipelines: runner choice, deterministic sharded writes."""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import threading

import dataclasses

from swelm.checks import integer_arg
from swelm.errors import SwelmError, UsageError, first_line
from swelm.options import Options, flag

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


@dataclasses.dataclass(kw_only=True)
class BeamOptions(Options):
    """Where a pipeline runs: the flags every pipeline command has, its unknown flags (Beam
    pipeline options, ``beam_args``) and ``--verbose``."""
    workers: int = flag(1, type=integer_arg(minimum=1),
                        help="local worker processes for the in-process runner (default 1)")
    runner: str | None = flag(None, help="a Beam runner (DataflowRunner, FlinkRunner, "
                                         "SparkRunner, …); default: Beam's in-process "
                                         "FnApiRunner, which downloads nothing")
    beam_args: list = dataclasses.field(default_factory=list)
    verbose: bool = False           # (a flag of every command: swelm.cli)

    def beam(self) -> dict:
        """These fields, for building another command's options."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(BeamOptions)}

    def check_runner(self) -> None:
        """Refuse, before anything is written, a ``--runner`` Beam does not know (or cannot
        load here)."""
        if not self.runner:
            return
        from apache_beam.runners.runner import create_runner
        try:
            create_runner(self.runner)
        except (ValueError, ImportError) as e:
            first = first_line(e)
            raise UsageError(f"--runner {self.runner}: {first}") from None


class PipelineStorageError(SwelmError):
    """The pipeline failed because the store kept failing an operation (io.StorageError in a
    worker); the message is that error's one line."""


_STORAGE = re.compile(r"StorageError: (.+?)(?: \[while running [^\]]*\])*$", re.M)


def storage_problem(exc: BaseException) -> str | None:
    """The message of a StorageError that ended a pipeline, if one did: raised in this process
    (the exception or its cause) or reported in a worker's traceback text."""
    from .io import StorageError
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


def _write_shuffle_metrics(result, path: str, files) -> None:
    """The shuffle counters of a finished run, ``{name: {"bytes": n, "elements": n}}``."""
    from apache_beam.metrics.metric import MetricsFilter

    result.wait_until_finish()
    out: dict = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(SHUFFLE_NAMESPACE))[
            "counters"]:
        name = c.key.metric.name
        base, _, what = name.partition(":")
        out.setdefault(base, {"bytes": 0, "elements": 0})[what or "bytes"] += c.committed or 0
    files.write_json(path, out)


#: seconds the in-process runner may spend waiting for its worker processes to end, once a
#: pipeline has finished or failed, before the ones still running are ended (WorkerReaper)
WORKER_EXIT_GRACE = 5.0


class WorkerReaper:
    """Ends the local runner's worker processes that outlive their pipeline.

    Beam's in-process runner (FnApiRunner, ``--direct_running_mode=multi_processing``) stops
    its workers at the end of a run by sending each connected worker an end-of-stream and
    waiting for its process to end.  A worker process that connects after that (the pipeline
    failed in its first seconds, while that worker was still starting) is never told to stop,
    and the runner waits for it forever: the command hangs at 0% CPU (the report for Beam's
    maintainers is docs/beam-late-worker-hang.md).  From the outside, without touching Beam:
    while the pipeline runs, a thread looks at what the thread running it is doing; once that
    thread has been waiting in Beam's ``stop_worker`` for :data:`WORKER_EXIT_GRACE` seconds,
    the worker processes this process started (their command runs ``sdk_worker_main``) are
    killed, and the runner goes on.  By then every bundle's output has reached the runner."""

    def __init__(self, grace: float = WORKER_EXIT_GRACE):
        self.grace, self.killed = grace, 0
        self._ident = threading.get_ident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-reaper", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _stopping_workers(self) -> bool:
        frame = sys._current_frames().get(self._ident)
        while frame is not None:
            code = frame.f_code
            if code.co_name == "stop_worker" and code.co_filename.endswith(
                    os.path.join("fn_api_runner", "worker_handlers.py")):
                return True
            frame = frame.f_back
        return False

    def _watch(self) -> None:
        import time
        since = None
        while not self._stop.wait(0.25):
            if not self._stopping_workers():
                since = None
                continue
            since = since or time.monotonic()
            if time.monotonic() - since >= self.grace:
                self.killed += self.kill_workers()
                since = None

    @staticmethod
    def kill_workers() -> int:
        """Kill the worker processes this process started (and the shells that run them);
        how many."""
        import signal

        from swelm.procs import children, command_line
        tree = children()
        killed = 0
        for child in tree.get(os.getpid(), []):
            if b"sdk_worker_main" not in command_line(child):
                continue
            for pid in [*tree.get(child, []), child]:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
        return killed


def _pipeline_class(files, quiet_workers: bool, local_workers: bool = False):
    import apache_beam as beam

    class Pipeline(beam.Pipeline):
        """A Beam pipeline whose failure by a store error is one clear line
        (PipelineStorageError); with ``quiet_workers``, local worker processes' INFO and
        WARNING lines stay off the console; with ``local_workers``, worker processes that
        outlive the run are ended (WorkerReaper)."""

        def run(self, *a, **kw):
            try:
                with filtered_worker_logs() if quiet_workers else contextlib.nullcontext(), \
                        WorkerReaper() if local_workers else contextlib.nullcontext():
                    result = super().run(*a, **kw)
                    metrics = os.environ.get(SHUFFLE_METRICS_ENV)
                    if metrics:
                        _write_shuffle_metrics(result, metrics, files)
                    return result
            except Exception as e:
                problem = storage_problem(e)
                if problem is None:
                    raise
                raise PipelineStorageError(problem) from e

    return Pipeline


def make_pipeline(args):
    """A ``beam.Pipeline`` for ``args.runner`` or the in-process runner with ``--workers``;
    ``args.beam_args`` are further Beam pipeline options.  Without ``args.verbose`` the local
    worker processes' INFO and WARNING lines stay off the console."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from .io import FileSystem
    beam_args = list(getattr(args, "beam_args", None) or [])
    files = FileSystem(beam_args)
    if args.runner:
        return _pipeline_class(files, False)(options=PipelineOptions(["--runner", args.runner,
                                                               *beam_args]))
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    flags = list(beam_args)
    if any(f.startswith("--environment_type") for f in flags):
        # workers of a portable environment, e.g. a worker pool (--environment_type=EXTERNAL
        # --environment_config=HOST:PORT): the protocol Dataflow and Flink use
        from apache_beam.options.pipeline_options import PortableOptions
        from apache_beam.transforms.environments import Environment
        options = PipelineOptions(flags)
        env = Environment.from_options(options.view_as(PortableOptions))
        return _pipeline_class(files, False)(runner=FnApiRunner(default_environment=env),
                                      options=options)
    if args.workers <= 1:
        return _pipeline_class(files, False)(runner=FnApiRunner(), options=PipelineOptions(flags))
    most = 4 * (os.cpu_count() or 1)
    if args.workers > most:
        raise UsageError(f"--workers {args.workers}: local worker processes (about 200 MB "
                         f"each; one per CPU keeps them busy): at most {most} here "
                         f"({os.cpu_count() or 1} CPUs); a cluster runner (--runner) scales "
                         "further")
    flags += [f"--direct_num_workers={args.workers}", "--direct_running_mode=multi_processing"]
    quiet = not getattr(args, "verbose", False)
    return _pipeline_class(files, quiet, local_workers=True)(runner=FnApiRunner(),
                                                      options=PipelineOptions(flags))


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


def write_json_lines(pcoll, path: str, filesystem, label: str = "WriteResults"):
    """The elements of a small PCollection (JSON-serialisable) as one JSON-lines file at
    ``path`` (any filesystem), for the driver to read back with :func:`take_json_lines`.
    Written by our own DoFn, which carries the FileSystem to the workers (Beam's own sinks do
    not get the filesystem flags in worker processes started by a worker pool or the local
    runner)."""
    import json
    import apache_beam as beam

    def write(rows):
        if not rows:        # no file: an empty object cannot be written to every store
            return path
        filesystem.write_text(path, "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n"
                                    for r in sorted(rows, key=json.dumps)))
        return path
    filesystem.delete([path])       # what a killed run left
    return (pcoll | f"{label}/Gather" >> beam.combiners.ToList()
            | f"{label}/Write" >> beam.Map(write))


def take_json_lines(path: str, filesystem) -> list:
    """Read the JSON lines :func:`write_json_lines` wrote (any filesystem; none were written
    for no rows), then remove the file."""
    import json
    try:
        text = filesystem.read_text(path)
    except FileNotFoundError:
        return []
    rows = [json.loads(line) for line in text.splitlines() if line]
    filesystem.delete([path])
    return rows


def count_and_first(values) -> tuple[int, str]:
    """``(count, detail)`` pairs -> their count and the detail of the record that comes first
    in its file (details start ``PATH (byte|line|row N)``: corpus_tools.records.order).  A
    combine function: its result is a pair of the same kind."""
    from swelm.corpus_tools.records import order
    values = list(values)
    return (sum(n for n, _ in values),
            min((d for _, d in values), key=lambda d: order(d.split(": ", 1)[0])))
