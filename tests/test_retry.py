"""The one retry policy (swelm.retry) and who uses it: the crawler's fetches and Range reads,
object-store operations; the FileSystem object DoFns carry instead of a process-wide setting."""
from __future__ import annotations

import doctest
import pickle
import random

import pytest

import swelm.retry as retry_mod
from swelm.retry import RetryPolicy, retry_after_seconds, retryable_http


def test_doctests():
    assert doctest.testmod(retry_mod).failed == 0


def test_waits_grow_to_the_cap_with_jitter_in_its_band():
    random.seed(1)
    p = RetryPolicy(base=0.5, cap=4.0)
    for attempt in range(8):
        plain = min(4.0, 0.5 * 2 ** attempt)
        waits = [p.wait(attempt) for _ in range(200)]
        assert all(0.5 * plain <= w < 1.5 * plain for w in waits)
        assert max(waits) - min(waits) > 0.3 * plain          # jittered, not constant


def test_retry_after_is_a_floor_and_over_the_limit_gives_up():
    p = RetryPolicy(base=0.1, jitter=False, max_retry_after=10)
    assert p.wait(0, retry_after="5") == 5.0
    assert p.wait(0, retry_after=2.5) == 2.5
    assert p.wait(0, retry_after="11") is None
    assert p.wait(0, retry_after="soon") == 0.1               # unreadable: ignored
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0   # in the past
    assert retry_after_seconds(None) is None


@pytest.mark.parametrize("status,outcome,worth", [
    (429, "ok", True), (500, "ok", True), (503, "ok", True), (599, "ok", True),
    (404, "ok", False), (403, "ok", False), (200, "ok", False), (None, "timeout", True),
    (None, "connection_error", True), (None, "too_large", False)])
def test_what_is_worth_another_try(status, outcome, worth):
    assert retryable_http(status, outcome) is worth


def test_the_crawler_and_the_store_use_the_one_policy():
    from swelm.corpus_tools.fetch import Fetcher
    from swelm.pipelines.io import readers, store
    f = Fetcher(retries=4, backoff=0.25, max_retry_after=7)
    assert f.retry == RetryPolicy(attempts=5, base=0.25, cap=30.0, max_retry_after=7)
    assert store.POLICY is retry_mod.STORE
    http = readers._range_fetcher(180.0, 30.0, 8)
    assert isinstance(http.retry, RetryPolicy) and http.retry.attempts == 8


def test_filesystem_keeps_only_filesystem_flags_and_pickles():
    from swelm.pipelines.io import FileSystem
    fs = FileSystem(["--s3_endpoint_url=http://127.0.0.1:1", "--runner=X", "--workers=2",
                     "--project=p", "--gcs_foo=1"])
    assert fs.options == ("--s3_endpoint_url=http://127.0.0.1:1", "--project=p", "--gcs_foo=1")
    back = pickle.loads(pickle.dumps(fs))
    assert back == fs and hash(back) == hash(fs) and back != FileSystem()


def test_an_operation_gives_this_process_the_filesystems_flags(tmp_path):
    """Each operation hands the object's flags to Beam's FileSystems first (a worker started by
    a pool never got them), and again when another set was used in between."""
    from swelm.pipelines.io import FileSystem, filesystem
    a = FileSystem(["--s3_endpoint_url=http://127.0.0.1:1"])
    b = FileSystem(["--s3_endpoint_url=http://127.0.0.1:2"])
    (tmp_path / "x").write_bytes(b"x")
    for fs in (a, b, a):
        assert fs.read_bytes(str(tmp_path / "x")) == b"x"
        assert filesystem._configured == fs.options
