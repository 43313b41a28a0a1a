"""Store operations that survive a store's failures: each operation is retried with the
project's retry policy (swelm.retry.STORE: backoff with jitter), and a store that fails every
operation for :func:`patience` seconds is given up with one line (:class:`StorageError`)
naming the path and the store.  A try the store never answers is abandoned (the store
clients' own retries can take ten minutes)."""
from __future__ import annotations

import os
import threading
import time

from swelm.errors import SwelmError
from swelm.retry import STORE as POLICY

from .paths import is_remote, store_of


class StorageError(SwelmError, OSError):
    """A store operation that still failed after the policy's tries (or a store that has
    failed everything for :func:`patience` seconds, or a bucket that does not exist); the
    message names the path and the store.  The command line reports it as one line, raised
    in the driver or in a worker (see beam_util.storage_problem)."""


#: seconds a store may fail every operation before the command gives up on it (the sum of
#: the backoff waits of the policy's tries, about two minutes); SWELM_STORE_PATIENCE overrides it
PATIENCE = 120.0
#: store (scheme://bucket) -> when its current run of failures began (cleared by a success)
_FAILING_SINCE: dict[str, float] = {}


def patience() -> float:
    try:
        return max(1.0, float(os.environ.get("SWELM_STORE_PATIENCE", PATIENCE)))
    except ValueError:
        return PATIENCE


def _missing_bucket(e: Exception) -> bool:
    text = f"{type(e).__name__} {e}"
    return "NoSuchBucket" in text or "specified bucket does not exist" in text


class Store:
    """Runs the operations of one store with a total deadline per store: each try waits at
    most what is left of :func:`patience` since the store's current run of failures began
    (a try the store does not answer is abandoned: the store clients' own retries can take
    ten minutes), so a store that is down ends the command in about that time however many
    operations are waiting on it.  A bucket that does not exist is one line at once."""

    def __init__(self, path: str, what: str):
        self.key, self.what, self.time = store_of(path), what, time
        self.remote = is_remote(path)

    def call(self, fn, attempts: int = POLICY.attempts, on_failure=None):
        last: Exception | None = None
        for attempt in range(attempts):
            start = self.time.monotonic()
            since = _FAILING_SINCE.get(self.key)
            budget = patience() - (start - since if since is not None else 0.0)
            if budget <= 0:
                raise self._give_up(attempt, last)
            try:
                out = bounded(fn, budget) if self.remote else fn()
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
                self.time.sleep(min(POLICY.wait(attempt), left))
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
    """An operation :func:`bounded` stopped waiting for; its thread may still be running."""


def bounded(fn, timeout: float):
    """``fn()`` in a daemon thread, waited for ``timeout`` seconds at most (then abandoned:
    TimeoutError).  Its result or exception is handed back."""
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


def retried(what: str, call, attempts: int = POLICY.attempts, path: str | None = None):
    """``call()``, retried with backoff and jitter when the store fails it (503 SlowDown, a
    restart); the last failure raises StorageError naming ``what`` and the store.  A store
    that has failed every operation for :func:`patience` seconds is given up (see Store)."""
    return Store(path or "", what).call(call, attempts)
