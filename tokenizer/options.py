"""The options of the tokenizer's commands, each a dataclass that declares its flags
(:mod:`swelm.options`): tokenize, decode, encode-swe (and the ``encode_swe`` script),
build-vocab, build-emoji, export-hf."""
from __future__ import annotations

import argparse
import dataclasses
import os

from swelm.checks import integer_arg, number_arg
from swelm.options import Options, flag


@dataclasses.dataclass(kw_only=True)
class VocabOptions(Options):
    """The tokenizer a command loads."""
    vocabulary: str | None = flag(
        None, help="SWE vocabulary file (default: the bundled vocab/ja-swe36k.txt); tokenize "
                   "and decode also take a SentencePiece model or a gpt2ja-v2 or bytes file")
    emoji: str | None = flag(None, help="emoji table (default: emoji.json beside the "
                                        "vocabulary, else the bundled one)")


@dataclasses.dataclass(kw_only=True)
class TokenizeOptions(VocabOptions):
    """``swelm tokenize``."""
    text: str | None = flag(None, positional=True, nargs="?",
                            help="text to encode (default: standard input)")
    lines: bool = flag(False, action="store_true", help="encode each input line separately")
    clean: bool = flag(False, action="store_true",
                       help="replace URL/EMAIL/TEL/DATE/PRICE/BLOCK by tags")
    tokens: bool = flag(False, action="store_true",
                        help="print the tokens (JSON) instead of ids")


@dataclasses.dataclass(kw_only=True)
class DecodeOptions(VocabOptions):
    """``swelm decode``."""
    ids: list = flag(default_factory=list, positional=True, nargs="*",
                     help="token ids (default: whitespace-separated on standard input)")


@dataclasses.dataclass(kw_only=True)
class ExportHfOptions(VocabOptions):
    """``swelm export-hf``."""
    dir: str = flag(positional=True, help="output folder")


@dataclasses.dataclass(kw_only=True)
class EncodeSweOptions(Options):
    """``encode_swe`` and ``swelm encode-swe`` (the reference script's flag spellings)."""
    src_dir: str = flag(names=("--src_dir",),
                        help="folder searched recursively for .txt files (UTF-8), and for "
                             "JSON-lines (.jsonl, .json, .ndjson, also .gz) and Parquet files "
                             "(a document per record); or one such file")
    text_column: str = flag("text", names=("--text_column", "--text-column"),
                            help="the field (JSON lines) or column (Parquet) that holds each "
                                 "document's text")
    dst_file: str = flag(names=("--dst_file",), help="output: a shard directory (--format "
                                                     "arrow) or an .npz file (--format npz)")
    vocabulary: str | None = flag(
        None, help="tokenizer file: an SWE vocabulary (default: the bundled "
                   "vocab/ja-swe36k.txt), a SentencePiece .model, or a gpt2ja-v2 / bytes file of "
                   "swelm build-vocab")
    emoji: str | None = flag(None, help="emoji table (default: emoji.json beside the "
                                        "vocabulary, else the bundled one)")
    num_process: int = flag(os.cpu_count() or 1, names=("--num_process",),
                            type=integer_arg(minimum=1),
                            help="worker processes encoding files in parallel (default: CPU "
                                 "count)")
    combine: int = flag(50000, type=integer_arg(minimum=0),
                        help="join consecutive files (each followed by <|endoftext|>) into "
                             "chunks of at least this many characters; each chunk is one row "
                             "(0: one row per file)")
    clean_text: bool = flag(False, names=("--clean_text",), action="store_true",
                            help="replace URLs, e-mail addresses, phone numbers, dates, prices "
                                 "and box drawing by <URL> <EMAIL> <TEL> <DATE> <PRICE> "
                                 "<BLOCK>")
    format: str = flag("arrow", choices=("arrow", "npz"),
                       help="arrow: shard directory with manifest.json (default); npz: "
                            "reference layout")
    shard_tokens: int = flag(1 << 26, names=("--shard_tokens",), type=integer_arg(minimum=1),
                             help="start a new shard after this many tokens (arrow format)")
    quiet: bool = flag(False, action="store_true", help="no progress bar")


@dataclasses.dataclass(kw_only=True)
class BuildVocabOptions(Options):
    """``swelm build-vocab``."""
    kind: str = flag("swe", choices=("swe", "sentencepiece", "gpt2ja-v2", "bytes"),
                     help="vocabulary kind (default swe)")
    input: list | None = flag(None, nargs="+", help="input files or folders")
    out: str = flag(help="vocabulary file to write")
    emoji: str = flag("emoji.json", help="emoji table the vocabulary is used with")
    size: int = flag(36000, type=integer_arg(minimum=8, maximum=65536),
                     help="total tokens (swe: 8000-65536; default 36000)")
    model_type: str = flag("unigram", choices=("unigram", "bpe"),
                           help="SentencePiece algorithm (sentencepiece, gpt2ja-v2)")
    byte_fallback: bool = flag(False, action="store_true",
                               help="SentencePiece spells unknown characters as its own byte "
                                    "pieces")
    add_dummy_prefix: bool = flag(True, action=argparse.BooleanOptionalAction,
                                  help="SentencePiece puts a space before the text (as "
                                       "gpt2-small-ja's model)")
    input_sentence_size: int = flag(1_000_000, type=integer_arg(minimum=1),
                                    help="lines SentencePiece samples from the input (its "
                                         "memory bound)")
    character_coverage: float = flag(0.9995, type=number_arg(minimum=0.98, maximum=1),
                                     help="share of characters SentencePiece covers with "
                                          "pieces")
    seed: int = flag(0, type=integer_arg(minimum=0),
                     help="SentencePiece's sampling seed (same input and seed: same file)")
    threads: int = flag(1, type=integer_arg(minimum=1), help="SentencePiece training threads")
    order: str = flag("length-usage", choices=("count", "length", "usage", "length-usage"),
                      help="order of the subword entries (length-usage: the best measured)")
    rounds: int = flag(4, type=integer_arg(minimum=0),
                       help="re-ranking rounds for the usage orders")
    min_char_count: int = flag(5, type=integer_arg(minimum=1),
                               help="characters outside JIS X 0208 need this many occurrences")
    unihan: str | None = flag(None, help="folder with the Unihan files (default: "
                                         "/usr/share/unicode from unicode-data)")
    variants: str | None = flag(None, help="use this variant table (variant<TAB>standard, as "
                                           "--variants-out writes; vocab/variants.tsv) instead "
                                           "of building one from the Unihan files")
    variants_out: str | None = flag(None, help="also write the variant table used "
                                               "(variant<TAB>standard), for the normaliser")
    quiet: bool = flag(False, action="store_true", help="no progress bar")


@dataclasses.dataclass(kw_only=True)
class BuildEmojiOptions(Options):
    """``swelm build-emoji``."""
    out: str = flag("emoji.json", help="output file")
