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
