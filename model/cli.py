"""The model's ``swelm`` subcommands and every handler of them: train, convert, generate, fill,
score, vectorize.  Registered by :mod:`swelm.cli`; torch is imported only when a command runs,
so ``swelm --help`` and the tokenizer commands stay fast."""
from __future__ import annotations

import argparse
import json
import os
import sys

from swelm.checks import integer_arg, number_arg
from swelm.errors import UsageError
from swelm.publish import Kind, check_destination


# ---------------------------------------------------------------------------- handlers
def cmd_train(args) -> int:
    import torch
    from .checkpoint import RUN
    from .train import TrainConfig, train
    # a run folder is continued; anything else is refused
    check_destination(args.out, RUN, sources=[d.split(":")[0].split("@")[0] for d in args.data
                                              if os.path.exists(d.split(":")[0].split("@")[0])])
    most = 4 * (os.cpu_count() or 1)
    if args.workers > most:
        raise UsageError(f"--workers {args.workers}: data loader processes (one or two keep a "
                         f"step fed); at most {most} here ({os.cpu_count() or 1} CPUs)")
    if os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    if args.config is None and not args.init:
        args.config = "small" if torch.cuda.is_available() else "tiny"
        if args.config == "tiny" and int(os.environ.get("RANK", "0")) == 0:
            print("swelm train: no CUDA device: using the tiny preset (small, the default on a "
                  "GPU, would take days on a CPU; --config small to insist)", file=sys.stderr)
    last = train(TrainConfig.from_args(args))
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"run": args.out, **last}))
    return 0


def cmd_convert(args) -> int:
    if args.what == "to-hf":
        return _convert_to_hf(args)
    from swelm.publish import claim_folder
    from .checkpoint import RUN, save_tokenizer, save_weights
    from .convert import add_ext
    # the source folder itself is never replaced (add-ext RUN --out RUN would overwrite it)
    check_destination(args.out, RUN, sources=[args.src], inside_source_ok=True)
    tokenizer = None
    if args.what == "from-hf":
        model, tokenizer = _from_hf(args)
    else:
        model = add_ext(args.src, args.layers, args.ext_hidden)
    claim_folder(args.out, RUN)
    save_weights(model, model.cfg, args.out)
    if tokenizer:
        save_tokenizer(tokenizer, args.out)
    cfg = model.cfg
    what = cfg.describe()
    print(f"wrote {args.out}/model.safetensors and config.json "
          f"({model.num_params() / 1e6:.1f}M parameters, {what})")
    return 0


def _from_hf(args):
    """(model, tokenizer file) of a transformers folder: a GPTSAN-japanese or a GPT-2."""
    import hashlib
    from .checkpoint import CheckpointError
    from .convert import from_hf, hf_config
    from .hf_gpt2 import find_tokenizer, gpt2_from_hf, is_gpt2_folder
    if is_gpt2_folder(args.src):
        from swelm.tokenizer.kinds import open_tokenizer
        path = args.vocabulary or find_tokenizer(args.src)
        if path is None:
            raise CheckpointError(f"{args.src}: no tokenizer in it (spiece.model, another "
                                  "SentencePiece *.model, or an SWE vocab.txt); give the one "
                                  "the weights were trained with (--vocabulary FILE)")
        return gpt2_from_hf(args.src, open_tokenizer(path)), path
    hf_config(args.src)                     # a clear error before anything else
    vocab = args.vocabulary or os.path.join(args.src, "vocab.txt")
    if not os.path.exists(vocab):
        raise CheckpointError(f"{args.src}: no vocab.txt; give the vocabulary the weights "
                              "were trained with (--vocabulary FILE)")
    with open(vocab, "rb") as f:
        return from_hf(args.src, hashlib.sha256(f.read()).hexdigest()), None


def _convert_to_hf(args) -> int:
    from .checkpoint import CheckpointError, load_model, run_tokenizer
    from .hf_gpt2 import HF_FOLDER, gpt2_to_hf
    check_destination(args.out, HF_FOLDER, sources=[args.src])
    model = load_model(args.src)
    cfg = model.cfg
    from .registry import architecture
    if not architecture(cfg).to_hf:
        raise CheckpointError(f"{args.src}: a Switch-LM; to-hf writes dense gpt2 models "
                              "(transformers' GPT2LMHeadModel)")
    kind = cfg.vocab_kind or "swe"
    path = args.vocabulary or run_tokenizer(args.src)
    if path is None and kind != "swe":
        raise CheckpointError(f"{args.src}: the model was trained with a {kind} tokenizer and "
                              "its run folder keeps none: pass --vocabulary FILE")
    if path is not None or cfg.vocab_sha256:
        from swelm.tokenizer.kinds import open_tokenizer
        tok = open_tokenizer(path)
        if cfg.vocab_sha256 and tok.sha256 != cfg.vocab_sha256:
            raise CheckpointError(f"--vocabulary {path or '(the bundled one)'}: the model was "
                                  f"trained with the {kind} tokenizer {cfg.vocab_sha256[:12]}…, "
                                  f"this is {tok.sha256[:12]}…")
    files = gpt2_to_hf(model, args.out, path)
    print(f"wrote {args.out}: {', '.join(files)} (transformers.GPT2LMHeadModel."
          f"from_pretrained({args.out!r}))")
    return 0


def _lm(args):
    from .lm import LM
    return LM.load(args.model, args.device, args.vocabulary, args.emoji)


def cmd_generate(args) -> int:
    lm = _lm(args)
    out = lm.generate(args.context, prefix=args.prefix, beam=args.beam,
                      num_samples=args.num_samples, max_new_tokens=args.max_new_tokens,
                      min_new_tokens=args.min_new_tokens, top_k=args.top_k, top_p=args.top_p,
                      temperature=args.temperature, seed=args.seed, spout=args.spout,
                      length_penalty=args.length_penalty)
    numbered = len(out) > 1 or args.beam
    for k, s in enumerate(out, 1):
        if args.json:
            print(json.dumps({"text": args.context + s.text, "new_text": s.text, "ids": s.ids,
                              "tokens": [lm.token_text(i) for i in s.ids],
                              "logprobs": s.logprobs, "score": s.score}, ensure_ascii=False))
            continue
        if numbered:        # one header line per sample, its beam score with --beam
            print(f"======== SAMPLE {k}" + (f" score {s.score:.4f}" if args.beam else "")
                  + " ========")
        print(args.context + s.text)
    return 0


def _lines(path: str) -> list[str]:
    """The input lines of a file (``-``: standard input), split at newlines only."""
    from swelm.textio import read_file, split_lines
    return split_lines(read_file(path))


def _is_npy(head: bytes) -> bool:
    return head.startswith(b"\x93NUMPY")


def _is_vectors_jsonl(head: bytes) -> bool:
    first = head.split(b"\n", 1)[0]
    return not first or "vector" in json.loads(first.decode("utf-8"))


#: vectorize's outputs: a .npy array or JSON lines {"text", "vector"}
VECTORS_NPY = Kind("a .npy array", is_file=True, recognise=_is_npy)
VECTORS_JSONL = Kind("a JSON-lines vector file", is_file=True, recognise=_is_vectors_jsonl)
#: the --output file names vectorize accepts, by extension
VECTOR_OUTPUTS = {".npy": VECTORS_NPY, ".jsonl": VECTORS_JSONL, ".json": VECTORS_JSONL}


def cmd_fill(args) -> int:
    r = _lm(args).fill(args.context, mask_tokens=args.mask_tokens)
    if args.json:
        print(json.dumps({"text": r.text, "tokens": r.tokens, "ids": r.ids, "scores": r.scores},
                         ensure_ascii=False))
        return 0
    print(r.text)
    for k, (toks, scores) in enumerate(zip(r.tokens, r.scores), 1):
        print(f"[MASK {k}]\t" + " ".join(f"{t}({s:.3f})" for t, s in zip(toks, scores)))
    return 0


def cmd_score(args) -> int:
    if (args.file is None) == (args.context is None):
        raise UsageError("score: give a FILE (or - for standard input) or --context TEXT, "
                         "one of the two")
    lines = [args.context] if args.context is not None else _lines(args.file)
    out = _lm(args).score(lines, exclude_end=args.exclude_end, batch_size=args.batch_size)
    for n, r in enumerate(out):
        # the total first, then the tokens (as gpt2-japanese's gpt2-score.py prints them), a
        # blank line between inputs
        if args.tokens and n:
            print()
        print(f"{r.text}\t{r.total:.3f}")
        if args.tokens:
            for t, lp in zip(r.tokens, r.logprobs):
                print(f"{t}\t{lp:.3f}")
    return 0


def cmd_vectorize(args) -> int:
    import numpy as np
    from swelm.publish import atomic_path, write_text
    if (args.context is None) == (args.input is None):
        raise UsageError("give exactly one of --context TEXT and --input FILE")
    if args.output:
        kind = VECTOR_OUTPUTS.get(os.path.splitext(args.output)[1].lower())
        if kind is None:
            raise UsageError(f"--output {args.output}: expected a .npy, .json or .jsonl file "
                             "name")
        check_destination(args.output, kind, flag="--output")
        if kind is VECTORS_NPY and os.path.lexists(args.output):
            # a .npy has no room for an owner mark: swelm's array cannot be told from a user's
            raise UsageError(f"--output {args.output}: exists; swelm cannot tell a .npy it "
                             "wrote from one of yours, so it never replaces one: remove it "
                             "first or choose a new name")
    texts = [args.context] if args.context is not None else _lines(args.input)
    if not texts:
        raise UsageError(f"--input {args.input}: no lines in it (one text per line)")
    blank = next((i for i, t in enumerate(texts, 1) if not t.strip()), None)
    if blank is not None:
        if args.input is None:
            raise UsageError("--context: empty; give some text")
        raise UsageError(f"--input {args.input}: line {blank} is blank; every line must hold "
                         "a text (one vector per line)")
    vecs = _lm(args).vectorize(texts, pos=args.pos, layers=args.layers,
                               batch_size=args.batch_size)
    if args.output and args.output.lower().endswith(".npy"):
        with atomic_path(args.output) as tmp, open(tmp, "wb") as f:
            np.save(f, vecs)
    else:
        rows = [json.dumps({"text": t, "vector": [round(float(x), 6) for x in v]},
                           ensure_ascii=False) for t, v in zip(texts, vecs)]
        if args.output:
            write_text(args.output, "\n".join(rows) + "\n")
        else:
            print("\n".join(rows))
    if args.output:
        print(f"wrote {len(vecs)} vectors of {vecs.shape[1]} values to {args.output}",
              file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- parsers
def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None,
                   help="preset: Switch-LM tiny, small, gptsan-2.8b; dense GPT-2 gpt2-tiny, "
                        "gpt2-small, gpt2-medium, gpt2-large; or a config.json (default: small "
                        "with CUDA, tiny without)")
    p.add_argument("--vocabulary", default=None,
                   help="the tokenizer the shards were encoded with (any kind; its sha256 must "
                        "be the manifest's): kept in the run folder for the LM tools, and used "
                        "for bits per character")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field, e.g. --set n_experts=8 (repeatable)")
    p.add_argument("--init", default=None,
                   help="start from the weights (and config) of this run or checkpoint folder")
    p.add_argument("--data", nargs="+", required=True,
                   help="token shard folders or 'DIR/*.arrow' globs; DIR:WEIGHT mixes sources "
                        "by weight, DIR@CLASS gives every row a spout class")
    p.add_argument("--valid", nargs="*", default=[],
                   help="held-back token shards for validation (loss and bits per character)")
    p.add_argument("--out", required=True, help="run folder (a rerun continues from its last "
                                                "checkpoint)")
    p.add_argument("--mode", default="lm", choices=("lm", "mlm", "hybrid"),
                   help="sequence layout built from the shards")
    p.add_argument("--steps", type=integer_arg(minimum=1), default=1000, help="optimizer steps")
    p.add_argument("--batch-size", type=integer_arg(minimum=1), default=8, help="sequences per micro-batch and rank")
    p.add_argument("--grad-accum", type=integer_arg(minimum=1), default=1, help="micro-batches per step")
    p.add_argument("--seq-len", type=integer_arg(minimum=2), default=None, help="sequence length (default n_ctx)")
    p.add_argument("--lr", type=number_arg(minimum=0, exclusive=True), default=3e-4, help="peak learning rate")
    p.add_argument("--min-lr-ratio", type=number_arg(minimum=0, maximum=1), default=0.1,
                   help="final learning rate as a fraction of --lr")
    p.add_argument("--schedule", default="cosine", choices=("cosine", "linear"),
                   help="decay after the warmup, to --lr × --min-lr-ratio (linear with ratio 0 "
                        "is gpt2-small-ja's schedule)")
    p.add_argument("--warmup", type=integer_arg(minimum=0), default=None,
                   help="warmup steps (default: 1%% of --steps, at least 1)")
    p.add_argument("--weight-decay", type=number_arg(minimum=0), default=0.1, help="AdamW weight decay")
    p.add_argument("--grad-clip", type=number_arg(minimum=0), default=1.0, help="max gradient norm (0: off)")
    p.add_argument("--seed", type=integer_arg(minimum=0), default=0, help="seed of weights, data order and masking")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--moe-impl", default=None, choices=("auto", "loop", "grouped"),
                   help="expert implementation (default: grouped on CUDA, loop on CPU)")
    p.add_argument("--train-only", default="all", choices=("all", "ext"),
                   help="ext: freeze everything but the ext layers (fine-tuning)")
    p.add_argument("--eval-every", type=integer_arg(minimum=1), default=200, help="validate every N steps")
    p.add_argument("--eval-batches", type=integer_arg(minimum=1), default=20, help="validation micro-batches")
    p.add_argument("--save-every", type=integer_arg(minimum=1), default=500, help="checkpoint every N steps")
    p.add_argument("--keep", type=integer_arg(minimum=1), default=2, help="checkpoints kept")
    p.add_argument("--log-every", type=integer_arg(minimum=1), default=10, help="metrics line every N steps")
    p.add_argument("--workers", type=integer_arg(minimum=0), default=1,
                   help="data loader processes per rank (0: build batches in the trainer)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="run folder or checkpoint folder")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--vocabulary", default=None,
                   help="tokenizer file of any kind (default: the one kept in the run folder, "
                        "else the bundled SWE vocabulary); its sha256 must match the model's")
    p.add_argument("--emoji", default=None, help="emoji table (default: beside the vocabulary)")


def register(add) -> None:
    """Add the model's subcommands with ``add(name, help=, description=, func=)``."""
    t = add("train", help="train the Switch-LM on token shards", func=cmd_train,
            description="Train (or continue training) the Switch-LM on Arrow token shards.  "
                        "Under torchrun it trains data-parallel.")
    add_train_arguments(t)

    c = add("convert", help="convert weights: from-hf DIR, to-hf RUN, add-ext", func=cmd_convert,
            description="from-hf: load a transformers GPT2LMHeadModel (with its SentencePiece "
                        "or SWE tokenizer) or a 4.x GPTSanJapanese checkpoint.  to-hf: write a "
                        "gpt2 run as a folder transformers.GPT2LMHeadModel.from_pretrained "
                        "loads.  add-ext: append dense ext layers to a Switch-LM (they start "
                        "as the identity) for cheap fine-tuning.")
    c.add_argument("what", choices=("from-hf", "to-hf", "add-ext"), help="the conversion")
    c.add_argument("src", help="from-hf: the transformers checkpoint folder; to-hf, add-ext: a "
                               "run or checkpoint folder")
    c.add_argument("--out", required=True,
                   help="from-hf, add-ext: the run folder to write (model.safetensors + "
                        "config.json); to-hf: the transformers folder")
    c.add_argument("--layers", type=integer_arg(minimum=1), default=1, help="add-ext: ext layers to add")
    c.add_argument("--ext-hidden", type=integer_arg(minimum=0), default=0,
                   help="add-ext: hidden size of new ext layers (0: 4·d_model)")
    c.add_argument("--vocabulary", default=None,
                   help="from-hf: the tokenizer of the weights (default: DIR/spiece.model, "
                        "another SentencePiece *.model or DIR/vocab.txt); to-hf: the model's "
                        "tokenizer (default: the one in the run folder, else the bundled SWE "
                        "vocabulary)")

    g = add("generate", help="sample text from a Switch-LM", func=cmd_generate,
            description="Continue a context with the model (KV cache): top-k, top-p, "
                        "temperature, several samples, a spout class, and a bidirectional "
                        "prefix; or beam search.")
    add_model_flags(g)
    g.add_argument("--context", default="", help="text to continue")
    g.add_argument("--prefix", default=None,
                   help="text given as the bidirectional prefix (prefix-LM) before the context")
    # the spellings of gpt2-japanese's gpt2-generate.py are aliases (--max_length, --top_k, …)
    g.add_argument("--max-new-tokens", "--max-length", "--max_length",
                   type=integer_arg(minimum=1), default=100, help="new tokens at most")
    g.add_argument("--min-new-tokens", "--min-length", "--min_length",
                   type=integer_arg(minimum=0), default=0,
                   help="<|endoftext|> is not chosen before this many new tokens")
    g.add_argument("--beam", "--num-beams", "--num_beams", type=integer_arg(minimum=0),
                   default=0,
                   help="beam search with N beams: prints the N best, best first (length-"
                        "normalised log-probability); sampling flags are then ignored (0: "
                        "sample)")
    g.add_argument("--length-penalty", type=number_arg(), default=1.0,
                   help="beam score = log-probability / length ** this")
    g.add_argument("--top-k", "--top_k", type=integer_arg(minimum=0), default=0, help="keep the k most likely tokens (0: all)")
    g.add_argument("--top-p", "--top_p", type=number_arg(minimum=0, maximum=1, exclusive=True), default=1.0, help="nucleus sampling mass (1: off)")
    g.add_argument("--temperature", type=number_arg(minimum=0), default=1.0, help="0 means greedy")
    g.add_argument("--num-samples", "--num_generate", type=integer_arg(minimum=1), default=1,
                   help="samples per call (numbered in the output when more than one)")
    g.add_argument("--seed", type=integer_arg(minimum=0), default=0, help="sampling seed")
    g.add_argument("--spout", type=integer_arg(minimum=0), default=None, metavar="CLASS",
                   help="spout class (one-hot vector) the model was trained with")
    g.add_argument("--json", action="store_true",
                   help="JSON lines with text, token ids and log-probabilities")

    f = add("fill", help="fill every [MASK] in a text (hybrid/MLM model)", func=cmd_fill,
            description="Fill-in-the-blank: the context is given as the bidirectional prefix; "
                        "every [MASK] becomes --mask-tokens tokens (repeat [MASK] for more), "
                        "most confident first.  Prints the completed text, then each mask's "
                        "tokens and log-probabilities.")
    add_model_flags(f)
    f.add_argument("--context", required=True, help="text with one or more [MASK]")
    f.add_argument("--mask-tokens", type=integer_arg(minimum=1), default=1, help="tokens per [MASK]")
    f.add_argument("--json", action="store_true", help="one JSON object instead of text")

    s = add("score", help="log-probability of each line of a file", func=cmd_score,
            description="Per line, the total natural-log probability of the text (with "
                        "<|endoftext|> after it unless --exclude-end), printed as TEXT<TAB>SCORE; "
                        "with --tokens one TOKEN<TAB>LOGPROB line per token after it and a "
                        "blank line between inputs.  Long "
                        "lines are scored in overlapping windows of the model's context.")
    add_model_flags(s)
    s.add_argument("file", nargs="?", default=None, help="text file, or - for standard input")
    s.add_argument("--context", default=None, help="one text to score instead of a file")
    s.add_argument("--tokens", action="store_true", help="also one line per token")
    s.add_argument("--exclude-end", action="store_true", help="do not score <|endoftext|>")
    s.add_argument("--batch-size", type=integer_arg(minimum=1), default=16, help="lines per forward pass")

    v = add("vectorize", help="sentence vectors from the hidden states", func=cmd_vectorize,
            description="The hidden state at token position --pos (default: the position after "
                        "the last token), concatenated over layers.  --context gives one text; "
                        "--input FILE one vector per line.")
    add_model_flags(v)
    v.add_argument("--context", default=None, help="one text")
    v.add_argument("--input", default=None, help="file with one text per line")
    v.add_argument("--pos", type=integer_arg(), default=None,
                   help="token position (0-based, negative from the end)")
    v.add_argument("--layers", default="all", choices=("all", "last"),
                   help="hidden states of every layer, or of the last")
    v.add_argument("--output", default=None,
                   help="out.json / out.jsonl (JSON lines) or out.npy (default: JSON on stdout)")
    v.add_argument("--batch-size", type=integer_arg(minimum=1), default=16, help="texts per forward pass")
