"""WARC byte ranges (corpus_tools.warc): every record read exactly once, whatever the cuts."""
from __future__ import annotations

import gzip
import io
import os
import random

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from swelm.corpus_tools.warc import iter_range, per_record_gzip, plan, ranges


def _record(writer, url: str, body: bytes):
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                               protocol="HTTP/1.1")
    return writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                     http_headers=headers)


def _bodies(n: int = 60, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = f"<html><body><p>第{i}段落。吾輩は猫である。名前はまだ無い。</p>" * rng.choice((1, 5, 40))
        if i % 7 == 3:      # a large record that does not compress: longer than many ranges
            text += rng.randbytes(60_000).hex()
        out.append(text.encode("utf-8"))
    return out


def write_warc(path, bodies, gz: bool = True) -> None:
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=gz)
        for i, body in enumerate(bodies):
            w.write_record(_record(w, f"http://example.jp/{i}.html", body))


def _read(path, start, end):
    out = []
    for kind, rec in iter_range(str(path), start, end):
        assert kind == "record", rec
        out.append((rec.rec_headers.get_header("WARC-Target-URI"), rec.content_stream().read()))
    return out


@pytest.fixture()
def warc(tmp_path):
    p = tmp_path / "site-00000.warc.gz"
    bodies = _bodies()
    write_warc(p, bodies)
    return p, bodies


@pytest.mark.parametrize("piece", [1_000, 7_777, 50_000, 10**9])
def test_ranges_read_every_record_once(warc, piece):
    path, bodies = warc
    size = os.path.getsize(path)
    rs = ranges(str(path), size, piece)
    assert rs[0][0] == 0 and rs[-1][1] == size
    assert all(a[1] == b[0] for a, b in zip(rs, rs[1:]))       # contiguous, no gaps
    if piece < size // 4:
        assert len(rs) > 3
    got = [r for s, e in rs for r in _read(path, s, e)]
    assert got == [(f"http://example.jp/{i}.html", b) for i, b in enumerate(bodies)]


def test_cuts_fall_on_records(warc):
    path, _ = warc
    size = os.path.getsize(path)
    rs = ranges(str(path), size, 2_000)
    # a range starts where a record starts: reading it from there gives that record first
    for s, e in rs:
        assert _read(path, s, e), (s, e)


def test_arbitrary_cut_points_still_read_each_record_once(warc):
    """Readers also work on cuts that fall inside records (as other runners' splits might)."""
    path, bodies = warc
    size = os.path.getsize(path)
    rng = random.Random(1)
    cuts = sorted({0, size, *(rng.randrange(size) for _ in range(25))})
    got = [r for s, e in zip(cuts, cuts[1:]) for r in _read(path, s, e)]
    assert [u for u, _ in got] == [f"http://example.jp/{i}.html" for i in range(len(bodies))]


def test_files_that_cannot_be_cut_are_one_range(tmp_path):
    bodies = _bodies(20)
    plain = tmp_path / "a.warc"
    write_warc(plain, bodies, gz=False)
    assert not per_record_gzip(str(plain))
    assert ranges(str(plain), os.path.getsize(plain), 1_000) == [(0, os.path.getsize(plain))]
    whole = tmp_path / "b.warc.gz"          # one gzip member for the whole file
    whole.write_bytes(gzip.compress(plain.read_bytes()))
    assert not per_record_gzip(str(whole))
    assert ranges(str(whole), os.path.getsize(whole), 1_000) == [(0, os.path.getsize(whole))]


def test_plan_covers_each_file(warc, tmp_path):
    path, _ = warc
    small = tmp_path / "small-00000.warc.gz"
    write_warc(small, _bodies(2))
    p = plan({str(f): os.path.getsize(f) for f in (path, small)}, 5_000)
    for f in (path, small):
        rs = sorted((s, e) for (q, s, e) in p if q == str(f))
        assert rs[0][0] == 0 and rs[-1][1] == os.path.getsize(f)
        assert sum(p[(str(f), s, e)] for s, e in rs) == os.path.getsize(f)
    assert len([k for k in p if k[0] == str(small)]) == 1


def _offsets(path) -> list[int]:
    from warcio.archiveiterator import ArchiveIterator
    offsets = []
    with open(path, "rb") as f:
        it = ArchiveIterator(f)
        for rec in it:
            offsets.append(it.offset)
            rec.content_stream().read()
    return offsets


def test_damaged_record_is_reported_and_the_rest_is_read(warc):
    path, bodies = warc
    data = bytearray(path.read_bytes())
    # damage the member of record 10 (the 11th)
    offsets = _offsets(path)
    start, end = offsets[10], offsets[11]
    for i in range(start + 20, min(end, start + 60)):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    urls, damaged = [], []
    for kind, rec in iter_range(str(path), 0, len(data)):
        if kind == "damaged":
            damaged.append(rec)
            continue
        try:
            rec.content_stream().read()
        except Exception:
            continue                        # the body of the damaged record
        urls.append(rec.rec_headers.get_header("WARC-Target-URI"))
    assert damaged and "offset" in damaged[0]
    want = [f"http://example.jp/{i}.html" for i in range(len(bodies)) if i != 10]
    assert urls == want


def test_stored_warc_inside_a_payload_is_not_a_cut(tmp_path):
    """A record whose payload holds a per-record gzip WARC, which deflate stores verbatim: the
    stored member starts a WARC record too, but it is not followed by another member, so no cut
    is placed on it."""
    inner = tmp_path / "inner.warc.gz"
    write_warc(inner, [b"<p>inner</p>"])
    rng = random.Random(2)
    bodies = [rng.randbytes(20_000) + inner.read_bytes() + rng.randbytes(20_000)
              for _ in range(4)]
    path = tmp_path / "outer-00000.warc.gz"
    write_warc(path, bodies)
    assert path.read_bytes().count(inner.read_bytes()) == 4     # stored verbatim
    size = os.path.getsize(path)
    for piece in (5_000, 11_000, 20_000):
        rs = ranges(str(path), size, piece)
        got = [u for s, e in rs for u, _ in _read(path, s, e)]
        assert got == [f"http://example.jp/{i}.html" for i in range(4)], piece


def _rules(tmp_path):
    p = tmp_path / "sites.toml"
    p.write_text('[[sites]]\nname = "ex"\nseeds = ["http://example.jp/"]\ngenre = "blog"\n',
                 encoding="utf-8")
    return str(p)


def test_build_corpus_reader_counts_damage_and_reads_on(warc, tmp_path):
    from apache_beam.pvalue import TaggedOutput
    from swelm.corpus_tools.sites import load_sites
    from swelm.pipelines.stages import ReadWarc
    path, bodies = warc
    data = bytearray(path.read_bytes())
    size = len(data)
    cut = ranges(str(path), size, 6_000)
    # damage a record header in the middle of the file: the range reader reports it once and
    # keeps reading
    mid = _offsets(path)[len(bodies) // 2]
    for i in range(mid + 20, mid + 60):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    read = ReadWarc(load_sites(_rules(tmp_path)))
    out = [r for s, e in cut for r in read((str(path), s, e))]
    pages = [r.url for r in out if not isinstance(r, TaggedOutput)]
    events = [r.value for r in out if isinstance(r, TaggedOutput)]
    assert [e[0] for e in events] == ["damaged_warc"]
    assert events[0][1] == str(path) and events[0][2]
    assert len(pages) == len(bodies) - 1 and len(set(pages)) == len(pages)


def test_build_corpus_reader_reports_a_missing_file_once(tmp_path):
    from swelm.corpus_tools.sites import load_sites
    from swelm.pipelines.stages import ReadWarc
    read = ReadWarc(load_sites(_rules(tmp_path)))
    gone = str(tmp_path / "gone.warc.gz")
    out = [r.value for rng in ((0, 100), (100, 200), (200, 300)) for r in read((gone, *rng))]
    assert [(e[0], e[1]) for e in out] == [("unreadable_warc", gone)]



def test_a_file_cut_inside_its_last_record_is_reported(tmp_path):
    """A partial download whose last gzip member is cut before its record header can be read:
    warcio stops there without an error; the reader reports the unread bytes."""
    path = tmp_path / "cut.warc.gz"
    write_warc(path, [b"<p>short page</p>"] * 3)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - 300])
    items = list(iter_range(str(path), 0, len(data)))
    kinds = [k for k, _ in items]
    assert kinds[:-1] == ["record"] * (len(kinds) - 1) and kinds[-1] == "damaged"
    assert "the file ends inside a record" in items[-1][1]
    whole = tmp_path / "whole.warc.gz"
    write_warc(whole, [b"<p>short page</p>"] * 3)
    assert [k for k, _ in iter_range(str(whole), 0, whole.stat().st_size)] == ["record"] * 3


def test_a_damaged_record_header_has_a_reason_that_says_so(tmp_path):
    """A record missing a required field (here WARC-Target-URI) fails inside warcio with an
    AttributeError; the reason names a damaged record header instead."""
    import io
    import re as re_
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter
    from swelm.corpus_tools.warc import iter_range
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=False)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    for i in range(2):
        w.write_record(w.create_warc_record(f"http://x.jp/{i}", "response",
                                            payload=io.BytesIO(b"<p>x</p>"), http_headers=http))
    data = re_.sub(rb"WARC-Target-URI: [^\r]*\r\n", b"", buf.getvalue(), count=1)
    path = tmp_path / "bad.warc"
    path.write_bytes(data)
    out = list(iter_range(str(path), 0, len(data)))
    damaged = [detail for kind, detail in out if kind == "damaged"]
    assert damaged and "a damaged record header" in damaged[0], out
    assert "NoneType" not in damaged[0]


def test_a_file_that_stops_being_readable_is_an_error_not_damaged_records(tmp_path):
    """A read that fails (a store gone, a lost connection: OSError) is the caller's to report
    as an unreadable file; it is never taken for damaged bytes of a record."""
    path = tmp_path / "a.warc.gz"
    write_warc(path, _bodies(30))
    data = path.read_bytes()

    class Failing(io.BytesIO):
        def read(self, n=-1):
            if self.tell() > len(data) // 2:
                raise ConnectionResetError("the store went away")
            return super().read(n)
    seen = []
    with pytest.raises(ConnectionResetError):
        for kind, rec in iter_range(str(path), 0, len(data), opener=lambda p: Failing(data)):
            seen.append(kind)
            if kind == "record":
                rec.content_stream().read()
    assert "damaged" not in seen and "record" in seen
