"""HTML → main text, keeping paragraph and line structure.

The default backend is Resiliparse (a C++ HTML5 parser with a main-content heuristic); it was
chosen over trafilatura by measurement on the shared sites (``bench/extract.py``: the README
has the figures). ``backend="trafilatura"`` is available when trafilatura is installed.

A site's profile overrides the heuristic: ``drop`` selectors are removed first, and ``keep``
selectors, when given, are the only parts whose text is kept.

Guards: a page longer than ``max_chars`` is cut at the last tag before the limit (the parser and
extractor are linear, so this bounds the time per page), text that looks binary (NUL bytes or a
high share of control characters) is refused, and every failure is an :class:`Extracted` with an
``outcome`` other than ``"ok"``, never an exception.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from .sites import Extract

log = logging.getLogger(__name__)

#: Outcomes of :func:`extract`.
OUTCOMES = ("ok", "empty", "binary", "parse_error")
MAX_CHARS = 8_000_000
_CONTROL = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f]")
_BLANK_LINES = re.compile(r"\n{3,}")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*>")
_TAGS = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^>]*?(/?)>")
#: Elements that never nest in practice or close implicitly; they do not count for depth.
_FLAT = frozenset("""area base br col embed hr img input link meta param source track wbr p li
    td th tr dt dd option thead tbody tfoot colgroup rt rp""".split())
MAX_DEPTH = 1000
_ANCHOR = re.compile(r"<a\b[^>]*>([^<]{0,2000}(?:<(?!/a\s*>)[^<]{0,2000}){0,50})</a\s*>", re.I)
_TAG = re.compile(r"<[^>]*>|&[a-z]+;|&#\d+;")
_TRAILING = re.compile(r"[ \t\u3000]+\n")


@dataclass(frozen=True)
class Extracted:
    """What :func:`extract` found in a page."""
    text: str
    title: str = ""
    lang: str | None = None
    outcome: str = "ok"
    link_ratio: float = 0.0       # share of the page's visible text that sits inside <a>
    truncated: bool = False       # the page was longer than max_chars and was cut

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def looks_binary(text: str, sample: int = 8192) -> bool:
    """True when the first ``sample`` characters hold a NUL or more than 10% control chars."""
    head = text[:sample]
    if "\x00" in head:
        return True
    return len(_CONTROL.findall(head)) > 0.1 * max(1, len(head))


def _guard(html: str, max_chars: int) -> tuple[str, bool]:
    if len(html) <= max_chars:
        return html, False
    cut = html.rfind(">", 0, max_chars)
    return html[: cut + 1 if cut > 0 else max_chars], True


def anchor_chars(html: str) -> int:
    """Visible characters (whitespace excluded) inside ``<a>`` elements, from the markup.

    A linear scan with bounded lookahead: DOM text access per anchor is slow on pages with
    thousands of links."""
    total = 0
    for m in _ANCHOR.finditer(html):
        total += len("".join(strip_marks(_TAG.sub("", m.group(1))).split()))
    return total


def nesting_depth(html: str) -> int:
    """Largest element nesting depth, estimated from the tags in one linear scan."""
    depth = deepest = 0
    for close, name, selfclose in _TAGS.findall(html):
        if selfclose or name.lower() in _FLAT:
            continue
        if close:
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > deepest:
                deepest = depth
    return deepest


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _TRAILING.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def extract(html: str, profile: Extract | None = None, *, backend: str = "resiliparse",
            max_chars: int = MAX_CHARS) -> Extracted:
    """Extract the main text, title and ``lang`` of one HTML page (already decoded)."""
    profile = profile or Extract()
    if not isinstance(html, str):
        raise TypeError("extract() takes decoded text; decode bytes with fetch.decode_html")
    if looks_binary(html):
        return Extracted("", outcome="binary")
    html, truncated = _guard(html, max_chars)
    if backend not in _BACKENDS:
        raise ValueError(f"unknown extraction backend {backend!r} (resiliparse, trafilatura)")
    try:
        result = _BACKENDS[backend](html, profile)
    except Exception as exc:  # a parser failure is a per-page outcome, not a crash
        log.debug("extract failed: %s", exc)
        return Extracted("", outcome="parse_error", truncated=truncated)
    text, title, lang, link_ratio = result
    text = _tidy(_EMPTY_LINK.sub("", text))
    return Extracted(text, strip_marks(title).strip(), lang,
                     "ok" if strip_marks(text).strip() else "empty", round(link_ratio, 4),
                     truncated)


#: Markers put at the start of each line of a code block and of a navigation block by the
#: extractor (Unicode noncharacters, reserved for such internal use: any in the page itself are
#: removed first).  corpus_tools.paragraphs classifies the marked lines; they never reach the
#: corpus text.
CODE_MARK, NAV_MARK = "\ufdd0", "\ufdd1"
#: Markers around the text of each link (``<a href>``), so that the paragraph classifier can
#: tell a line of links (a menu, a "see also" list, a table of contents) from prose
LINK_OPEN, LINK_CLOSE = "\ufdd2", "\ufdd3"
_NONCHARS = re.compile("[\ufdd0-\ufdef]")
#: an <a …> tag (a scan from "<a" stops at the next "<" or ">": linear in the page)
_A_OPEN = re.compile(r"<a\s[^<>]*>", re.I)
_HREF = re.compile(r"\shref\s*=", re.I)
#: a link with no text (an image link): its marks go
_EMPTY_LINK = re.compile("\ufdd2\\s*\ufdd3")
_A_CLOSE = re.compile(r"</a\s*>", re.I)


def strip_marks(text: str) -> str:
    """``text`` without the extractor's markers."""
    return _NONCHARS.sub("", text)


def _mark_links(html: str) -> str:
    """The page with LINK_OPEN after each ``<a href…>`` tag and LINK_CLOSE before each
    ``</a>`` (two linear scans of the markup)."""
    html = _A_OPEN.sub(lambda m: m.group(0) + LINK_OPEN if _HREF.search(m.group(0))
                       else m.group(0), html)
    return _A_CLOSE.sub(lambda m: LINK_CLOSE + m.group(0), html)
#: Elements whose text is code (``<code>`` only when it spans lines: inline code is prose)
_CODE = "pre, textarea, code, xmp, listing"
#: Elements that are navigation by their markup
_NAV = 'nav, [role="navigation"], footer'
_TEXT_OPTIONS = dict(preserve_formatting=True, list_bullets=False, alt_texts=False,
                     form_fields=False, noscript=False)


_CODE_TAGS = frozenset(t.strip() for t in _CODE.split(","))
_NAV_TAGS = frozenset(("nav", "footer"))


def _all_blocks(body) -> list:
    """Every code or navigation element of ``body`` not inside another one and not yet seen, in
    document order (one walk over the elements)."""
    out, stack = [], [body]
    while stack:
        node = stack.pop()
        if node is not body and not node.hasattr(_SEEN) and (
                node.tag in _CODE_TAGS or node.tag in _NAV_TAGS
                or node.getattr("role") == "navigation"):
            out.append(node)
            continue
        kids, child = [], node.first_element_child
        while child is not None:
            kids.append(child)
            child = child.next_element_sibling
        stack.extend(reversed(kids))
    return out


_SEEN = "data-swelm-seen"


def _mark_blocks(tree, body, code: str, queries: int = 100) -> None:
    """Replace each code block (``code="mark"``: its lines marked with CODE_MARK; ``"drop"``:
    removed) and each navigation block (lines marked with NAV_MARK) by a ``<pre>`` of its
    marked lines, so that the plain-text extraction keeps them apart as lines of their own.

    Blocks are found one at a time by a selector that skips those already seen (Resiliparse's
    collections index in linear time, so iterating one is quadratic); a page with more than
    ``queries`` of them (a manual on one page) has the rest found in one walk of its tree."""
    from resiliparse.extract.html2text import extract_plain_text

    def replace(node, mark):
        if node.tag == "code" and "\n" not in node.text.strip():
            node.setattr(_SEEN, "")               # inline code: part of its sentence
            return
        if mark == CODE_MARK:
            if code == "drop":
                node.decompose()
                return
            text = node.text
        else:
            text = extract_plain_text(node.html, main_content=False, **_TEXT_OPTIONS)
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            node.decompose()
            return
        pre = tree.create_element("pre")
        pre.setattr(_SEEN, "")
        pre.text = "\n" + "\n".join(mark + line for line in lines) + "\n"
        node.parent.replace_child(pre, node)

    def mark_of(node):
        return CODE_MARK if node.tag in _CODE_TAGS else NAV_MARK

    query = ", ".join(f"{s.strip()}:not([{_SEEN}])" for s in (_CODE + "," + _NAV).split(","))
    for _ in range(queries):
        node = body.query_selector(query)
        if node is None:
            return
        replace(node, mark_of(node))
    for node in _all_blocks(body):
        if node.parent is not None:
            replace(node, mark_of(node))


def _resiliparse(html: str, profile: Extract):
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(_mark_links(_NONCHARS.sub("", html)))
    root = tree.document.query_selector("html")
    lang = (root.getattr("lang") or root.getattr("xml:lang") or None) if root is not None else None
    title = tree.title or ""
    body = tree.body
    if body is None:
        return "", title, lang, 0.0
    for selector in profile.drop:
        for node in body.query_selector_all(selector):
            node.decompose()
    anchors = anchor_chars(body.html)
    visible = max(1, len("".join(strip_marks(body.text).split())))
    # the main-content heuristic (``extract = "main"``) is quadratic in nesting depth: absurdly
    # deep pages (hostile or broken markup) get the plain visible text instead of hanging
    if profile.main and not profile.keep and nesting_depth(html) <= MAX_DEPTH:
        text = extract_plain_text(tree, main_content=True, **_TEXT_OPTIONS)
        return text, title, lang, min(1.0, anchors / visible)
    _mark_blocks(tree, body, profile.code)
    if profile.keep:
        parts, anchors = [], 0
        for selector in profile.keep:
            for node in body.query_selector_all(selector):
                fragment = node.html
                parts.append(extract_plain_text(fragment, main_content=False,
                                                **_TEXT_OPTIONS))
                anchors += anchor_chars(fragment)
        text = "\n\n".join(p for p in parts if p.strip())
        return text, title, lang, min(1.0, anchors / max(1, len("".join(
            strip_marks(text).split()))))
    # every visible text node, inline elements with their neighbours' text (Japanese
    # particles between inline elements are part of the sentence); navigation and
    # boilerplate are the paragraph classifier's and the per-site line step's to remove
    text = extract_plain_text(tree, main_content=False, **_TEXT_OPTIONS)
    return text, title, lang, min(1.0, anchors / visible)


def _trafilatura(html: str, profile: Extract):
    import trafilatura
    from lxml import html as lxml_html

    doc = lxml_html.document_fromstring(_XML_DECL.sub("", html, count=1))
    lang = doc.get("lang")
    title_el = doc.find(".//title")
    title = title_el.text_content() if title_el is not None else ""
    body = doc.body
    visible = max(1, len("".join(body.text_content().split())))
    anchors = anchor_chars(html)
    if profile.drop or profile.keep:
        from lxml.cssselect import CSSSelector
        for selector in profile.drop:
            for node in CSSSelector(selector)(doc):
                node.drop_tree()
        if profile.keep:
            parts = [n.text_content() for s in profile.keep for n in CSSSelector(s)(doc)]
            return "\n\n".join(p for p in parts if p.strip()), title, lang, anchors / visible
    text = trafilatura.extract(doc, include_comments=False, include_tables=True,
                               output_format="txt") or ""
    return text, title, lang, min(1.0, anchors / visible)


_BACKENDS = {"resiliparse": _resiliparse, "trafilatura": _trafilatura}
