"""The pipelines' one I/O layer.  Every byte the pipelines read or write goes through Beam's
filesystem layer (``apache_beam.io.filesystems.FileSystems``): local paths, s3://
(swelm[aws]), gs:// (swelm[gcp]), or any filesystem Beam has; http(s) URLs are read in Range
requests.

- :mod:`.paths`: path helpers (``join``, ``is_remote``, ``store_of``, ``check_scheme``, …);
- :class:`FileSystem` (:mod:`.filesystem`): every file operation, made from the pipeline's
  filesystem flags and handed to each DoFn that does I/O (it is picklable);
- :mod:`.readers`: seekable readers that survive a store or a server failing a read;
- :mod:`.store`: store operations retried with the project's retry policy
  (:mod:`swelm.retry`, shared with the crawler), :class:`StorageError`;
- :mod:`.destination`: the destination rule and atomic publication of output folders.
"""
from .filesystem import FileSystem
from .paths import absolute, check_scheme, is_http, is_remote, join, store_of
from .store import StorageError

__all__ = ["FileSystem", "StorageError", "absolute", "check_scheme", "is_http", "is_remote",
           "join", "store_of"]
