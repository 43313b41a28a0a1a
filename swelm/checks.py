"""Validation of numbers given by users (flags, config fields, rules-file fields): one rule for
every command, so that ``nan``, ``inf``, ``0`` where a count is needed, or ``2.5`` where an
integer is needed are refused with a message naming the flag or field, the value and what was
expected, instead of being accepted and failing later (or never).

    number(args.budget, "--budget", minimum=0, exclusive=True)      # a finite number > 0
    p.add_argument("--steps", type=integer_arg(minimum=1))          # argparse: int >= 1
"""
from __future__ import annotations

import argparse
import math

from swelm.errors import UsageError


def _want(minimum, maximum, exclusive: bool, integer: bool) -> str:
    kind = "an integer" if integer else "a finite number"
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if exclusive else '>='} {minimum}")
    if maximum is not None:
        parts.append(f"<= {maximum}")
    return kind + (" " + " and ".join(parts) if parts else "")


def number(value, name: str, *, minimum=None, maximum=None, exclusive: bool = False,
           integer: bool = False, error=UsageError):
    """``value`` if it is a finite number (an integer when ``integer``; a float with an
    integral value is taken as one) within the bounds, else ``error`` naming ``name``."""
    want = _want(minimum, maximum, exclusive, integer)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and isinstance(value, float):
        ok = math.isfinite(value) and (not integer or value.is_integer())
    if ok and minimum is not None:
        ok = value > minimum if exclusive else value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if not ok:
        raise error(f"{name}: expected {want}, got {value!r}")
    return int(value) if integer else value


def _parse(text: str, integer: bool):
    try:
        return int(text) if integer else float(text)
    except ValueError:
        if integer:
            try:
                f = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
            return f
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _arg(integer: bool, minimum, maximum, exclusive: bool):
    def convert(text: str):
        value = _parse(text, integer)
        try:
            return number(value, "value", minimum=minimum, maximum=maximum,
                          exclusive=exclusive, integer=integer)
        except UsageError:
            raise argparse.ArgumentTypeError(
                f"expected {_want(minimum, maximum, exclusive, integer)}, got {text!r}") from None
    convert.__name__ = "integer" if integer else "number"
    return convert


def integer_arg(minimum=None, maximum=None):
    """An argparse ``type``: an integer within the bounds."""
    return _arg(True, minimum, maximum, False)


def number_arg(minimum=None, maximum=None, exclusive: bool = False):
    """An argparse ``type``: a finite number within the bounds (``nan``/``inf`` refused)."""
    return _arg(False, minimum, maximum, exclusive)


def special_file(path: str) -> str | None:
    """What a local path is when it exists and is neither a regular file nor a folder (``a
    FIFO``, ``a socket``, ``a device``), else None: reading one would block or never end."""
    import os
    import stat
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device")


def regular_file(path: str, what: str) -> None:
    """Refuse (UsageError, one line) a local ``path`` that is a FIFO, socket or device."""
    kind = special_file(path)
    if kind:
        raise UsageError(f"{what} {path}: {kind}, not a regular file")
