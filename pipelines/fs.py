"""Every byte the pipelines read or write goes through Beam's filesystem layer
(apache_beam.io.filesystems.FileSystems): local paths, s3:// (swelm[aws]), gs:// (swelm[gcp]),
or any filesystem Beam has.  Remote paths are never made absolute or created with os; folders
are prefixes.

Publishing.  A local file is written under a temporary name and renamed (swelm.publish); an
object is written whole to a spool (memory, then a temporary file past 64 MB) and uploaded
under its final, deterministic name when complete, the upload retried as a whole if the store
fails it; it appears when its upload completes, so a retried bundle writes the same bytes again
and leaves no duplicate or partial object.  A set of files (corpus, shard set, crawl) is complete when its
manifest, written last, exists.

Workers.  The filesystem options (--s3_endpoint_url, credentials, ...) are part of the pipeline
options, but a harness started by a worker pool does not hand them to FileSystems: every DoFn
that does I/O carries them (:class:`Options`) and calls :func:`configure` once per process.
"""
from __future__ import annotations

import contextlib
import io
import os
import posixpath
import re
from typing import Iterator

from swelm.errors import SwelmError

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_HTTP = re.compile(r"^https?://", re.I)
# Beam pipeline options that configure a filesystem (they travel with I/O DoFns)
_FS_FLAG = re.compile(r"^--(s3_|gcs_|hdfs_|azure_|blob_|project\b|region\b)")
_configured: tuple | None = None
#: tries of one store operation: the waits between them (backoff with jitter, at most 30 s each)
#: add up to about two minutes, so a store restart or a spell of 503 SlowDown is survived
ATTEMPTS = 10


class StorageError(SwelmError, OSError):
    """A store operation that still failed after :data:`ATTEMPTS` tries (or a store that has
    failed everything for :func:`patience` seconds, or a bucket that does not exist); the
    message names the path and the store.  The command line reports it as one line, raised
    in the driver or in a worker (see beam_util.storage_problem)."""


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds to wait before try ``attempt + 1``: exponential, capped, with jitter."""
    import random
    return min(cap, base * 2 ** attempt) * (0.5 + random.random())


def is_remote(path: str) -> bool:
    return bool(_SCHEME.match(path))


def join(base: str, *parts: str) -> str:
    """``base/part/...``: a URL or prefix stays one; a local path uses os.path."""
    if is_remote(base):
        return posixpath.join(base, *parts)
    return os.path.join(base, *parts)


def absolute(path: str) -> str:
    """Local paths made absolute (workers may run elsewhere); URLs as they are."""
    return path if is_remote(path) else os.path.abspath(path)


class Options(tuple):
    """The filesystem flags among Beam pipeline arguments (a picklable payload for DoFns)."""

    def __new__(cls, beam_args=()):
        return super().__new__(cls, tuple(a for a in (beam_args or ()) if _FS_FLAG.match(a)))


def configure(options: Options | None) -> None:
    """Hand the filesystem options to FileSystems in this process (once per set of options)."""
    global _configured
    key = tuple(options or ())
    if key == _configured:
        return
    import logging
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions
    FileSystems.set_options(PipelineOptions(list(key)))
    # the stores' clients log each failed request with a traceback (on their own loggers or
    # the root one); the failures are retried here and a lasting one is reported as one line
    # (StorageError)
    # (and Beam's retry decorator, which they use, logs each try with its traceback)
    for name in ("apache_beam.io.aws.s3io", "apache_beam.io.gcp.gcsio", "apache_beam.utils.retry"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    root = logging.getLogger()
    if not any(isinstance(f, _StoreClientNoise) for f in root.filters):
        root.addFilter(_StoreClientNoise())
    _configured = key


class _StoreClientNoise:
    """Drops the records Beam's object-store clients log on the root logger."""
    _where = (os.sep.join(("apache_beam", "io", "aws", "")),
              os.sep.join(("apache_beam", "io", "gcp", "")))

    def filter(self, record) -> bool:
        return not (record.name == "root" and any(w in record.pathname for w in self._where))


#: what to install for the object stores Beam reads through an extra
_EXTRAS = {"gs": "swelm[gcp] (apache-beam[gcp])", "s3": "swelm[aws] (apache-beam[aws])",
           "azfs": "apache-beam[azure]", "hdfs": "apache-beam's hdfs client (pip install hdfs)"}


def check_scheme(path: str, flag: str) -> None:
    """Refuse at once (one line) a path no filesystem here can read: http(s) URLs are read
    in Range requests, other URLs need a Beam filesystem for their scheme (``ftp://`` has
    none; ``gs://`` needs the gcp extra)."""
    from swelm.errors import UsageError
    if not is_remote(path) or _HTTP.match(path):
        return
    scheme = path.split("://", 1)[0].lower()
    try:
        _fs().get_filesystem(path)
    except Exception:                   # Beam raises ValueError or BeamIOError here
        need = _EXTRAS.get(scheme)
        raise UsageError(f"{flag} {path}: cannot read {scheme}:// here ("
                         + (f"install {need}" if need else "swelm reads local paths, "
                            "http(s)://, s3:// and gs:// and the other filesystems Beam has")
                         + ")") from None


def is_http(path: str) -> bool:
    """Whether ``path`` is an http(s) URL (read in Range requests, never listed)."""
    return bool(_HTTP.match(path))


def _fs():
    from apache_beam.io.filesystems import FileSystems
    return FileSystems


def match(patterns: list[str]) -> dict[str, int]:
    """``{path: size}`` of the files matching any of the glob patterns, sorted by path.  A
    listing the store fails (503 SlowDown, a restart) is retried with backoff, then raises
    StorageError: an error is never taken for "no files"."""
    out = {}
    for pattern in patterns:
        if not is_remote(pattern):
            pattern = os.path.abspath(pattern)
        results = _retried(f"{pattern}: cannot list it", lambda: _fs().match([pattern]),
                           path=pattern)
        for m in results[0].metadata_list:
            if not m.path.endswith("/"):
                out[m.path] = m.size_in_bytes
    return dict(sorted(out.items()))


def bucket_missing(path: str) -> bool:
    """Whether the s3:// bucket of ``path`` is known not to exist (Beam's listing answers "no
    files" for a missing bucket; asked of the store with the configured endpoint and keys).
    False when it exists or cannot be told (another scheme, no answer)."""
    if not path.startswith("s3://"):
        return False
    from apache_beam.options.pipeline_options import PipelineOptions, S3Options
    o = PipelineOptions(list(_configured or ())).view_as(S3Options)
    try:
        import boto3
        import botocore.config
        import botocore.exceptions
        client = boto3.client(
            "s3", endpoint_url=o.s3_endpoint_url, region_name=o.s3_region_name,
            aws_access_key_id=o.s3_access_key_id, aws_secret_access_key=o.s3_secret_access_key,
            aws_session_token=o.s3_session_token, verify=o.s3_verify,
            config=botocore.config.Config(connect_timeout=10, read_timeout=20,
                                          retries={"max_attempts": 2}))
        client.head_bucket(Bucket=path[len("s3://"):].split("/", 1)[0])
    except ImportError:
        return False
    except botocore.exceptions.ClientError as e:
        return str(e.response.get("Error", {}).get("Code")) in ("404", "NoSuchBucket")
    except Exception:                   # no answer: cannot be told
        return False
    return False


def exists(path: str) -> bool:
    return _fs().exists(path)


class HttpReader(io.RawIOBase):
    """A seekable reader of a file served over HTTP(S) (Common Crawl's
    https://data.commoncrawl.org/), in ``block``-sized Range requests made by the crawler's
    client (corpus_tools.fetch.Fetcher.fetch_range), so a read has the crawler's limits and
    retry policy: a wall-clock limit of ``timeout`` seconds per block (a server that never
    answers or sends a byte a second included), at most the bytes asked for kept (an endless
    answer is cut there), a 206 answer that does not start at the asked offset refused, and
    429, 5xx, timeouts and connection errors retried with backoff (``Retry-After`` honoured up
    to a minute) within that limit.  ``retries`` counts the retries; a block that still fails
    raises an OSError naming the URL and the reason."""

    def __init__(self, url: str, block: int = 8 << 20, timeout: float = 180.0,
                 read_timeout: float = 30.0, attempts: int = 8):
        self.url, self.block = url, block
        self.fetcher = _range_fetcher(timeout, read_timeout, attempts)
        self.pos, self.size, self.retries = 0, None, 0
        self._buf, self._buf_at = b"", 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 2:
            offset += self._size()
        elif whence == 1:
            offset += self.pos
        self.pos = max(0, offset)
        return self.pos

    def _size(self) -> int:
        if self.size is None:
            self._get(0)
        at = self.block
        while self.size is None:        # a server that does not say: read on to the end
            self._get(at)
            at += self.block
        return self.size

    def _get(self, start: int) -> bytes:
        r = self.fetcher.fetch_range(self.url, start, self.block)
        self.retries += max(0, r.attempts - 1)
        if not r.ok:
            why = r.error or (f"HTTP {r.status}" if r.status else r.outcome)
            if r.status and r.status >= 400 and r.outcome == "ok":
                why = f"HTTP {r.status}"
            raise OSError(f"{self.url}: {r.outcome if r.outcome != 'ok' else 'http_error'} "
                          f"reading bytes {start}-{start + self.block - 1}"
                          + (f" after {r.attempts} attempts" if r.attempts > 1 else "")
                          + f": {why}")
        if r.size is not None:
            self.size = r.size
        return r.body

    def readinto(self, b) -> int:
        if self.size is not None and self.pos >= self.size:
            return 0
        if not self._buf_at <= self.pos < self._buf_at + len(self._buf):
            self._buf, self._buf_at = self._get(self.pos), self.pos
            if not self._buf:
                return 0
        i = self.pos - self._buf_at
        n = min(len(b), len(self._buf) - i)
        b[:n] = self._buf[i:i + n]
        self.pos += n
        return n


_FETCHERS: dict = {}


def _range_fetcher(timeout: float, read_timeout: float, attempts: int):
    """The crawler's client set up for reading files (one per process and setting): no
    robots.txt or per-host interval (these are downloads, not a crawl), any content type."""
    key = (timeout, read_timeout, attempts)
    if key not in _FETCHERS:
        from swelm.corpus_tools.fetch import Fetcher
        _FETCHERS[key] = Fetcher(requests_per_second=0, connect_timeout=min(10.0, timeout),
                                 read_timeout=min(read_timeout, timeout),
                                 total_timeout=timeout, retries=attempts - 1, backoff=0.5,
                                 max_retry_after=60.0, accepted_types=("*",),
                                 respect_robots=False)
    return _FETCHERS[key]


class StoreReader(io.RawIOBase):
    """A seekable reader of an object through Beam's filesystem that survives the store
    failing a read (a restart, a dropped connection): the object is opened again at the same
    position, with backoff and jitter, up to ``attempts`` times in a row."""

    def __init__(self, path: str, attempts: int = ATTEMPTS):
        self.path, self.attempts = path, attempts
        self.pos, self.reopened, self._f, self._size = 0, 0, None, None
        self._call(lambda f: None)          # opened now: a missing object raises here

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def _call(self, op):
        import logging
        from apache_beam.io.filesystem import CompressionTypes

        def once():
            if self._f is None:
                self._f = _fs().open(self.path, compression_type=CompressionTypes.UNCOMPRESSED)
                self._f.seek(self.pos)
            return op(self._f)

        def reset(e):
            f, self._f = self._f, None
            if f is not None and not isinstance(e, Abandoned):
                with contextlib.suppress(Exception):
                    f.close()
            # (a stream an abandoned try still reads is left to it: closing it under that
            # thread can abort the process; it is released when the thread ends.  An
            # abandoned try has used up the store's patience, so no try follows it)
            self.reopened += 1
            logging.getLogger(__name__).debug("%s: read failed (%s); opening it again",
                                             self.path, e)
        return _Store(self.path, f"{self.path}: read failed").call(once, self.attempts, reset)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 2:
            if self._size is None:
                self._size = self._call(lambda f: f.seek(0, 2))
            offset += self._size
        elif whence == 1:
            offset += self.pos
        self.pos = max(0, offset)
        if self._f is not None:
            self._call(lambda f: f.seek(self.pos))
        return self.pos

    def readinto(self, b) -> int:
        n = self._call(lambda f: f.readinto(b))
        self.pos += n or 0
        return n or 0

    def close(self) -> None:
        if self._f is not None:
            with contextlib.suppress(Exception):
                self._f.close()
            self._f = None
        super().close()


def open_read(path: str):
    """A seekable binary reader (no decompression); http(s):// URLs are read in Range requests
    with retries (:class:`HttpReader`), objects through Beam's filesystem with reopening
    (:class:`StoreReader`)."""
    if _HTTP.match(path):
        return io.BufferedReader(HttpReader(path), buffer_size=1 << 16)
    if not is_remote(path):
        # Beam's local filesystem hands back the file itself: seekable, no reopening needed
        from apache_beam.io.filesystem import CompressionTypes
        return _fs().open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    return io.BufferedReader(StoreReader(path), buffer_size=1 << 20)


def read_bytes(path: str) -> bytes:
    """A whole file (any filesystem); a local FIFO, socket or device is refused (reading it
    would block)."""
    if not is_remote(path):
        from swelm.checks import regular_file
        regular_file(path, "input")
    with open_read(path) as f:
        return f.read()


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


@contextlib.contextmanager
def create(path: str) -> Iterator[io.RawIOBase]:
    """A binary writer for ``path``, published when the block ends without an exception (see
    the module docstring); nothing is published after an exception."""
    if not is_remote(path):
        from apache_beam.io.filesystem import CompressionTypes

        from swelm.publish import atomic_path
        with atomic_path(path) as tmp, _fs().create(
                tmp, mime_type="application/octet-stream",
                compression_type=CompressionTypes.UNCOMPRESSED) as f:
            yield f
        return
    import tempfile
    with tempfile.SpooledTemporaryFile(max_size=64 << 20) as spool:
        yield spool         # complete before anything is uploaded
        _upload(path, spool)


def _upload(path: str, spool) -> None:
    """Upload ``spool`` as the object ``path``, the whole upload retried (backoff with jitter)
    when the store fails it (503 SlowDown, a restart, a lost multipart upload)."""
    import shutil
    from apache_beam.io.filesystem import CompressionTypes

    def upload():
        spool.seek(0)
        with _fs().create(path, mime_type="application/octet-stream",
                          compression_type=CompressionTypes.UNCOMPRESSED) as f:
            shutil.copyfileobj(spool, f, 8 << 20)
    _retried(f"{path}: upload failed", upload, path=path)


def write_bytes(path: str, data: bytes) -> None:
    with create(path) as f:
        f.write(data)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str, obj) -> None:
    from swelm.publish import json_text
    write_text(path, json_text(obj))


def delete(paths: list[str]) -> None:
    """Delete files (missing ones are fine), retrying what the store fails.  Objects are
    deleted in one batch (a store takes a missing key as deleted); local files one by one."""
    local = [p for p in paths if not is_remote(p)]
    for p in local:
        with contextlib.suppress(FileNotFoundError):
            os.remove(p)
    remote = [p for p in paths if is_remote(p)]
    if remote:
        _retried(f"cannot delete {remote[0]} and {len(remote) - 1} more",
                 lambda: _fs().delete(remote), path=remote[0])


def remove_tree(path: str) -> None:
    """Remove a folder and everything in it (a prefix and its objects); a missing one is
    fine."""
    if is_remote(path):
        _remove_prefix(path.rstrip("/"))
    elif _fs().exists(path):
        _retried(f"cannot delete {path}", lambda: _fs().delete([path]), path=path)


def makedirs(path: str) -> None:
    """A local folder is created; a remote prefix needs nothing."""
    if not is_remote(path):
        os.makedirs(path, exist_ok=True)


#: seconds a store may fail every operation before the command gives up on it (the sum of
#: the backoff waits of ATTEMPTS tries, about two minutes); SWELM_STORE_PATIENCE overrides it
PATIENCE = 120.0
#: store (scheme://bucket) -> when its current run of failures began (cleared by a success)
_FAILING_SINCE: dict[str, float] = {}


def store_of(path: str) -> str:
    """The store a remote path lives in: ``scheme://bucket``."""
    if not is_remote(path):
        return "the local disk"
    scheme, _, rest = path.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def patience() -> float:
    try:
        return max(1.0, float(os.environ.get("SWELM_STORE_PATIENCE", PATIENCE)))
    except ValueError:
        return PATIENCE


def _missing_bucket(e: Exception) -> bool:
    text = f"{type(e).__name__} {e}"
    return "NoSuchBucket" in text or "specified bucket does not exist" in text


class _Store:
    """Runs the operations of one store with a total deadline per store: each try waits at
    most what is left of :func:`patience` since the store's current run of failures began
    (a try the store does not answer is abandoned: the store clients' own retries can take
    ten minutes), so a store that is down ends the command in about that time however many
    operations are waiting on it.  A bucket that does not exist is one line at once."""

    def __init__(self, path: str, what: str):
        import time
        self.key, self.what, self.time = store_of(path), what, time
        self.remote = is_remote(path)

    def call(self, fn, attempts: int, on_failure=None):
        last: Exception | None = None
        for attempt in range(attempts):
            start = self.time.monotonic()
            since = _FAILING_SINCE.get(self.key)
            budget = patience() - (start - since if since is not None else 0.0)
            if budget <= 0:
                raise self._give_up(attempt, last)
            try:
                out = _bounded(fn, budget) if self.remote else fn()
            except FileNotFoundError:
                _FAILING_SINCE.pop(self.key, None)
                raise
            except Exception as e:          # Beam wraps the store's errors in several types
                if _missing_bucket(e):
                    raise StorageError(f"{self.what}: the bucket {self.key} does not exist "
                                       "(create it first, or check the name and "
                                       "--s3_endpoint_url)") from None
                last = e
                since = _FAILING_SINCE.setdefault(self.key, start)
                if on_failure is not None:
                    on_failure(e)
                left = since + patience() - self.time.monotonic()
                if attempt == attempts - 1 or left <= 0:
                    raise self._give_up(attempt + 1, e) from None
                self.time.sleep(min(backoff(attempt), left))
                continue
            _FAILING_SINCE.pop(self.key, None)
            return out
        raise self._give_up(attempts, last)

    def _give_up(self, tries: int, e: Exception | None) -> StorageError:
        since = _FAILING_SINCE.get(self.key, self.time.monotonic())
        tried = (f"{tries} tries of this operation; last: {_first_line(e)}" if e else
                 "given up without a try")
        return StorageError(f"{self.what}: the store {self.key} kept failing for "
                            f"{self.time.monotonic() - since:.0f} s ({tried}); is it running "
                            "and reachable?")


class Abandoned(TimeoutError):
    """An operation :func:`_bounded` stopped waiting for; its thread may still be running."""


def _bounded(fn, timeout: float):
    """``fn()`` in a daemon thread, waited for ``timeout`` seconds at most (then abandoned:
    TimeoutError).  Its result or exception is handed back."""
    import threading
    box: dict = {}

    def run():
        try:
            box["out"] = fn()
        except BaseException as e:      # handed to the caller
            box["error"] = e
    t = threading.Thread(target=run, name="store-operation", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise Abandoned(f"no answer within {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    return box.get("out")


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


def _retried(what: str, call, attempts: int = ATTEMPTS, path: str | None = None):
    """``call()``, retried with backoff and jitter when the store fails it (503 SlowDown, a
    restart); the last failure raises StorageError naming ``what`` and the store.  A store
    that has failed every operation for :func:`patience` seconds is given up (see _Store)."""
    return _Store(path or "", what).call(call, attempts)


def rename(pairs: list[tuple[str, str]], folder: str) -> None:
    """Move objects out of ``folder`` (``(source, destination)``; server-side copies and
    deletes), retrying what the store fails; a source already moved is not moved again."""
    tries = [0]

    def move():
        todo = pairs
        if tries[0]:                        # a retry: only what is still in the folder
            left = set(match([folder.rstrip("/") + "/**"]))
            todo = [(a, b) for a, b in pairs if a in left]
        tries[0] += 1
        if todo:
            _fs().rename([a for a, _ in todo], [b for _, b in todo])
    if pairs:
        _retried(f"moving {pairs[0][0]} and {len(pairs) - 1} more", move, path=pairs[0][0])


# -- output folders: the destination rule and publication on any filesystem -------------------
from swelm import publish as _publish     # noqa: E402  (after the helpers it builds on)


class ObjectStore(_publish.Store):
    """The destination rule's view of any Beam filesystem (local paths are the local disk's)."""

    def state(self, path: str) -> str:
        if not is_remote(path):
            return _publish.LOCAL.state(path)
        path = path.rstrip("/")
        if self._all(path):
            return "folder"
        return "file" if _retried(f"{path}: cannot check it", lambda: exists(path), path=path) else "missing"

    def _all(self, folder: str) -> list[str]:
        """Every object under the prefix ``folder``, relative."""
        folder = folder.rstrip("/")
        return [p[len(folder) + 1:] for p in match([folder + "/**"]) if p.startswith(folder + "/")]

    def listing(self, folder: str) -> list[str]:
        if not is_remote(folder):
            return _publish.LOCAL.listing(folder)
        return self._all(folder)

    def head(self, path: str, n: int = 1 << 20) -> bytes:
        if not is_remote(path):
            return _publish.LOCAL.head(path, n)
        return read_bytes(path)[:n]

    def same_or_inside(self, a: str, b: str) -> bool:
        if is_remote(a) != is_remote(b):
            return False
        if not is_remote(a):
            return _publish.LOCAL.same_or_inside(a, b)
        a, b = a.rstrip("/"), b.rstrip("/")
        return a == b or a.startswith(b + "/")


STORE = ObjectStore()


def check_output(dst: str, kind: _publish.Kind, sources=(), flag: str = "--out") -> None:
    """The destination rule (swelm.publish.check_destination) on any filesystem."""
    if _HTTP.match(dst):
        from swelm.errors import UsageError
        raise UsageError(f"{flag} {dst}: an http(s) URL can be read but not written; write to "
                         "a local folder, s3:// or gs://")
    check_scheme(dst, flag)
    if is_remote(dst):
        # a missing bucket is one line now, not a failure of the first write minutes later
        # (deleting a key that is not there succeeds in any bucket that exists)
        delete([join(dst, ".swelm-bucket-probe")])
    _publish.check_destination(dst, kind, flag=flag, sources=sources, store=STORE)


def claim(dst: str, kind: _publish.Kind) -> None:
    """Make the folder (or prefix) of a resumable output with swelm's owner file in it (after
    :func:`check_output`), so a run killed before its marker is written is still ours."""
    if not is_remote(dst):
        _publish.claim_folder(dst, kind)
    elif not exists(join(dst, _publish.OWNER)):
        write_text(join(dst, _publish.OWNER), _publish.owner_text(kind))


def remove_stale(dst: str, kind: _publish.Kind | None = None) -> int:
    """What a killed run left: temporaries beside a local ``dst`` (an interrupted swap gets
    the old folder back), or staging prefixes inside a remote one."""
    if not is_remote(dst):
        return _publish.remove_stale_temporaries(dst, kind)
    stale = [p for p in STORE._all(dst)
             if any(_publish.is_temporary(part) for part in p.split("/"))]
    delete([join(dst, p) for p in stale])
    return len(stale)


@contextlib.contextmanager
def output_folder(dst: str, kind: _publish.Kind, sources=(), flag: str = "--out",
                  checked: bool = False) -> Iterator[str]:
    """A folder (or prefix) to write an output of ``kind`` into, published as ``dst`` when the
    block ends without an exception; the previous output at ``dst`` stays whole until then.
    The destination rule is checked first (``checked``: the caller already did).

    Local: a temporary folder beside ``dst``, swapped in (swelm.publish).  Object store (no
    folder rename): a staging prefix inside ``dst``; when complete, the old marker goes, the new
    objects are moved in (server-side copies), old objects the new output does not have go,
    and the marker moves in last.  A run killed during those moves leaves an output without its
    marker, which readers refuse and a rerun replaces.  The caller writes the marker
    (``kind.marker``) into the folder it was given."""
    if not checked:
        check_output(dst, kind, sources, flag)
    if not is_remote(dst):
        remove_stale(dst, kind)
        with _publish.atomic_path(dst, kind) as tmp:
            os.makedirs(tmp)
            yield tmp
        return
    import uuid
    dst = dst.rstrip("/")
    remove_stale(dst)
    stage = join(dst, f".{posixpath.basename(dst) or 'out'}.{_publish.TMP}-{uuid.uuid4().hex[:8]}")
    try:
        yield stage
        _move_in(stage, dst, kind, sources, flag)
    except BaseException:
        # the staging prefix goes if the store lets it; the first failure is the one reported
        with contextlib.suppress(StorageError):
            _remove_prefix(stage)
        raise
    _remove_prefix(stage)


def _remove_prefix(prefix: str) -> None:
    left = STORE._all(prefix)
    if left:
        delete([join(prefix, p) for p in left])


def _move_in(stage: str, dst: str, kind: _publish.Kind, sources, flag: str) -> None:
    new = STORE._all(stage)
    if kind.marker and kind.marker not in new:
        raise RuntimeError(f"{stage}: no {kind.marker} was written")
    old = [p for p in STORE.listing(dst) if not p.startswith(posixpath.basename(stage) + "/")]
    # the rule again, as the local swap does: nothing foreign appeared meanwhile
    if old:
        check_output(dst, kind, sources, flag)
    # the owner file first: an output whose moves are interrupted is still known as ours
    write_text(join(dst, _publish.OWNER), _publish.owner_text(kind))
    new = [p for p in new if p != _publish.OWNER]
    old = [p for p in old if p != _publish.OWNER]
    if kind.marker and kind.marker in old:
        delete([join(dst, kind.marker)])
    rename([(join(stage, p), join(dst, p)) for p in new if p != kind.marker], stage)
    gone = [join(dst, p) for p in old if p not in new]
    if gone:
        delete(gone)
    if kind.marker:
        rename([(join(stage, kind.marker), join(dst, kind.marker))], stage)
        delete([join(dst, _publish.OWNER)])     # the marker proves it now, as on local disk
