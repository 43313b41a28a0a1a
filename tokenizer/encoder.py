"""SWEEncoder: the SWE subword encoder, id-exact with the reference ``SWEEncoder_ja``.

Encoding runs in four steps, all of them the reference's:

1. whitespace and dash replacement: ``' '``/``'\\u3000'`` → ``<SP>``, line ends → ``<BR>``,
   tab → ``<TAB>``, ``—``/``−`` → ``ー`` (textual, so the ``<…>`` rule below sees them);
2. emoji replacement: every key of the emoji table found in the text is replaced by its
   class token, key by key **in file order** (an earlier key wins over a later, longer one);
3. with ``clean=True``: the tag replacements of :mod:`tokenizer.clean`;
4. the matching loop: at each position the candidates are the vocabulary spellings among
   the next 1–3 characters and the one with the **smallest id** wins (ties: the longer);
   at ``<`` the window is ``maxlen+1`` characters and the longest ``<…>`` spelling longer
   than two characters wins outright; a character with no candidate becomes ``<KIGOU>``
   (U+00A1–U+00BF, U+01C0–U+01C3, U+02B9–U+02FF, U+0300–U+0362), ``<U2000U2BFF>``
   (U+2000–U+2BFF) or its UTF-8 byte tokens.

All four steps run in one call of a C extension (``tokenizer._swe``) when it is built, on
the string's code points without intermediate strings (the clean step hands only the pieces
where a tag can match to :func:`tokenizer.clean.clean_tags`); else in Python.  Both give the
same ids (tested on the parity data and on random text).  Dropout runs in Python.
"""
from __future__ import annotations

import os
import re
from importlib import resources
from typing import Iterable, Sequence

from .clean import TAG_ALPHABET, clean_tags, clean_text
from .vocab import (EmojiTable, TokenizerError, Vocabulary, VocabularyError, load_emoji,
                    load_vocabulary)

try:  # the compiled core; the pure-Python path below gives identical ids
    from . import _swe  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - exercised when no C compiler was available
    _swe = None

_BUNDLED_VOCAB = "ja-swe36k.txt"
_BUNDLED_EMOJI = "emoji.json"
_SURROGATE = re.compile("[\ud800-\udfff]")
_DECODE_NAMED = {"<SP>": " ", "<BR>": "\n", "<TAB>": "\t", "<BLOCK>": "▀", "<KIGOU>": "ǀ",
                 "<U2000U2BFF>": "‖"}


def bundled_path(name: str) -> str | None:
    """Path of a bundled data file: the installed package's ``data/`` (importlib.resources), or
    the source tree's ``vocab/`` and top folder in a checkout (editable install)."""
    try:
        p = resources.files(__package__).joinpath("data", name)
        if p.is_file():
            return str(p)
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(here, "..", "vocab", name), os.path.join(here, "..", name)):
        if os.path.isfile(cand):
            return os.path.normpath(cand)
    return None


def _is_kigou(cp: int) -> bool:
    return (0xA1 <= cp <= 0xBF or 0x1C0 <= cp <= 0x1C3 or 0x2B9 <= cp <= 0x2FF
            or 0x300 <= cp <= 0x362)


_WARNED: set = set()


def _warn_once(message: str) -> None:
    import logging
    if message not in _WARNED:
        _WARNED.add(message)
        logging.getLogger("swelm.tokenizer").warning(message)


def _same_file(a, b) -> bool:
    try:
        return b is not None and os.path.samefile(a, b)
    except OSError:
        return False


class SWEEncoder:
    """Encode and decode text with an SWE vocabulary.

    >>> enc = SWEEncoder.load(vocab=..., emoji=...)   # doctest: +SKIP
    >>> enc.decode(enc.encode("吾輩は猫である。"))      # doctest: +SKIP
    '吾輩は猫である。'
    """

    def __init__(self, vocab: Vocabulary, emoji: EmojiTable, *, use_c: bool = True) -> None:
        self.vocab = vocab
        self.emoji = emoji
        self._tok2id = vocab.token_to_id
        self._maxlen = vocab.maxlen
        t = self._tok2id
        self._kigou = t["<KIGOU>"]
        self._u2e = t["<U2000U2BFF>"]
        self._byte_ids = [t[f"<|byte{i}|>"] for i in range(255)]
        self._byte_of_id = {i: b for b, i in enumerate(self._byte_ids)}
        self._replace_emoji = _EmojiReplacer(list(emoji.emoji.items()))
        # decode blobs: UTF-8 of each id's surface; byte tokens are their raw byte
        self._blobs: list[bytes] = []
        for i, words in enumerate(vocab.spellings):
            w = words[0]
            if i in self._byte_of_id:
                self._blobs.append(bytes([self._byte_of_id[i]]))
            elif w.startswith("<|emoji") and w.endswith("|>"):
                self._blobs.append(emoji.emoji_inv[w].encode("utf-8"))
            else:
                self._blobs.append(_DECODE_NAMED.get(w, w).encode("utf-8", "surrogatepass"))
        self._br_ids = {i for i, words in enumerate(vocab.spellings) if words[0] == "<BR>"}
        self._core = None
        if use_c and _swe is not None:
            short = [(w, i) for w, i in t.items() if len(w) <= 3 or w[0] == "<"]
            keys = self._replace_emoji.keys
            inert = _tokens_inert([k for k, _ in keys], set(emoji.emoji.values()))
            try:
                self._core = _swe.Core([w for w, _ in short], [i for _, i in short],
                                       self._maxlen, self._kigou, self._u2e, self._byte_ids,
                                       self._blobs, sorted(self._br_ids), [k for k, _ in keys],
                                       [v for _, v in keys],
                                       None if inert else self._replace_emoji, clean_tags,
                                       TAG_ALPHABET, TokenizerError)
            except OverflowError as e:      # tables past the core's packed keys
                _warn_once(f"{vocab.path}: {e}; encoding in Python")

    def __reduce__(self):
        """Pickled as its vocabulary and emoji table (the compiled core is rebuilt), so an
        encoder travels with a pipeline to workers that cannot read the driver's files."""
        return _rebuild, (self.vocab, self.emoji, self._core is not None)

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(cls, vocab: str | os.PathLike | None = None, emoji: str | os.PathLike | None = None,
             *, use_c: bool = True) -> "SWEEncoder":
        """Load a vocabulary and emoji table; without arguments, the bundled ones."""
        if vocab is None:
            vocab = os.environ.get("SWELM_VOCAB") or bundled_path(_BUNDLED_VOCAB)
            if vocab is None:
                raise VocabularyError(
                    "the bundled vocabulary vocab/ja-swe36k.txt is missing: build it with "
                    "`make vocab`, or pass SWEEncoder.load(vocab=PATH, emoji=PATH) "
                    "(or set SWELM_VOCAB) to use any vocabulary in the SWE format")
        v = load_vocabulary(vocab)          # first: a bad vocabulary is the one problem
        if emoji is None:
            emoji = os.environ.get("SWELM_EMOJI")
            if emoji is None:
                beside = os.path.join(os.path.dirname(os.fspath(vocab)), _BUNDLED_EMOJI)
                emoji = beside if os.path.isfile(beside) else bundled_path(_BUNDLED_EMOJI)
                if emoji is not None and emoji != beside and not _same_file(
                        vocab, bundled_path(_BUNDLED_VOCAB)):
                    _warn_once(f"{vocab}: no emoji.json beside it; using the bundled emoji "
                               f"table {emoji}, whose classes may give other ids than this "
                               "vocabulary's own table (pass emoji= / --emoji)")
            if emoji is None:
                raise VocabularyError(
                    f"no emoji file found beside {vocab} and the bundled emoji.json is "
                    "missing: pass SWEEncoder.load(vocab=..., emoji=PATH)")
        return cls(v, load_emoji(emoji, v), use_c=use_c)

    # ------------------------------------------------------------------ basic API
    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def uses_c(self) -> bool:
        return self._core is not None

    @property
    def vocab_sha256(self) -> str:
        return self.vocab.sha256

    #: the tokenizer kind (swelm.tokenizer.kinds), for code that takes any kind
    kind = "swe"

    @property
    def sha256(self) -> str:
        return self.vocab.sha256

    @property
    def eot_id(self) -> int:
        return self.token_to_id("<|endoftext|>")

    def token_to_id(self, token: str) -> int:
        try:
            return self._tok2id[token]
        except KeyError:
            raise KeyError(f"{token!r} is not in the vocabulary {self.vocab.path}") from None

    def id_to_token(self, i: int) -> str:
        self._check_id(i)
        return self.vocab.spellings[i][0]

    def _check_id(self, i: int) -> None:
        if not isinstance(i, int) or not 0 <= i < len(self.vocab):
            raise TokenizerError(f"token id {i!r} is out of range for a vocabulary of "
                             f"{len(self.vocab)} tokens")

    # ------------------------------------------------------------------ encoding
    def preprocess(self, text: str, clean: bool = False) -> str:
        """Steps 1–3 (whitespace, emoji, clean): the text the matching loop sees."""
        if self._core is not None:
            return self._core.preprocess(text, clean)
        return self._preprocess_py(text, clean)

    def _preprocess_py(self, text: str, clean: bool) -> str:
        if not isinstance(text, str):
            raise TypeError(f"encode takes str, not {type(text).__name__}")
        bad = m.start() if (m := _SURROGATE.search(text)) else -1
        if bad >= 0:
            raise TokenizerError(f"lone surrogate U+{ord(text[bad]):04X} at position {bad}: "
                             "text must be valid Unicode")
        text = (text.replace(" ", "<SP>").replace("\u3000", "<SP>").replace("\r\n", "<BR>")
                .replace("\n", "<BR>").replace("\r", "<BR>").replace("\t", "<TAB>")
                .replace("—", "ー").replace("−", "ー"))
        text = self._replace_emoji(text)
        if clean:
            text = clean_text(text)
        return text

    def encode(self, text: str, clean: bool = False, dropout: float = 0.0,
               rng=None) -> list[int]:
        """Token ids of ``text``.

        ``dropout`` is the probability of *not* taking the best candidate at a position
        (BPE-dropout in its usual meaning; single characters are never dropped), drawn
        from ``rng``, a ``numpy.random.Generator``.  ``dropout=0`` is deterministic and
        gives the reference ids.
        """
        if dropout == 0.0 and self._core is not None:
            return self._core.encode(text, clean)
        if not 0.0 <= dropout <= 1.0:
            raise TokenizerError(f"dropout must be in [0, 1], got {dropout}")
        text = self.preprocess(text, clean)
        if dropout > 0.0:
            if rng is None:
                raise TokenizerError("dropout > 0 needs rng, a numpy.random.Generator")
            return self._match_py(text, dropout, rng)
        return self._match_py(text)

    def encode_array(self, text: str, clean: bool = False):
        """Token ids as a numpy array (uint16 when the vocabulary fits, else int32), without
        building a Python list when the compiled core is there."""
        import numpy as np
        if self._core is not None and len(self.vocab) <= 65536:
            return np.frombuffer(self._core.encode_u16(text, clean), dtype="<u2")
        return np.asarray(self.encode(text, clean=clean),
                          dtype=np.uint16 if len(self.vocab) <= 65536 else np.int32)

    def encode_batch(self, texts: Iterable[str], clean: bool = False) -> list[list[int]]:
        """Token ids of each text; with the compiled core, one call for the whole batch."""
        if self._core is not None:
            return self._core.encode_batch(texts, clean)
        return [self.encode(t, clean=clean) for t in texts]

    def _match_py(self, text: str, dropout: float = 0.0, rng=None) -> list[int]:
        get = self._tok2id.get
        n = len(text)
        maxlen = self._maxlen
        out: list[int] = []
        append = out.append
        pos = 0
        while pos < n:
            c = text[pos]
            cands: list[tuple[int, int]] = []   # (id, end)
            if c == "<":
                for e in range(min(n, pos + maxlen + 1), pos, -1):
                    i = get(text[pos:e])
                    if i is not None:
                        if e - pos > 2:
                            cands = [(i, e)]
                            break
                        cands.append((i, e))
            else:
                for e in range(min(n, pos + 3), pos, -1):
                    i = get(text[pos:e])
                    if i is not None:
                        cands.append((i, e))
            if cands:
                if len(cands) > 1:
                    cands.sort(key=lambda x: (x[0], -x[1]))
                if dropout > 0.0 and not (c == "<" and cands[0][1] - pos > 2):
                    for i, e in cands:
                        if e - pos == 1 or rng.random() >= dropout:
                            append(i)
                            pos = e
                            break
                    else:
                        self._fallback(c, append)
                        pos += 1
                    continue
                i, e = cands[0]
                append(i)
                pos = e
            else:
                self._fallback(c, append)
                pos += 1
        return out

    def _fallback(self, c: str, append) -> None:
        cp = ord(c)
        if _is_kigou(cp):
            append(self._kigou)
        elif 0x2000 <= cp <= 0x2BFF:
            append(self._u2e)
        else:
            for b in c.encode("utf-8"):
                append(self._byte_ids[b])

    # ------------------------------------------------------------------ decoding
    def decode(self, ids: Sequence[int], breakline: str = "\n") -> str:
        """Text of ``ids``; variants come back as their first spelling, emoji as the class
        representative, ``<SP>``/``<BR>``/``<TAB>`` as space, ``breakline`` and tab, byte
        tokens as the UTF-8 they spell (invalid sequences as U+FFFD)."""
        if self._core is not None:
            return self._core.decode(ids, breakline)
        blobs = self._blobs_for(breakline)
        ids = list(ids)
        if ids:
            lo, hi = min(ids), max(ids)
            if lo < 0 or hi >= len(blobs):
                self._check_id(int(lo if lo < 0 else hi))
        return b"".join([blobs[i] for i in ids]).decode("utf-8", "replace")

    def _blobs_for(self, breakline: str) -> list[bytes]:
        if breakline == "\n":
            return self._blobs
        blobs = list(self._blobs)
        for i in self._br_ids:
            blobs[i] = breakline.encode("utf-8")
        return blobs


class _EmojiReplacer:
    """Step 2 in Python: ``str.replace`` key by key in file order (an earlier key wins over a
    later, longer one), trying only the keys that can occur.  The compiled core calls it for
    an emoji table whose keys are not inert (see :func:`_tokens_inert`); it holds no
    reference to the encoder."""

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        self.keys = keys
        self.by_first: dict[str, list[int]] = {}
        for i, (k, _) in enumerate(keys):
            self.by_first.setdefault(k[0], []).append(i)
        inserted = set("".join(v for _, v in keys))
        self.after_insert = sorted(i for c in inserted for i in self.by_first.get(c, ()))

    def __call__(self, text: str) -> str:
        by_first = self.by_first
        order = sorted(i for c in set(text).intersection(by_first) for i in by_first[c])
        pos, widened = 0, False
        while pos < len(order):
            idx = order[pos]
            pos += 1
            k, v = self.keys[idx]
            if k in text:
                text = text.replace(k, v)
                if not widened:
                    # From now on a key may also start in text that a replacement inserted:
                    # add the later keys that start with a character of "<|emojiN|>".
                    widened = True
                    rest = set(order[pos:])
                    rest.update(j for j in self.after_insert if j > idx)
                    order, pos = sorted(rest), 0
        return text


def _tokens_inert(keys: list[str], tokens: set[str]) -> bool:
    """True when no key can match text overlapping an inserted class token (then the keys
    can be replaced in one scan of the text: see tokenizer/_swe.c)."""
    if "" in tokens:
        return False            # deleting a key joins its neighbours into new matches
    chars = set("".join(tokens))
    for k in keys:
        if chars.isdisjoint(k):
            continue
        for v in tokens:
            # the key starting at offset d from the token's start, overlapping it
            for d in range(1 - len(k), len(v)):
                lo, hi = max(0, d), min(len(v), d + len(k))
                if all(k[j - d] == v[j] for j in range(lo, hi)):
                    return False
    return True


def _rebuild(vocab: Vocabulary, emoji: EmojiTable, use_c: bool) -> "SWEEncoder":
    return SWEEncoder(vocab, emoji, use_c=use_c)
