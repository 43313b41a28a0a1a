"""The corpus-quality commands: ``swelm build-lm`` (an n-gram language model of reference
text, whose perplexity build-corpus ``--lm`` records per document) and ``swelm
train-classifier`` (a quality classifier from labelled examples, build-corpus
``--classifier``).  Registered by :mod:`swelm.cli`."""
from __future__ import annotations

import dataclasses
import logging
import os
import re

from swelm.checks import integer_arg
from swelm.errors import InputError, UsageError, first_line
from swelm.options import Options, flag
from swelm.publish import Kind, check_destination
from swelm.words import plural

log = logging.getLogger("swelm.quality").info


def _model_file(magic: bytes):
    """A ``recognise`` for a whole model file (corpus_tools.modelfile) with ``magic``."""
    def recognise(data: bytes) -> bool:
        from .modelfile import is_complete
        return is_complete(data, magic)
    return recognise


#: single files, replaced only when the whole file is such a model (a damaged one is kept)
LM_FILE = Kind("an n-gram model (swelm build-lm)", is_file=True, head_bytes=None,
               recognise=_model_file(b"SWELMNG1"))
CLASSIFIER_FILE = Kind("a quality classifier (swelm train-classifier)", is_file=True,
                       head_bytes=None, recognise=_model_file(b"SWELMQC1"))

TEXT_SUFFIXES = (".txt", ".txt.gz")


def _select(text: str):
    """``FIELD=REGEX`` -> (field, compiled regex)."""
    field, eq, pattern = text.partition("=")
    if not eq or not field:
        raise UsageError(f"--select {text}: expected FIELD=REGEX, e.g. source=wiki|aozora")
    try:
        return field, re.compile(pattern)
    except re.error as e:
        raise UsageError(f"--select {text}: invalid regular expression: {e}") from None


def read_texts(paths: list[str], flag_name: str, text_column: str = "text",
               select: list[str] = (), limit: int | None = None) -> tuple[list[str], dict]:
    """The texts of JSON-lines / Parquet records (``text_column``; with ``select``, a list of
    ``FIELD=REGEX``, only records each of whose FIELDs matches) and of text files (one
    document per non-empty line, no fields), up to ``limit`` characters, without the
    extractor's marks (as build-corpus scores pages); and ``{"records": n, "skipped": n,
    "unreadable": n, "first_problem": where: why}``: a record that cannot be used is skipped,
    a file that breaks while it is read (truncated, damaged) keeps what was read before, as
    build-corpus --input does.  A file that is missing or of another kind is a one-line error
    naming it and ``flag_name``."""
    import gzip
    import zlib
    import pyarrow as pa
    from .extract import strip_marks
    from .records import RecordsError, inspect, kind_of, plan, read
    sels = [_select(s) for s in select]
    if len({f for f, _ in sels}) < len(sels):
        raise UsageError(f"--select {' --select '.join(select)}: one FIELD twice; a record "
                         "must match every --select, so give one REGEX per FIELD "
                         "(alternatives with |)")
    opener = lambda p: open(p, "rb")            # noqa: E731
    files = []
    for p in paths:
        if os.path.isdir(p):
            for cur, dirs, names in os.walk(p):
                dirs.sort()
                files += [os.path.join(cur, n) for n in sorted(names)
                          if kind_of(n) or n.lower().endswith(TEXT_SUFFIXES)]
        elif not os.path.exists(p):
            raise UsageError(f"{flag_name} {p}: file not found")
        else:
            files.append(p)
    if not files:
        raise InputError(f"{flag_name} {' '.join(paths)}: no JSON-lines, Parquet or .txt files")
    given = [f for f, v in (("--select", sels), ("--text-column", text_column != "text")) if v]
    plain = [p for p in files if p.lower().endswith(TEXT_SUFFIXES)]
    if given and plain:
        raise UsageError(f"{flag_name} {plain[0]}: a text file (one document per line) has no "
                         f"fields for {' and '.join(given)}; those are for JSON lines and "
                         "Parquet")
    texts, chars, info = [], 0, {"records": 0, "skipped": 0, "unreadable": 0}

    def add(t: str) -> bool:
        nonlocal chars
        texts.append(t)
        chars += len(t)
        return limit is not None and chars >= limit

    def unreadable(path: str, e: Exception) -> None:
        # as build-corpus --input: what was read stays, the damage is reported
        info["unreadable"] += 1
        info.setdefault("first_problem", f"{path}: unreadable from there on "
                                         f"({first_line(e)})")

    for path in files:
        if path.lower().endswith(TEXT_SUFFIXES):
            op = gzip.open if path.lower().endswith(".gz") else open
            try:
                with op(path, "rt", encoding="utf-8") as f:
                    for line in f:
                        if line.strip():
                            info["records"] += 1
                            if add(strip_marks(line.rstrip("\n"))):
                                return texts, info
            except UnicodeDecodeError as e:
                raise UsageError(f"{flag_name} {path}: not a UTF-8 text file ({e})") from None
            except (OSError, EOFError, zlib.error) as e:
                unreadable(path, e)
            continue
        if kind_of(path) is None:
            raise UsageError(f"{flag_name} {path}: an unknown kind of file; expected JSON "
                             "lines (.jsonl, .json, .ndjson, also .gz), Parquet (.parquet) or "
                             "text, one document per line (.txt, .txt.gz)")
        required = {f: "--select" for f, _ in sels} or None
        try:
            inspect(path, opener, text_column, required)
        except RecordsError as e:
            raise UsageError(f"{flag_name} {e}") from None
        fields = {f"select{i}": f for i, (f, _) in enumerate(sels)}
        pieces = plan(path, os.path.getsize(path), opener, 1 << 62)
        records = (item for start, end, _ in pieces
                   for item in read(path, start, end, opener, text_column, fields))
        try:
            for where, rec, problem in records:
                if rec is None:
                    info["skipped"] += 1
                    info.setdefault("first_problem", f"{where}: {problem}")
                    continue
                if not all(rec[f"select{i}"] is not None and rx.search(str(rec[f"select{i}"]))
                           for i, (_, rx) in enumerate(sels)):
                    continue
                info["records"] += 1
                if rec["text"].strip() and add(strip_marks(rec["text"])):
                    return texts, info
        except (OSError, EOFError, zlib.error, pa.ArrowException) as e:
            unreadable(path, e)
    return texts, info


def _normalized(texts: list[str], normalize: bool) -> list[str]:
    if not normalize:
        return texts
    from .normalize import Normalizer
    norm = Normalizer()
    return [norm(t) for t in texts]


def _skipped(info: dict) -> str:
    """``; skipped 2 records and 1 damaged file read up to the damage (the first problem:
    …)``, or nothing."""
    parts = ([f"skipped {plural(info['skipped'], 'record')}"] if info["skipped"] else []) + (
        [f"{plural(info['unreadable'], 'damaged file')} read up to the damage"]
        if info["unreadable"] else [])
    if not parts:
        return ""
    return f"; {' and '.join(parts)} (the first problem: {info['first_problem']})"


@dataclasses.dataclass(kw_only=True)
class BuildLMOptions(Options):
    """``swelm build-lm``."""
    input: list = flag(positional=True, nargs="+", metavar="INPUT",
                       help="reference text: JSON lines (.jsonl, .json, .ndjson, also .gz) or "
                            "Parquet with a text column, .txt files (one document per line), "
                            "or folders of them")
    out: str = flag(help="the model file to write")
    order: int = flag(5, type=integer_arg(minimum=1, maximum=8), help="n-gram order")
    unit: str = flag("char", choices=("char", "swe"),
                     help="n-gram units: characters, or token ids of the bundled SWE "
                          "vocabulary")
    min_count: int = flag(2, type=integer_arg(minimum=1),
                          help="n-grams above the second order seen fewer times are left out")
    text_column: str = flag("text", help="the field or column holding the text")
    select: list = flag(default_factory=list, action="append", metavar="FIELD=REGEX",
                        help="only the records whose FIELD matches REGEX (searched anywhere "
                             "in the value), e.g. source='wiki|aozora'; given more than "
                             "once, a record must match each")
    max_chars: int | None = flag(None, type=integer_arg(minimum=1),
                                 help="stop reading after the document that brings the text "
                                      "to this many characters")
    no_normalize: bool = flag(False, action="store_true",
                              help="train on the text as it is (default: normalised as "
                                   "build-corpus normalises the pages it scores)")


def cmd_build_lm(o: BuildLMOptions) -> int:
    from .ngram_lm import NgramLM
    check_destination(o.out, LM_FILE, sources=o.input)
    texts, info = read_texts(o.input, "input", o.text_column, o.select, o.max_chars)
    if not texts:
        raise InputError(f"{' '.join(o.input)}: no text"
                         + (f" in records matching --select {' --select '.join(o.select)}"
                            if o.select else "")
                         + "; expected documents of reference text" + _skipped(info))
    lm = NgramLM.train(_normalized(texts, not o.no_normalize), order=o.order, unit=o.unit,
                       min_count=o.min_count)
    lm.save(o.out)
    m = lm.meta
    print(f"wrote {o.out}: {m['unit']} {m['order']}-gram model of "
          f"{plural(m['documents'], 'document')} ({m['units']:,} units), {m['ngrams']:,} "
          "n-grams" + _skipped(info))
    return 0


@dataclasses.dataclass(kw_only=True)
class TrainClassifierOptions(Options):
    """``swelm train-classifier``."""
    good: list = flag(default_factory=list, nargs="+", action="extend", metavar="FILE",
                      help="examples of good text: JSON lines, Parquet or .txt (one per line)")
    bad: list = flag(default_factory=list, nargs="+", action="extend", metavar="FILE",
                     help="examples of bad text, in the same formats")
    build: str | None = flag(None, metavar="DIR",
                             help="a build-corpus output instead: its corpus/ rows are good, "
                                  "its rejected/ rows that a page rule or the paragraph "
                                  "classifier took out are bad (not duplicates, and not the "
                                  "model signals' own rejections)")
    out: str = flag(help="the classifier file to write")
    text_column: str = flag("text", help="the field or column holding the text")
    epochs: int = flag(5, type=integer_arg(minimum=1, maximum=1000),
                       help="passes over the examples")
    seed: int = flag(0, type=integer_arg(minimum=0), help="order of the examples")
    holdout: float = flag(0.1, type=float, help="share of each class kept back to report "
                                                "accuracy on (0: none)")


def _is_build(folder: str) -> bool:
    """Whether ``folder`` holds a finished build-corpus output (its stats.json)."""
    import json
    try:
        with open(os.path.join(folder, "stats.json"), encoding="utf-8") as f:
            stats = json.load(f)
        return stats["settings"]["command"] == "build-corpus"
    except (OSError, ValueError, TypeError, KeyError):
        return False


def _build_examples(folder: str) -> tuple[list[str], list[str]]:
    import glob
    import pyarrow as pa
    import pyarrow.parquet as pq
    from .filter import SIGNAL_RULES
    good, bad = [], []
    corpus = sorted(glob.glob(os.path.join(folder, "corpus", "part-*.parquet")))
    if not os.path.isdir(folder):
        raise UsageError(f"--build {folder}: "
                         + ("not a folder" if os.path.exists(folder) else "not found")
                         + "; expected a build-corpus output")
    if not corpus:
        if _is_build(folder):
            raise InputError(f"--build {folder}: the build kept no pages (no corpus/part-*."
                             "parquet), so there are no good examples; use --good/--bad")
        raise UsageError(f"--build {folder}: no corpus/part-*.parquet in it; expected a "
                         "build-corpus output")

    def read(path, columns):
        try:
            return pq.read_table(path, columns=columns).to_pydict()
        except (pa.ArrowException, OSError) as e:
            raise UsageError(f"--build {folder}: {path} is not a readable build-corpus part "
                             f"({first_line(e)})") from None
    for path in corpus:
        good += [t for t in read(path, ["text"])["text"] if t]
    for path in sorted(glob.glob(os.path.join(folder, "rejected", "part-*.parquet"))):
        t = read(path, ["text", "rule"])
        bad += [x for x, r in zip(t["text"], t["rule"]) if x and r and r not in SIGNAL_RULES
                and r.startswith(("min_", "max_", "paragraph_"))]
    odd = next((x for x in good + bad if not isinstance(x, str)), None)
    if odd is not None:
        raise UsageError(f"--build {folder}: a text column holding {type(odd).__name__} "
                         "values; expected a build-corpus output (text is a string)")
    return good, bad


def _split(texts: list[str], share: float, seed: int) -> tuple[list[str], list[str]]:
    import numpy as np
    if share <= 0 or len(texts) < 2:
        return texts, []
    order = np.random.default_rng(seed).permutation(len(texts))
    n = max(1, int(round(len(texts) * share)))
    return [texts[i] for i in order[n:]], [texts[i] for i in order[:n]]


def cmd_train_classifier(o: TrainClassifierOptions) -> int:
    from .classifier import QualityClassifier
    if not 0 <= o.holdout < 1:
        raise UsageError(f"--holdout {o.holdout}: expected a share from 0 up to (not "
                         "including) 1")
    if o.build is not None and (o.good or o.bad):
        raise UsageError(f"--build {o.build} and --good/--bad: give one source of examples")
    if o.build is not None and not o.build.strip():
        raise UsageError("--build '': an empty path; expected a build-corpus output folder")
    if o.build and o.text_column != "text":
        raise UsageError(f"--text-column {o.text_column}: only with --good/--bad (a build's "
                         "text is its text column)")
    sources = [o.build] if o.build else o.good + o.bad
    check_destination(o.out, CLASSIFIER_FILE, sources=sources)
    said = ""
    if o.build:
        good, bad = _build_examples(o.build)
        where = f"--build {o.build}"
    else:
        if not o.good or not o.bad:
            raise UsageError("give --good FILE... and --bad FILE... (or --build DIR)")
        good, good_info = read_texts(o.good, "--good", o.text_column)
        bad, bad_info = read_texts(o.bad, "--bad", o.text_column)
        said = "".join(_skipped(i).replace("; ", f"; {flag}: ", 1)
                       for flag, i in (("--good", good_info), ("--bad", bad_info)))
        where = "--good/--bad"
    if not good or not bad:
        raise InputError(f"{where}: {len(good)} good and {len(bad)} bad examples; both "
                         "classes need some" + said)
    good_train, good_test = _split(good, o.holdout, o.seed)
    bad_train, bad_test = _split(bad, o.holdout, o.seed + 1)
    if not good_train or not bad_train:
        raise UsageError(f"--holdout {o.holdout:g}: keeps back every example of a class "
                         f"({len(good)} good, {len(bad)} bad); give a smaller share, or 0")
    if not good_test or not bad_test:       # nothing to score the other class against
        good_train, bad_train, good_test, bad_test = good, bad, [], []
    clf = QualityClassifier.train(good_train, bad_train, epochs=o.epochs, seed=o.seed)
    acc = (f", held-out accuracy {clf.accuracy(good_test, bad_test):.3f} on "
           f"{len(good_test) + len(bad_test)} examples" if good_test and bad_test else "")
    clf.save(o.out)
    print(f"wrote {o.out}: trained on {len(good_train):,} good and {len(bad_train):,} bad "
          f"examples{acc}{said}")
    return 0


def register(add) -> None:
    """Add build-lm and train-classifier with ``add(name, help=, description=, func=)``."""
    for name, options, handler, help_, description in (
            ("build-lm", BuildLMOptions, cmd_build_lm,
             "reference text -> a Kneser-Ney n-gram model (build-corpus --lm scores pages "
             "with it)",
             "Train a character (or SWE-token) n-gram language model with interpolated "
             "Kneser-Ney smoothing on reference text (e.g. the Wikipedia and Aozora parts of "
             "a corpus). build-corpus --lm MODEL records each page's perplexity under it; "
             "max_perplexity and keep_best_share (site filters, or --max-perplexity and "
             "--keep-best-share) reject by it."),
            ("train-classifier", TrainClassifierOptions, cmd_train_classifier,
             "good and bad examples -> a quality classifier (build-corpus --classifier)",
             "Train a fastText-style quality classifier (hashed character n-grams, logistic "
             "regression) from JSON lines, Parquet or text files of good and bad examples, or "
             "from a build-corpus output (corpus/ rows good, rejected/ rows bad). "
             "build-corpus --classifier MODEL records each page's quality_score (the "
             "probability it is good) and rejects below --min-quality-score.")):
        p = add(name, help=help_, description=description,
                func=lambda args, o=options, h=handler: h(o.from_args(args)))
        options.add_flags(p)
