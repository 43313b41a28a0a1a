"""StoreReader (object-store reads through Beam's filesystem) when the store stops answering:
the read is abandoned at the store's deadline with one StorageError, and the stream the
abandoned read still uses is never closed under it (that can abort the whole process: seen as
"The futex facility returned an unexpected error code" when a store was killed mid-read)."""
from __future__ import annotations

import io
import time

import pytest

from swelm.pipelines.io import readers, store as stores
from swelm.retry import RetryPolicy


class Stream(io.RawIOBase):
    def __init__(self, data: bytes, stall: float, log: list):
        self.data, self.stall, self.log, self.pos = data, stall, log, 0
        self.reading = False

    def readable(self):
        return True

    def seek(self, pos, whence=0):
        self.pos = pos if whence == 0 else len(self.data) + pos
        return self.pos

    def readinto(self, b):
        self.reading = True
        try:
            time.sleep(self.stall)
            n = len(self.data[self.pos:self.pos + len(b)])
            b[:n] = self.data[self.pos:self.pos + n]
            self.pos += n
            return n
        finally:
            self.reading = False

    def close(self):
        self.log.append("closed while reading" if self.reading else "closed")
        super().close()


class Store:
    """A store whose streams stall ``stall`` seconds on every read."""

    def __init__(self, data, stall):
        self.data, self.stall, self.opened, self.log = data, stall, [], []

    def open(self, path, compression_type=None):
        s = Stream(self.data, self.stall, self.log)
        self.opened.append(s)
        return s


def test_a_read_the_store_never_answers_is_abandoned_and_its_stream_left_alone(monkeypatch):
    store = Store(b"0123456789" * 100, stall=3.0)
    monkeypatch.setattr(readers, "_open", store.open)
    monkeypatch.setattr(stores, "patience", lambda: 1.0)
    monkeypatch.setattr(stores, "_FAILING_SINCE", {})
    r = readers.StoreReader("s3://bucket/key")
    t0 = time.monotonic()
    with pytest.raises(stores.StorageError, match="s3://bucket/key: read failed: the store "
                                              "s3://bucket kept failing"):
        r.readinto(bytearray(5))
    assert time.monotonic() - t0 < 2.5             # the deadline, not the stalled read
    r.close()
    time.sleep(2.5)                                 # the abandoned read ends on its own
    assert "closed while reading" not in store.log


def test_a_failed_read_is_retried_on_a_new_stream(monkeypatch):
    store = Store(b"0123456789" * 100, stall=0.0)
    fails = []

    class Flaky(Store):
        def open(self, path, compression_type=None):
            s = super().open(path)
            if len(self.opened) == 1:
                def broken(b):
                    fails.append(1)
                    raise ConnectionResetError("the store went away")
                s.readinto = broken
            return s
    store = Flaky(store.data, 0.0)
    monkeypatch.setattr(readers, "_open", store.open)
    monkeypatch.setattr(stores, "POLICY", RetryPolicy(base=0.0, jitter=False))
    monkeypatch.setattr(stores, "_FAILING_SINCE", {})
    r = readers.StoreReader("s3://bucket/key")
    r.seek(10)
    buf = bytearray(5)
    assert r.readinto(buf) == 5 and bytes(buf) == b"01234" and r.tell() == 15
    assert fails and len(store.opened) == 2 and store.log == ["closed"]
