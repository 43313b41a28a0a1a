"""SWE vocabulary and emoji files: loading and validation.

Vocabulary format (the reference ``ja-swe36k.txt`` format): UTF-8, one token per line,
line number = token id.  A line with commas lists variant spellings of one token
(``慶応,慶應``); a line that is exactly ``,`` is the comma.  The first spelling is what
``decode`` writes.  When one spelling appears on several lines the *last* line wins for
encoding, as in the reference encoder.

Emoji file: JSON ``{"emoji": {text: "<|emojiN|>"}, "emoji_inv": {"<|emojiN|>": text}}``.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

from swelm.errors import SwelmError

#: Fallback and tag tokens every SWE vocabulary must contain.
REQUIRED_TAGS = ("<SP>", "<BR>", "<TAB>", "<URL>", "<EMAIL>", "<TEL>", "<DATE>",
                 "<PRICE>", "<BLOCK>", "<KIGOU>", "<U2000U2BFF>")
#: The special tokens that close every SWE vocabulary, in this order.
SPECIAL_TOKENS = ("<|startoftext|>", "<|inputmask|>", "<|separator|>", "<|nottoken|>",
                  "<|bagoftoken|>", "<|segmenter|>", "<|endoftext|>")
N_BYTE_TOKENS = 255  # <|byte0|> ... <|byte254|>; UTF-8 never produces 0xFF


def special_ids(size: int) -> dict[str, int]:
    """The ids of the special tokens in an SWE vocabulary of ``size`` tokens (they come last)."""
    return {t: size - len(SPECIAL_TOKENS) + i for i, t in enumerate(SPECIAL_TOKENS)}


class TokenizerError(SwelmError, ValueError):
    """Input the tokenizer cannot take (an out-of-range id, a lone surrogate, ...)."""


class VocabularyError(TokenizerError):
    """A vocabulary or emoji file is malformed (or cannot be built).  The message names the
    file."""


def split_line(line: str) -> list[str]:
    """Spellings on one vocabulary line (``,`` alone is the comma token)."""
    if line == "," or "," not in line:
        return [line]
    return line.split(",")


def join_line(spellings: list[str]) -> str:
    """Inverse of :func:`split_line` for spellings without commas."""
    return ",".join(spellings)


@dataclass
class Vocabulary:
    path: str
    spellings: list[list[str]]          # per id, first = surface written by decode
    token_to_id: dict[str, int]         # every spelling -> id (last line wins)
    sha256: str
    maxlen: int = field(init=False)

    def __post_init__(self) -> None:
        self.maxlen = max(len(w) for w in self.token_to_id)

    def __len__(self) -> int:
        return len(self.spellings)

    def surface(self, i: int) -> str:
        return self.spellings[i][0]


def _fail(path: str, problem: str) -> VocabularyError:
    return VocabularyError(f"{path}: {problem}")


def parse_vocabulary(text: str, path: str = "<vocabulary>", sha256: str = "") -> Vocabulary:
    """Parse and validate vocabulary text; raise :class:`VocabularyError` naming ``path``."""
    if text == "" or text.strip() == "":
        raise _fail(path, "the vocabulary file is empty")
    if "\r" in text:
        line = text[: text.index("\r")].count("\n") + 1
        raise _fail(path, f"line {line}: carriage return found; the format uses '\\n' line ends only")
    if text.endswith("\n"):
        # The reference files have no trailing newline; accept one and ignore it.
        text = text[:-1]
    lines = text.split("\n")
    spellings = [split_line(line) for line in lines]
    tok2id: dict[str, int] = {}
    for idx, words in enumerate(spellings):
        if words == [""]:
            raise _fail(path, f"line {idx + 1}: empty line (every line must hold a token)")
        for w in words:
            tok2id[w] = idx
    missing = [t for t in REQUIRED_TAGS if t not in tok2id]
    if missing:
        raise _fail(path, "missing special tokens: " + " ".join(missing))
    byte_tokens = [w for w in tok2id if w.startswith("<|byte") and w.endswith("|>")]
    want = {f"<|byte{i}|>" for i in range(N_BYTE_TOKENS)}
    if len(byte_tokens) != N_BYTE_TOKENS or set(byte_tokens) != want:
        absent = sorted(want - set(byte_tokens), key=lambda s: int(s[6:-2]))
        extra = sorted(set(byte_tokens) - want)
        detail = []
        if absent:
            detail.append("missing " + " ".join(absent[:5]) + (" …" if len(absent) > 5 else ""))
        if extra:
            detail.append("unexpected " + " ".join(extra[:5]))
        raise _fail(path, f"wrong count of byte tokens: found {len(byte_tokens)}, expected "
                          f"{N_BYTE_TOKENS} (<|byte0|> … <|byte254|>): " + "; ".join(detail))
    tail = lines[-len(SPECIAL_TOKENS):]
    if tuple(tail) != SPECIAL_TOKENS:
        raise _fail(path, "the last 7 lines must be the special tokens "
                          + " ".join(SPECIAL_TOKENS) + f", found {tail!r}")
    return Vocabulary(path=path, spellings=spellings, token_to_id=tok2id, sha256=sha256)


def load_vocabulary(path: str | os.PathLike) -> Vocabulary:
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise VocabularyError(f"{path}: vocabulary file not found") from None
    except OSError as e:            # a folder, a symbolic-link loop, no permission
        raise VocabularyError(f"{path}: cannot read the vocabulary: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _fail(path, f"not valid UTF-8 at byte {e.start}") from None
    # a byte-order mark is not part of token 0 (editors on Windows add one)
    return parse_vocabulary(text.removeprefix("\ufeff"), path, hashlib.sha256(raw).hexdigest())


@dataclass
class EmojiTable:
    path: str
    emoji: dict[str, str]       # text -> class token, in file order (order matters)
    emoji_inv: dict[str, str]   # class token -> representative text


def parse_emoji(data: object, vocab: Vocabulary, path: str = "<emoji>") -> EmojiTable:
    if not isinstance(data, dict) or not isinstance(data.get("emoji"), dict) \
            or not isinstance(data.get("emoji_inv"), dict):
        raise _fail(path, 'expected a JSON object with "emoji" and "emoji_inv" objects')
    emoji, inv = data["emoji"], data["emoji_inv"]
    for k, v in emoji.items():
        if not isinstance(k, str) or k == "" or not isinstance(v, str):
            raise _fail(path, f'"emoji" entry {k!r}: keys must be non-empty text mapping to a class token')
        if v not in vocab.token_to_id:
            raise _fail(path, f'"emoji" entry {k!r} maps to {v!r}, which is not in the vocabulary {vocab.path}')
        if v not in inv:
            raise _fail(path, f'class {v!r} (used by {k!r}) has no representative in "emoji_inv"')
    for k, v in inv.items():
        if not isinstance(v, str) or not isinstance(k, str):
            raise _fail(path, f'"emoji_inv" entry {k!r} must map a class token to text')
    for w in vocab.token_to_id:
        if w.startswith("<|emoji") and w.endswith("|>") and w not in inv:
            raise _fail(path, f'vocabulary token {w} has no representative in "emoji_inv"')
    return EmojiTable(path=path, emoji=dict(emoji), emoji_inv=dict(inv))


def read_emoji_file(path: str | os.PathLike) -> EmojiTable:
    """An emoji table without checking it against a vocabulary (for building one)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8-sig") as f:
            data = json.load(f)
        return EmojiTable(path=path, emoji=dict(data["emoji"]), emoji_inv=dict(data["emoji_inv"]))
    except FileNotFoundError:
        raise VocabularyError(f"{path}: emoji file not found") from None
    except OSError as e:            # a folder, a symbolic-link loop, no permission
        raise VocabularyError(f"{path}: cannot read the emoji table: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise _fail(path, f'not an emoji table ("emoji" and "emoji_inv" objects): {e}') from None


def load_emoji(path: str | os.PathLike, vocab: Vocabulary) -> EmojiTable:
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8-sig") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise VocabularyError(f"{path}: emoji file not found") from None
    except OSError as e:            # a folder, a symbolic-link loop, no permission
        raise VocabularyError(f"{path}: cannot read the emoji table: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _fail(path, f"not a valid UTF-8 JSON file: {e}") from None
    return parse_emoji(data, vocab, path)
