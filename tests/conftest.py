"""Shared fixtures: a small hand-written SWE vocabulary, and the real data in ../shared/data."""
from __future__ import annotations

import gzip
import json
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
# One import name: the packages are swelm.<name> (installed, or editable from this checkout).
# `python -m pytest` puts the checkout on sys.path, where `pipelines`, `tokenizer`, ... would
# import a second copy of the same modules; the tests' own helpers come from tests/.
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != ROOT]
SHARED = pathlib.Path(os.environ.get("JA_SHARED_DATA", ROOT.parent / "shared" / "data"))

# A vocabulary small enough to reason about by hand.  Ids are line numbers.
FIXTURE_TOKENS = [
    "して",        # 0  smaller than いる/している: して+いる wins over している
    "いる",        # 1
    "している",    # 2  (4 chars: never a candidate, windows are 1-3 characters)
    "てい",        # 3
    "ます",        # 4
    "慶応,慶應,𢙎応",  # 5  variants share one id, decode writes 慶応
    "東京",        # 6
    "都",          # 7
    "京都",        # 8
    "ー",          # 9
    ",",           # 10 the comma line
    "<",           # 11
    "猫", "で", "あ", "る", "し", "て", "い", "ま", "す", "東", "京", "慶", "応", "は", "。",
    "日本,⽇本",
    "〇", "０,〇",  # a duplicate surface: the later line wins for encoding
]
TAGS = ["<BR>", "<SP>", "<TAB>", "<URL>", "<EMAIL>", "<TEL>", "<DATE>", "<PRICE>", "<BLOCK>",
        "<KIGOU>", "<U2000U2BFF>"]
EMOJI_CLASSES = [f"<|emoji{i}|>" for i in range(1, 13)]
BYTES = [f"<|byte{i}|>" for i in range(255)]
FINAL = ["<|startoftext|>", "<|inputmask|>", "<|separator|>", "<|nottoken|>", "<|bagoftoken|>",
         "<|segmenter|>", "<|endoftext|>"]
FIXTURE_EMOJI = {
    "emoji": {"😀": "<|emoji1|>", "😃": "<|emoji1|>", "☠️": "<|emoji2|>", "🏴‍☠️": "<|emoji5|>",
              "❤️": "<|emoji9|>", "❤": "<|emoji9|>", "(^_^)": "<|emoji12|>", "(^^)": "<|emoji12|>"},
    "emoji_inv": {c: r for c, r in zip(EMOJI_CLASSES, ["😀", "🤕", "⚽", "🐯", "🇯🇵", "🍙", "🥁",
                                                        "🤚", "❤", "🟥", "🌏", "(^_^)"])},
}


def fixture_lines() -> list[str]:
    return FIXTURE_TOKENS + TAGS + EMOJI_CLASSES + BYTES + FINAL


def write_fixture(tmp: pathlib.Path, lines: list[str] | None = None, emoji: dict | None = None):
    vocab = tmp / "vocab.txt"
    vocab.write_text("\n".join(fixture_lines() if lines is None else lines), encoding="utf-8")
    em = tmp / "emoji.json"
    em.write_text(json.dumps(FIXTURE_EMOJI if emoji is None else emoji, ensure_ascii=False),
                  encoding="utf-8")
    return vocab, em


@pytest.fixture(scope="session")
def fixture_files(tmp_path_factory):
    return write_fixture(tmp_path_factory.mktemp("vocab"))


def _encoder(files, core: str):
    from swelm.tokenizer import SWEEncoder
    enc = SWEEncoder.load(*files, use_c=core == "c")
    if core == "c" and not enc.uses_c:
        pytest.skip("C core not built")
    return enc


@pytest.fixture(scope="session", params=["c", "python"])
def fixture_encoder(request, fixture_files):
    return _encoder(fixture_files, request.param)


def shared(*parts: str) -> pathlib.Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not found: {p} (set JA_SHARED_DATA to the shared data folder)")
    return p


@pytest.fixture(scope="session")
def upstream_files():
    return shared("upstream-swe", "ja-swe36k.txt"), shared("upstream-swe", "emoji.json")


@pytest.fixture(scope="session", params=["c", "python"])
def upstream_encoder(request, upstream_files):
    return _encoder(upstream_files, request.param)


@pytest.fixture(scope="session")
def parity_records():
    with gzip.open(shared("parity", "swe36k.jsonl.gz"), "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def site_html(site: str, *, every: int = 1, names: tuple[str, ...] = (), limit: int = 0):
    """``(path, bytes)`` of a shared site's HTML pages, read from its tarball in path order:
    every ``every``-th page, or those whose path ends with one of ``names``, at most ``limit``."""
    import tarfile
    with tarfile.open(shared("sites", site + ".tar.gz")) as tar:
        members = sorted((m for m in tar if m.isfile() and m.name.endswith(".html")
                          and (not names or m.name.endswith(names))), key=lambda m: m.name)
        members = members[::every][:limit or None]
        return [(m.name, tar.extractfile(m).read()) for m in members]
