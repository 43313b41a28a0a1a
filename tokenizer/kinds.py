"""One tokenizer interface over every vocabulary kind swelm reads.

- ``swe``: the SWE encoder (Japanese-BPEEncoder_V2 ids); an SWE vocabulary file (and its emoji
  table).
- ``sentencepiece``: a SentencePiece model (unigram or BPE), the ``.model`` file itself, as
  colorfulscoop's gpt2-small-ja ships it.
- ``bytes``: gpt2-japanese v1, 255 byte tokens (0x00–0xFE; UTF-8 never has 0xFF) and
  ``<|endoftext|>`` (id 255); a small JSON file.
- ``gpt2ja-v2``: gpt2-japanese v2, the SentencePiece pieces, then 255 byte tokens that spell
  what the pieces cannot, then ``<|endoftext|>``; a JSON file with the model inside.

``Tokenizer.load(path)`` recognises the kind from the file's content; every kind has
``encode``, ``encode_batch``, ``decode``, ``len``, ``token_to_id``, ``id_to_token``,
``special_tokens``, ``eot_id`` (the id that ends a text) and ``sha256`` (of the file's bytes,
which a shard manifest and a model record).  The kinds other than ``swe`` are one file each,
so a pipeline can send the tokenizer as bytes (``Tokenizer.from_bytes``) instead of a path.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Iterable, Sequence

from .vocab import VocabularyError

KINDS = ("swe", "sentencepiece", "bytes", "gpt2ja-v2")
EOT = "<|endoftext|>"
#: byte tokens: 0x00–0xFE (0xFF never occurs in UTF-8)
BYTE_TOKENS = 255
_MARK = "swelm_tokenizer"


def _byte_token(b: int) -> str:
    return f"<0x{b:02X}>"


class Tokenizer:
    """The interface (see the module's table); ``Tokenizer.load(path)`` gives the right kind."""

    kind = ""

    def __init__(self, data: bytes, path: str | None) -> None:
        self.path = path
        self.sha256 = hashlib.sha256(data).hexdigest()

    # -- loading ---------------------------------------------------------------------------
    @staticmethod
    def load(path: str | os.PathLike, emoji: str | os.PathLike | None = None) -> "Tokenizer":
        """The tokenizer in ``path``, of the kind its content shows (``emoji``: the SWE kind's
        emoji table, default beside the vocabulary)."""
        path = os.fspath(path)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise VocabularyError(f"{path}: cannot read the tokenizer file: "
                                  f"{e.strerror or e}") from None
        return Tokenizer.from_bytes(data, path, emoji=emoji)

    @staticmethod
    def from_bytes(data: bytes, path: str | None = None, *, emoji=None) -> "Tokenizer":
        kind = kind_of(data)
        where = path or "tokenizer"
        if kind == "swe":
            if path is None:
                raise VocabularyError("an SWE vocabulary is loaded from its file (with its "
                                      "emoji table)")
            return SweTokenizer(data, path, emoji)
        if kind == "sentencepiece":
            return SentencePieceTokenizer(data, path)
        if kind in ("bytes", "gpt2ja-v2"):
            try:
                spec = json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise VocabularyError(f"{where}: not a swelm tokenizer file: {e}") from None
            return (ByteTokenizer if kind == "bytes" else Gpt2jaV2Tokenizer)(data, path, spec)
        raise VocabularyError(f"{where}: not a tokenizer swelm knows (expected an SWE "
                              "vocabulary, a SentencePiece .model, or a swelm tokenizer JSON "
                              f"of kind {', '.join(KINDS[2:])})")

    # -- the interface ---------------------------------------------------------------------
    def __len__(self) -> int:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def decode(self, ids: Sequence[int]) -> str:
        raise NotImplementedError

    def id_to_token(self, i: int) -> str:
        raise NotImplementedError

    def token_to_id(self, token: str) -> int:
        raise NotImplementedError

    @property
    def special_tokens(self) -> dict[str, int]:
        raise NotImplementedError

    @property
    def eot_id(self) -> int:
        """The id that ends a text (``<|endoftext|>``, SentencePiece's ``</s>``)."""
        raise NotImplementedError

    @property
    def vocab_sha256(self) -> str:
        """(The SWE encoder's name for :attr:`sha256`.)"""
        return self.sha256

    def encode_array(self, text: str, clean: bool = False):
        """Token ids as a numpy array (uint16 when the vocabulary fits, else int32)."""
        import numpy as np
        if clean:
            raise VocabularyError(f"text cleaning is the SWE tokenizer's; this is a {self.kind} "
                                  "tokenizer")
        return np.asarray(self.encode(text), dtype=np.uint16 if len(self) <= 65536 else np.int32)

    def _check_id(self, i: int) -> int:
        i = int(i)
        if not 0 <= i < len(self):
            raise ValueError(f"token id {i}: outside the vocabulary (0..{len(self) - 1}, "
                             f"{self.kind} {self.path or ''})".rstrip())
        return i

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path or ''} {len(self)} tokens>"


def open_tokenizer(path: str | os.PathLike | None = None,
                   emoji: str | os.PathLike | None = None):
    """The tokenizer a ``--vocabulary`` flag names: the SWE encoder itself
    (:class:`~swelm.tokenizer.SWEEncoder`, the bundled vocabulary when ``path`` is None) for an
    SWE vocabulary, else the :class:`Tokenizer` of the file's kind.  Either has ``kind``,
    ``sha256``, ``eot_id``, ``encode``, ``encode_array``, ``decode``, ``id_to_token`` and
    ``len``."""
    if path is not None:
        try:
            with open(path, "rb") as f:
                kind = kind_of(f.read())
        except OSError:
            kind = "swe"                # SWEEncoder.load says what is wrong with the path
        if kind not in (None, "swe"):
            return Tokenizer.load(path)
    from .encoder import SWEEncoder
    return SWEEncoder.load(path, emoji)


def kind_of(data: bytes) -> str | None:
    """The kind of a tokenizer file's content, or None."""
    head = data[:4096]
    if head.lstrip().startswith(b"{") and _MARK.encode() in head:
        try:
            kind = json.loads(data.decode("utf-8")).get(_MARK)
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            return None
        return kind if kind in ("bytes", "gpt2ja-v2") else None
    if _sentencepiece_proto(data) is not None:
        return "sentencepiece"
    if b"\n<|endoftext|>" in data or data.startswith(b"<|endoftext|>"):
        try:
            data.decode("utf-8")
            return "swe"
        except UnicodeDecodeError:
            pass
    return None


def _sentencepiece_proto(data: bytes):
    """A SentencePieceProcessor of ``data``, or None when it is not a SentencePiece model."""
    if not data or data[:1] != b"\n":        # field 1 (pieces), length-delimited
        return None
    import sentencepiece as spm
    try:
        sp = spm.SentencePieceProcessor(model_proto=data)
    except (RuntimeError, OSError, TypeError):
        return None
    return sp if sp.get_piece_size() else None


def _piece_id(sp, token: str) -> int:
    """The id of a SentencePiece piece (KeyError for a token that is not one)."""
    i = sp.piece_to_id(token)
    if i == sp.unk_id() and token != sp.id_to_piece(i):
        raise KeyError(token)
    return i


def _sp_specials(sp) -> dict[str, int]:
    """A SentencePiece model's control and unknown pieces."""
    return {sp.id_to_piece(i): i for i in range(sp.get_piece_size())
            if sp.is_control(i) or sp.is_unknown(i)}


class SweTokenizer(Tokenizer):
    kind = "swe"

    def __init__(self, data: bytes, path: str, emoji=None) -> None:
        super().__init__(data, path)
        from .encoder import SWEEncoder
        self.encoder = SWEEncoder.load(path, emoji)

    def __len__(self) -> int:
        return len(self.encoder)

    def encode(self, text: str) -> list[int]:
        return self.encoder.encode(text)

    def encode_batch(self, texts):
        return self.encoder.encode_batch(texts)

    def decode(self, ids) -> str:
        return self.encoder.decode([self._check_id(i) for i in ids])

    def id_to_token(self, i: int) -> str:
        return self.encoder.id_to_token(i)

    def token_to_id(self, token: str) -> int:
        return self.encoder.token_to_id(token)

    @property
    def special_tokens(self) -> dict[str, int]:
        from .vocab import SPECIAL_TOKENS
        return {t: self.encoder.token_to_id(t) for t in SPECIAL_TOKENS}

    @property
    def eot_id(self) -> int:
        return self.encoder.token_to_id(EOT)


class SentencePieceTokenizer(Tokenizer):
    kind = "sentencepiece"

    def __init__(self, data: bytes, path: str | None) -> None:
        super().__init__(data, path)
        import sentencepiece as spm
        self.model_bytes = data
        self.sp = spm.SentencePieceProcessor(model_proto=data)

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def __getstate__(self):
        return {"data": self.model_bytes, "path": self.path}

    def __setstate__(self, state):
        self.__init__(state["data"], state["path"])

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def encode_batch(self, texts):
        return self.sp.encode(list(texts))

    def decode(self, ids) -> str:
        return self.sp.decode([self._check_id(i) for i in ids])

    def id_to_token(self, i: int) -> str:
        return self.sp.id_to_piece(self._check_id(i))

    def token_to_id(self, token: str) -> int:
        return _piece_id(self.sp, token)

    @property
    def special_tokens(self) -> dict[str, int]:
        return _sp_specials(self.sp)

    @property
    def eot_id(self) -> int:
        if self.sp.eos_id() < 0:
            raise VocabularyError(f"{self.path or 'the SentencePiece model'}: has no end-of-"
                                  "text piece (</s>)")
        return self.sp.eos_id()


class ByteTokenizer(Tokenizer):
    """gpt2-japanese v1: every UTF-8 byte is a token (ids 0..254), ``<|endoftext|>`` is 255."""
    kind = "bytes"

    def __init__(self, data: bytes, path: str | None, spec: dict) -> None:
        super().__init__(data, path)

    def __len__(self) -> int:
        return BYTE_TOKENS + 1

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids) -> str:
        out = bytearray()
        for i in ids:
            i = self._check_id(i)
            if i < BYTE_TOKENS:
                out.append(i)
        return out.decode("utf-8", errors="replace")

    def id_to_token(self, i: int) -> str:
        i = self._check_id(i)
        return EOT if i == BYTE_TOKENS else _byte_token(i)

    def token_to_id(self, token: str) -> int:
        if token == EOT:
            return BYTE_TOKENS
        if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            b = int(token[3:5], 16)
            if b < BYTE_TOKENS:
                return b
        raise KeyError(token)

    @property
    def special_tokens(self) -> dict[str, int]:
        return {EOT: BYTE_TOKENS}

    @property
    def eot_id(self) -> int:
        return BYTE_TOKENS


class Gpt2jaV2Tokenizer(Tokenizer):
    """gpt2-japanese v2: SentencePiece pieces (ids 0..P-1), then the byte tokens (P..P+254)
    that spell whatever the pieces cannot (each unknown span as its UTF-8 bytes), then
    ``<|endoftext|>`` (P+255)."""
    kind = "gpt2ja-v2"

    def __init__(self, data: bytes, path: str | None, spec: dict) -> None:
        super().__init__(data, path)
        import sentencepiece as spm
        self.data = data
        try:
            self.model_bytes = base64.b64decode(spec["sentencepiece_model"], validate=True)
        except (KeyError, ValueError, TypeError) as e:
            raise VocabularyError(f"{path or 'tokenizer'}: field sentencepiece_model: expected "
                                  f"a base64 SentencePiece model ({e})") from None
        if _sentencepiece_proto(self.model_bytes) is None:
            raise VocabularyError(f"{path or 'tokenizer'}: field sentencepiece_model: not a "
                                  "SentencePiece model")
        self.sp = spm.SentencePieceProcessor(model_proto=self.model_bytes)
        self.pieces = self.sp.get_piece_size()

    def __getstate__(self):
        return {"data": self.data, "path": self.path}

    def __setstate__(self, state):
        self.__init__(state["data"], state["path"], json.loads(state["data"]))

    def __len__(self) -> int:
        return self.pieces + BYTE_TOKENS + 1

    def encode(self, text: str) -> list[int]:
        out: list[int] = []
        unk = self.sp.unk_id()
        ids = self.sp.encode(text)
        if unk not in ids:
            return ids
        # an unknown piece's surface (its text, with SentencePiece's ▁ for a space) goes as
        # its UTF-8 bytes
        for i, piece in zip(ids, self.sp.encode(text, out_type=str)):
            if i == unk:
                out += [self.pieces + b for b in piece.replace("\u2581", " ").encode("utf-8")]
            else:
                out.append(i)
        return out

    def decode(self, ids) -> str:
        parts: list[str] = []
        run: list[int] = []
        raw = bytearray()

        def flush_bytes():
            if raw:
                parts.append(raw.decode("utf-8", errors="replace"))
                raw.clear()

        def flush_run():
            if run:
                # SentencePiece drops the space of a first piece's ▁ (its dummy prefix): only
                # right at the start of the text
                text = self.sp.decode(run)
                if parts and self.sp.id_to_piece(run[0]).startswith("\u2581"):
                    text = " " + text
                parts.append(text)
                run.clear()

        for i in ids:
            i = self._check_id(i)
            if i < self.pieces:
                flush_bytes()
                run.append(i)
                continue
            flush_run()
            if i < self.pieces + BYTE_TOKENS:
                raw.append(i - self.pieces)
        flush_bytes()
        flush_run()
        return "".join(parts)

    def id_to_token(self, i: int) -> str:
        i = self._check_id(i)
        if i < self.pieces:
            return self.sp.id_to_piece(i)
        return EOT if i == self.pieces + BYTE_TOKENS else _byte_token(i - self.pieces)

    def token_to_id(self, token: str) -> int:
        if token == EOT:
            return self.pieces + BYTE_TOKENS
        if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            b = int(token[3:5], 16)
            if b < BYTE_TOKENS:
                return self.pieces + b
        return _piece_id(self.sp, token)

    @property
    def special_tokens(self) -> dict[str, int]:
        out = _sp_specials(self.sp)
        out[EOT] = self.pieces + BYTE_TOKENS
        return out

    @property
    def eot_id(self) -> int:
        return self.pieces + BYTE_TOKENS


def bytes_tokenizer_file() -> bytes:
    """The content of a ``bytes`` tokenizer file (it has nothing to train)."""
    return (json.dumps({_MARK: "bytes", "byte_tokens": BYTE_TOKENS, "eot": EOT}, indent=1)
            + "\n").encode("utf-8")


def gpt2ja_v2_file(model_bytes: bytes) -> bytes:
    """The content of a ``gpt2ja-v2`` tokenizer file around a SentencePiece model."""
    if _sentencepiece_proto(model_bytes) is None:
        raise VocabularyError("not a SentencePiece model")
    return (json.dumps({_MARK: "gpt2ja-v2", "byte_tokens": BYTE_TOKENS, "eot": EOT,
                        "sentencepiece_model": base64.b64encode(model_bytes).decode("ascii")},
                       indent=1) + "\n").encode("utf-8")


def train_sentencepiece(texts: Iterable[str], size: int, *, model_type: str = "unigram",
                        byte_fallback: bool = False, add_dummy_prefix: bool = True,
                        input_sentence_size: int = 1_000_000, seed: int = 0,
                        character_coverage: float = 0.9995, threads: int = 1) -> bytes:
    """A SentencePiece model (its bytes) trained on the lines of ``texts``, streamed:
    SentencePiece keeps a sample of ``input_sentence_size`` lines, not the corpus.  The same
    texts, options and ``seed`` give the same bytes."""
    import io

    import sentencepiece as spm

    def lines():
        for t in texts:
            for line in t.split("\n"):
                line = line.strip()
                if line:
                    yield line

    spm.set_random_generator_seed(seed)
    out = io.BytesIO()
    failed: list[BaseException] = []

    def guarded():
        # an error of the input (a file that cannot be read) is kept and raised as itself:
        # SentencePiece's C++ would turn it into its own message
        try:
            yield from lines()
        except Exception as e:
            failed.append(e)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=guarded(), model_writer=out, vocab_size=size,
            model_type=model_type, byte_fallback=byte_fallback,
            add_dummy_prefix=add_dummy_prefix, input_sentence_size=input_sentence_size,
            shuffle_input_sentence=True, character_coverage=character_coverage,
            num_threads=threads, minloglevel=2)
    except RuntimeError as e:
        if failed:
            raise failed[0] from None
        raise VocabularyError(f"SentencePiece training failed: {_our_flags(str(e))}") from None
    if failed:
        raise failed[0]
    return out.getvalue()


#: SentencePiece's option names as swelm build-vocab spells them
_FLAGS = {"character_coverage": "--character-coverage", "vocab_size": "--size",
          "input_sentence_size": "--input-sentence-size", "model_type": "--model-type",
          "byte_fallback": "--byte-fallback", "num_threads": "--threads"}


def _our_flags(message: str) -> str:
    """SentencePiece's advice with swelm's flag names (``--character_coverage`` there is
    ``--character-coverage`` here).

    >>> _our_flags("Please set --character_coverage lower or --vocab_size higher.")
    'Please set --character-coverage lower or --size higher.'
    """
    import re
    return re.sub(r"--?(\w+)", lambda m: _FLAGS.get(m.group(1), m.group(0)), message)
