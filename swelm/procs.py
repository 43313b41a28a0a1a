"""Worker processes that never outlive the command that started them."""
from __future__ import annotations

import os
import signal
import sys


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
