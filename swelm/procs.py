"""Worker processes that never outlive the command that started them."""
from __future__ import annotations

import os
import signal
import sys


#: the signals ending this command (SIGINT from Ctrl-C, SIGTERM, SIGHUP), as swelm.cli's
#: handler records them; empty while none came
SIGNALLED: list[int] = []


def stop_if_signalled() -> None:
    """Raise KeyboardInterrupt if a signal is ending this command.  Called before an output is
    published: the handler's KeyboardInterrupt can be raised where Python drops exceptions (a
    weakref callback prints "Exception ignored" and goes on), and an interrupted command must
    not publish what it was writing."""
    if SIGNALLED:
        raise KeyboardInterrupt


#: set when this process ended workers a library's thread may still be waiting on
_ABANDONED: list[str] = []


def abandon_threads(why: str) -> None:
    """Record that this process ended worker processes in the middle of their work, so a
    library thread may wait on them for ever (concurrent.futures' result reader when a worker
    died while sending a result): the command then ends without joining threads
    (:func:`threads_abandoned`, see swelm.cli)."""
    _ABANDONED.append(why)


def threads_abandoned() -> bool:
    return bool(_ABANDONED)


def end_with_parent(parent: int) -> None:
    """Have the system send this process SIGTERM when its parent ends, however it ends
    (``kill -9`` included: Linux's ``PR_SET_PDEATHSIG``); call it first thing in a worker
    started by the process ``parent``.  If the parent already ended, end now.  Elsewhere than
    on Linux it does nothing (the parent's own signal handling still ends its workers)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)          # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:                          # the parent ended before the call
        os.kill(os.getpid(), signal.SIGTERM)


def children() -> dict[int, list[int]]:
    """``{parent: [children]}`` of every process this one can see (Linux /proc; empty
    elsewhere)."""
    tree: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return {}
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        tree.setdefault(ppid, []).append(int(name))
    return tree


def command_line(pid: int) -> bytes:
    """The NUL-separated command line of process ``pid`` (empty when it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""
