"""The one error family of swelm.  A :class:`SwelmError` is a problem the user can fix (a bad
file, flag or field); the command line prints its message as one line on stderr and exits with
status 2.  Each package derives its own errors from it; any other exception is a bug and keeps
its traceback."""
from __future__ import annotations


class SwelmError(Exception):
    """A clear, one-line problem with the user's input."""


class UsageError(SwelmError, ValueError):
    """A flag or argument with a value that cannot work."""


class InputError(SwelmError):
    """Input files that give nothing to work on (every one unreadable, not of the expected
    format, or empty)."""


def first_line(e: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none: what a
    one-line report quotes of a library's error.

    >>> first_line(OSError("bad data\\nmore detail")), first_line(EOFError())
    ('bad data', 'EOFError')
    """
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
