"""A polite HTTP client for crawling, and link extraction for the crawl frontier.

:class:`Fetcher` honours robots.txt (RFC 9309, cached per host, including ``Crawl-delay``),
keeps a per-host request interval, and bounds every request: connect/read/total timeouts, a
size cap, a redirect limit (loops detected), retries with exponential backoff on 429/5xx and
connection errors (``Retry-After`` honoured up to a cap), and a content-type filter. Every
request ends in a :class:`FetchResult` whose ``outcome`` is one of :data:`OUTCOMES`; failures are
counted in :attr:`Fetcher.counts`, and nothing raises.

:func:`extract_links` resolves links against ``<base href>`` and :func:`normalize_url` puts them
in one canonical form (no fragment, lower-case scheme and host, no default port, non-ASCII and
unsafe characters percent-encoded as UTF-8, existing escapes kept).
"""
from __future__ import annotations

import collections
import logging
import re
import threading
import time
import urllib.robotparser
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from swelm.retry import RetryPolicy, retry_after_seconds, retryable_http

from .charset import decode_html

log = logging.getLogger(__name__)

__version__ = "0.1"
USER_AGENT = f"swelm-crawler/{__version__} (+https://github.com/swelm/swelm; polite research crawler)"

#: Every way a fetch can end.
OUTCOMES = (
    "ok",                   # 2xx with an accepted content type, body within the size cap
    "robots_disallowed",    # robots.txt forbids the URL for our user agent
    "invalid_url",          # not an absolute http(s) URL
    "http_error",           # a final 4xx/5xx status (after retries for 429/5xx)
    "timeout",              # connect, read or total time limit exceeded (after retries)
    "connection_error",     # DNS, refused, reset, TLS … (after retries)
    "too_large",            # body over max_bytes (the first max_bytes are kept)
    "too_many_redirects",   # more than max_redirects hops
    "redirect_loop",        # a redirect came back to a URL already visited in this chain
    "content_type",         # not an accepted content type (e.g. image/png)
    "crawl_delay_too_long",  # robots.txt asks for a Crawl-delay over max_crawl_delay: host skipped
    "bad_range",            # fetch_range: a 206 answer that is not the range asked for
)
HTML_TYPES = ("text/html", "application/xhtml+xml")
ACCEPTED_TYPES = HTML_TYPES + ("text/plain",)


@dataclass
class FetchResult:
    url: str
    outcome: str
    status: int | None = None
    final_url: str | None = None
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)   # response headers, in order
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    redirects: list[str] = field(default_factory=list)             # hops before final_url
    error: str = ""
    attempts: int = 0
    elapsed: float = 0.0
    http_version: str = "HTTP/1.1"
    size: int | None = None         # fetch_range: the whole file's size, when the answer says

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def text(self, override: str | None = None) -> tuple[str, str, str]:
        """Decoded body: ``(text, codec, source)`` (see :func:`corpus_tools.charset.detect`)."""
        return decode_html(self.body, self.header("content-type"), override)


class HostClock:
    """Per-host minimum interval between requests, shared by threads. ``clock``/``sleep`` can be
    replaced in tests."""

    def __init__(self, clock=time.monotonic, sleep=time.sleep):
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self.clock, self.sleep = clock, sleep

    def wait(self, host: str, interval: float) -> float:
        """Block until ``host`` may be requested again; return the seconds waited."""
        with self._lock:
            now = self.clock()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + interval
        delay = start - now
        if delay > 0:
            self.sleep(delay)
        return delay


class _Watchdog:
    """A wall-clock limit per request: at its deadline the socket of the request is shut
    down, which ends a read that is blocked or trickling (a server sending a byte a second
    keeps every single read within its timeout, so read timeouts alone never end it).  One
    thread per fetcher checks the armed requests four times a second."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[int, list] = {}        # thread id -> [deadline, connection]
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float) -> None:
        with self._lock:
            self._armed[threading.get_ident()] = [deadline, None]
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="fetch-deadlines",
                                                daemon=True)
                self._thread.start()

    def attach(self, connection) -> None:
        """The connection the current thread's request goes over (called as it starts)."""
        with self._lock:
            item = self._armed.get(threading.get_ident())
            if item is not None:
                item[1] = connection

    def disarm(self) -> None:
        with self._lock:
            self._armed.pop(threading.get_ident(), None)

    def _run(self) -> None:
        import socket
        while True:
            time.sleep(0.25)
            now = time.monotonic()
            with self._lock:
                if not self._armed:
                    self._thread = None
                    return
                late = [conn for deadline, conn in self._armed.values()
                        if now >= deadline and conn is not None]
            for conn in late:
                sock = getattr(conn, "sock", None)
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass


def _pool_manager(user_agent: str, watchdog: _Watchdog):
    """A urllib3 PoolManager whose connections report themselves to ``watchdog`` when a
    request starts on them."""
    import urllib3
    from urllib3.connection import HTTPConnection, HTTPSConnection

    class Watched(HTTPConnection):
        def request(self, *a, **kw):
            watchdog.attach(self)
            return super().request(*a, **kw)

    class WatchedTLS(HTTPSConnection):
        def request(self, *a, **kw):
            watchdog.attach(self)
            return super().request(*a, **kw)

    class Pool(urllib3.HTTPConnectionPool):
        ConnectionCls = Watched

    class PoolTLS(urllib3.HTTPSConnectionPool):
        ConnectionCls = WatchedTLS

    manager = urllib3.PoolManager(num_pools=64, maxsize=4, retries=False,
                                  headers={"User-Agent": user_agent})
    manager.pool_classes_by_scheme = {"http": Pool, "https": PoolTLS}
    return manager


class Fetcher:
    """Fetch pages politely. One instance per crawl worker; thread-safe.

    ``total_timeout`` is a wall-clock limit on one fetch, redirects and retries included;
    ``max_crawl_delay`` caps the robots.txt ``Crawl-delay`` honoured: a host asking for more is
    skipped for the run (outcome ``crawl_delay_too_long``, logged once per host) rather than
    holding a worker for an hour per page."""

    def __init__(self, *, user_agent: str = USER_AGENT, requests_per_second: float = 1.0,
                 connect_timeout: float = 10.0, read_timeout: float = 20.0,
                 total_timeout: float = 60.0, max_bytes: int = 5_000_000,
                 max_redirects: int = 5, retries: int = 3, backoff: float = 1.0,
                 max_retry_after: float = 60.0, accepted_types=ACCEPTED_TYPES,
                 respect_robots: bool = True, clock: HostClock | None = None,
                 max_crawl_delay: float = 60.0):
        import urllib3
        self.user_agent = user_agent
        self.interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        # the project's one retry policy (swelm.retry), with this fetcher's settings
        self.retry = RetryPolicy(attempts=retries + 1, base=backoff, cap=30.0,
                                 max_retry_after=max_retry_after)
        self.accepted_types = tuple(accepted_types)
        self.respect_robots = respect_robots
        self.clock = clock or HostClock()
        self.counts: collections.Counter = collections.Counter()
        self._robots: dict[str, tuple[urllib.robotparser.RobotFileParser | None, str]] = {}
        self._robots_lock = threading.Lock()
        self.max_crawl_delay = max_crawl_delay
        self._skipped_hosts: set[str] = set()
        self._watchdog = _Watchdog()
        self._pool = _pool_manager(user_agent, self._watchdog)

    # -- robots.txt ---------------------------------------------------------------------------
    def robots(self, url: str):
        """The parsed robots.txt of ``url``'s host (None means everything is allowed) and how it
        was obtained (``ok``; ``unavailable`` for 3xx/4xx, everything allowed; ``unreachable``
        for 5xx/429, or ``timeout``/``connection_error`` (also a 2xx whose body was not read
        whole), which disallow the whole host as RFC 9309 asks)."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        with self._robots_lock:
            if key in self._robots:
                return self._robots[key]
        res = self._request(key + "/robots.txt", check_type=False, max_bytes=500_000)
        whole = res.outcome in ("ok", "too_large")     # RFC 9309: the first 500 KiB suffice
        if res.status is not None and 200 <= res.status < 300 and not whole:
            # cut short (a stall past the time limit, a dropped connection): rules never read
            # may forbid everything, so the file counts as unreachable (do not crawl)
            entry = (_DISALLOW_ALL, res.outcome)
        elif res.status is not None and 200 <= res.status < 300:
            parser = urllib.robotparser.RobotFileParser()
            lines = res.body.decode("utf-8", "replace").splitlines()
            parser.parse(lines)
            parser.swelm_delay = _crawl_delay(lines, self.user_agent)
            entry = (parser, "ok")
        elif res.status is not None and res.status < 500 and res.status != 429:
            entry = (None, "unavailable")      # 3xx/4xx: no usable robots.txt, all allowed
        elif res.status is None:           # the host itself failed: report that failure
            entry = (_DISALLOW_ALL, res.outcome)
        else:
            entry = (_DISALLOW_ALL, "unreachable")
        with self._robots_lock:
            self._robots.setdefault(key, entry)
            return self._robots[key]

    def allowed(self, url: str) -> bool:
        if not self.respect_robots:
            return True
        parser, _ = self.robots(url)
        return parser is None or parser.can_fetch(self.user_agent, url)

    def robots_delay(self, url: str) -> float:
        """The interval robots.txt asks for ``url``'s host (``Crawl-delay``, ``Request-rate``),
        0 when none."""
        delay = 0.0
        if self.respect_robots:
            parser, _ = self.robots(url)
            if parser is not None and parser is not _DISALLOW_ALL:
                robot_delay = getattr(parser, "swelm_delay", None)
                rate = parser.request_rate(self.user_agent)
                if robot_delay:
                    delay = max(delay, float(robot_delay))
                if rate and rate.requests:
                    delay = max(delay, rate.seconds / rate.requests)
        return delay

    def crawl_delay(self, url: str) -> float:
        """Seconds between requests to ``url``'s host: the larger of ours and robots' (at
        most ``max_crawl_delay``; a host asking for more is not fetched at all)."""
        return max(self.interval, min(self.robots_delay(url), self.max_crawl_delay))

    # -- fetching -----------------------------------------------------------------------------
    def fetch(self, url: str) -> FetchResult:
        """Fetch ``url`` within every limit; never raises."""
        try:
            result = self._fetch(url)
        except Exception as exc:  # a bug or an exotic failure must not stop a crawl
            log.warning("fetch %s: unexpected %s: %s", url, type(exc).__name__, exc)
            result = FetchResult(url, "connection_error", error=f"{type(exc).__name__}: {exc}")
        self.counts[result.outcome] += 1
        return result

    def _fetch(self, url: str) -> FetchResult:
        norm = normalize_url(url)
        if norm is None:
            return FetchResult(url, "invalid_url", error="not an absolute http(s) URL")
        if not self.allowed(norm):
            how = self.robots(norm)[1]
            if how in ("timeout", "connection_error"):
                return FetchResult(url, how, final_url=norm,
                                   error="robots.txt unreachable or not read whole")
            return FetchResult(url, "robots_disallowed", final_url=norm)
        asked = self.robots_delay(norm)
        if asked > self.max_crawl_delay:
            host = urlsplit(norm).netloc
            if host not in self._skipped_hosts:
                self._skipped_hosts.add(host)
                log.warning("%s: robots.txt asks for a Crawl-delay of %gs, over the cap of %gs "
                            "(politeness max_crawl_delay): the host is skipped for this run",
                            host, asked, self.max_crawl_delay)
            return FetchResult(url, "crawl_delay_too_long", final_url=norm,
                               error=f"Crawl-delay {asked:g}s > {self.max_crawl_delay:g}s")
        seen, hops = {norm}, []
        current = norm
        start = time.monotonic()
        while True:
            res = self._request(current, deadline=start + self.total_timeout)
            res.url = url
            res.redirects = hops
            if res.status is None or not (300 <= res.status < 400) or res.status == 304:
                res.final_url = current
                res.elapsed = time.monotonic() - start
                return res
            location = res.header("location")
            if not location:
                res.final_url = current
                res.outcome, res.error = "http_error", "redirect without Location"
                return res
            target = normalize_url(urljoin(current, location.strip()))
            hops.append(current)
            if target is None:
                return FetchResult(url, "invalid_url", status=res.status, final_url=current,
                                   redirects=hops, error=f"redirect to {location!r}")
            if target in seen:
                return FetchResult(url, "redirect_loop", status=res.status, final_url=target,
                                   redirects=hops, error=f"loop back to {target}")
            if len(hops) > self.max_redirects:
                return FetchResult(url, "too_many_redirects", status=res.status,
                                   final_url=target, redirects=hops)
            if not self.allowed(target):
                return FetchResult(url, "robots_disallowed", final_url=target, redirects=hops)
            seen.add(target)
            current = target

    def fetch_range(self, url: str, start: int, length: int) -> FetchResult:
        """Bytes ``start`` to ``start + length - 1`` of ``url`` (a Range request) within every
        limit of :meth:`fetch` (the wall-clock limit, retries with backoff, ``Retry-After``),
        never more than ``length`` bytes read past ``start``; never raises.  ``body`` holds the
        bytes (fewer at the end of the file, none past it), ``size`` the file's size when the
        answer says.  A 206 answer must start at ``start`` (else ``bad_range``); a 200 answer
        (a server without Range support) is read from its start and the first ``start``
        bytes are skipped as they come.  A body that ends before it should is retried."""
        current, hops = url, []
        try:
            deadline = time.monotonic() + self.total_timeout
            while True:
                result = self._request(current, check_type=False, max_bytes=length,
                                       deadline=deadline, byte_range=(start, length))
                location = result.header("location")
                if result.status is None or not 300 <= result.status < 400 or not location:
                    break
                hops.append(current)
                current = urljoin(current, location.strip())
                if len(hops) > self.max_redirects or current in hops:
                    result = FetchResult(url, "too_many_redirects", status=result.status,
                                         error=f"redirected to {current}")
                    break
        except Exception as exc:  # a bug or an exotic failure: the reader reports it
            result = FetchResult(url, "connection_error", error=f"{type(exc).__name__}: {exc}")
        result.url, result.final_url, result.redirects = url, current, hops
        self.counts[result.outcome] += 1
        return result

    def _request(self, url: str, *, check_type: bool = True, max_bytes: int | None = None,
                 deadline: float | None = None, byte_range: tuple | None = None
                 ) -> FetchResult:
        """One URL, with retries; redirects are returned, not followed."""
        max_bytes = self.max_bytes if max_bytes is None else max_bytes
        deadline = deadline or time.monotonic() + self.total_timeout
        host = urlsplit(url).netloc
        attempt, result = 0, None
        while True:
            attempt += 1
            if not url.endswith("/robots.txt"):
                self.clock.wait(host, self.crawl_delay(url))
            else:
                self.clock.wait(host, self.interval)
            result = self._once(url, check_type, max_bytes, deadline, byte_range)
            result.attempts = attempt
            if (not retryable_http(result.status, result.outcome)
                    or attempt >= self.retry.attempts):
                return result
            asked = retry_after_seconds(result.header("retry-after"))
            wait = self.retry.wait(attempt - 1, asked)
            if wait is None:
                result.error = f"Retry-After {asked:.0f}s is over the limit"
                return result
            if time.monotonic() + wait > deadline:
                return result
            self.clock.sleep(wait)

    def _once(self, url: str, check_type: bool, max_bytes: int, deadline: float,
              byte_range: tuple | None = None) -> FetchResult:
        import urllib3
        req_headers = [("User-Agent", self.user_agent), ("Accept", "text/html,*/*;q=0.5"),
                       ("Accept-Encoding", "gzip, deflate")]
        if byte_range is not None:          # the file's own bytes, not a re-encoding of them
            start, length = byte_range
            req_headers = [("User-Agent", self.user_agent), ("Accept-Encoding", "identity"),
                           ("Range", f"bytes={start}-{start + length - 1}")]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return FetchResult(url, "timeout", error="total time limit reached")
        timeout = urllib3.Timeout(connect=min(self.timeout.connect_timeout, remaining),
                                  read=min(self.timeout.read_timeout, remaining))
        self._watchdog.arm(deadline)
        try:
            return self._exchange(url, req_headers, timeout, check_type, max_bytes, deadline,
                                  byte_range)
        finally:
            self._watchdog.disarm()

    def _exchange(self, url, req_headers, timeout, check_type, max_bytes, deadline,
                  byte_range=None):
        import urllib3

        def late() -> bool:
            return time.monotonic() >= deadline
        try:
            resp = self._pool.request("GET", url, headers=dict(req_headers), redirect=False,
                                      preload_content=False, timeout=timeout,
                                      decode_content=byte_range is None)
        except urllib3.exceptions.NewConnectionError as exc:   # a ConnectTimeoutError subclass
            return FetchResult(url, "connection_error", error=str(exc), request_headers=req_headers)
        except urllib3.exceptions.TimeoutError as exc:
            return FetchResult(url, "timeout", error=str(exc), request_headers=req_headers)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            if late():
                return FetchResult(url, "timeout", error="total time limit reached",
                                   request_headers=req_headers)
            return FetchResult(url, "connection_error", error=f"{type(exc).__name__}: {exc}",
                               request_headers=req_headers)
        headers = list(resp.headers.items())
        result = FetchResult(url, "ok", status=resp.status, reason=resp.reason or "",
                             headers=headers, request_headers=req_headers,
                             http_version="HTTP/1.0" if resp.version == 10 else "HTTP/1.1")
        try:
            if byte_range is not None and resp.status in (200, 206, 416):
                return self._read_range(resp, result, byte_range, late)
            if 300 <= resp.status < 400:
                return result
            if resp.status >= 400:
                result.outcome = "http_error"
                result.body = resp.read(65536, decode_content=True) or b""
                return result
            ctype = (resp.headers.get("content-type") or "text/html").split(";")[0].strip().lower()
            if check_type and ctype not in self.accepted_types:
                result.outcome, result.error = "content_type", ctype
                return result
            declared = resp.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                result.outcome = "too_large"
                result.error = f"Content-Length {declared} > {max_bytes}"
                return result
            chunks, size = [], 0
            while True:
                # read1: what has arrived (not a full 64 kB), so the deadline is checked often
                chunk = resp.read1(65536, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    result.outcome, result.error = "too_large", f"body over {max_bytes} bytes"
                    break
                if late():
                    result.outcome, result.error = "timeout", "total time limit reached"
                    break
            if result.outcome == "ok" and late():      # the watchdog ended the body
                result.outcome, result.error = "timeout", "total time limit reached"
            result.body = b"".join(chunks)[:max_bytes]
            return result
        except urllib3.exceptions.TimeoutError as exc:
            result.outcome, result.error = "timeout", str(exc)
            return result
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            if late():
                result.outcome, result.error = "timeout", "total time limit reached"
            else:
                result.outcome, result.error = "connection_error", f"{type(exc).__name__}: {exc}"
            return result
        finally:
            resp.release_conn()


    @staticmethod
    def _read_range(resp, result: FetchResult, byte_range: tuple, late) -> FetchResult:
        """The body of an answer to a Range request (see :meth:`fetch_range`)."""
        start, length = byte_range
        total = (resp.headers.get("content-range") or "").rpartition("/")[2]
        if resp.status == 416:                              # past the end of the file
            result.size = int(total) if total.isdigit() else None
            return result
        skip, expect = 0, length
        if resp.status == 206:
            m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)",
                             (resp.headers.get("content-range") or "").strip())
            if not m or int(m.group(1)) != start:
                result.outcome = "bad_range"
                result.error = (f"asked for bytes {start}-{start + length - 1}, the answer holds "
                                + (f"bytes {m.group(1)}-{m.group(2)}" if m else
                                   "no valid Content-Range"))
                return result
            expect = min(length, int(m.group(2)) - start + 1)
            result.size = int(m.group(3)) if m.group(3) != "*" else None
        else:                                               # Range ignored: the whole file
            skip = start
            declared = resp.headers.get("content-length") or ""
            if declared.isdigit():
                result.size = int(declared)
                expect = max(0, min(length, int(declared) - start))
        chunks, kept = [], 0
        while kept < length:
            chunk = resp.read1(65536)
            if not chunk:
                break
            if skip:
                cut = min(skip, len(chunk))
                chunk, skip = chunk[cut:], skip - cut
            chunk = chunk[:length - kept]
            chunks.append(chunk)
            kept += len(chunk)
            if late() and kept < expect:
                result.outcome, result.error = "timeout", "total time limit reached"
                return result
        result.body = b"".join(chunks)
        if kept < expect and result.outcome == "ok":
            result.outcome = "timeout" if late() else "connection_error"
            result.error = f"the answer ended after {kept} of {expect} bytes"
            result.body = b""
        if resp.status == 200 and not resp.headers.get("content-length") and kept < length:
            result.size = start + kept                      # the end of the file was met
        if resp.length_remaining != 0:
            resp.close()        # more was sent than asked for: the connection is not reused
        return result


def _crawl_delay(lines: list[str], user_agent: str) -> float | None:
    """``Crawl-delay`` for our agent (its own group first, else ``*``), fractions allowed (the
    standard library's parser reads whole seconds only)."""
    token = user_agent.split("/")[0].lower()
    delays: dict[str, float] = {}
    agents: list[str] = []
    in_rules = False
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            if in_rules:
                agents, in_rules = [], False
            agents.append(value.lower())
        else:
            in_rules = True
            if key == "crawl-delay":
                try:
                    d = float(value)
                except ValueError:
                    continue
                if d >= 0:
                    for a in agents:
                        delays.setdefault(a, d)
    for a, d in delays.items():
        if a != "*" and a in token:
            return d
    return delays.get("*")


class _DisallowAll:
    def can_fetch(self, agent, url):
        return False


_DISALLOW_ALL = _DisallowAll()


# -- URLs and links ---------------------------------------------------------------------------
_SAFE_PATH = "/:@!$&'()*+,;=-._~%"
_SAFE_QUERY = _SAFE_PATH + "?"
_PERCENT = re.compile(r"%([0-9a-fA-F]{2})")
_BASE = re.compile(r"""<base\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_LINK = re.compile(
    r"""<(?:a|area|frame|iframe)\b[^>]*?\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""",
    re.I)


def _remove_dots(path: str) -> str:
    """RFC 3986 dot-segment removal: ``/a/./b/../c`` → ``/a/c``."""
    if "." not in path:
        return path
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


def normalize_url(url: str) -> str | None:
    """Canonical form of an absolute http(s) URL, or None for anything else.

    Fragments are dropped; scheme and host are lower-cased (IDNA for non-ASCII hosts); default
    ports go; an empty path becomes ``/``; characters outside the URL syntax (Japanese, spaces)
    are percent-encoded as UTF-8 and existing escapes get upper-case hex. Unicode is not
    re-normalised: ``は゛`` (NFD) and ``ば`` name different files on a server."""
    try:
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
        host = parts.hostname
        try:
            host.encode("ascii")
        except UnicodeEncodeError:
            host = host.encode("idna").decode("ascii")
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    netloc = host.lower()
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        netloc += f":{port}"
    path = _PERCENT.sub(lambda m: "%" + m.group(1).upper(),
                        quote(_remove_dots(parts.path or "/"), _SAFE_PATH))
    query = _PERCENT.sub(lambda m: "%" + m.group(1).upper(), quote(parts.query, _SAFE_QUERY))
    return urlunsplit((scheme, netloc, path, query, ""))


def extract_links(html: str, base_url: str) -> list[str]:
    """Normalised http(s) links of a page, in document order, each once. ``<base href>`` (the
    first one) changes the base as browsers do; ``javascript:``/``mailto:`` links are skipped."""
    m = _BASE.search(html)
    base = base_url
    if m:
        href = unescape(next(g for g in m.groups() if g is not None)).strip()
        if href:
            base = urljoin(base_url, href)
    out, seen = [], set()
    for m in _LINK.finditer(html):
        href = unescape(next(g for g in m.groups() if g is not None)).strip()
        if not href or href.startswith("#"):
            continue
        url = normalize_url(urljoin(base, href))
        if url and url not in seen:
            seen.add(url)
            out.append(url)
    return out
