"""``FileSystem``: every file operation of the pipelines, on any Beam filesystem, with the
filesystem flags (``--s3_endpoint_url``, credentials, …) it was made with.

Beam's ``FileSystems`` takes its options once per process, and a harness started by a worker
pool is never given the pipeline's filesystem flags.  So each DoFn that does I/O holds a
``FileSystem`` (picklable: the flags travel with it), and every operation makes sure this
process's ``FileSystems`` has those flags before it runs.  Remote paths are never made
absolute or created with os; folders are prefixes.  Store operations are retried
(:mod:`.store`); reads survive failures (:mod:`.readers`); writes are published whole (see
:meth:`FileSystem.create`)."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import re
from typing import Iterator

from .paths import is_http, is_remote, join
from .readers import HttpReader, StoreReader
from .store import retried

# Beam pipeline options that configure a filesystem (they travel with I/O DoFns)
_FS_FLAG = re.compile(r"^--(s3_|gcs_|hdfs_|azure_|blob_|project\b|region\b)")
#: the flags this process's FileSystems was last given
_configured: tuple | None = None


def _fs():
    from apache_beam.io.filesystems import FileSystems
    return FileSystems


def _uncompressed():
    from apache_beam.io.filesystem import CompressionTypes
    return CompressionTypes.UNCOMPRESSED


class _StoreClientNoise:
    """Drops the records Beam's object-store clients log on the root logger."""
    _where = (os.sep.join(("apache_beam", "io", "aws", "")),
              os.sep.join(("apache_beam", "io", "gcp", "")))

    def filter(self, record) -> bool:
        return not (record.name == "root" and any(w in record.pathname for w in self._where))


class FileSystem:
    """The files of one pipeline: made from the Beam arguments (only the filesystem flags
    among them are kept), handed to every DoFn that reads or writes."""

    def __init__(self, beam_args=()):
        self.options = tuple(a for a in (beam_args or ()) if _FS_FLAG.match(a))

    def __eq__(self, other) -> bool:
        return isinstance(other, FileSystem) and other.options == self.options

    def __hash__(self) -> int:
        return hash(self.options)

    def __repr__(self) -> str:
        return f"FileSystem({list(self.options)!r})"

    def ready(self) -> "FileSystem":
        """Give this process's FileSystems these flags (when another set was given last)."""
        global _configured
        if self.options == _configured:
            return self
        from apache_beam.options.pipeline_options import PipelineOptions
        _fs().set_options(PipelineOptions(list(self.options)))
        # the stores' clients log each failed request with a traceback (on their own loggers
        # or the root one); the failures are retried here and a lasting one is reported as
        # one line (StorageError); Beam's retry decorator, which they use, logs each try
        for name in ("apache_beam.io.aws.s3io", "apache_beam.io.gcp.gcsio",
                     "apache_beam.utils.retry"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        root = logging.getLogger()
        if not any(isinstance(f, _StoreClientNoise) for f in root.filters):
            root.addFilter(_StoreClientNoise())
        _configured = self.options
        return self

    # -- listing --------------------------------------------------------------------------
    def match(self, patterns: list[str]) -> dict[str, int]:
        """``{path: size}`` of the files matching any of the glob patterns, sorted by path.  A
        listing the store fails (503 SlowDown, a restart) is retried with backoff, then raises
        StorageError: an error is never taken for "no files"."""
        self.ready()
        out = {}
        for pattern in patterns:
            if not is_remote(pattern):
                pattern = os.path.abspath(pattern)
            results = retried(f"{pattern}: cannot list it", lambda: _fs().match([pattern]),
                              path=pattern)
            for m in results[0].metadata_list:
                if not m.path.endswith("/"):
                    out[m.path] = m.size_in_bytes
        return dict(sorted(out.items()))

    def exists(self, path: str) -> bool:
        self.ready()
        return _fs().exists(path)

    def bucket_missing(self, path: str) -> bool:
        """Whether the s3:// bucket of ``path`` is known not to exist (Beam's listing answers
        "no files" for a missing bucket; asked of the store with this filesystem's endpoint
        and keys).  False when it exists or cannot be told (another scheme, no answer)."""
        if not path.startswith("s3://"):
            return False
        from apache_beam.options.pipeline_options import PipelineOptions, S3Options
        o = PipelineOptions(list(self.options)).view_as(S3Options)
        try:
            import boto3
            import botocore.config
            import botocore.exceptions
            client = boto3.client(
                "s3", endpoint_url=o.s3_endpoint_url, region_name=o.s3_region_name,
                aws_access_key_id=o.s3_access_key_id,
                aws_secret_access_key=o.s3_secret_access_key,
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

    # -- reading --------------------------------------------------------------------------
    def open_read(self, path: str):
        """A seekable binary reader (no decompression); http(s):// URLs are read in Range
        requests with retries (:class:`HttpReader`), objects through Beam's filesystem with
        reopening (:class:`StoreReader`)."""
        if is_http(path):
            return io.BufferedReader(HttpReader(path), buffer_size=1 << 16)
        self.ready()
        if not is_remote(path):
            # Beam's local filesystem hands back the file itself: seekable, no reopening
            return _fs().open(path, compression_type=_uncompressed())
        return io.BufferedReader(StoreReader(path), buffer_size=1 << 20)

    def read_bytes(self, path: str) -> bytes:
        """A whole file (any filesystem); a local FIFO, socket or device is refused (reading
        it would block)."""
        if not is_remote(path):
            from swelm.checks import regular_file
            regular_file(path, "input")
        with self.open_read(path) as f:
            return f.read()

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8")

    # -- writing --------------------------------------------------------------------------
    @contextlib.contextmanager
    def create(self, path: str) -> Iterator[io.RawIOBase]:
        """A binary writer for ``path``, published when the block ends without an exception;
        nothing is published after an exception.  A local file is written under a temporary
        name and renamed (swelm.publish).  An object is written whole to a spool (memory, then
        a temporary file past 64 MB) and uploaded under its final, deterministic name when
        complete, the upload retried as a whole if the store fails it: it appears when its
        upload completes, so a retried bundle writes the same bytes again and leaves no
        duplicate or partial object."""
        self.ready()
        if not is_remote(path):
            from swelm.publish import atomic_path
            with atomic_path(path) as tmp, _fs().create(
                    tmp, mime_type="application/octet-stream",
                    compression_type=_uncompressed()) as f:
                yield f
            return
        import tempfile
        with tempfile.SpooledTemporaryFile(max_size=64 << 20) as spool:
            yield spool         # complete before anything is uploaded
            self._upload(path, spool)

    def _upload(self, path: str, spool) -> None:
        """Upload ``spool`` as the object ``path``, the whole upload retried when the store
        fails it (503 SlowDown, a restart, a lost multipart upload)."""
        import shutil

        def upload():
            spool.seek(0)
            with _fs().create(path, mime_type="application/octet-stream",
                              compression_type=_uncompressed()) as f:
                shutil.copyfileobj(spool, f, 8 << 20)
        retried(f"{path}: upload failed", upload, path=path)

    def write_bytes(self, path: str, data: bytes) -> None:
        with self.create(path) as f:
            f.write(data)

    def write_text(self, path: str, text: str) -> None:
        self.write_bytes(path, text.encode("utf-8"))

    def write_json(self, path: str, obj) -> None:
        from swelm.publish import json_text
        self.write_text(path, json_text(obj))

    def makedirs(self, path: str) -> None:
        """A local folder is created; a remote prefix needs nothing."""
        if not is_remote(path):
            os.makedirs(path, exist_ok=True)

    # -- deleting and moving --------------------------------------------------------------
    def delete(self, paths: list[str]) -> None:
        """Delete files (missing ones are fine), retrying what the store fails.  Objects are
        deleted in one batch (a store takes a missing key as deleted); local files one by
        one."""
        for p in paths:
            if not is_remote(p):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(p)
        remote = [p for p in paths if is_remote(p)]
        if remote:
            self.ready()
            retried(f"cannot delete {remote[0]} and {len(remote) - 1} more",
                    lambda: _fs().delete(remote), path=remote[0])

    def remove_tree(self, path: str) -> None:
        """Remove a folder and everything in it (a prefix and its objects); a missing one is
        fine."""
        self.ready()
        if is_remote(path):
            self.remove_prefix(path.rstrip("/"))
        elif _fs().exists(path):
            retried(f"cannot delete {path}", lambda: _fs().delete([path]), path=path)

    def listing(self, folder: str) -> list[str]:
        """Every file under the folder or prefix ``folder``, relative to it."""
        folder = folder.rstrip("/")
        return [p[len(folder) + 1:] for p in self.match([folder + "/**"])
                if p.startswith(folder + "/")]

    def remove_prefix(self, prefix: str) -> None:
        left = self.listing(prefix)
        if left:
            self.delete([join(prefix, p) for p in left])

    def rename(self, pairs: list[tuple[str, str]], folder: str) -> None:
        """Move objects out of ``folder`` (``(source, destination)``; server-side copies and
        deletes), retrying what the store fails; a source already moved is not moved
        again."""
        tries = [0]

        def move():
            todo = pairs
            if tries[0]:                        # a retry: only what is still in the folder
                left = set(self.match([folder.rstrip("/") + "/**"]))
                todo = [(a, b) for a, b in pairs if a in left]
            tries[0] += 1
            if todo:
                _fs().rename([a for a, _ in todo], [b for _, b in todo])
        if pairs:
            self.ready()
            retried(f"moving {pairs[0][0]} and {len(pairs) - 1} more", move, path=pairs[0][0])

    # -- output folders (the destination rule: .destination) ------------------------------
    def check_output(self, dst: str, kind, sources=(), flag: str = "--out") -> None:
        from .destination import check_output
        check_output(self, dst, kind, sources, flag)

    def claim(self, dst: str, kind) -> None:
        from .destination import claim
        claim(self, dst, kind)

    def remove_stale(self, dst: str, kind=None) -> int:
        from .destination import remove_stale
        return remove_stale(self, dst, kind)

    def output_folder(self, dst: str, kind, sources=(), flag: str = "--out",
                      checked: bool = False):
        from .destination import output_folder
        return output_folder(self, dst, kind, sources, flag, checked)
