"""Fetcher against a hostile local server; URL normalisation and link extraction."""
from __future__ import annotations

import time

import pytest

from httpkit import ScriptedHandler, start, stop
from swelm.corpus_tools.fetch import (Fetcher, HostClock, extract_links, normalize_url, OUTCOMES,
                                USER_AGENT)

SJIS_PAGE = "<html><head><meta charset='utf-8'><title>法令</title></head><body>第一条　この法律は、".encode("cp932")


class Handler(ScriptedHandler):
    hits: dict = {}

    def do_GET(self):
        path = self.path
        Handler.hits[path] = Handler.hits.get(path, 0) + 1
        n = Handler.hits[path]
        if path == "/robots.txt":
            self.send(200, b"User-agent: *\nDisallow: /private/\nCrawl-delay: 0.01\n", "text/plain")
        elif path == "/ok":
            self.send(200, "<p>こんにちは</p>".encode())
        elif path == "/flaky":          # 500 twice, then fine
            self.send(500 if n <= 2 else 200, b"<p>ok</p>")
        elif path == "/busy":           # 429 with Retry-After once
            if n == 1:
                self.send(429, b"busy", headers=[("Retry-After", "1")])
            else:
                self.send(200, b"<p>done</p>")
        elif path == "/always500":
            self.send(503, b"down")
        elif path == "/slow":
            time.sleep(1.5)
            self.send(200, b"<p>late</p>")
        elif path.startswith("/loop"):
            self.send(302, headers=[("Location", "/loop2" if path == "/loop1" else "/loop1")])
        elif path.startswith("/chain"):
            k = int(path[len("/chain"):] or 0)
            self.send(301, headers=[("Location", f"/chain{k + 1}")])
        elif path == "/moved":
            self.send(301, headers=[("Location", "/ok#frag")])
        elif path == "/to-private":
            self.send(302, headers=[("Location", "/private/x")])
        elif path == "/huge":           # 50 MB, streamed without Content-Length
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(50 * 16):
                    self.wfile.write(b"<p>" + b"a" * 65533)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
        elif path in ("/drip", "/drip-headers"):   # a byte every 0.2 s, for ever
            raw = self.wfile
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"
            try:
                if path == "/drip":
                    raw.write(head)
                    raw.flush()
                    head = b""
                for b in (head + b"<p>" + b"a" * 100000):
                    raw.write(bytes([b]))
                    raw.flush()
                    time.sleep(0.2)
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass
            self.close_connection = True
        elif path == "/image":
            self.send(200, b"\x89PNG....", "image/png")
        elif path == "/wrong-charset":
            self.send(200, SJIS_PAGE, "text/html; charset=utf-8")
        else:
            self.send(404, b"not found")


@pytest.fixture(scope="module")
def server():
    httpd, base = start(Handler)
    yield base
    stop(httpd)


@pytest.fixture
def fetcher():
    Handler.hits.clear()
    return Fetcher(requests_per_second=1000, connect_timeout=2, read_timeout=0.5,
                   total_timeout=5, max_bytes=1_000_000, max_redirects=3, retries=2,
                   backoff=0.01, max_retry_after=2)


def test_ok_and_counts(server, fetcher):
    r = fetcher.fetch(server + "/ok")
    assert r.ok and r.status == 200 and r.text()[0] == "<p>こんにちは</p>"
    assert ("User-Agent", USER_AGENT) in r.request_headers
    assert fetcher.counts["ok"] == 1


def test_robots_disallow_and_crawl_delay(server, fetcher):
    r = fetcher.fetch(server + "/private/secret.html")
    assert r.outcome == "robots_disallowed"
    assert "/private/secret.html" not in Handler.hits
    assert fetcher.crawl_delay(server + "/ok") == pytest.approx(0.01)
    fetcher.fetch(server + "/ok")
    assert Handler.hits["/robots.txt"] == 1          # cached per host
    r = fetcher.fetch(server + "/to-private")       # a redirect into a disallowed path
    assert r.outcome == "robots_disallowed" and "/private/x" not in Handler.hits


def test_retries_on_5xx_then_success(server, fetcher):
    r = fetcher.fetch(server + "/flaky")
    assert r.ok and r.attempts == 3


def test_gives_up_on_persistent_5xx(server, fetcher):
    r = fetcher.fetch(server + "/always500")
    assert r.outcome == "http_error" and r.status == 503 and r.attempts == 3


def test_429_retry_after_honoured(server, fetcher):
    t = time.monotonic()
    r = fetcher.fetch(server + "/busy")
    assert r.ok and r.attempts == 2 and time.monotonic() - t >= 0.9


def test_404_is_http_error(server, fetcher):
    r = fetcher.fetch(server + "/missing")
    assert r.outcome == "http_error" and r.status == 404 and r.attempts == 1


def test_timeout(server, fetcher):
    r = fetcher.fetch(server + "/slow")
    assert r.outcome == "timeout"
    assert fetcher.counts["timeout"] == 1


def test_redirects(server, fetcher):
    r = fetcher.fetch(server + "/moved")
    assert r.ok and r.final_url == server + "/ok" and r.redirects == [server + "/moved"]
    assert fetcher.fetch(server + "/loop1").outcome == "redirect_loop"
    r = fetcher.fetch(server + "/chain0")
    assert r.outcome == "too_many_redirects" and len(r.redirects) == 4


def test_size_cap_on_50mb_page(server, fetcher):
    t = time.monotonic()
    r = fetcher.fetch(server + "/huge")
    assert r.outcome == "too_large" and len(r.body) == 1_000_000
    assert time.monotonic() - t < 5


def test_content_type_filter(server, fetcher):
    r = fetcher.fetch(server + "/image")
    assert r.outcome == "content_type" and r.error == "image/png" and r.body == b""


def test_wrong_declared_charset_is_detected(server, fetcher):
    text, codec, source = fetcher.fetch(server + "/wrong-charset").text()
    assert codec == "cp932" and source == "content" and "第一条　この法律は" in text


def test_unreachable_host_and_bad_urls(fetcher):
    r = fetcher.fetch("http://127.0.0.1:9/x")        # nothing listens on the discard port
    assert r.outcome == "connection_error"
    assert fetcher.fetch("mailto:a@b.jp").outcome == "invalid_url"
    assert fetcher.fetch("not a url").outcome == "invalid_url"
    assert set(fetcher.counts) <= set(OUTCOMES)


def test_robots_5xx_disallows_host():
    class Down(ScriptedHandler):
        def do_GET(self):
            self.send(503)

    httpd, base = start(Down)
    try:
        f = Fetcher(requests_per_second=1000, retries=0, backoff=0.01)
        r = f.fetch(base + "/page")
        assert r.outcome == "robots_disallowed"
        assert f.robots(base + "/")[1] == "unreachable"
    finally:
        stop(httpd)


def test_host_clock_spaces_requests():
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    clock = HostClock(clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        clock.wait("a", 2.0)
    clock.wait("b", 2.0)
    assert slept == [2.0, 2.0]


@pytest.mark.parametrize("url,expected", [
    ("HTTP://Example.JP:80/a/../b/#frag", "http://example.jp/b/"),
    ("https://example.jp:443", "https://example.jp/"),
    ("http://example.jp:8080/x?q=日本", "http://example.jp:8080/x?q=%E6%97%A5%E6%9C%AC"),
    ("http://example.jp/法令/一覧.html", "http://example.jp/%E6%B3%95%E4%BB%A4/%E4%B8%80%E8%A6%A7.html"),
    ("http://example.jp/%e6%b3%95 x", "http://example.jp/%E6%B3%95%20x"),
    ("http://日本.jp/", "http://xn--wgv71a.jp/"),
    ("ftp://example.jp/", None), ("javascript:void(0)", None), ("/relative", None),
])
def test_normalize_url(url, expected):
    assert normalize_url(url) == expected


def test_normalize_keeps_decomposed_kana():
    # は + U+3099 (NFD ば) names a different file than ば; it must not be recomposed
    assert normalize_url("http://h/たは\u3099こ.html") == "http://h/%E3%81%9F%E3%81%AF%E3%82%99%E3%81%93.html"


def test_extract_links_with_base_href():
    html = """<html><head><base href="http://example.jp/help/ja/"></head><body>
    <a href="text/page.html#top">頁</a> <A HREF='../img.png'>画像</A>
    <a href="javascript:go()">js</a> <a href="mailto:x@example.jp">m</a> <a href="#top">上</a>
    <a href="text/page.html">again</a> <area href="/map"> <iframe src="frame.html"></iframe>
    <a href="法令.html">法令</a></body></html>"""
    assert extract_links(html, "http://other.jp/index.html") == [
        "http://example.jp/help/ja/text/page.html", "http://example.jp/help/img.png",
        "http://example.jp/map", "http://example.jp/help/ja/frame.html",
        "http://example.jp/help/ja/%E6%B3%95%E4%BB%A4.html"]


def test_extract_links_relative_without_base():
    assert extract_links('<a href="b.html">b</a><a href="/c">c</a>', "http://h.jp/a/x.html") == [
        "http://h.jp/a/b.html", "http://h.jp/c"]


@pytest.mark.parametrize("path", ["/drip", "/drip-headers"])
def test_total_timeout_is_a_wall_clock_limit(server, path):
    """A server sending a byte every 0.2 s keeps each read within the 0.5 s read timeout; the
    fetch still ends at its 2 s total limit (headers or body), not when 64 kB have come."""
    Handler.hits.clear()
    f = Fetcher(requests_per_second=1000, connect_timeout=2, read_timeout=0.5, total_timeout=2,
                retries=0)
    t = time.monotonic()
    r = f.fetch(server + path)
    assert r.outcome == "timeout" and time.monotonic() - t < 4, (r.outcome, r.error)


class DelayHandler(ScriptedHandler):
    def do_GET(self):
        if self.path == "/robots.txt":
            self.send(200, b"User-agent: *\nCrawl-delay: 3600\n", "text/plain")
        else:
            self.send(200, b"<p>page</p>")


def test_a_crawl_delay_over_the_cap_skips_the_host(caplog):
    httpd, base = start(DelayHandler)
    try:
        f = Fetcher(requests_per_second=1000, max_crawl_delay=60)
        t = time.monotonic()
        results = [f.fetch(f"{base}/p{i}") for i in range(3)]
        assert time.monotonic() - t < 5
        assert [r.outcome for r in results] == ["crawl_delay_too_long"] * 3
        assert f.counts["crawl_delay_too_long"] == 3
        lines = [r for r in caplog.records if "Crawl-delay of 3600s" in r.getMessage()]
        assert len(lines) == 1                  # logged once per host
        assert "crawl_delay_too_long" in OUTCOMES
    finally:
        stop(httpd)


class StalledRobots(ScriptedHandler):
    """A robots.txt with no Content-Length whose ``Disallow: /`` comes after a stall past the
    fetch time limit."""
    pages = 0

    def do_GET(self):
        if self.path != "/robots.txt":
            StalledRobots.pages += 1
            self.send(200, b"<p>page</p>")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(b"User-agent: *\n")
            self.wfile.flush()
            time.sleep(3)
            self.wfile.write(b"Disallow: /\n")
        except OSError:
            pass
        self.close_connection = True


def test_a_robots_txt_not_read_whole_disallows_the_host():
    """RFC 9309: a robots.txt that was not read whole is unreachable, not an empty rule set:
    nothing on the host is fetched."""
    httpd, base = start(StalledRobots)
    try:
        f = Fetcher(requests_per_second=1000, connect_timeout=2, read_timeout=0.5,
                    total_timeout=1.5, retries=0)
        r = f.fetch(base + "/page")
        assert r.outcome == "timeout" and "robots.txt" in r.error, (r.outcome, r.error)
        assert f.robots(base + "/page")[1] == "timeout" and not f.allowed(base + "/other")
        assert StalledRobots.pages == 0
    finally:
        stop(httpd)
