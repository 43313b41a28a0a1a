"""The destination rule (swelm.publish) and atomic publication of an output folder on any
filesystem: a local folder is swapped in whole; on an object store (no folder rename) the new
objects are staged under a prefix inside the destination and moved in with the marker last.
A set of files (corpus, shard set, crawl) is complete when its marker, written last, exists."""
from __future__ import annotations

import contextlib
import os
import posixpath
from typing import Iterator

from swelm import publish as _publish
from swelm.procs import stop_if_signalled

from .paths import check_scheme, is_http, is_remote, join
from .store import StorageError, retried


class ObjectStore(_publish.Store):
    """The destination rule's view of any Beam filesystem (local paths are the local disk's)."""

    def __init__(self, fs):
        self.fs = fs

    def state(self, path: str) -> str:
        if not is_remote(path):
            return _publish.LOCAL.state(path)
        path = path.rstrip("/")
        if self.fs.listing(path):
            return "folder"
        return ("file" if retried(f"{path}: cannot check it", lambda: self.fs.exists(path),
                                  path=path) else "missing")

    def listing(self, folder: str) -> list[str]:
        if not is_remote(folder):
            return _publish.LOCAL.listing(folder)
        return self.fs.listing(folder)

    def head(self, path: str, n: int | None = 1 << 20) -> bytes:
        if not is_remote(path):
            return _publish.LOCAL.head(path, n)
        data = self.fs.read_bytes(path)
        return data if n is None else data[:n]

    def same_or_inside(self, a: str, b: str) -> bool:
        if is_remote(a) != is_remote(b):
            return False
        if not is_remote(a):
            return _publish.LOCAL.same_or_inside(a, b)
        a, b = a.rstrip("/"), b.rstrip("/")
        return a == b or a.startswith(b + "/")


def check_output(fs, dst: str, kind: _publish.Kind, sources=(), flag: str = "--out") -> None:
    """The destination rule (swelm.publish.check_destination) on any filesystem."""
    if is_http(dst):
        from swelm.errors import UsageError
        raise UsageError(f"{flag} {dst}: an http(s) URL can be read but not written; write to "
                         "a local folder, s3:// or gs://")
    check_scheme(dst, flag)
    if is_remote(dst):
        # a missing bucket is one line now, not a failure of the first write minutes later
        # (deleting a key that is not there succeeds in any bucket that exists)
        fs.delete([join(dst, ".swelm-bucket-probe")])
        if _only_staging(fs, dst):
            return          # what a first run killed before publishing left: the rerun's own
    _publish.check_destination(dst, kind, flag=flag, sources=sources, store=ObjectStore(fs))


def _staging_name(dst: str) -> str:
    """The staging prefix of a remote output, without its random part (see output_folder)."""
    return f".{posixpath.basename(dst.rstrip('/')) or 'out'}.{_publish.TMP}-"


def _only_staging(fs, dst: str) -> bool:
    """Whether the remote prefix ``dst`` holds objects, all of them under staging prefixes of
    its own exact name (``.NAME.tmp-XXXXXXXX/``, X hexadecimal): a first build into it was
    killed before it published anything."""
    import re
    own = re.compile(re.escape(_staging_name(dst)) + r"[0-9a-f]{8}/")
    files = fs.listing(dst.rstrip("/"))
    return bool(files) and all(own.match(f) for f in files)


def claim(fs, dst: str, kind: _publish.Kind) -> None:
    """Make the folder (or prefix) of a resumable output with swelm's owner file in it (after
    :func:`check_output`), so a run killed before its marker is written is still ours."""
    if not is_remote(dst):
        _publish.claim_folder(dst, kind)
    elif not fs.exists(join(dst, _publish.OWNER)):
        fs.write_text(join(dst, _publish.OWNER), _publish.owner_text(kind))


def remove_stale(fs, dst: str, kind: _publish.Kind | None = None) -> int:
    """What a killed run left: temporaries beside a local ``dst`` (an interrupted swap gets
    the old folder back), or staging prefixes inside a remote one."""
    if not is_remote(dst):
        return _publish.remove_stale_temporaries(dst, kind)
    stale = [p for p in fs.listing(dst)
             if any(_publish.is_temporary(part) for part in p.split("/"))]
    fs.delete([join(dst, p) for p in stale])
    return len(stale)


@contextlib.contextmanager
def output_folder(fs, dst: str, kind: _publish.Kind, sources=(), flag: str = "--out",
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
        check_output(fs, dst, kind, sources, flag)
    if not is_remote(dst):
        remove_stale(fs, dst, kind)
        with _publish.atomic_path(dst, kind) as tmp:
            os.makedirs(tmp)
            yield tmp
        return
    import uuid
    dst = dst.rstrip("/")
    remove_stale(fs, dst)
    stage = join(dst, _staging_name(dst) + uuid.uuid4().hex[:8])
    try:
        yield stage
        _move_in(fs, stage, dst, kind, sources, flag)
    except BaseException:
        # the staging prefix goes if the store lets it; the first failure is the one reported
        with contextlib.suppress(StorageError):
            fs.remove_prefix(stage)
        raise
    fs.remove_prefix(stage)


def _move_in(fs, stage: str, dst: str, kind: _publish.Kind, sources, flag: str) -> None:
    stop_if_signalled()                 # an interrupted build publishes nothing
    new = fs.listing(stage)
    if kind.marker and kind.marker not in new:
        raise RuntimeError(f"{stage}: no {kind.marker} was written")
    old = [p for p in fs.listing(dst) if not p.startswith(posixpath.basename(stage) + "/")]
    # the rule again, as the local swap does: nothing foreign appeared meanwhile
    if old:
        check_output(fs, dst, kind, sources, flag)
    # the owner file first: an output whose moves are interrupted is still known as ours
    fs.write_text(join(dst, _publish.OWNER), _publish.owner_text(kind))
    new = [p for p in new if p != _publish.OWNER]
    old = [p for p in old if p != _publish.OWNER]
    if kind.marker and kind.marker in old:
        fs.delete([join(dst, kind.marker)])
    fs.rename([(join(stage, p), join(dst, p)) for p in new if p != kind.marker], stage)
    gone = [join(dst, p) for p in old if p not in new]
    if gone:
        fs.delete(gone)
    if kind.marker:
        fs.rename([(join(stage, kind.marker), join(dst, kind.marker))], stage)
        fs.delete([join(dst, _publish.OWNER)])     # the marker proves it now, as on local disk
