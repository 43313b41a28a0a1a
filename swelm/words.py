"""Counts in words, for the lines a person reads.

    >>> plural(1, "row"), plural(2, "row"), plural(12000, "document"), plural(1, "entry", "entries")
    ('1 row', '2 rows', '12,000 documents', '1 entry')
"""
from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and ``word`` in the singular for 1, else ``many`` (default: ``word + "s"``)."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"
