"""The model's ``swelm`` subcommands and every handler of them: train, convert, generate, fill,
score, vectorize.  Registered by :mod:`swelm.cli`; torch is imported only when a command runs,
so ``swelm --help`` and the tokenizer commands stay fast."""
from __future__ import annotations

import json
import os
import sys

from swelm.errors import UsageError
from swelm.publish import Kind, check_destination


# ---------------------------------------------------------------------------- handlers
def cmd_train(args) -> int:
    import torch
    from .checkpoint import RUN
    from .common import ModelError
    from .data import parse_sources
    from .train import default_preset, train
    try:
        sources = [s.path for s in parse_sources(list(args.data))]
    except ModelError:
        sources = []        # (train reports the --data problem after the destination's)
    # a run folder is continued; anything else is refused
    check_destination(args.out, RUN, sources=sources)
    most = 4 * (os.cpu_count() or 1)
    if args.workers > most:
        raise UsageError(f"--workers {args.workers}: data loader processes (one or two keep a "
                         f"step fed); at most {most} here ({os.cpu_count() or 1} CPUs)")
    if os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    if args.config is None and not args.init:
        args = args.replace(config=default_preset())
        if args.config == "tiny" and int(os.environ.get("RANK", "0")) == 0:
            print("swelm train: no CUDA device: using the tiny preset (small, the default on a "
                  "GPU, would take days on a CPU; --config small to insist)", file=sys.stderr)
    last = train(args)
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
    print(f"wrote {os.path.join(args.out, 'model.safetensors')} and config.json "
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


def decoding(args) -> tuple[float, int | None]:
    """The temperature (0: greedy) and the outputs wanted (None: every beam) that
    ``--do-sample``/``--no-do-sample``, ``--temperature`` and ``--num-return-sequences`` ask
    for, as transformers reads them; flags that contradict each other are a UsageError."""
    if args.no_do_sample and args.do_sample:
        raise UsageError("--do-sample and --no-do-sample: give one")
    greedy = args.no_do_sample or args.do_sample is False
    if args.do_sample and args.temperature == 0:
        raise UsageError("--do-sample with --temperature 0: sampling needs a temperature "
                         "above 0 (greedy decoding is --do-sample false)")
    if greedy:
        given = [f for f, v, d in (("--temperature", args.temperature, 1.0),
                                   ("--top-k", args.top_k, 0), ("--top-p", args.top_p, 1.0))
                 if v != d]
        if given:
            raise UsageError(f"{given[0]} with greedy decoding (--do-sample false): sampling "
                             "flags need sampling; give one")
    if args.do_sample and args.beam > 1:
        raise UsageError(f"--do-sample with --num-beams {args.beam}: beam search does not "
                         "sample; give one")
    if args.min_new_tokens > args.max_new_tokens:
        raise UsageError(f"--min-new-tokens {args.min_new_tokens}: above --max-new-tokens "
                         f"{args.max_new_tokens}")
    temperature = 0.0 if greedy else args.temperature
    n = args.num_samples
    if args.beam > 1:
        if n is not None and n > args.beam:
            raise UsageError(f"--num-return-sequences {n}: at most --num-beams "
                             f"{args.beam} (the best beams are returned)")
        return temperature, n
    if temperature == 0 and (n or 1) > 1:
        raise UsageError(f"--num-return-sequences {n}: greedy decoding gives one sequence; "
                         "sample (--do-sample) or search beams (--num-beams N) for more")
    return temperature, n or 1


def cmd_generate(args) -> int:
    temperature, n = decoding(args)
    beam = args.beam if args.beam > 1 else 0        # (one beam: transformers' num_beams=1)
    lm = _lm(args)
    out = lm.generate(args.context, prefix=args.prefix, beam=beam,
                      num_samples=n or 1, max_new_tokens=args.max_new_tokens,
                      min_new_tokens=args.min_new_tokens, top_k=args.top_k, top_p=args.top_p,
                      temperature=temperature, seed=args.seed, spout=args.spout,
                      length_penalty=args.length_penalty,
                      repetition_penalty=args.repetition_penalty)
    if beam and n:
        out = out[:n]
    numbered = len(out) > 1 or beam
    for k, s in enumerate(out, 1):
        if args.json:
            print(json.dumps({"text": args.context + s.text, "new_text": s.text, "ids": s.ids,
                              "tokens": [lm.token_text(i) for i in s.ids],
                              "logprobs": s.logprobs, "score": s.score}, ensure_ascii=False))
            continue
        if numbered:        # one header line per sample, its beam score with --beam
            print(f"======== SAMPLE {k}" + (f" score {s.score:.4f}" if beam else "")
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


def _one_file(args) -> None:
    """FILE and --input name the same input: one of them (or both the same)."""
    if args.file is not None and args.input is not None and args.file != args.input:
        raise UsageError(f"FILE {args.file} and --input {args.input}: give one")
    args.file = args.input = args.file if args.file is not None else args.input


def cmd_score(args) -> int:
    _one_file(args)
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
    _one_file(args)
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
def register(add) -> None:
    """Add the model's subcommands with ``add(name, help=, description=, func=)``; each
    handler gets its command's options object (model.options)."""
    from . import options as o

    def command(name, options, handler, **kw):
        p = add(name, func=lambda args: handler(options.from_args(args)), **kw)
        options.add_flags(p)

    command("train", o.TrainConfig, cmd_train, help="train a Switch-LM or GPT-2 model on token shards",
            description="Train (or continue training) a Switch-LM or a dense GPT-2 model (--config "
                        "names the preset) on Arrow token shards.  "
                        "Under torchrun it trains data-parallel.")
    command("convert", o.ConvertOptions, cmd_convert,
            help="convert weights: from-hf DIR, to-hf RUN, add-ext",
            description="from-hf: load a transformers GPT2LMHeadModel (with its SentencePiece "
                        "or SWE tokenizer) or a 4.x GPTSanJapanese checkpoint.  to-hf: write a "
                        "gpt2 run as a folder transformers.GPT2LMHeadModel.from_pretrained "
                        "loads.  add-ext: append dense ext layers to a Switch-LM (they start "
                        "as the identity) for cheap fine-tuning.")
    command("generate", o.GenerateOptions, cmd_generate, help="sample text from a Switch-LM or GPT-2 model",
            description="Continue a context with the model (KV cache), with transformers' "
                        "generation flags: sampling (top-k, top-p, temperature, repetition "
                        "penalty, several samples) or greedy decoding, or beam search; a "
                        "Switch-LM also takes a spout class and a bidirectional prefix.")
    command("fill", o.FillOptions, cmd_fill,
            help="fill every [MASK] in a text (a Switch-LM trained hybrid or MLM)",
            description="Fill-in-the-blank: the context is given as the bidirectional prefix; "
                        "every [MASK] becomes --mask-tokens tokens (repeat [MASK] for more), "
                        "most confident first.  Prints the completed text, then each mask's "
                        "tokens and log-probabilities.")
    command("score", o.ScoreOptions, cmd_score, help="log-probability of each line of a file (Switch-LM or GPT-2)",
            description="Per line, the total natural-log probability of the text (with "
                        "<|endoftext|> after it unless --exclude-end), printed as TEXT<TAB>SCORE; "
                        "with --tokens one TOKEN<TAB>LOGPROB line per token after it and a "
                        "blank line between inputs.  Long "
                        "lines are scored in overlapping windows of the model's context.")
    command("vectorize", o.VectorizeOptions, cmd_vectorize,
            help="sentence vectors from the hidden states (Switch-LM or GPT-2)",
            description="The hidden state at token position --pos (default: the position after "
                        "the last token), concatenated over layers.  --context gives one text; "
                        "--input FILE one vector per line.")
