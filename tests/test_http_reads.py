"""Range reads of WARC files over HTTP (--warc-list / --warc-prefix) against servers on
127.0.0.1 that misbehave: every read is bounded in time and bytes, a 206 answer must be the
range asked for, and a failure is one OSError naming the URL and the reason."""
from __future__ import annotations

import threading
import time

import pytest

from httpkit import ScriptedHandler, start, stop
from swelm.pipelines.io.readers import HttpReader

DATA = bytes(range(256)) * 1024            # 256 KiB


class Misbehaving(ScriptedHandler):
    hits: dict = {}
    warc = b""

    def do_GET(self):
        Misbehaving.hits[self.path] = Misbehaving.hits.get(self.path, 0) + 1
        a = int(self.headers.get("Range", "bytes=0-").split("=")[1].split("-")[0])
        try:
            if self.path == "/endless":      # a correct 206 head, then bytes for ever
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {a}-{len(DATA) - 1}/{len(DATA)}")
                self.send_header("Connection", "close")
                self.end_headers()
                while True:
                    self.wfile.write(b"x" * 65536)
            elif self.path == "/silent":     # the connection is taken, nothing is said
                time.sleep(30)
            elif self.path == "/drip":       # a byte a second: every read is within its timeout
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {a}-{len(DATA) - 1}/{len(DATA)}")
                self.send_header("Connection", "close")
                self.end_headers()
                for b in DATA:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(1)
            elif self.path == "/from0":      # 206, but the bytes (and header) start from 0
                self.send_response(206)
                self.send_header("Content-Range", f"bytes 0-65535/{len(DATA)}")
                self.send_header("Content-Length", "65536")
                self.end_headers()
                self.wfile.write(DATA[:65536])
            elif self.path == "/substitute.warc.gz":  # 206 naming the range asked, bytes from 0
                n = min(len(Misbehaving.warc) - a, 65536)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {a}-{a + n - 1}/{len(Misbehaving.warc)}")
                self.send_header("Content-Length", str(n))
                self.end_headers()
                self.wfile.write(Misbehaving.warc[:n])
            elif self.path == "/no-range":   # Range ignored: 200 and the whole file
                self.send(200, DATA, "application/octet-stream")
            elif self.path == "/unavailable":
                self.send(503, b"", headers=[("Retry-After", "0")])
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        self.close_connection = True


@pytest.fixture(scope="module")
def server():
    httpd, base = start(Misbehaving)
    yield base
    stop(httpd)


def reader(url, **kw):
    return HttpReader(url, **{"block": 65536, "timeout": 3.0, "read_timeout": 1.0, **kw})


def test_an_endless_206_body_is_cut_at_the_range_asked(server):
    r = reader(server + "/endless")
    r.seek(4096)
    buf = bytearray(200000)
    assert r.readinto(buf) == 65536 - 0        # one block: what was asked, no more kept
    assert r.size == len(DATA)


@pytest.mark.parametrize("path", ["/silent", "/drip"])
def test_a_server_that_never_answers_or_drips_ends_at_the_time_limit(server, path):
    """Each read of the drip arrives within the read timeout, so only the wall-clock limit
    per block ends it; the error names the URL and says so."""
    done = {}

    def read():
        try:
            reader(server + path).read(10)
        except OSError as e:
            done["error"] = str(e)
    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(60)                                 # far beyond the 3 s limit: a hang fails here
    assert not t.is_alive(), "the read did not end"
    assert done["error"].startswith(server + path) and "timeout" in done["error"]


def test_a_206_that_is_not_the_range_asked_is_refused(server):
    r = reader(server + "/from0")
    assert r.read(10) == DATA[:10]             # from 0: the answer is right
    r.seek(70000)
    with pytest.raises(OSError, match="bad_range.*asked for bytes 70000-135535, the answer "
                                      "holds bytes 0-65535"):
        r.read(10)


def test_a_server_without_range_support_is_read_in_bounded_blocks(server):
    r = reader(server + "/no-range")
    r.seek(100000)
    assert r.read(1000) == DATA[100000:101000]
    r.seek(0, 2)
    assert r.tell() == len(DATA)


def test_a_lasting_503_is_retried_then_one_error(server):
    Misbehaving.hits.clear()
    with pytest.raises(OSError, match=r"/unavailable: http_error .* after 3 attempts: HTTP 503"):
        reader(server + "/unavailable", attempts=3).read(10)
    assert Misbehaving.hits["/unavailable"] == 3


def test_a_lying_range_server_gives_an_unreadable_file_not_decompression_noise(server, tmp_path):
    """build-corpus's reader over such a server: the file is reported unreadable with the
    reason, instead of zlib errors and a part of its pages."""
    import apache_beam as beam  # noqa: F401  (the stage's module needs Beam)
    from swelm.pipelines.stages import ReadWarc
    url = server + "/from0"
    out = list(ReadWarc([])((url, 70000, 140000)))
    # a busy machine may make a read time out once: that retry is reported too, nothing else
    events = [o.value for o in out if o.value[0] != "retried_reads"]
    assert [e[0] for e in events] == ["unreadable_warc"]
    assert "bad_range" in events[0][2]


@pytest.mark.parametrize("argv, words", [
    (["--warc-list", "{list}", "--warc-prefix", "ftp://example.org/"],
     ["--warc-prefix ftp://example.org/crawl-data/a.warc.gz", "cannot read ftp://"]),
    (["--warc", "ftp://example.org/a.warc.gz"], ["--warc ftp://example.org/a.warc.gz"]),
    (["--warc", "{list}", "--out", "http://127.0.0.1:9/out"], ["can be read but not written"]),
    (["--warc", "http://127.0.0.1:9/a.warc.gz"],
     ["--warc http://127.0.0.1:9/a.warc.gz: an http(s) URL cannot be listed", "--warc-list"]),
])
def test_schemes_nothing_here_reads_are_refused_at_once(tmp_path, capsys, argv, words):
    from swelm.cli import main
    listing = tmp_path / "paths.txt"
    listing.write_text("crawl-data/a.warc.gz\n")
    rules = tmp_path / "sites.toml"
    rules.write_text('[[sites]]\nname = "x"\nseeds = ["http://x.jp/"]\ngenre = "blog"\n')
    argv = [a.replace("{list}", str(listing)) for a in argv]
    out = [] if "--out" in argv else ["--out", str(tmp_path / "o")]
    assert main(["build-corpus", *argv, "--sites", str(rules), *out]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err


def test_substituted_bytes_are_damaged_records_never_wrong_pages(server, capfd):
    """A server whose 206 names the range asked but sends the file's first bytes: every
    record that reaches the reader is one of the file's own, byte for byte; the rest are
    damaged records (each member's CRC is checked before its record is used), and nothing is
    printed."""
    import io

    import numpy as np
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from swelm.corpus_tools.warc import iter_range
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True)
    pages = {}
    for i in range(40):
        rng = np.random.default_rng(i)              # text gzip cannot shrink much
        body = ("<p>" + "".join(chr(c) for c in rng.integers(0x4e00, 0x9fa0, 3000))
                + "</p>").encode()
        url = f"http://127.0.0.1/p{i}.html"
        pages[url] = body
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                protocol="HTTP/1.1")
        w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body),
                                            http_headers=http))
    Misbehaving.warc = buf.getvalue()
    url = server + "/substitute.warc.gz"
    got, damaged = {}, []
    for kind, rec in iter_range(url, 0, len(Misbehaving.warc),
                                opener=lambda p: reader(p, block=65536)):
        if kind == "record":
            if rec.rec_type == "response":
                got[rec.rec_headers.get_header("WARC-Target-URI")] = rec.content_stream().read()
        else:
            assert kind == "damaged", (kind, rec)
            damaged.append(rec)
    assert got and damaged and len(got) < len(pages)
    assert "Error -3" not in " ".join(damaged) and "cannot be decompressed" in " ".join(damaged)
    assert all(pages[u] == body for u, body in got.items())
    assert capfd.readouterr().err == ""
