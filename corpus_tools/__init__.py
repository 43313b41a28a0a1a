"""Plain-Python building blocks for the corpus (fetch, extract, normalise, filter, dedup,
weight), one document at a time.  No Beam and no torch here (see DESIGN.md)."""
