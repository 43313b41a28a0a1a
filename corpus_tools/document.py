"""The corpus's one record type, :class:`Document`, its Parquet schema, and the per-document
recipe every producer shares: WARC record → page → extracted document → boilerplate lines
stripped → normalised → filtered.

A document is never changed in place: each step returns a new one (``Document.replace``).  A
rejected document carries the rule that rejected it in ``rule`` (``None``: kept), and the
near-duplicate cluster it belongs to in ``cluster``.

The Parquet schema (``corpus/`` and ``rejected/`` of build-corpus) is :data:`COLUMNS`, declared
here once::

    >>> [name for name, _ in COLUMNS]
    ['id', 'url', 'site', 'genre', 'title', 'lang', 'text', 'chars', 'weight', 'metrics', 'rule', 'cluster']
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Callable, Iterable

import pyarrow as pa

#: The Parquet columns, in order: (name, Arrow type).  ``metrics`` is a JSON object of every
#: filter metric; ``rule`` the rejection reason (null when kept); ``weight`` the document's repeat
#: factor (set in ``corpus/`` only).
COLUMNS = (("id", pa.string()), ("url", pa.string()), ("site", pa.string()),
           ("genre", pa.string()), ("title", pa.string()), ("lang", pa.string()),
           ("text", pa.string()), ("chars", pa.int64()), ("weight", pa.float64()),
           ("metrics", pa.string()), ("rule", pa.string()), ("cluster", pa.string()))
SCHEMA = pa.schema(list(COLUMNS))


def doc_id(url: str) -> str:
    """A document's id: a hash of its URL (the same page in several crawls has one id).

    >>> doc_id("http://example.jp/")
    'f8c9c6985ba244982285'
    """
    return hashlib.blake2b(url.encode("utf-8"), digest_size=10).hexdigest()


@dataclasses.dataclass(frozen=True)
class Document:
    """One page of the corpus, from extraction to the Parquet row.

    >>> d = Document(id="a", url="http://x/", site="s", genre="docs", text="本文")
    >>> d.rejected, d.replace(rule="min_length").rejected, d.rejected
    (False, True, False)
    """
    id: str
    url: str
    site: str
    genre: str
    title: str | None = None
    lang: str = ""
    text: str = ""
    chars: int | None = None          # characters after cleaning (None before the filter)
    weight: float | None = None       # repeat factor, set when the corpus is written
    metrics: str | None = None        # JSON of the filter metrics
    rule: str | None = None           # why it was rejected (None: kept)
    cluster: str | None = None        # the near-duplicate cluster it belongs to
    link_ratio: float = 0.0           # share of the visible text inside <a> (not stored)
    #: the lines the paragraph classifier took out of the text: ``((class, lines), ...)``;
    #: written to rejected/ as rows of their own (rule ``paragraph_<class>``)
    dropped: tuple = ()

    @property
    def rejected(self) -> bool:
        return self.rule is not None

    def replace(self, **changes) -> "Document":
        return dataclasses.replace(self, **changes)

    def row(self) -> dict:
        """The Parquet row (the :data:`COLUMNS` fields)."""
        return {name: getattr(self, name) for name, _ in COLUMNS}


def to_table(docs: Iterable[Document]) -> pa.Table:
    """The documents as a table of :data:`SCHEMA`, in the given order."""
    docs = list(docs)
    return pa.table({name: [getattr(d, name) for d in docs] for name, _ in COLUMNS},
                    schema=SCHEMA)


# -- the recipe ---------------------------------------------------------------------------
HTML_STATUS = "200"


def page_from_record(rec, site_for: Callable[[str], object | None]):
    """Screen one WARC record (warcio): ``("page", url, site, html)`` for an HTML response
    with status 200 whose URL a site's rules accept (``site_for(url)``), else ``("skip",
    reason, url, detail)`` with reason ``None`` (not a page: requests, redirects, other types)
    or a counted event: ``truncated_record`` (a payload cut at the crawl's size cap),
    ``no_site`` (no site's rules accept the URL), ``damaged_warc`` (an unreadable body, or
    one shorter than the record's Content-Length: the file was cut inside it)."""
    from .charset import decode_html
    from .fetch import HTML_TYPES
    if rec.rec_type != "response" or rec.http_headers is None:
        return "skip", None, None, ""
    url = rec.rec_headers.get_header("WARC-Target-URI")
    ctype = rec.http_headers.get_header("Content-Type") or "text/html"
    if (rec.http_headers.get_statuscode() != HTML_STATUS
            or ctype.split(";")[0].strip() not in HTML_TYPES):
        return "skip", None, url, ""
    if not url:
        return "skip", "damaged_warc", None, "a response record without WARC-Target-URI"
    if rec.rec_headers.get_header("WARC-Truncated"):
        return "skip", "truncated_record", url, ""
    site = site_for(url)
    if site is None:
        return "skip", "no_site", url, ""
    try:
        body = rec.content_stream().read()
    except Exception as exc:    # a damaged record body: the next read resyncs
        return "skip", "damaged_warc", url, f"{type(exc).__name__}: {exc}"
    missing = getattr(rec.raw_stream, "limit", 0)
    if missing:                 # the file ends inside the record (a cut or partial download)
        return ("skip", "damaged_warc", url, f"{url}: record cut short ({missing} of its "
                f"{rec.length} bytes missing)")
    return "page", url, site, decode_html(body, ctype, getattr(site, "encoding", None))[0]


def extract_page(url: str, site, html: str) -> Document:
    """The document of a page: text, title and language by the site's extraction profile; an
    extraction failure is its rejection (``extract_<outcome>``)."""
    from .extract import extract
    e = extract(html, site.extract)
    return Document(id=doc_id(url), url=url, site=site.name, genre=site.genre, title=e.title,
                    lang=e.lang or "", text=e.text, link_ratio=e.link_ratio,
                    rule=None if e.ok else f"extract_{e.outcome}")


def text_document(record: dict, site, where: str) -> Document:
    """The document of a record of already extracted text (corpus_tools.records: ``text``,
    and ``id``, ``url``, ``title`` when it has them), of ``site``: its id is the record's id,
    else a hash of its URL (as a page's), else of ``where`` the record is.

    >>> from swelm.corpus_tools.sites import web_site
    >>> d = text_document({"text": "本文", "url": "http://example.jp/"}, web_site(), "a.jsonl")
    >>> d.id == doc_id("http://example.jp/"), d.site, d.genre, d.text
    (True, 'all-web', 'other', '本文')
    >>> text_document({"text": "\ufdd0本文"}, web_site(), "a.jsonl").text
    '本文'
    """
    from .extract import strip_marks
    url, title = record.get("url"), record.get("title")
    # the extractor's line and link marks (Unicode noncharacters) mean something to the
    # paragraph classifier: any already in the text are removed, as a page's are
    return Document(id=record.get("id") or doc_id(url or where), url=url, site=site.name,
                    genre=site.genre, title=strip_marks(title) if title else title,
                    text=strip_marks(record["text"]))


class Signals:
    """The model signals of a text: ``perplexity`` under an n-gram model
    (corpus_tools.ngram_lm) and ``quality_score`` under a classifier
    (corpus_tools.classifier), each when given."""

    def __init__(self, lm=None, classifier=None):
        self.lm, self.classifier = lm, classifier

    def __call__(self, text: str) -> dict:
        out = {}
        if self.lm is not None:
            out["perplexity"] = round(self.lm.perplexity(text), 2)
        if self.classifier is not None:
            out["quality_score"] = round(self.classifier.score(text), 4)
        return out


def clean_page(doc: Document, site, boilerplate: set, normalizer, ng_words=None,
               signals: Signals | None = None) -> Document:
    """The page's lines classified (corpus_tools.paragraphs: boilerplate, code, navigation,
    short and foreign lines taken out, into ``dropped``), the Japanese prose normalised and
    filtered with the site's thresholds: the document with ``text``, ``chars``, ``metrics``
    (JSON, with ``boilerplate_chars``, the characters of each line class and, when rejected,
    ``failed_rules``: every rule it fails) and ``rule`` (the first) when a threshold rejects
    it.  A site with ``paragraphs = false`` has only its boilerplate lines
    taken out.  ``signals`` measures the model metrics (``perplexity``, ``quality_score``)
    of the prose."""
    from .dedup import strip_lines
    from .extract import strip_marks
    from .filter import filter_document
    from .paragraphs import split_paragraphs
    if site.paragraphs:
        text, dropped, classes = split_paragraphs(doc.text, boilerplate)
        removed = classes["boilerplate"]
    else:
        text, removed = strip_lines(doc.text, boilerplate)
        text, dropped, classes = strip_marks(text), (), None
    text = normalizer(text)
    r = filter_document(text, site.filters, ng_words=ng_words, link_ratio=doc.link_ratio,
                        signals=signals(text) if signals else None)
    m = dict(r.metrics, boilerplate_chars=removed)
    if not r.keep:              # every rule the page fails, not only the first
        m["failed_rules"] = list(r.failed)
    if classes is not None:
        m["line_chars"] = classes
    return doc.replace(text=text, chars=m["length"], metrics=json.dumps(m, sort_keys=True),
                       link_ratio=0.0, rule=doc.rule if r.keep else r.rule,
                       dropped=tuple(dropped))


def dropped_rows(doc: Document) -> list[Document]:
    """The rows of ``rejected/`` that hold the lines the paragraph classifier took out of a
    page: one per class, rule ``paragraph_<class>``, with the page's id, url and site."""
    return [doc.replace(text=lines, chars=len("".join(lines.split())), metrics=None,
                        rule=f"paragraph_{cls}", cluster=None, weight=None, dropped=())
            for cls, lines in doc.dropped]


def single_failure(doc: Document):
    """``(rule, metric value)`` of a page that a filter rule rejected and that fails only
    that rule (relaxing it alone would keep the page), else None."""
    if not doc.rejected or not doc.metrics:
        return None
    m = json.loads(doc.metrics)
    failed = m.get("failed_rules") or []
    if len(failed) != 1 or failed[0] != doc.rule:
        return None
    return doc.rule, m[doc.rule.partition("_")[2]]
