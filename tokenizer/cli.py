"""The tokenizer's ``swelm`` subcommands: tokenize, decode, encode-swe, build-vocab, build-emoji,
export-hf.  Registered by :mod:`swelm.cli`; no Beam and no torch are imported here."""
from __future__ import annotations

import json
import os

from swelm.errors import UsageError
from swelm.publish import Kind, check_destination


def _is_vocabulary(head: bytes) -> bool:
    """A file in the SWE vocabulary format (its special tokens are among its lines)."""
    return b"<|endoftext|>" in head


def _is_emoji_table(head: bytes) -> bool:
    return head.lstrip().startswith(b"{") and b'"emoji"' in head


#: the tokenizer commands' outputs, for the destination rule
VOCABULARY = Kind("an SWE vocabulary file", is_file=True, recognise=_is_vocabulary)
EMOJI_TABLE = Kind("an emoji table (emoji.json)", is_file=True, recognise=_is_emoji_table)
VARIANTS = Kind("a variant table", is_file=True,
                recognise=lambda h: h.startswith(b"# variant\tstandard"))
HF_EXPORT = Kind("a transformers tokenizer export", entries=("vocab.txt", "emoji.json"))


def _is_kind(name: str):
    def recognise(head: bytes) -> bool:
        if name == "sentencepiece":     # a model's first byte: field 1 (its pieces)
            return head[:1] == b"\n"
        return b'"swelm_tokenizer": "' + name.encode() + b'"' in head
    return recognise


TOKENIZER_KINDS = {
    "sentencepiece": Kind("a SentencePiece model", is_file=True,
                          recognise=_is_kind("sentencepiece")),
    "gpt2ja-v2": Kind("a gpt2ja-v2 tokenizer file", is_file=True,
                      recognise=_is_kind("gpt2ja-v2")),
    "bytes": Kind("a bytes tokenizer file", is_file=True, recognise=_is_kind("bytes")),
}


def _load(args):
    from .encoder import SWEEncoder
    return SWEEncoder.load(args.vocabulary, args.emoji)


def _load_any(args):
    """The SWE encoder, or the tokenizer of another kind that ``--vocabulary`` names (a
    SentencePiece model, a gpt2ja-v2 or bytes file)."""
    from .kinds import open_tokenizer
    tok = open_tokenizer(args.vocabulary, args.emoji)
    if tok.kind != "swe" and getattr(args, "clean", False):
        raise UsageError(f"--clean: the SWE tokenizer's text cleaning; --vocabulary "
                         f"{args.vocabulary} is a {tok.kind} tokenizer")
    return tok


def cmd_tokenize(args) -> int:
    from swelm.textio import decode, read_stdin, split_lines
    enc = _load_any(args)
    if args.text is not None:
        import os as _os
        # the argument as the command line gave it (undecodable bytes kept as surrogates)
        text = decode(_os.fsencode(args.text), "TEXT argument")
    else:
        text = read_stdin()
    lines = [text] if not args.lines else split_lines(text)
    for line in lines:
        ids = enc.encode(line, clean=args.clean) if args.clean else enc.encode(line)
        if args.tokens:
            print(json.dumps([enc.id_to_token(i) for i in ids], ensure_ascii=False))
        else:
            print(" ".join(map(str, ids)))
    return 0


def cmd_decode(args) -> int:
    from swelm.textio import read_stdin
    enc = _load_any(args)
    src = args.ids if args.ids else read_stdin().split()
    ids = []
    for x in src:
        try:
            i = int(x)
        except ValueError:
            raise UsageError(f"token id {x!r}: expected an integer") from None
        if not 0 <= i < len(enc):
            raise UsageError(f"token id {x}: out of the vocabulary's range 0..{len(enc) - 1} "
                             f"({args.vocabulary or enc.vocab.path})")
        ids.append(i)
    print(enc.decode(ids))
    return 0


def cmd_encode_swe(args) -> int:
    from .encode_swe import run
    return run(args)


def cmd_build_emoji(args) -> int:
    from .emoji_table import write_emoji_table
    check_destination(args.out, EMOJI_TABLE)
    table = write_emoji_table(args.out)
    print(f"wrote {len(table['emoji'])} emoji keys in 12 classes to {args.out}")
    return 0


def _build_other_kind(args, log) -> int:
    """build-vocab --kind sentencepiece | gpt2ja-v2 | bytes."""
    from swelm.publish import write_bytes
    from .builder import iter_texts
    from .kinds import (Tokenizer, bytes_tokenizer_file, gpt2ja_v2_file,
                        train_sentencepiece)
    from swelm.checks import regular_file
    kind = TOKENIZER_KINDS[args.kind]
    check_destination(args.out, kind, sources=args.input or ())
    for path in args.input or ():
        regular_file(path, "--input")
    if args.kind == "bytes":
        data = bytes_tokenizer_file()
    else:
        if not args.input:
            raise UsageError(f"--kind {args.kind}: --input is required (the text to train on)")
        size = args.size - (256 if args.kind == "gpt2ja-v2" else 0)
        if size < 8:
            raise UsageError(f"--size {args.size}: too small for --kind {args.kind} (the "
                             "255 byte tokens and <|endoftext|> come on top of the pieces)")
        log(f"training SentencePiece ({args.model_type}, {size} pieces) on a sample of "
            f"{args.input_sentence_size} lines at most")
        data = train_sentencepiece(
            iter_texts(args.input), size, model_type=args.model_type,
            byte_fallback=args.byte_fallback, add_dummy_prefix=args.add_dummy_prefix,
            input_sentence_size=args.input_sentence_size, seed=args.seed,
            character_coverage=args.character_coverage, threads=args.threads)
        if args.kind == "gpt2ja-v2":
            data = gpt2ja_v2_file(data)
    tok = Tokenizer.from_bytes(data, args.out)
    write_bytes(args.out, data)
    log(f"wrote {args.out}: {args.kind}, {len(tok)} tokens, sha256 {tok.sha256[:12]}…")
    return 0


def cmd_build_vocab(args) -> int:
    import logging
    from swelm.publish import write_text
    from .builder import BuildOptions, build_vocabulary, iter_texts
    from swelm.checks import regular_file
    from swelm.errors import first_line
    from .variants import VariantTable, build_variant_table
    from .vocab import load_emoji, parse_vocabulary, read_emoji_file
    log = logging.getLogger("swelm.build-vocab").info
    for path in args.input or ():
        if not os.path.exists(path):
            raise UsageError(f"--input {path}: input not found")
    if args.kind != "swe":
        return _build_other_kind(args, log)
    if not args.input:
        raise UsageError("--input is required (the text to build the vocabulary from)")
    if args.size < 8000:
        raise UsageError(f"--size {args.size}: an SWE vocabulary has 8000-65536 tokens")
    check_destination(args.out, VOCABULARY, sources=args.input)
    if args.variants_out:
        check_destination(args.variants_out, VARIANTS, flag="--variants-out")
    if args.variants and args.unihan:
        raise UsageError("give --variants FILE or --unihan DIR, not both")
    try:
        if args.variants:
            if not os.path.exists(args.variants):
                raise UsageError(f"--variants {args.variants}: file not found")
            regular_file(args.variants, "--variants")
            variants = VariantTable.read_tsv(args.variants)
        else:
            variants = build_variant_table(args.unihan)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    except ValueError as e:             # a malformed table (UnicodeDecodeError too)
        where = (f"--variants {args.variants}" if args.variants
                 else f"--unihan {args.unihan}" if args.unihan else "the Unihan data")
        raise UsageError(f"{where}: {first_line(e)}") from None
    log(f"variant table: {len(variants.to_standard)} variant spellings from {variants.source}")
    emoji = read_emoji_file(args.emoji)   # checked against the finished vocabulary below
    opts = BuildOptions(size=args.size, order=args.order, rounds=args.rounds,
                        min_char_count=args.min_char_count)
    text = build_vocabulary(iter_texts(args.input), variants, emoji, opts,
                            progress=not args.quiet, log=log)
    load_emoji(args.emoji, parse_vocabulary(text, args.out))     # validates both
    write_text(args.out, text)
    log(f"wrote {args.out}: {opts.size} tokens")
    if args.variants_out:
        variants.write_tsv(args.variants_out)
        log(f"wrote {args.variants_out}: {len(variants.to_standard)} variant spellings")
    return 0


def cmd_export_hf(args) -> int:
    import shutil
    from swelm.publish import atomic_path
    check_destination(args.dir, HF_EXPORT, flag="DIR")
    enc = _load(args)
    # a new folder, swapped in whole (with swelm's owner file: the kind has no marker)
    with atomic_path(args.dir, HF_EXPORT) as tmp:
        os.makedirs(tmp)
        shutil.copyfile(enc.vocab.path, os.path.join(tmp, "vocab.txt"))
        shutil.copyfile(enc.emoji.path, os.path.join(tmp, "emoji.json"))
    print(f"wrote {os.path.join(args.dir, 'vocab.txt')} and "
          f"{os.path.join(args.dir, 'emoji.json')} (for "
          "transformers.GPTNeoXJapaneseTokenizer(vocab_file=..., emoji_file=...))")
    return 0


def register(add) -> None:
    """Add the tokenizer's subcommands with ``add(name, help=, description=, func=)``; each
    handler gets its command's options object (tokenizer.options)."""
    from . import options as o
    from .encode_swe import DESCRIPTION

    def command(name, options, handler, **kw):
        p = add(name, func=lambda args: handler(options.from_args(args)), **kw)
        options.add_flags(p)

    command("tokenize", o.TokenizeOptions, cmd_tokenize,
            help="text -> token ids (one line of ids per input)",
            description="Encode text with the SWE tokenizer.")
    command("decode", o.DecodeOptions, cmd_decode, help="token ids -> text",
            description="Decode token ids.")
    command("encode-swe", o.EncodeSweOptions, cmd_encode_swe,
            help=".txt, JSON-lines or Parquet files -> token shards (same as encode_swe)",
            description=DESCRIPTION)
    command("build-vocab", o.BuildVocabOptions, cmd_build_vocab,
            help="build a vocabulary (SWE, SentencePiece, gpt2-japanese) from text",
            description="Build a vocabulary from JSON lines (text field, .gz allowed), .txt "
                        "files or Parquet (text column): --kind swe (the SWE format, default), "
                        "sentencepiece (a SentencePiece .model), gpt2ja-v2 (gpt2-japanese v2: "
                        "SentencePiece pieces + 255 byte tokens + <|endoftext|>, --size in "
                        "all) or bytes (gpt2-japanese v1: 255 byte tokens + <|endoftext|>; "
                        "nothing to train).")
    command("build-emoji", o.BuildEmojiOptions, cmd_build_emoji,
            help="build emoji.json from the emoji package's data",
            description="Build the emoji table: every emoji of the emoji package (ZWJ, "
                        "skin-tone and VS16 forms too) and a kaomoji list mapped to 12 classes "
                        "<|emoji1|>…<|emoji12|>, longest keys first.")
    command("export-hf", o.ExportHfOptions, cmd_export_hf,
            help="write the vocabulary for transformers' GPTNeoXJapaneseTokenizer",
            description="Write vocab.txt and emoji.json into DIR so that "
                        "GPTNeoXJapaneseTokenizer(vocab_file=DIR/vocab.txt, "
                        "emoji_file=DIR/emoji.json) loads them.")
