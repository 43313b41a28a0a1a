"""Atomic publishing of files and folders: the one temp-then-rename helper of swelm.

Everything a command writes appears under its final name only when complete: it is written
under a hidden temporary name beside the destination (``.NAME.tmp-XXXXXXXX``) and renamed.  A
folder that replaces an older one is swapped in (the old one is renamed aside, the new one
renamed in, the old one removed), so a reader sees the old or the new folder, never a mix.
Temporaries a killed run left beside a destination (``.NAME.tmp-`` or ``.NAME.old-`` and eight
hexadecimal digits, nothing else) are removed by the next run, which holds the destination's
lock (:func:`lock_destination`), so it never removes the temporaries of a run still writing.

    with atomic_path("out/model.npy") as tmp:      # a file or a folder, written at tmp
        numpy.save(tmp, array)
    write_json("out/stats.json", stats)             # indent 1, sorted keys, UTF-8, final newline

The destination rule.  An existing destination is replaced (or, for a resumable output such as a
crawl or a training run, continued) only if it is an output of the same :class:`Kind` written by
swelm.  Ownership is proven by content, never by file names: a non-empty folder must hold the
kind's marker (its manifest, written last) with content the kind recognises, or swelm's owner
file (:data:`OWNER`, written first into resumable outputs and into folders whose kind has no
marker) naming the kind; and it must hold nothing but that kind's files (hidden files and empty
folders count).  A file must be one the kind recognises by its content.  Anything else is refused with
:class:`DestinationError` before any work starts (:func:`check_destination`), and checked again
when the result is published, so a user's folder is never renamed aside and deleted.  A
destination that overlaps the command's inputs is refused too.  The same check serves object
stores (swelm.pipelines.io.destination passes its own :class:`Store`).
"""
from __future__ import annotations

import contextlib
import fnmatch
import glob
import json
import os
import re
import shutil
import stat
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator

from swelm.errors import SwelmError
from swelm.procs import stop_if_signalled

TMP = "tmp"
OLD = "old"


#: swelm's owner file: ``{"swelm_output": KIND NAME}``, in outputs whose kind has no marker
#: and in resumable outputs from their start (a crawl, a training run, a pipeline folder)
OWNER = ".swelm-owner.json"

_TEMPORARY = re.compile(r"\.(.+)\.(tmp|old)-[0-9a-f]{8}")
_LOCK = re.compile(r"\.(.+)\.swelm-lock")


def temporary_sibling(dst: str, tag: str = TMP) -> str:
    """A fresh hidden name beside ``dst``: ``.NAME.TAG-XXXXXXXX`` (8 hexadecimal digits)."""
    parent, name = os.path.split(os.path.abspath(dst))
    return os.path.join(parent, f".{name}.{tag}-{uuid.uuid4().hex[:8]}")


def is_temporary(name: str) -> bool:
    """Whether a file name is exactly one of :func:`temporary_sibling`'s
    (``.NAME.tmp-XXXXXXXX`` or ``.NAME.old-XXXXXXXX``, X hexadecimal).

    >>> [is_temporary(n) for n in (".a.tmp-0123abcd", ".a.tmp-keep", ".env.tmp-local", "a.tmp-0123abcd")]
    [True, False, False, False]
    """
    return _TEMPORARY.fullmatch(os.path.basename(name)) is not None


def _remove(path: str) -> None:
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def remove_stale_temporaries(dst: str, kind: "Kind | None" = None) -> int:
    """Remove the temporaries of ``dst`` that a killed run left beside it; return how many.  A
    run killed in the middle of a swap (the old folder renamed aside, the new one not yet in)
    gets the old folder back, so the previous output is never lost (with ``kind``, only a
    folder proven to be that kind's output is renamed back; anything else stays).  Only names
    of :func:`temporary_sibling`'s exact form are touched; call it holding the destination's
    lock (:func:`lock_destination`)."""
    parent, name = os.path.split(os.path.abspath(dst))
    if not os.path.isdir(parent):
        return 0
    n = 0
    for entry in sorted(os.listdir(parent)):
        m = _TEMPORARY.fullmatch(entry)
        if not m or m.group(1) != name:
            continue
        path = os.path.join(parent, entry)
        if m.group(2) == OLD and not os.path.lexists(dst):
            if kind is None or _is_own_folder(path, kind):
                os.rename(path, dst)        # the swap was interrupted: the old output returns
            continue
        _remove(path)
        n += 1
    return n


def _is_own_folder(path: str, kind: "Kind") -> bool:
    try:
        check_destination(path, kind, flag="output", check_writable=False, lock=False)
    except DestinationError:
        return False
    return True


def remove_temporaries(folder: str) -> int:
    """Remove every temporary under ``folder`` (recursively; names of
    :func:`temporary_sibling`'s exact form only); return how many.  For folders proven to be
    swelm's (a crawl or a run being continued)."""
    n = 0
    for path in glob.glob(os.path.join(glob.escape(folder), "**", ".*"), recursive=True):
        if is_temporary(path):
            _remove(path)
            n += 1
    return n


class DestinationError(SwelmError, ValueError):
    """An output path that would replace something that is not swelm's output of that kind."""


@dataclass(frozen=True)
class Kind:
    """A kind of output: what a destination may hold to be replaced (or continued).

    ``entries`` are the ``fnmatch`` patterns of the files (relative paths with ``/``) such an
    output holds; ``marker`` is the file written last, whose content ``recognise(bytes)`` accepts
    as this kind (a folder without its marker is accepted only when it holds :data:`OWNER`
    naming the kind: a resumable output, or one whose publication was interrupted);
    ``is_file`` kinds are single files, recognised by ``recognise(first bytes)``:
    ``head_bytes`` of them (None: the whole file, for a kind that is only complete when all
    of it checks out)."""
    name: str
    entries: tuple = ()
    marker: str | None = None
    recognise: Callable[[bytes], bool] | None = None
    is_file: bool = False
    head_bytes: int | None = 1 << 20


class Store:
    """The view of a filesystem the destination rule needs; this one is the local disk
    (swelm.pipelines.io.destination has the one of any filesystem)."""

    def state(self, path: str) -> str:
        """``missing``, ``file``, ``folder``, ``link`` (a symbolic link) or ``other`` (a FIFO,
        a device, a socket)."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return "missing"
        except NotADirectoryError:
            return "missing"
        if stat.S_ISLNK(st.st_mode):
            return "link"
        if stat.S_ISDIR(st.st_mode):
            return "folder"
        return "file" if stat.S_ISREG(st.st_mode) else "other"

    def listing(self, folder: str) -> list[str]:
        """Every entry under ``folder``, relative, ``/``-separated: files, links and special
        files, hidden ones and temporaries included, and each empty folder as ``NAME/``."""
        out = []
        for cur, dirs, files in os.walk(folder):
            rel = os.path.relpath(cur, folder)
            prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            if prefix and not dirs and not files:
                out.append(prefix)
            out.extend(prefix + name for name in files)
            out.extend(prefix + d for d in dirs if os.path.islink(os.path.join(cur, d)))
        return sorted(out)

    def head(self, path: str, n: int | None = 1 << 20) -> bytes:
        """The first ``n`` bytes of the file (None: all of it)."""
        with open(path, "rb") as f:
            return f.read(n)

    def same_or_inside(self, a: str, b: str) -> bool:
        """Whether path ``a`` is ``b`` or inside it."""
        a, b = os.path.realpath(a), os.path.realpath(b)
        return a == b or a.startswith(b.rstrip(os.sep) + os.sep)


LOCAL = Store()


def _examples(names: list[str], n: int = 3) -> str:
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def check_destination(dst: str, kind: Kind, *, flag: str = "--out", sources=(),
                      store: Store = LOCAL, inside_source_ok: bool = False,
                      check_writable: bool = True, lock: bool = True) -> None:
    """Raise :class:`DestinationError` unless ``dst`` is absent, an empty folder, or an output
    of ``kind`` written by swelm (see the module docstring); ``sources`` (input paths) must not
    overlap it (with ``inside_source_ok``, ``dst`` may lie inside a source folder, as long as
    it is not the source itself).  With ``lock`` a local destination is locked for this
    process first (:func:`lock_destination`): a second run writing it is refused."""
    where = f"{flag} {dst}"
    if not dst.strip():
        raise DestinationError(f"{flag} {dst!r}: an empty path; expected where to write "
                               f"{kind.name}")
    if store is LOCAL and check_writable:
        _check_writable(dst, where)
    if kind.is_file and (dst.endswith(("/", os.sep)) or store.state(dst) == "folder"):
        raise DestinationError(f"{where}: is a folder; expected a file name for "
                               f"{kind.name}")
    if lock and "://" not in dst:
        lock_destination(dst, where)
    for src in sources:
        inside = store.same_or_inside(dst, src) and not (
            inside_source_ok and not store.same_or_inside(src, dst))
        if store.same_or_inside(src, dst) or inside:
            raise DestinationError(f"{where}: overlaps the input {src}; write the output "
                                   "elsewhere")
    state = store.state(dst)
    # a killed run's temporary beside a single file goes once the file is known to be absent
    # or ours (a file that is not stops the run first, and its folder is left as it was)
    tidy = kind.is_file and lock and store is LOCAL
    if state == "missing":
        if tidy:
            remove_stale_temporaries(dst, kind)
        return
    if state == "link":
        raise DestinationError(f"{where}: is a symbolic link; give the path it points to")
    if kind.is_file:
        if state != "file":
            raise DestinationError(f"{where}: is not a regular file (expected {kind.name})")
        if kind.recognise is not None and not _recognised(kind, store, dst):
            raise DestinationError(f"{where}: exists and is not {kind.name} written by swelm; "
                                   "refusing to replace it")
        if tidy:
            remove_stale_temporaries(dst, kind)
        return
    if state != "folder":
        raise DestinationError(f"{where}: is a file, expected a folder for {kind.name}")
    files = store.listing(dst)
    if not files:
        return
    foreign = [f for f in files if not _belongs(f, kind)]
    if foreign:
        raise DestinationError(f"{where}: holds files that are not part of {kind.name} "
                               f"written by swelm ({_examples(foreign)}); refusing to replace "
                               "it: choose a new or empty folder")
    if not _owned(dst, kind, store, files):
        what = (f"its {kind.marker} was not written by swelm as {kind.name}"
                if kind.marker and kind.marker in files else
                f"it is not {kind.name} written by swelm (no "
                + (f"{kind.marker} or " if kind.marker else "") + f"{OWNER})")
        raise DestinationError(f"{where}: {what}; refusing to replace it: choose a new or "
                               "empty folder")


def _belongs(rel: str, kind: Kind) -> bool:
    """Whether an entry of a folder may be part of an output of ``kind``: one of its files, the
    owner file, a temporary of swelm's exact form (a killed write inside the output), or an
    empty folder such files live in (a run killed before it wrote its first file there)."""
    parts = rel.rstrip("/").split("/")
    if rel == OWNER or any(is_temporary(p) for p in parts) or _LOCK.fullmatch(parts[-1]):
        return True
    if rel.endswith("/"):               # an empty folder: one the kind's files live in
        path = "/".join(parts)
        return any(fnmatch.fnmatchcase(path, "/".join(p.split("/")[:len(parts)]))
                   if p.count("/") >= len(parts) else fnmatch.fnmatchcase(path, p)
                   for p in kind.entries)
    return any(fnmatch.fnmatchcase(rel, p) for p in kind.entries)


def _owned(dst: str, kind: Kind, store: Store, files: list[str]) -> bool:
    """Whether a folder proves by content that it is swelm's output of ``kind``."""
    if kind.marker and kind.marker in files and kind.recognise is not None \
            and _recognised(kind, store, _join(dst, kind.marker)):
        return True
    if OWNER in files:
        try:
            owner = json.loads(store.head(_join(dst, OWNER)).decode("utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return False
        return isinstance(owner, dict) and owner.get("swelm_output") == kind.name
    return False


# -- one run per destination ---------------------------------------------------------------------
#: the locks this process holds: destination (absolute) -> open file descriptor
_LOCKS: dict[str, int] = {}
_AT_EXIT: list = []
#: the folders made for a lock file (deepest first): removed with the lock when still empty,
#: so a run that fails before writing leaves no empty folders behind
_MADE: dict[str, list] = {}


def lock_path(dst: str) -> str:
    """The lock file of a destination: ``.NAME.swelm-lock`` beside it."""
    parent, name = os.path.split(os.path.abspath(dst))
    return os.path.join(parent, f".{name}.swelm-lock")


def lock_destination(dst: str, where: str | None = None) -> None:
    """Lock the local destination ``dst`` for this process (an exclusive ``flock`` on its lock
    file, :func:`lock_path`), until :func:`release_locks` or the process ends (the system
    releases it then, even after ``kill -9``).  A destination another process holds is refused
    with one line.  In a distributed run only the first process (``RANK`` 0) locks."""
    if os.environ.get("RANK", "0") not in ("", "0"):
        return
    key = os.path.abspath(dst)
    if key in _LOCKS:
        return
    import fcntl
    path = lock_path(dst)
    made, folder = [], os.path.dirname(path)
    while not os.path.lexists(folder) and os.path.dirname(folder) != folder:
        made.append(folder)
        folder = os.path.dirname(folder)
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError:
            return                      # a read-only folder: reported by the writability check
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DestinationError(f"{where or dst}: another run is writing it (it holds "
                                   f"{path}); wait for it to end or choose another "
                                   "destination") from None
        st = os.fstat(fd)
        try:
            same = os.stat(path).st_ino == st.st_ino
        except FileNotFoundError:
            same = False
        if not same:                    # the holder removed it as we opened it: again
            os.close(fd)
            continue
        if st.st_size:
            os.close(fd)                # a file of the user's with that name: left alone
            raise DestinationError(f"{where or dst}: {path} is not swelm's lock file (it is "
                                   "not empty); move it away")
        if not _AT_EXIT:
            import atexit
            atexit.register(release_locks)  # (a library caller's lock files go at exit)
            _AT_EXIT.append(True)
        _LOCKS[key] = fd
        _MADE[key] = made
        return


def _forget_locks_in_child() -> None:
    """In a forked child (a worker pool): close the inherited lock descriptors, so that a
    worker outliving its parent never keeps the destination locked (the lock files stay:
    they are the parent's)."""
    _MADE.clear()
    while _LOCKS:
        _, fd = _LOCKS.popitem()
        with contextlib.suppress(OSError):
            os.close(fd)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks_in_child)


def release_locks() -> None:
    """Release every destination lock this process holds (and remove its lock files)."""
    while _LOCKS:
        key, fd = _LOCKS.popitem()
        with contextlib.suppress(OSError):
            os.remove(lock_path(key))
        os.close(fd)
        for folder in _MADE.pop(key, ()):
            try:
                os.rmdir(folder)            # only while empty: an output in it stays
            except OSError:
                break


def owner_text(kind: Kind) -> str:
    """The content of :data:`OWNER` for an output of ``kind``."""
    return json_text({"swelm_output": kind.name})


def claim_folder(dst: str, kind: Kind) -> None:
    """Create the folder ``dst`` (a resumable output, after :func:`check_destination`) with its
    owner file, so that a run killed before its marker is written is still recognised."""
    os.makedirs(dst, exist_ok=True)
    if not os.path.exists(os.path.join(dst, OWNER)):
        write_text(os.path.join(dst, OWNER), owner_text(kind))


#: the bytes the temporary (``.NAME.tmp-XXXXXXXX``), lock and probe names add to a name
_NAME_ROOM = 24


def _check_writable(dst: str, where: str) -> None:
    """That a temporary can be made beside ``dst`` (in its nearest existing folder): a
    read-only disk or folder is reported before any work, not after it."""
    parent = os.path.dirname(os.path.abspath(dst))
    while not os.path.lexists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise DestinationError(f"{where}: {parent} is a file, not a folder; the output cannot "
                               "be made under it")
    try:
        name_max = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    n = len(os.fsencode(os.path.basename(dst)))
    if n + _NAME_ROOM > name_max:
        raise DestinationError(f"{where}: a file name of {n} bytes; at most "
                               f"{name_max - _NAME_ROOM} here (the temporary and lock names "
                               "beside it are longer)")
    probe = os.path.join(parent, f".{os.path.basename(dst) or 'out'}.{TMP}-probe{os.getpid()}")
    try:
        os.mkdir(probe)
    except FileExistsError:
        pass
    except OSError as e:
        raise DestinationError(f"{where}: cannot write in {parent}: {e.strerror}") from None
    with contextlib.suppress(OSError):
        os.rmdir(probe)


def _join(a: str, b: str) -> str:
    return f"{a.rstrip('/')}/{b}" if "://" in a else os.path.join(a, b)


def _recognised(kind: Kind, store: Store, path: str) -> bool:
    try:
        return bool(kind.recognise(store.head(path, kind.head_bytes)))
    except (OSError, ValueError, UnicodeDecodeError):
        return False


def json_marker(check: Callable[[dict], bool]) -> Callable[[bytes], bool]:
    """A ``recognise`` for JSON markers: the JSON object ``check`` accepts."""
    def recognise(data: bytes) -> bool:
        obj = json.loads(data.decode("utf-8"))
        return isinstance(obj, dict) and bool(check(obj))
    return recognise


def publish(tmp: str, dst: str, kind: Kind | None = None) -> None:
    """Move a finished file or folder ``tmp`` to ``dst``, replacing what is there atomically.
    A folder that is there is only replaced when it is an output of ``kind`` (the check is made
    again here, so nothing else is ever renamed aside and deleted).  Nothing is published
    once a signal is ending the command (swelm.procs.stop_if_signalled)."""
    stop_if_signalled()
    if kind is not None and kind.marker is None and os.path.isdir(tmp) \
            and not os.path.exists(os.path.join(tmp, OWNER)):
        with open(os.path.join(tmp, OWNER), "w", encoding="utf-8") as f:
            f.write(owner_text(kind))
    if os.path.isdir(dst) and not os.path.islink(dst):
        if kind is None:
            raise DestinationError(f"{dst}: is a folder; refusing to replace it")
        check_destination(dst, kind, flag="output", lock=False)
        old = temporary_sibling(dst, OLD)
        os.rename(dst, old)
        os.rename(tmp, dst)
        shutil.rmtree(old)
    else:
        os.replace(tmp, dst)


@contextlib.contextmanager
def atomic_path(dst: str, kind: Kind | None = None) -> Iterator[str]:
    """A temporary path to write a file or folder at; published as ``dst`` when the block ends
    without an exception, removed otherwise.  A folder at ``dst`` is replaced only when it is
    an output of ``kind`` (see :func:`publish`)."""
    parent = os.path.dirname(os.path.abspath(dst))
    os.makedirs(parent, exist_ok=True)
    tmp = temporary_sibling(dst)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    try:
        publish(tmp, dst, kind)
    except BaseException:
        _remove(tmp)
        raise


def write_bytes(dst: str, data: bytes) -> None:
    with atomic_path(dst) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text(dst: str, text: str) -> None:
    write_bytes(dst, text.encode("utf-8"))


def json_text(obj) -> str:
    """The one JSON layout of swelm's files: indent 1, sorted keys, UTF-8, final newline."""
    return json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def write_json(dst: str, obj) -> None:
    write_text(dst, json_text(obj))
