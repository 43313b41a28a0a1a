"""Plain-Python building blocks for the corpus (fetch, extract, normalise, filter, dedup,
weight), one document at a time.  No Beam and no torch here (see docs/DESIGN.md)."""

from swelm.errors import SwelmError


class CorpusError(SwelmError, ValueError):
    """A rules file, word list, weight or option the corpus tools cannot take."""
