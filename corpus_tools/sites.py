"""Site rules: which sites to crawl and how to treat their pages (TOML, or YAML).

Minimal form::

    [[sites]]
    name = "example"
    seeds = ["http://127.0.0.1:8000/"]
    genre = "docs"
    weight = 1.0

Every field (the README has the full schema):

==============  ==========================================================================
name            required; letters, digits, ``._-``; unique
seeds           http(s) URLs the crawl starts from; required to crawl the site (a site
                without seeds serves build-corpus ``--input`` only: ``--site`` or a site
                column names it, or its ``allow`` patterns match the records' URLs)
genre           required; one of :data:`GENRES`
weight          default 1.0; a number > 0 (relative sampling weight of the site)
allow           regular expressions a URL must match (default: the seeds' hosts)
deny            regular expressions that exclude a URL
extract         ``"auto"`` (every visible text; code and navigation blocks kept apart),
                ``"main"`` (Resiliparse's main-content heuristic) or a table ``{keep = [...],
                drop = [...], code = "mark" | "drop", main = false}``: CSS selectors (keep:
                the page's text comes from these; drop: removed first) and what becomes of
                code blocks (marked: dropped from the prose into rejected/; or removed)
encoding        a Python codec name that overrides the page's declared charset
paragraphs      default true: each line is classified (corpus_tools.paragraphs) and the page
                rules see the Japanese prose only; false: the whole page as extracted
filters         table of threshold overrides (the defaults are the genre's:
                corpus_tools.filter.GENRE_PRESETS over the web thresholds, or the
                build-corpus --preset's); names from :data:`THRESHOLDS`; a rule is
                switched off with ``"off"`` or ``false`` (TOML) or null (YAML); and
                ``keep_best_share``: keep this share (0-1) of the site's pages that pass the
                rules, those of lowest perplexity (needs build-corpus --lm)
ng_words        path of an NG-word list (one word per line), relative to the rules file
politeness      table: requests_per_second (default 1.0), concurrency (2), max_pages
                (1000), max_bytes (5 MB per page), timeout (30 s, a wall-clock limit per
                page), retries (3), max_crawl_delay (60 s: a host whose robots.txt asks for
                a longer Crawl-delay is skipped for the run)
==============  ==========================================================================

A ``[defaults]`` table may give ``politeness``, ``filters``, ``extract`` and ``paragraphs``
for every site.
Loading checks everything and raises :class:`SiteRulesError` naming the file, the site and
the field.
"""
from __future__ import annotations

import codecs
import math
import os
import posixpath
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from . import CorpusError
from .filter import THRESHOLDS as _THRESHOLDS
from .filter import thresholds_for

GENRES = ("blog", "news", "novel", "dictionary", "qa", "docs", "legal", "encyclopedia", "forum",
          "wiki", "academic", "other")

#: Filter thresholds and their defaults, in checking order (the table is corpus_tools.filter.RULES).
THRESHOLDS = _THRESHOLDS
POLITENESS = {"requests_per_second": 1.0, "concurrency": 2, "max_pages": 1000,
              "max_bytes": 5_000_000, "timeout": 30.0, "retries": 3, "max_crawl_delay": 60.0}
_SITE_FIELDS = {"name", "seeds", "genre", "weight", "allow", "deny", "extract", "paragraphs",
                "encoding",
                "filters", "ng_words", "politeness"}
NAME_PATTERN = re.compile(r"[A-Za-z0-9._\-]+")


class SiteRulesError(CorpusError):
    """The site rules file is invalid; the message names the file, site and field."""


@dataclass(frozen=True)
class Extract:
    """A site's extraction profile: ``auto`` (every visible text, code and navigation blocks
    marked for the paragraph classifier), ``main`` (Resiliparse's main-content heuristic,
    which drops short text between inline elements), ``keep``/``drop`` CSS selectors, and
    what becomes of code blocks: ``code = "mark"`` (kept apart, dropped from the prose into
    ``rejected/``) or ``"drop"`` (removed at extraction)."""
    auto: bool = True
    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    main: bool = False
    code: str = "mark"


@dataclass(frozen=True)
class Site:
    name: str
    seeds: tuple[str, ...]
    genre: str
    weight: float = 1.0
    allow: tuple = ()           # RE2 patterns (url_pattern)
    deny: tuple = ()
    extract: Extract = Extract()
    encoding: str | None = None
    filters: dict = field(default_factory=lambda: dict(THRESHOLDS))
    ng_words: str | None = None         # where the NG-word list was read from
    ng_word_list: tuple = ()            # its words (they travel with the rules)
    paragraphs: bool = True             # classify lines; page rules on the Japanese prose
    keep_best_share: float | None = None  # the share of lowest perplexity kept (--lm)
    politeness: dict = field(default_factory=lambda: dict(POLITENESS))

    def in_scope(self, url: str) -> bool:
        """Whether ``url`` may be crawled for this site (allow, then deny)."""
        if not any(p.search(url) for p in self.allow):
            return False
        return not any(p.search(url) for p in self.deny)


#: the name of the catch-all site of a whole-web build (``build-corpus --all-sites``)
WEB_SITE = "all-web"


def web_site(name: str = WEB_SITE, preset: str = "swallow", base: dict | None = None) -> Site:
    """A site that takes every http(s) URL, genre ``other``, with the default (web) filters
    of ``preset`` and the ``base`` settings (as :func:`load_sites`): appended after the
    listed sites, it keeps the pages no listed site claims."""
    filters, share = _filters("other", preset, base or {}, [], f"site {name!r}")
    return Site(name=name, seeds=(), genre="other", allow=(url_pattern(r"^https?://"),),
                filters=filters, keep_best_share=share)


#: the filter settings that are not rules: keep_best_share (1.0 keeps every page)
FILTER_SETTINGS = {**THRESHOLDS, "keep_best_share": 1.0}
#: the filter settings with bounds beyond ">= 0": ``(what the message says, test)``.  A minimum
#: share above 1 would reject every page (a maximum above 1 rejects none, as some rules files
#: switch a rule off); a perplexity is at least 1, so a maximum below 1 rejects every page
_SHARE = ("a share from 0 to 1", lambda v: 0 <= v <= 1)
BOUNDED_SETTINGS = {
    **{k: _SHARE for k in FILTER_SETTINGS if k.startswith("min_") and k.endswith("_ratio")},
    "min_quality_score": _SHARE,
    "keep_best_share": ("a share above 0 and at most 1", lambda v: 0 < v <= 1),
    "max_perplexity": ("a number >= 1 (a perplexity is never below 1)", lambda v: v >= 1),
}


def _filters(genre: str, preset: str, base: dict, tables: list, where: str):
    """A site's thresholds and keep_best_share: the preset's defaults for its genre, then
    ``base`` (build-corpus flags), then each table of the rules file in turn."""
    filters = {**thresholds_for(genre, preset), "keep_best_share": None, **base}
    for table in tables:
        filters.update(_number_table(table, FILTER_SETTINGS, "filters", where,
                                     can_switch_off=True, bounds=BOUNDED_SETTINGS))
    return filters, filters.pop("keep_best_share")


def read_local(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _read_file(path: str, reader, what: str) -> bytes:
    try:
        return reader(path)
    except FileNotFoundError:
        raise SiteRulesError(f"{path}: {what} not found") from None
    except OSError as e:
        raise SiteRulesError(f"{path}: cannot read the {what}: {e}") from None


def _read(path: str, reader) -> dict:
    low = path.lower()
    raw = _read_file(path, reader, "site rules file")
    if low.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise SiteRulesError(f"{path}: YAML rules need PyYAML (pip install pyyaml); "
                                 "TOML needs nothing") from None
        try:
            data = yaml.safe_load(raw.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise SiteRulesError(f"{path}: not valid YAML: {e}") from None
    else:
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise SiteRulesError(f"{path}: not valid TOML: {e}") from None
    if not isinstance(data, dict):
        raise SiteRulesError(f"{path}: expected a table with a 'sites' list")
    return data


def load_sites(path: str | os.PathLike, reader=read_local, preset: str = "swallow",
               base: dict | None = None) -> list[Site]:
    """Read and validate a site rules file; ``reader(path) -> bytes`` reads it and the NG-word
    lists it names (the pipelines pass one for any filesystem).  Each site's filters are the
    ``preset``'s for its genre, then ``base`` (settings for every site: build-corpus flags),
    then the file's defaults and the site's own."""
    path = os.fspath(path)
    data = _read(path, reader)
    unknown = set(data) - {"sites", "defaults"}
    if unknown:
        raise SiteRulesError(f"{path}: unknown top-level field(s) {sorted(unknown)}; "
                             "expected 'sites' and optionally 'defaults'")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict) or set(defaults) - {"politeness", "filters", "extract",
                                                          "paragraphs"}:
        raise SiteRulesError(f"{path}: 'defaults' may hold politeness, filters, extract and "
                             "paragraphs")
    sites = data.get("sites")
    if not isinstance(sites, list) or not sites:
        raise SiteRulesError(f"{path}: 'sites' must be a non-empty list of site tables")
    out, names = [], set()
    remote = "://" in path
    folder = posixpath.dirname(path) if remote else os.path.dirname(os.path.abspath(path))
    for i, raw in enumerate(sites, 1):
        where = f"{path}: site #{i}"
        if not isinstance(raw, dict):
            raise SiteRulesError(f"{where}: expected a table")
        if isinstance(raw.get("name"), str):
            where = f"{path}: site '{raw['name']}'"
        site = _site(raw, defaults, where, folder, reader, preset, base or {})
        if site.name in names:
            raise SiteRulesError(f"{where}: field 'name': duplicate site name")
        names.add(site.name)
        out.append(site)
    return out


def _err(where: str, fld: str, problem: str) -> SiteRulesError:
    return SiteRulesError(f"{where}: field '{fld}': {problem}")


def _str_list(raw, fld, where, required=False, name=None) -> tuple[str, ...]:
    """The list of strings at ``raw[fld]`` (a single string is a list of one); ``name`` is
    the field's full name in messages (``extract.keep``)."""
    v = raw.get(fld, [])
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise _err(where, name or fld, "must be a list of non-empty strings")
    if required and not v:
        raise _err(where, name or fld, "must not be empty")
    return tuple(v)


class UrlPattern:
    """A URL pattern compiled by RE2 (google-re2), whose matching time is linear in the URL's
    length whatever the pattern: a rules file cannot make the crawler spin on a crafted link
    (Python's backtracking engine takes exponential time on patterns like ``(a|aa)*c$``, and
    no check of a pattern's text catches every such case).  RE2 has no backreferences and no
    lookaround; a pattern that needs them is refused (``re2.error``).  Equal by its text, and
    pickled as its text (the workers compile it again)."""

    __slots__ = ("pattern", "_re")

    def __init__(self, pattern: str):
        import re2
        options = re2.Options()
        options.log_errors = False          # the error is reported once, by the caller
        self.pattern = pattern
        self._re = re2.compile(pattern, options)

    def search(self, text: str):
        return self._re.search(text)

    def __eq__(self, other) -> bool:
        return isinstance(other, UrlPattern) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)

    def __repr__(self) -> str:
        return f"UrlPattern({self.pattern!r})"

    def __reduce__(self):
        return UrlPattern, (self.pattern,)


def url_pattern(pattern: str) -> UrlPattern:
    return UrlPattern(pattern)


def _patterns(raw, fld, where) -> tuple:
    import re2
    out = []
    for p in _str_list(raw, fld, where):
        try:
            out.append(url_pattern(p))
        except re2.error as e:
            why = e.args[0].decode("utf-8", "replace") if e.args and isinstance(
                e.args[0], bytes) else str(e)
            raise _err(where, fld, f"invalid regular expression {p!r}: {why} (URLs are "
                                   "matched by RE2, in time linear in the URL: no "
                                   "backreferences or lookaround)") from None
    return tuple(out)


def _selectors(value: tuple, fld: str, where) -> tuple:
    """CSS selectors, each compiled once here (by the HTML parser extraction uses), so a
    selector that cannot parse is an error of the rules file, not of every page."""
    from resiliparse.parse.html import HTMLTree
    body = HTMLTree.parse("<html><body><p>x</p></body></html>").body
    for sel in value:
        try:
            body.query_selector_all(sel)
        except Exception as e:            # resiliparse's CSSParserException
            raise _err(where, fld, f"invalid CSS selector {sel!r}: {e}") from None
    return value


_OFF = ("off", False, None)


def _number_table(value, known: dict, fld, where, can_switch_off: bool = False,
                  bounds: dict | None = None) -> dict:
    """The table's settings (``known``: their defaults); each a finite number >= 0, an integer
    where the default is one, within its ``bounds`` (``{name: (what, test)}``) when it has
    some; with ``can_switch_off``, ``"off"``, ``false`` (TOML) or null (YAML) switch a
    setting off (None)."""
    bounds = bounds or {}
    if not isinstance(value, dict):
        raise _err(where, fld, "must be a table")
    out = {}
    for k, v in value.items():
        if k not in known:
            raise _err(where, f"{fld}.{k}", f"unknown setting; known: {', '.join(sorted(known))}")
        if can_switch_off and (v in _OFF and (v is None or v is False or v == "off")):
            out[k] = None
            continue
        integer = isinstance(known[k], int)
        off = ', or "off" / false to switch it off' if can_switch_off else ""
        ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
        if ok and integer and not float(v).is_integer():
            ok = False
        if ok and k in bounds and not bounds[k][1](v):
            ok = False
        if not ok:
            want = ("an integer >= 0" if integer else bounds[k][0] if k in bounds
                    else "a finite number >= 0")
            raise _err(where, f"{fld}.{k}", f"must be {want}{off}, got {v!r}")
        out[k] = int(v) if integer else v
    return out


def _text_codec(encoding, where) -> str:
    """The codec's canonical name, for text codecs only (base64, rot13 and the like are not
    character encodings)."""
    try:
        info = codecs.lookup(encoding)
        b"".decode(info.name)
        "".encode(info.name)
    except (LookupError, TypeError):
        raise _err(where, "encoding", f"unknown character encoding {encoding!r}; expected "
                                      "a text codec such as shift_jis, euc_jp or utf-8") from None
    return info.name


_EXTRACT_HELP = ('must be "auto", "main" or a table {keep = [...], drop = [...], code = '
                 '"mark" or "drop", main = true or false}')


def _extract(value, where) -> Extract:
    if value == "auto":
        return Extract()
    if value == "main":
        return Extract(main=True)
    if isinstance(value, dict):
        extra = set(value) - {"keep", "drop", "code", "main"}
        if extra:
            raise _err(where, "extract", f"unknown key(s) {sorted(extra)}; use keep, drop, "
                                         "code and main")
        keep = _selectors(_str_list(value, "keep", where, name="extract.keep"), "extract.keep",
                          where)
        drop = _selectors(_str_list(value, "drop", where, name="extract.drop"), "extract.drop",
                          where)
        code = value.get("code", "mark")
        if code not in ("mark", "drop"):
            raise _err(where, "extract.code", f'{code!r}; expected "mark" or "drop"')
        main = value.get("main", False)
        if not isinstance(main, bool):
            raise _err(where, "extract.main", f"{main!r}; expected true or false")
        return Extract(auto=not keep, keep=keep, drop=drop, main=main, code=code)
    raise _err(where, "extract", _EXTRACT_HELP)


def _site(raw: dict, defaults: dict, where: str, base: str, reader=read_local,
          preset: str = "swallow", settings: dict | None = None) -> Site:
    unknown = set(raw) - _SITE_FIELDS
    if unknown:
        raise SiteRulesError(f"{where}: unknown field(s) {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise _err(where, "name", "required; letters, digits, '.', '_' and '-'")
    seeds = _str_list(raw, "seeds", where)
    for s in seeds:
        u = urlsplit(s)
        if u.scheme not in ("http", "https") or not u.netloc:
            raise _err(where, "seeds", f"{s!r} is not an http(s) URL")
    genre = raw.get("genre")
    if genre not in GENRES:
        raise _err(where, "genre", f"must be one of {', '.join(GENRES)}; got {genre!r}")
    weight = raw.get("weight", 1.0)
    if (isinstance(weight, bool) or not isinstance(weight, (int, float))
            or not math.isfinite(weight) or weight <= 0):
        raise _err(where, "weight", f"must be a finite number > 0, got {weight!r}")
    allow = _patterns(raw, "allow", where) or tuple(
        url_pattern("^" + re.escape(f"{urlsplit(s).scheme}://{urlsplit(s).netloc}/"))
        for s in seeds)
    deny = _patterns(raw, "deny", where)
    extract = _extract(raw.get("extract", defaults.get("extract", "auto")), where)
    paragraphs = raw.get("paragraphs", defaults.get("paragraphs", True))
    if not isinstance(paragraphs, bool):
        raise _err(where, "paragraphs", f"{paragraphs!r}; expected true or false")
    encoding = raw.get("encoding")
    if encoding is not None:
        encoding = _text_codec(encoding, where)
    filters, share = _filters(genre, preset, settings or {}, [defaults.get("filters", {}),
                                                              raw.get("filters", {})], where)
    politeness = dict(POLITENESS)
    politeness.update(_number_table(defaults.get("politeness", {}), POLITENESS, "politeness", where))
    politeness.update(_number_table(raw.get("politeness", {}), POLITENESS, "politeness", where))
    if politeness["requests_per_second"] <= 0 or politeness["concurrency"] < 1:
        raise _err(where, "politeness", "requests_per_second must be > 0 and concurrency >= 1")
    ng, words = raw.get("ng_words"), ()
    if ng is not None:
        if not isinstance(ng, str):
            raise _err(where, "ng_words", "must be a path")
        if "://" not in ng and not os.path.isabs(ng):
            ng = posixpath.join(base, ng) if "://" in base else os.path.join(base, ng)
        try:
            words = tuple(reader(ng).decode("utf-8").splitlines())
        except FileNotFoundError:
            raise _err(where, "ng_words", f"file not found: {ng}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise _err(where, "ng_words", f"cannot read {ng}: {e}") from None
    return Site(name=name, seeds=seeds, genre=genre, weight=float(weight), allow=allow, deny=deny,
                extract=extract, encoding=encoding, filters=filters, ng_words=ng,
                ng_word_list=words, politeness=politeness, paragraphs=paragraphs,
                keep_best_share=share)
