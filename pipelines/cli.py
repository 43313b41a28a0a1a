"""``swelm``: one command line with subcommands.  Each subcommand imports only what it needs
(Beam and torch stay out of the tokenizer commands)."""
from __future__ import annotations

import argparse
import json
import sys


def _add_vocab_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vocabulary", default=None,
                   help="SWE vocabulary file (default: the bundled vocab/ja-swe36k.txt)")
    p.add_argument("--emoji", default=None,
                   help="emoji table (default: emoji.json beside the vocabulary, else the bundled one)")


def _load(args):
    from tokenizer import SWEEncoder
    return SWEEncoder.load(args.vocabulary, args.emoji)


def cmd_tokenize(args) -> int:
    enc = _load(args)
    text = args.text if args.text is not None else sys.stdin.read()
    lines = [text] if not args.lines else text.splitlines()
    for line in lines:
        ids = enc.encode(line, clean=args.clean)
        if args.tokens:
            print(json.dumps([enc.id_to_token(i) for i in ids], ensure_ascii=False))
        else:
            print(" ".join(map(str, ids)))
    return 0


def cmd_decode(args) -> int:
    enc = _load(args)
    src = args.ids if args.ids else sys.stdin.read().split()
    try:
        ids = [int(x) for x in src]
    except ValueError as e:
        print(f"swelm decode: token ids must be integers: {e}", file=sys.stderr)
        return 2
    print(enc.decode(ids))
    return 0


def cmd_encode_swe(args) -> int:
    from tokenizer.encode_swe import main
    return main(args.rest)


def cmd_build_emoji(args) -> int:
    from tokenizer.emoji_table import write_emoji_table
    table = write_emoji_table(args.out)
    print(f"wrote {len(table['emoji'])} emoji keys in 12 classes to {args.out}")
    return 0


def cmd_build_vocab(args) -> int:
    import logging
    import os
    from tokenizer.builder import BuildOptions, build_vocabulary, iter_texts
    from tokenizer.shards import temporary_sibling
    from tokenizer.variants import build_variant_table
    from tokenizer.vocab import VocabularyError, load_emoji, parse_vocabulary, read_emoji_file
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log = logging.getLogger("build-vocab").info
    for path in args.input:
        if not os.path.exists(path):
            print(f"swelm build-vocab: {path}: input not found", file=sys.stderr)
            return 2
    try:
        variants = build_variant_table(args.unihan)
    except FileNotFoundError as e:
        print(f"swelm build-vocab: {e}", file=sys.stderr)
        return 2
    log(f"variant table: {len(variants.to_standard)} variant spellings from {variants.source}")
    try:   # checked against the finished vocabulary below; its 12 classes are fixed
        emoji = read_emoji_file(args.emoji)
    except VocabularyError as e:
        print(f"swelm build-vocab: {e}", file=sys.stderr)
        return 2
    opts = BuildOptions(size=args.size, order=args.order, rounds=args.rounds,
                        min_char_count=args.min_char_count)
    text = build_vocabulary(iter_texts(args.input), variants, emoji, opts,
                            progress=not args.quiet, log=log)
    load_emoji(args.emoji, parse_vocabulary(text, args.out))     # validates both
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = temporary_sibling(args.out, "tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, args.out)
    log(f"wrote {args.out}: {opts.size} tokens")
    if args.variants_out:
        variants.write_tsv(args.variants_out)
        log(f"wrote {args.variants_out}: {len(variants.to_standard)} variant spellings")
    return 0


def cmd_export_hf(args) -> int:
    import os
    import shutil
    from tokenizer import SWEEncoder
    enc = SWEEncoder.load(args.vocabulary, args.emoji)
    os.makedirs(args.dir, exist_ok=True)
    shutil.copyfile(enc.vocab.path, os.path.join(args.dir, "vocab.txt"))
    shutil.copyfile(enc.emoji.path, os.path.join(args.dir, "emoji.json"))
    print(f"wrote {args.dir}/vocab.txt and {args.dir}/emoji.json (for "
          "transformers.GPTNeoXJapaneseTokenizer(vocab_file=..., emoji_file=...))")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="swelm", description="Japanese corpus, SWE tokenizer and "
                                "Switch-LM toolkit.  `swelm COMMAND --help` explains each command.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("tokenize", help="text -> token ids (one line of ids per input)",
                       description="Encode text with the SWE tokenizer.")
    t.add_argument("text", nargs="?", help="text to encode (default: standard input)")
    t.add_argument("--lines", action="store_true", help="encode each input line separately")
    t.add_argument("--clean", action="store_true", help="replace URL/EMAIL/TEL/DATE/PRICE/BLOCK by tags")
    t.add_argument("--tokens", action="store_true", help="print the tokens (JSON) instead of ids")
    _add_vocab_flags(t)
    t.set_defaults(func=cmd_tokenize)

    d = sub.add_parser("decode", help="token ids -> text", description="Decode token ids.")
    d.add_argument("ids", nargs="*", help="token ids (default: whitespace-separated on standard input)")
    _add_vocab_flags(d)
    d.set_defaults(func=cmd_decode)

    b = sub.add_parser("build-emoji", help="build emoji.json from the emoji package's data",
                       description="Build the emoji table: every emoji of the emoji package "
                                   "(ZWJ, skin-tone and VS16 forms too) and a kaomoji list mapped "
                                   "to 12 classes <|emoji1|>…<|emoji12|>, longest keys first.")
    b.add_argument("--out", default="emoji.json", help="output file (default: emoji.json)")
    b.set_defaults(func=cmd_build_emoji)

    v = sub.add_parser("build-vocab", help="build an SWE vocabulary from text",
                       description="Build a vocabulary in the SWE format from JSON lines (text "
                                   "field, .gz allowed), .txt files or Parquet (text column).")
    v.add_argument("--input", nargs="+", required=True, help="input files or folders")
    v.add_argument("--out", required=True, help="vocabulary file to write")
    v.add_argument("--emoji", default="emoji.json", help="emoji table the vocabulary is used with")
    v.add_argument("--size", type=int, default=36000, help="total tokens, 8000-65536 (default 36000)")
    v.add_argument("--order", default="length-usage", choices=("count", "length", "usage", "length-usage"),
                   help="order of the subword entries (default: length-usage, the best measured)")
    v.add_argument("--rounds", type=int, default=4, help="re-ranking rounds for the usage orders")
    v.add_argument("--min-char-count", type=int, default=5,
                   help="characters outside JIS X 0208 need this many occurrences (default 5)")
    v.add_argument("--unihan", default=None,
                   help="folder with the Unihan files (default: /usr/share/unicode from unicode-data)")
    v.add_argument("--variants-out", default=None,
                   help="also write the variant table used (variant<TAB>standard), for the normaliser")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(func=cmd_build_vocab)

    h = sub.add_parser("export-hf", help="write the vocabulary for transformers' GPTNeoXJapaneseTokenizer",
                       description="Write vocab.txt and emoji.json into DIR so that "
                                   "GPTNeoXJapaneseTokenizer(vocab_file=DIR/vocab.txt, "
                                   "emoji_file=DIR/emoji.json) loads them.")
    h.add_argument("dir", help="output folder")
    _add_vocab_flags(h)
    h.set_defaults(func=cmd_export_hf)

    e = sub.add_parser("encode-swe", help="a folder of .txt files -> token shards (same as encode_swe)",
                       add_help=False)
    e.add_argument("rest", nargs=argparse.REMAINDER)
    e.set_defaults(func=cmd_encode_swe)

    from pipelines import corpus, crawl, encode, pipeline
    crawl.add_parser(sub)
    corpus.add_parser(sub)
    encode.add_parser(sub)
    pipeline.add_parser(sub)
    from model.commands import add_parsers
    add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    beam = getattr(args, "beam_pipeline", False)
    if extra and not beam:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from corpus_tools.sites import SiteRulesError
    from tokenizer import VocabularyError
    try:
        return args.func(args, extra) if beam else args.func(args)
    except (VocabularyError, SiteRulesError) as e:
        print(f"swelm: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
