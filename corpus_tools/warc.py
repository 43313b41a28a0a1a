"""WARC files read in byte ranges, so that one big file can be spread over several workers.

A ``.warc.gz`` written the standard way (ours, Common Crawl's) compresses each record as its own
gzip member. Such a file can be cut anywhere: a range ``[start, end)`` holds the records whose
member *starts* in it. The reader of a range that does not start at 0 skips to the first gzip
member that decompresses to a WARC record header; the reader of the previous range reads its last
record to the end even when it crosses ``end``. Every record is read exactly once, whatever the
cut points.

A cut is only placed where a member that starts a WARC record is followed by another such member
(or the end of the file). What this cannot tell from a record boundary is a run of whole
per-record gzip members stored verbatim inside a record's payload (a crawled ``.warc.gz``, which
deflate keeps as stored bytes); the reader would then also yield those stored records. Files
that cannot be cut (plain ``.warc``, or a whole file compressed as one gzip member) are one
range. A reader that meets damaged bytes inside its range reports them and resumes at the next
record header, so one damaged record does not lose the rest of the file.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b\x08"
_SCAN = 1 << 16            # bytes read at a time while looking for a member start
_PROBE = 1 << 12           # compressed bytes decompressed to check a candidate member

#: ``opener(path)`` → a seekable binary file; the pipelines pass one that reads any filesystem
Opener = Callable[[str], BinaryIO]


def open_local(path: str) -> BinaryIO:
    return open(path, "rb")


def per_record_gzip(path: str, probe: int = 1 << 16, opener: Opener = open_local) -> bool:
    """Whether ``path`` is gzip with its first record in a member of its own (the first member
    ends within ``probe`` bytes and another member or the end of the file follows)."""
    with opener(path) as f:
        head = f.read(probe)
    if not head.startswith(GZIP_MAGIC):
        return False
    d = zlib.decompressobj(31)
    try:
        out = d.decompress(head, 1 << 22)
    except zlib.error:
        return False
    if not d.eof or not out.startswith(b"WARC/"):
        return False
    rest = d.unused_data
    return rest.startswith(GZIP_MAGIC) or (not rest and len(head) < probe)


def ranges(path: str, size: int, piece: int, reach: int = 4 << 20, opener: Opener = open_local
           ) -> list[tuple[int, int]]:
    """``[(start, end)]`` covering ``path`` (``size`` bytes) in pieces of about ``piece`` bytes,
    each cut moved forward to the next record (looked for within ``reach`` bytes), so that a
    range's length is the compressed size of the records it holds; one range when the file is
    small or cannot be cut."""
    k = max(1, round(size / max(1, piece)))
    if k == 1 or not per_record_gzip(path, opener=opener):
        return [(0, size)]
    cuts = [0]
    with opener(path) as f:
        for i in range(1, k):
            at = max(size * i // k, cuts[-1] + 1)
            if at >= size:
                break
            limit = min(size, at + reach)
            cut = next_member(f, at, limit)
            while cut is not None and not _chained(f, cut, size, reach):
                cut = next_member(f, cut + 1, limit)
            if cut is not None and cut > cuts[-1]:
                cuts.append(cut)
    cuts.append(size)
    return list(zip(cuts[:-1], cuts[1:]))


def _is_member(buf: bytes) -> bool:
    """Whether ``buf`` starts a gzip member whose content starts a WARC record."""
    d = zlib.decompressobj(31)
    try:
        out = d.decompress(buf, 16)
    except zlib.error:
        return False
    return out.startswith(b"WARC/")


def _chained(f, pos: int, size: int, reach: int) -> bool:
    """Whether the member at ``pos`` ends (within ``reach`` bytes) where the file ends or another
    WARC record member starts: a gzip member stored inside a record's payload (a crawled
    ``.warc.gz``) is then not taken for a record boundary, unless two of them follow each
    other there."""
    f.seek(pos)
    d = zlib.decompressobj(31)
    read = 0
    while not d.eof:
        block = f.read(_SCAN)
        if not block or read > reach:
            return False
        read += len(block)
        try:
            d.decompress(block, 1 << 16)
            while d.unconsumed_tail and not d.eof:
                d.decompress(d.unconsumed_tail, 1 << 16)
        except zlib.error:
            return False
    after = pos + read - len(d.unused_data)
    if after >= size:
        return True
    f.seek(after)
    return _is_member(f.read(_PROBE))


def next_member(f, start: int, end: int) -> int | None:
    """Offset of the first gzip member at or after ``start`` and before ``end`` that starts a
    WARC record, or None."""
    pos = start
    while pos < end:
        f.seek(pos)
        chunk = f.read(_SCAN + len(GZIP_MAGIC) - 1)
        if not chunk:
            return None
        i = chunk.find(GZIP_MAGIC)
        while i != -1 and pos + i < end:
            f.seek(pos + i)
            if _is_member(f.read(_PROBE)):
                return pos + i
            i = chunk.find(GZIP_MAGIC, i + 1)
        pos += _SCAN
    return None


def not_warc(head: bytes) -> str | None:
    """Why a file whose first bytes are ``head`` is not a WARC (or ARC) file, plain or gzip;
    None when it is one.

    >>> not_warc(b"WARC/1.1\\r\\n"), not_warc(b"hello")
    (None, 'its first bytes are not a WARC record header: hello')
    """
    data = head
    if head.startswith(GZIP_MAGIC[:2]):
        try:
            data = zlib.decompressobj(31).decompress(head, 64)
        except zlib.error as e:
            return f"gzip data that cannot be decompressed ({e})"
    if data.startswith((b"WARC/", b"filedesc://")) or not data:
        return None
    shown = data[:24].decode("utf-8", "replace").split("\n")[0]
    return ("its first bytes " + ("(decompressed) " if data is not head else "")
            + f"are not a WARC record header: {shown}")


def _reason(at: int, exc: Exception) -> str:
    """A damaged record's reason: warcio's own message (its first line), or what a failure
    inside warcio's header parsing means."""
    if type(exc).__name__ in ("ArchiveLoadFailed", "StatusAndHeadersParserException"):
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        return f"offset {at}: {first or type(exc).__name__}"
    if isinstance(exc, (EOFError, zlib.error)):
        detail = str(exc).replace("Error -3 while decompressing data: ", "")
        return (f"offset {at}: the gzip member cannot be decompressed as stored ({detail}): "
                "damaged bytes, or not the bytes asked for")
    return (f"offset {at}: a damaged record header (a required WARC field is missing or "
            f"malformed: {type(exc).__name__})")


#: the event of a file compressed as one gzip stream, read whole
WHOLE_GZIP = ("read whole as one gzip stream, so one worker reads it all (`warcio recompress "
              "IN OUT` writes one gzip member per record, which workers can share)")


#: the most a gzip member may decompress to when it is read whole and checked (a record: pages
#: are capped at a few MB by the crawl, at 1 MiB by Common Crawl); a larger member is a WARC
#: compressed as one gzip stream, which is read streaming instead
MEMBER_LIMIT = 64 << 20


class _TooLarge(Exception):
    pass


class _Members:
    """The decompressed bytes of the gzip members from ``pos`` on, as a file warcio reads:
    each member is decompressed whole and its CRC and length checked before any of its bytes
    are handed out, so damaged or substituted bytes (a cut file, a server sending other bytes
    than those asked for) are a ``zlib.error``/``EOFError`` raised here, never a record with
    wrong content.  A read never crosses the end of a member, so the error of a member is
    raised when warcio reaches it, not while the previous record is being read."""

    def __init__(self, f, pos: int, limit: int = MEMBER_LIMIT) -> None:
        f.seek(pos)
        self.f, self.next, self.limit = f, pos, limit
        self.pending = b""          # bytes read past the last member's end (the next one's)
        self.buf, self.at = b"", 0
        self.dec = 0                # decompressed offset of buf's start
        self.starts: list[tuple[int, int]] = []     # (decompressed, compressed) member starts
        self.failed = pos           # the compressed offset of the member being loaded

    def _load(self) -> bool:
        self.failed = start = self.next
        d = zlib.decompressobj(31)
        out, size, read = [], 0, 0
        while not d.eof:
            block, self.pending = (self.pending or self.f.read(_SCAN)), b""
            if not block:
                if read == 0:
                    return False    # the end of the file, at a member boundary
                raise EOFError("the file ends inside a gzip member")
            read += len(block)
            data = d.decompress(block, self.limit + 1 - size)
            while d.unconsumed_tail and not d.eof and size + len(data) <= self.limit:
                data += d.decompress(d.unconsumed_tail, self.limit + 1 - size - len(data))
            size += len(data)
            if size > self.limit:
                raise _TooLarge(f"a gzip member over {self.limit >> 20} MiB decompressed")
            out.append(data)
        self.pending = d.unused_data
        self.next = start + read - len(self.pending)
        self.dec += len(self.buf)
        self.buf, self.at = b"".join(out), 0
        self.starts.append((self.dec, start))
        return True

    def read(self, n: int = -1) -> bytes:
        if self.at >= len(self.buf) and not self._load():
            return b""
        while not self.buf:                 # an empty member: the next one
            if not self._load():
                return b""
        end = len(self.buf) if n is None or n < 0 else self.at + n
        chunk = self.buf[self.at:end]
        self.at += len(chunk)
        return chunk

    def where(self, offset: int) -> tuple[int, bool]:
        """(compressed offset of the member holding decompressed ``offset``, whether the
        offset is that member's start)."""
        import bisect
        i = bisect.bisect_right(self.starts, (offset, float("inf"))) - 1
        if i < 0:
            return self.failed, True
        dec, comp = self.starts[i]
        return comp, dec == offset


def iter_range(path: str, start: int, end: int, opener: Opener = open_local
               ) -> Iterator[tuple[str, object]]:
    """``("record", warcio record)`` for each record whose member starts in ``[start, end)``,
    in file order, and ``("damaged", "offset N: error")`` where the bytes could not be read (the
    reader then resumes at the next record header in the range). A record must be consumed
    before the next item is taken, as with warcio's ``ArchiveIterator``.  Each gzip member is
    checked whole (its CRC) before its record is handed out (:class:`_Members`).

    The reader of the first range also yields ``("not_warc", reason)`` (and nothing else) for a
    file that is not a WARC, and ``("whole_gzip", WHOLE_GZIP)`` for a WARC compressed as one
    gzip stream, which it then reads whole (such a file is always one range)."""
    from warcio.archiveiterator import ArchiveIterator
    with opener(path) as f:
        head = f.read(_PROBE)
        if start == 0:
            why = not_warc(head)
            if why:
                yield "not_warc", why
                return
        gz = head.startswith(GZIP_MAGIC)
        pos = start if start == 0 else next_member(f, start, end)
        yielded, whole = 0, False
        while pos is not None and pos < end:
            f.seek(pos)
            stream = _Members(f, pos) if gz else f
            it = ArchiveIterator(stream)
            try:
                for rec in it:
                    at, first = stream.where(it.offset) if gz else (it.offset, True)
                    if at >= end:
                        return
                    if not first and not whole and start == 0:
                        whole = True        # a member holding several records: one stream
                        yield "whole_gzip", WHOLE_GZIP
                    yielded += 1
                    yield "record", rec
                # the reader stopped at the end of the file: bytes after the last whole record
                # are a record the file ends inside (a cut or partial download)
                last = stream.next if gz else it.offset
                left = f.seek(0, 2) - last
                if left > 0 and last < end:
                    yield "damaged", (f"offset {last}: the file ends inside a record "
                                      f"({left} bytes cannot be read: a cut or partial file)")
                return
            except _TooLarge as exc:
                if start == 0 and stream.failed == 0:
                    yield "whole_gzip", WHOLE_GZIP
                    yield from _whole_gzip(f, yielded)
                    return
                at = stream.failed
                yield "damaged", f"offset {at}: {exc}"
                pos = next_member(f, at + 1, end)
            except OSError:                 # the file cannot be read: the caller reports it
                raise
            except Exception as exc:        # damaged bytes: report, then find the next record
                at = stream.failed if gz else max(it.offset, pos)
                if isinstance(exc, EOFError) and gz:
                    left = f.seek(0, 2) - at
                    yield "damaged", (f"offset {at}: the file ends inside a record ({left} "
                                      "bytes cannot be read: a cut or partial file)")
                    return
                yield "damaged", _reason(at, exc)
                if not gz:
                    return                  # no member boundaries to resume at
                pos = next_member(f, at + 1, end)


def plan(sizes: dict[str, int], piece: int, opener: Opener = open_local
         ) -> dict[tuple[str, int, int], int]:
    """``{(path, start, end): bytes}`` for every range of every file (``{path: bytes}``)."""
    out = {}
    for p, size in sorted(sizes.items()):
        for s, e in ranges(p, size, piece, opener=opener):
            out[(p, s, e)] = e - s
    return out
