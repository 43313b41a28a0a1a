"""How a long command shows its progress: a redrawn bar or status line on a terminal, plain
lines in a log (a file, a pipe: never carriage returns), or nothing."""
from __future__ import annotations

import os
import sys


def progress_mode() -> str:
    """``"terminal"`` when stderr is one, else ``"log"``; ``SWELM_PROGRESS=1`` forces
    ``"terminal"``, ``SWELM_PROGRESS=0`` gives ``"off"``."""
    forced = os.environ.get("SWELM_PROGRESS")
    if forced == "0":
        return "off"
    if forced == "1" or sys.stderr.isatty():
        return "terminal"
    return "log"
