"""Paths on any filesystem: local paths, URLs of object stores (s3://, gs://, …) and http(s)
URLs.  Pure functions of the text, except :func:`check_scheme`, which asks Beam whether it has
a filesystem for a scheme."""
from __future__ import annotations

import os
import posixpath
import re

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_HTTP = re.compile(r"^https?://", re.I)

#: what to install for the object stores Beam reads through an extra
EXTRAS = {"gs": "swelm[gcp] (apache-beam[gcp])", "s3": "swelm[aws] (apache-beam[aws])",
          "azfs": "apache-beam[azure]", "hdfs": "apache-beam's hdfs client (pip install hdfs)"}


def is_remote(path: str) -> bool:
    return bool(_SCHEME.match(path))


def is_http(path: str) -> bool:
    """Whether ``path`` is an http(s) URL (read in Range requests, never listed)."""
    return bool(_HTTP.match(path))


def join(base: str, *parts: str) -> str:
    """``base/part/...``: a URL or prefix stays one; a local path uses os.path."""
    if is_remote(base):
        return posixpath.join(base, *parts)
    return os.path.join(base, *parts)


def absolute(path: str) -> str:
    """Local paths made absolute (workers may run elsewhere); URLs as they are."""
    return path if is_remote(path) else os.path.abspath(path)


def store_of(path: str) -> str:
    """The store a remote path lives in: ``scheme://bucket``."""
    if not is_remote(path):
        return "the local disk"
    scheme, _, rest = path.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def check_scheme(path: str, flag: str) -> None:
    """Refuse at once (one line) a path no filesystem here can read: http(s) URLs are read
    in Range requests, other URLs need a Beam filesystem for their scheme (``ftp://`` has
    none; ``gs://`` needs the gcp extra)."""
    from apache_beam.io.filesystems import FileSystems

    from swelm.errors import UsageError
    if not is_remote(path) or is_http(path):
        return
    scheme = path.split("://", 1)[0].lower()
    try:
        FileSystems.get_filesystem(path)
    except Exception:                   # Beam raises ValueError or BeamIOError here
        need = EXTRAS.get(scheme)
        raise UsageError(f"{flag} {path}: cannot read {scheme}:// here ("
                         + (f"install {need}" if need else "swelm reads local paths, "
                            "http(s)://, s3:// and gs:// and the other filesystems Beam has")
                         + ")") from None
