"""Text in from users: standard input and files as strict UTF-8, and lines split at ``\\n`` only.

``str.splitlines`` also splits at ``\\x0b \\x0c \\x1c \\x1d \\x1e \\x85 U+2028 U+2029``, which occur
inside real lines (form feeds in man pages, U+2028 in web text), so a tool that reads "one input
per line" would make extra inputs of them.  Here a line ends at ``\\n`` (``\\r\\n`` too).
"""
from __future__ import annotations

import sys

from swelm.errors import UsageError


def split_lines(text: str) -> list[str]:
    """The lines of ``text``, split at ``\\n`` (a ``\\r`` before it is dropped); a final
    newline does not start another line.

    >>> split_lines("a\\x0cb\\r\\nc\\u2028d\\n")
    ['a\\x0cb', 'c\\u2028d']
    """
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def decode(data: bytes, where: str) -> str:
    """``data`` as UTF-8, or a UsageError naming ``where`` and the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{where}: not valid UTF-8 (byte {e.start}: 0x{data[e.start]:02x}); "
                         "convert it first, e.g. iconv -f SHIFT_JIS -t UTF-8") from None


def read_stdin() -> str:
    """Standard input as strict UTF-8 (a UsageError, not a 'lone surrogate', for bad bytes)."""
    return decode(sys.stdin.buffer.read(), "standard input")


def read_file(path: str, what: str = "input") -> str:
    """A text file as strict UTF-8, with one clear error for a missing, unreadable or
    non-UTF-8 file (``-``: standard input)."""
    if path == "-":
        return read_stdin()
    from .checks import special_file
    kind = special_file(path)
    if kind:
        raise UsageError(f"{path}: the {what} is {kind}, not a regular file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: {what} not found") from None
    except OSError as e:            # a folder, a symbolic-link loop, no permission
        raise UsageError(f"{path}: cannot read the {what}: {e.strerror}") from None
    if data.startswith(b"\xef\xbb\xbf"):      # a UTF-8 byte-order mark is not text
        data = data[3:]
    return decode(data, path)
