"""The model's ``swelm`` subcommands: argument parsers only (torch is imported when a command
runs, so ``swelm --help`` and the tokenizer commands stay fast)."""
from __future__ import annotations

import argparse


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="small",
                   help="preset (tiny, small, gptsan-2.8b) or a config.json (default: small)")
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
                   help="sequence layout built from the shards (default: lm)")
    p.add_argument("--steps", type=int, default=1000, help="optimizer steps (default 1000)")
    p.add_argument("--batch-size", type=int, default=8, help="sequences per micro-batch and rank")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per step")
    p.add_argument("--seq-len", type=int, default=None, help="sequence length (default n_ctx)")
    p.add_argument("--lr", type=float, default=3e-4, help="peak learning rate (default 3e-4)")
    p.add_argument("--min-lr-ratio", type=float, default=0.1,
                   help="final learning rate as a fraction of --lr (default 0.1)")
    p.add_argument("--warmup", type=int, default=None,
                   help="warmup steps (default: 1%% of --steps, at least 1)")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm (0: off)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, data order and masking")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--moe-impl", default=None, choices=("auto", "loop", "grouped"),
                   help="expert implementation (default: grouped on CUDA, loop on CPU)")
    p.add_argument("--train-only", default="all", choices=("all", "ext"),
                   help="ext: freeze everything but the ext layers (fine-tuning)")
    p.add_argument("--eval-every", type=int, default=200, help="validate every N steps")
    p.add_argument("--eval-batches", type=int, default=20, help="validation micro-batches")
    p.add_argument("--save-every", type=int, default=500, help="checkpoint every N steps")
    p.add_argument("--keep", type=int, default=2, help="checkpoints kept (default 2)")
    p.add_argument("--log-every", type=int, default=10, help="metrics line every N steps")
    p.add_argument("--workers", type=int, default=1,
                   help="data loader processes per rank (0: build batches in the trainer)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _train(args) -> int:
    from .train import cmd_train
    return cmd_train(args)


def _convert(args) -> int:
    from .convert import cmd_convert
    return cmd_convert(args)


def _generate(args) -> int:
    from .generate import cmd_generate
    return cmd_generate(args)


def _tool(name: str):
    def run(args) -> int:
        from . import tools_cli
        return getattr(tools_cli, name)(args)
    return run


def add_model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="run folder or checkpoint folder")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--vocabulary", default=None,
                   help="SWE vocabulary (default: the bundled one); its sha256 must match the "
                        "model's")
    p.add_argument("--emoji", default=None, help="emoji table (default: beside the vocabulary)")


def add_parsers(sub) -> None:
    t = sub.add_parser("train", help="train the Switch-LM on token shards",
                       description="Train (or continue training) the Switch-LM on Arrow token "
                                   "shards.  Under torchrun it trains data-parallel.")
    add_train_arguments(t)
    t.set_defaults(func=_train)

    c = sub.add_parser("convert", help="convert weights: from-hf DIR, add-ext",
                       description="from-hf: load a transformers 4.x GPTSanJapanese checkpoint "
                                   "into a Switch-LM.  add-ext: append dense ext layers (they "
                                   "start as the identity) for cheap fine-tuning.")
    c.add_argument("what", choices=("from-hf", "add-ext"))
    c.add_argument("src", help="from-hf: the transformers checkpoint folder; add-ext: a run or "
                               "checkpoint folder")
    c.add_argument("--out", required=True, help="folder for model.safetensors + config.json")
    c.add_argument("--layers", type=int, default=1, help="add-ext: ext layers to add")
    c.add_argument("--ext-hidden", type=int, default=0,
                   help="add-ext: hidden size of new ext layers (default 4·d_model)")
    c.add_argument("--vocabulary", default=None,
                   help="from-hf: vocabulary of the weights (default: DIR/vocab.txt)")
    c.set_defaults(func=_convert)

    g = sub.add_parser("generate", help="sample text from a Switch-LM",
                       description="Continue a context with the model (KV cache): top-k, top-p, "
                                   "temperature, several samples, a spout class, and a "
                                   "bidirectional prefix.")
    add_model_flags(g)
    g.add_argument("--context", default="", help="text to continue (default: empty)")
    g.add_argument("--prefix", default=None,
                   help="text given as the bidirectional prefix (prefix-LM) before the context")
    g.add_argument("--max-new-tokens", "--max-length", type=int, default=100,
                   help="new tokens at most (default 100)")
    g.add_argument("--min-new-tokens", "--min-length", type=int, default=0,
                   help="<|endoftext|> is not chosen before this many new tokens")
    g.add_argument("--beam", type=int, default=0,
                   help="beam search with N beams: prints the N best, best first (length-"
                        "normalised log-probability); sampling flags are then ignored")
    g.add_argument("--length-penalty", type=float, default=1.0,
                   help="beam score = log-probability / length ** this (default 1: per token)")
    g.add_argument("--top-k", type=int, default=0, help="keep the k most likely tokens (0: all)")
    g.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1: off)")
    g.add_argument("--temperature", type=float, default=1.0, help="0 means greedy")
    g.add_argument("--num-samples", type=int, default=1, help="samples per call")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--spout", type=int, default=None, metavar="CLASS",
                   help="spout class (one-hot vector) the model was trained with")
    g.add_argument("--json", action="store_true",
                   help="JSON lines with text, token ids and log-probabilities")
    g.set_defaults(func=_generate)

    f = sub.add_parser("fill", help="fill every [MASK] in a text (hybrid/MLM model)",
                       description="Fill-in-the-blank: the context is given as the bidirectional "
                                   "prefix; every [MASK] becomes --mask-tokens tokens (repeat "
                                   "[MASK] for more), most confident first.  Prints the completed "
                                   "text, then each mask's tokens and log-probabilities.")
    add_model_flags(f)
    f.add_argument("--context", required=True, help="text with one or more [MASK]")
    f.add_argument("--mask-tokens", type=int, default=1, help="tokens per [MASK] (default 1)")
    f.add_argument("--json", action="store_true", help="one JSON object instead of text")
    f.set_defaults(func=_tool("cmd_fill"))

    s = sub.add_parser("score", help="log-probability of each line of a file",
                       description="Per line, the total natural-log probability of the text "
                                   "(with <|endoftext|> after it unless --exclude-end), printed "
                                   "as TEXT<TAB>SCORE; with --tokens one TOKEN<TAB>LOGPROB line "
                                   "per token after it.  Long lines are scored in overlapping "
                                   "windows of the model's context.")
    add_model_flags(s)
    s.add_argument("file", help="text file, or - for standard input")
    s.add_argument("--tokens", action="store_true", help="also one line per token")
    s.add_argument("--exclude-end", action="store_true", help="do not score <|endoftext|>")
    s.add_argument("--batch-size", type=int, default=16)
    s.set_defaults(func=_tool("cmd_score"))

    v = sub.add_parser("vectorize", help="sentence vectors from the hidden states",
                       description="The hidden state at token position --pos (default: the "
                                   "position after the last token), concatenated over layers.  "
                                   "--context gives one text; --input FILE one vector per line.")
    add_model_flags(v)
    v.add_argument("--context", default=None, help="one text")
    v.add_argument("--input", default=None, help="file with one text per line")
    v.add_argument("--pos", type=int, default=None,
                   help="token position (0-based, negative from the end)")
    v.add_argument("--layers", default="all", choices=("all", "last"))
    v.add_argument("--output", default=None,
                   help="out.json / out.jsonl (JSON lines) or out.npy (default: JSON on stdout)")
    v.add_argument("--batch-size", type=int, default=16)
    v.set_defaults(func=_tool("cmd_vectorize"))
