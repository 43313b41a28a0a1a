"""corpus_tools per-document throughput against datatrove, in the same run.

Per page of the shared sites (decoded HTML in memory, one core):

* swelm: ``extract`` (Resiliparse, every visible text, code and navigation marked) →
  ``split_paragraphs`` (the line classes) → ``normalize`` → ``filter_document`` (the metrics,
  the docs preset) → ``MinHasher.signature`` + ``band_keys`` (128 hashes, character 5-grams);
* datatrove: its ``Trafilatura`` extractor → ``GopherQualityFilter`` + ``GopherRepetitionFilter``
  + ``FineWebQualityFilter`` → ``MinhashDedupSignature`` shingles + signature (its default 14×8).

Prints documents/s for both and the ratio (anchor: datatrove). Needs the ``bench`` extra
(``pip install -e .[bench]``). Run ``python -m bench.corpus_tools [--pages N]``.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from bench._common import SITES, emit, site_pages
from swelm.corpus_tools.charset import decode_html
from swelm.corpus_tools.dedup import MinHasher
from swelm.corpus_tools.extract import extract
from swelm.corpus_tools.filter import filter_document, thresholds_for
from swelm.corpus_tools.normalize import Normalizer
from swelm.corpus_tools.paragraphs import split_paragraphs


def swelm_steps():
    norm, mh = Normalizer(), MinHasher()

    def run(html: str) -> bool:
        e = extract(html)
        prose = split_paragraphs(e.text)[0]             # the line classes, then the page rules
        text = norm(prose)
        r = filter_document(text, thresholds_for("docs"), link_ratio=e.link_ratio)
        mh.band_keys(mh.signature(text))
        return r.keep
    return run


def datatrove_steps(tmp: str):
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashDedupSignature
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)
    lang = os.environ.get("DATATROVE_LANGUAGE", "eng")
    ex = Trafilatura(favour_precision=True)
    filters = [GopherRepetitionFilter(language=lang), GopherQualityFilter(language=lang),
               FineWebQualityFilter(language=lang)]
    sig = MinhashDedupSignature(output_folder=tmp, language=lang)

    def run(html: str) -> bool:
        text = ex.extract(html) or ""
        if not text:                           # datatrove's extractor step drops these
            return False
        doc = Document(text=text, id="d")
        keep = True
        for f in filters:
            r = f.filter(doc)
            keep = keep and (r if isinstance(r, bool) else r[0])
        shingles = sig.get_shingles(text)
        if shingles.size:                      # datatrove skips documents without shingles
            sig.get_signature(shingles)
        return keep
    return run


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=100, help="pages per site")
    args = ap.parse_args(argv)
    pages = [decode_html(b)[0] for s in SITES for _, b in site_pages(s, args.pages)]
    mb = sum(len(p.encode("utf-8")) for p in pages) / 1e6
    ours = swelm_steps()
    with tempfile.TemporaryDirectory() as tmp:
        theirs = datatrove_steps(tmp)
        ours(pages[0]), theirs(pages[0])                      # warm up imports and tables
        t0 = time.perf_counter()
        kept_ours = sum(ours(p) for p in pages)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        kept_theirs = sum(theirs(p) for p in pages)
        t_theirs = time.perf_counter() - t0
    emit(bench="corpus_tools", pages=len(pages), html_mb=round(mb, 1),
         swelm_docs_per_s=round(len(pages) / t_ours, 1), swelm_mb_per_s=round(mb / t_ours, 2),
         datatrove_docs_per_s=round(len(pages) / t_theirs, 1),
         datatrove_mb_per_s=round(mb / t_theirs, 2),
         ratio=round(t_theirs / t_ours, 2), target=2.0,
         kept_swelm=kept_ours, kept_datatrove=kept_theirs)


if __name__ == "__main__":
    main()
