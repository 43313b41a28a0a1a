"""Seekable readers that survive failures: :class:`HttpReader` (a file served over
HTTP(S), read in Range requests by the crawler's client with its limits and the project's
retry policy) and :class:`StoreReader` (an object opened again at the same position when the
store fails a read)."""
from __future__ import annotations

import contextlib
import io
import logging

from swelm.retry import STORE as POLICY

from .store import Abandoned, Store


def _open(path: str):
    """The object ``path`` opened through Beam's filesystem, no decompression."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


class _Positioned(io.RawIOBase):
    """A readable, seekable raw stream whose position is ``pos``."""
    pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos


class HttpReader(_Positioned):
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


class StoreReader(_Positioned):
    """A seekable reader of an object through Beam's filesystem that survives the store
    failing a read (a restart, a dropped connection): the object is opened again at the same
    position, with backoff and jitter, up to ``attempts`` times in a row."""

    def __init__(self, path: str, attempts: int = POLICY.attempts):
        self.path, self.attempts = path, attempts
        self.pos, self.reopened, self._f, self._size = 0, 0, None, None
        self._call(lambda f: None)          # opened now: a missing object raises here

    def _call(self, op):
        def once():
            if self._f is None:
                self._f = _open(self.path)
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
        return Store(self.path, f"{self.path}: read failed").call(once, self.attempts, reset)

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
