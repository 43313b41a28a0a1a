"""Extractor comparison on the shared sites: Resiliparse vs trafilatura.

Figures per site and backend: pages/s (one core), empty pages, Japanese characters kept (share
of those in the page's whole visible text) and boilerplate leak (share of output lines that
recur on at least 30% of the site's extracted pages). Run: ``python -m bench.extract``.
"""
from __future__ import annotations

import argparse
import collections
import re
import time

from bench._common import SITES, emit, site_pages
from swelm.corpus_tools.charset import decode_html
from swelm.corpus_tools.extract import extract

JA = re.compile("[\u3041-\u30ff\u4e00-\u9fff]")


def visible_ja(html: str) -> int:
    from resiliparse.extract.html2text import extract_plain_text
    return len(JA.findall(extract_plain_text(html, main_content=False)))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=120, help="pages per site")
    args = ap.parse_args(argv)
    for site in SITES:
        pages = [decode_html(b)[0] for _, b in site_pages(site, args.pages)]
        total_ja = sum(visible_ja(h) for h in pages)
        for backend in ("resiliparse", "trafilatura"):
            t0 = time.perf_counter()
            out = [extract(h, backend=backend) for h in pages]
            dt = time.perf_counter() - t0
            lines = collections.Counter()
            for e in out:
                lines.update(set(x.strip() for x in e.text.split("\n") if x.strip()))
            common = {l for l, c in lines.items() if c >= 0.3 * len(out) and len(out) >= 10}
            all_lines = [x.strip() for e in out for x in e.text.split("\n") if x.strip()]
            leak = sum(1 for l in all_lines if l in common) / max(1, len(all_lines))
            kept = sum(len(JA.findall(e.text)) for e in out) / max(1, total_ja)
            emit(bench="extract", site=site, backend=backend, pages=len(pages),
                 pages_per_s=round(len(pages) / dt, 1),
                 empty=sum(1 for e in out if not e.text), ja_kept=round(kept, 3),
                 boilerplate_leak=round(leak, 3))


if __name__ == "__main__":
    main()
