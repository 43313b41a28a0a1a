"""``swelm crawl``: breadth-first crawl of each site into standard WARC files.

Sites are the pipeline's elements (one site per bundle, so ``--workers N`` crawls N sites at
once); inside a site the crawl is breadth-first with the site's ``concurrency`` threads, within
its URL rules and politeness limits (``corpus_tools.fetch`` does robots, rate, retries, caps).

Output in ``--out``: ``warc/<site>-<NNNNN>.warc.gz`` (request + response records) and
``log/<site>-<NNNNN>.jsonl`` (url, final_url, status, outcome, error, bytes), written as segments
of ``--segment-pages`` fetches under a temporary name and renamed when complete. A rerun reads the
finished segments, skips every URL they hold and continues from the links found in them.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import glob
import io
import json
import logging
from concurrent.futures import ThreadPoolExecutor

from swelm.corpus_tools.fetch import HTML_TYPES as _HTML
from swelm.corpus_tools.fetch import Fetcher, extract_links, normalize_url
from swelm.corpus_tools.sites import Site, load_sites
from swelm.checks import integer_arg
from swelm.errors import UsageError
from swelm.options import flag
from swelm.publish import Kind, remove_temporaries

from .beam_util import BeamOptions
from .io import FileSystem, absolute, is_remote, join

log = logging.getLogger(__name__)


def _is_summary(data: bytes) -> bool:
    rows = json.loads(data.decode("utf-8"))
    return isinstance(rows, list) and all(isinstance(r, dict) and "site" in r for r in rows)


#: a crawl folder, which a rerun continues (crawl-summary.json is written at the end of a run)
CRAWL = Kind("a crawl", entries=("warc/*.warc.gz", "log/*.jsonl", "crawl-summary.json",
                                 "crawl-summary.jsonl"),
             marker="crawl-summary.json", recognise=_is_summary)


def _fetcher(site: Site) -> Fetcher:
    p = site.politeness
    return Fetcher(requests_per_second=p["requests_per_second"], max_bytes=int(p["max_bytes"]),
                   total_timeout=float(p["timeout"]), read_timeout=min(20.0, float(p["timeout"])),
                   connect_timeout=min(10.0, float(p["timeout"])), retries=int(p["retries"]),
                   max_crawl_delay=float(p["max_crawl_delay"]))


class _Segment:
    """One WARC + log pair (any filesystem), each published whole when the segment closes: the
    WARC first, since it is what a rerun resumes from."""

    def __init__(self, filesystem, out: str, site: str, seq: int):
        from warcio.warcwriter import WARCWriter
        self.fs = filesystem
        self.warc = join(out, "warc", f"{site}-{seq:05d}.warc.gz")
        self.log = join(out, "log", f"{site}-{seq:05d}.jsonl")
        self._stack = contextlib.ExitStack()
        self._lf = io.StringIO()
        self._wf = self._stack.enter_context(self.fs.create(self.warc))
        self.writer = WARCWriter(self._wf, gzip=True)
        self.count = 0

    def add(self, res, line: dict) -> None:
        from warcio.statusandheaders import StatusAndHeaders
        self._lf.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.count += 1
        if res.status is None:
            return
        uri = res.final_url or res.url
        drop = {"content-encoding", "transfer-encoding", "content-length"}
        headers = [(k, v) for k, v in res.headers if k.lower() not in drop]
        headers.append(("Content-Length", str(len(res.body))))
        http = StatusAndHeaders(f"{res.status} {res.reason}".strip(), headers,
                                protocol=res.http_version)
        path = uri.split("/", 3)[3] if uri.count("/") >= 3 else ""
        req = StatusAndHeaders(f"GET /{path} HTTP/1.1", list(res.request_headers),
                               is_http_request=True)
        request = self.writer.create_warc_record(uri, "request", payload=io.BytesIO(b""),
                                                 http_headers=req)
        response = self.writer.create_warc_record(uri, "response", payload=io.BytesIO(res.body),
                                                  http_headers=http)
        cut = truncation(res)
        if cut:                                 # the standard mark of a cut-off payload
            response.rec_headers.add_header("WARC-Truncated", cut)
        self.writer.write_request_response_pair(request, response)

    def close(self) -> None:
        self._stack.close()                     # the WARC first: it is what resumes
        self.fs.write_text(self.log, self._lf.getvalue())


def truncation(res) -> str | None:
    """The ``WARC-Truncated`` value of a fetch whose body was not read whole (WARC 1.1:
    ``length`` for the size cap, ``time`` for the time limit, ``disconnect`` for a connection
    that ended early, a short read included), or None for a whole body."""
    return {"too_large": "length", "timeout": "time",
            "connection_error": "disconnect"}.get(res.outcome)


def _segments(filesystem, out: str, sub: str, site: str, suffix: str) -> list[str]:
    """The finished segment files of ``site`` in ``out/sub``: ``SITE-NNNNN.SUFFIX`` exactly,
    so site ``deb`` does not take site ``deb-faq``'s segments for its own."""
    import posixpath
    import re
    pattern = join(out, sub, f"{glob.escape(site)}-*{suffix}")
    own = re.compile(re.escape(site) + r"-\d{5,}" + re.escape(suffix))
    return sorted(p for p in filesystem.match([pattern]) if own.fullmatch(posixpath.basename(p)))


def _resume(filesystem, out: str, site: Site) -> tuple[set[str], list[str], int]:
    """URLs already captured or attempted, links found in captured pages, next segment number."""
    from warcio.archiveiterator import ArchiveIterator
    from swelm.corpus_tools.document import page_from_record
    done, links, seq = set(), [], 0
    for path in _segments(filesystem, out, "log", site.name, ".jsonl"):
        seq = max(seq, int(path.rsplit("-", 1)[1].split(".")[0]) + 1)
        for line in filesystem.read_text(path).splitlines():
            if line:
                rec = json.loads(line)
                done.add(rec["url"])
                if rec.get("final_url"):
                    done.add(rec["final_url"])
    for path in _segments(filesystem, out, "warc", site.name, ".warc.gz"):
        seq = max(seq, int(path.rsplit("-", 1)[1].split(".")[0]) + 1)
        with filesystem.open_read(path) as f:
            for rec in ArchiveIterator(f):
                if rec.rec_type != "response":
                    continue
                uri = rec.rec_headers.get_header("WARC-Target-URI")
                done.add(uri)
                # the pages build-corpus would read give the links to follow
                screened = page_from_record(rec, lambda url: site)
                if screened[0] == "page":
                    links.extend(extract_links(screened[3], uri))
    return done, links, seq


def _progress(site: Site, fetched: int, max_pages: int, stream):
    """The site's progress bar (tqdm) on ``stream``: pages fetched of ``max_pages``, pages/s,
    and as postfix the frontier's size and the time left at the site's politeness limit; off
    (``None`` stream) unless stderr is a terminal or ``SWELM_PROGRESS=1``."""
    import os
    import sys
    from tqdm import tqdm
    if stream is None:
        if not (os.environ.get("SWELM_PROGRESS") == "1" or sys.stderr.isatty()):
            return None
        stream = sys.stderr
    return tqdm(total=max_pages, initial=fetched, desc=site.name, unit="page", file=stream,
                dynamic_ncols=True, mininterval=0.5)


def _eta(pages: int, site: Site) -> str:
    seconds = int(pages / float(site.politeness["requests_per_second"]))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def crawl_site(site: Site, out: str, segment_pages: int = 200, fetcher: Fetcher | None = None,
               progress=None, filesystem: FileSystem = FileSystem()) -> dict:
    """Crawl one site breadth-first into WARC segments in ``out`` (on ``filesystem``); return
    its counts.  ``progress``: a stream for the progress bar (default: stderr when it is a
    terminal)."""
    from swelm.corpus_tools.charset import decode_html
    for sub in ("warc", "log"):
        filesystem.makedirs(join(out, sub))
    fetcher = fetcher or _fetcher(site)
    done, old_links, seq = _resume(filesystem, out, site)
    max_pages = int(site.politeness["max_pages"])
    queue, seen = collections.deque(), set(done)
    for url in list(site.seeds) + old_links:
        url = normalize_url(url)
        if url and url not in seen and site.in_scope(url):
            seen.add(url)
            queue.append(url)
    fetched = len(done)
    counts = collections.Counter()
    segment = None
    workers = max(1, int(site.politeness["concurrency"]))
    bar = _progress(site, fetched, max_pages, progress)
    with ThreadPoolExecutor(workers) as pool:
        while queue and fetched < max_pages:
            batch = [queue.popleft() for _ in range(min(workers, len(queue), max_pages - fetched))]
            for url, res in zip(batch, pool.map(fetcher.fetch, batch)):
                fetched += 1
                counts[res.outcome] += 1
                if segment is None:
                    segment = _Segment(filesystem, out, site.name, seq)
                    seq += 1
                segment.add(res, {"url": url, "final_url": res.final_url, "status": res.status,
                                  "outcome": res.outcome, "error": res.error,
                                  "bytes": len(res.body), "site": site.name})
                if res.final_url:
                    seen.add(res.final_url)
                ctype = (res.header("content-type") or "text/html").split(";")[0].strip()
                if res.ok and ctype in _HTML:
                    text = decode_html(res.body, res.header("content-type"), site.encoding)[0]
                    for link in extract_links(text, res.final_url or url):
                        if link not in seen and site.in_scope(link):
                            seen.add(link)
                            queue.append(link)
                if segment.count >= segment_pages:
                    segment.close()
                    segment = None
                if bar is not None:
                    left = min(len(queue), max_pages - fetched)
                    bar.set_postfix_str(f"frontier {len(queue)}, {_eta(left, site)} left at "
                                        f"{site.politeness['requests_per_second']:g}/s",
                                        refresh=False)
                    bar.update(1)
    if segment is not None:
        segment.close()
    if bar is not None:
        bar.close()
    return {"site": site.name, "fetched_total": fetched, "this_run": dict(counts),
            "frontier_left": len(queue), "already_captured": len(done),
            "max_pages": max_pages}


def summary_line(r: dict) -> str:
    """One line per site for the console: what this run did, or that there was nothing new."""
    new = sum(r["this_run"].values())
    if not new:
        why = ("max_pages reached" if r["fetched_total"] >= r.get("max_pages", 1 << 62)
               else "no new links")
        return (f"{r['site']}: nothing new to fetch: {r.get('already_captured', 0)} URLs "
                f"already captured ({why})")
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["this_run"].items(),
                                                        key=lambda kv: -kv[1]))
    left = (f"{r['frontier_left']} URLs left in the frontier"
            + (" (max_pages reached)" if r["frontier_left"]
               and r["fetched_total"] >= r.get("max_pages", 1 << 62) else ""))
    return (f"{r['site']}: fetched {new} this run ({outcomes}), {r['fetched_total']} in "
            f"total; {left}")


class CrawlSite:
    """Crawls one site (by name) of the rules, which travel with the DoFn, into ``out``."""

    def __init__(self, sites: list, out: str, segment_pages: int, filesystem: FileSystem):
        self.sites, self.out, self.segment_pages = sites, out, segment_pages
        self.fs = filesystem

    def __call__(self, name: str) -> dict:
        site = next(s for s in self.sites if s.name == name)
        return crawl_site(site, self.out, self.segment_pages, filesystem=self.fs)


@dataclasses.dataclass(kw_only=True)
class CrawlOptions(BeamOptions):
    """The options of ``swelm crawl``."""
    sites: str = flag(help="site rules file (TOML or YAML)")
    out: str = flag(help="output folder (warc/, log/, crawl-summary.json)")
    site: list | None = flag(None, action="append", help="crawl only this site (repeatable)")
    segment_pages: int = flag(200, type=integer_arg(minimum=1),
                              help="fetches per WARC segment; a killed crawl loses at most one "
                                   "segment")


OPTIONS = CrawlOptions


def run(args: CrawlOptions) -> int:
    import apache_beam as beam
    from .beam_util import make_pipeline, take_json_lines, write_json_lines
    args.check_runner()
    files = FileSystem(args.beam_args)
    sites = load_sites(absolute(args.sites), reader=files.read_bytes)
    unknown = [n for n in (args.site or ()) if n not in {s.name for s in sites}]
    if unknown:
        raise UsageError(f"--site {unknown[0]}: no such site in {args.sites} (its sites: "
                         f"{', '.join(s.name for s in sites)})")
    chosen = [s for s in sites if not args.site or s.name in args.site]
    seedless = [s.name for s in chosen if not s.seeds]
    if seedless:
        raise UsageError(f"{'--site ' + seedless[0] if args.site else args.sites}: the site "
                         f"{seedless[0]!r} has no seeds, so it cannot be crawled (its rules "
                         "serve build-corpus --input); give its seeds"
                         + ("" if args.site else ", or choose the sites to crawl with --site"))
    out = absolute(args.out)
    files.check_output(out, CRAWL)          # a crawl is continued, anything else refused
    files.claim(out, CRAWL)
    if not is_remote(out):
        removed = remove_temporaries(out)
        if removed:
            log.info("removed %d temporary files of an interrupted run", removed)
    summary_path = join(out, "crawl-summary.jsonl")
    with make_pipeline(args) as p:
        counts = (p | "Sites" >> beam.Create([s.name for s in chosen])
                  | "Reshuffle" >> beam.Reshuffle()
                  | "Crawl" >> beam.Map(CrawlSite(chosen, out, args.segment_pages, files)))
        write_json_lines(counts, summary_path, files, "Summary")
    rows = sorted(take_json_lines(summary_path, files), key=lambda r: r["site"])
    files.write_json(join(out, "crawl-summary.json"), rows)
    for r in rows:
        print(summary_line(r))
    print(f"WARC files in {join(out, 'warc')}, crawl log in {join(out, 'log')}")
    return 0
