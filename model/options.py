"""The options of the model's commands, each a dataclass that declares its flags
(:mod:`swelm.options`): ``train`` (:class:`TrainConfig`), ``convert`` and the LM tools
(``generate``, ``fill``, ``score``, ``vectorize``).  No torch here: the command line builds
its parsers from these classes on every start."""
from __future__ import annotations

import argparse
import dataclasses

from swelm.checks import integer_arg, number_arg
from swelm.options import Options, flag

PRESETS_HELP = ("preset: Switch-LM tiny, small, gptsan-2.8b; dense GPT-2 gpt2-tiny, gpt2-small, "
                "gpt2-medium, gpt2-large; or a config.json (default: small with CUDA, tiny "
                "without)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig(Options):
    """Everything a training run is given (the flags of ``swelm train``); never changed."""
    # what to train: the model, shard folders (DIR:WEIGHT@CLASS), the run folder
    config: str | None = flag(None, help=PRESETS_HELP)
    vocabulary: str | None = flag(
        None, help="the tokenizer the shards were encoded with (any kind; its sha256 must be "
                   "the manifest's): kept in the run folder for the LM tools, and used for "
                   "bits per character")
    set: tuple = flag(default_factory=list, action="append", metavar="FIELD=VALUE",
                      help="override a config field, e.g. --set n_experts=8 (repeatable)")
    init: str | None = flag(None, help="start from the weights (and config) of this run or "
                                       "checkpoint folder")
    data: tuple = flag(nargs="+", help="token shard folders or 'DIR/*.arrow' globs; "
                                       "DIR:WEIGHT mixes sources by weight, DIR@CLASS gives "
                                       "every row a spout class")
    valid: tuple = flag(default_factory=list, nargs="*",
                        help="held-back token shards for validation (loss and bits per "
                             "character)")
    out: str = flag(help="run folder (a rerun continues from its last checkpoint)")
    mode: str = flag("lm", choices=("lm", "mlm", "hybrid"),
                     help="sequence layout built from the shards")
    # the schedule: steps of batch_size x grad_accum sequences of seq_len tokens per rank
    steps: int = flag(1000, type=integer_arg(minimum=1), help="optimizer steps")
    batch_size: int = flag(8, type=integer_arg(minimum=1),
                           help="sequences per micro-batch and rank")
    grad_accum: int = flag(1, type=integer_arg(minimum=1), help="micro-batches per step")
    seq_len: int | None = flag(None, type=integer_arg(minimum=2),
                               help="sequence length (default n_ctx)")
    # AdamW with linear warmup, cosine (or linear) decay to lr x min_lr_ratio, clipping
    lr: float = flag(3e-4, type=number_arg(minimum=0, exclusive=True),
                     help="peak learning rate")
    min_lr_ratio: float = flag(0.1, type=number_arg(minimum=0, maximum=1),
                               help="final learning rate as a fraction of --lr")
    schedule: str = flag("cosine", choices=("cosine", "linear"),
                         help="decay after the warmup, to --lr × --min-lr-ratio (linear with "
                              "ratio 0 is gpt2-small-ja's schedule)")
    warmup: int | None = flag(None, type=integer_arg(minimum=0),
                              help="warmup steps (default: 1%% of --steps, at least 1)")
    weight_decay: float = flag(0.1, type=number_arg(minimum=0), help="AdamW weight decay")
    grad_clip: float = flag(1.0, type=number_arg(minimum=0), help="max gradient norm (0: off)")
    seed: int = flag(0, type=integer_arg(minimum=0),
                     help="seed of weights, data order and masking")
    # where and how it runs
    device: str | None = flag(None, help="cpu or cuda (default: cuda when available)")
    compile: bool = flag(False, action="store_true", help="torch.compile the model")
    moe_impl: str | None = flag(None, choices=("auto", "loop", "grouped"),
                                help="expert implementation (default: grouped on CUDA, loop "
                                     "on CPU)")
    train_only: str = flag("all", choices=("all", "ext"),
                           help="ext: freeze everything but the ext layers (fine-tuning)")
    # validation, checkpoints, metrics
    eval_every: int = flag(200, type=integer_arg(minimum=1), help="validate every N steps")
    eval_batches: int = flag(20, type=integer_arg(minimum=1), help="validation micro-batches")
    save_every: int = flag(500, type=integer_arg(minimum=1), help="checkpoint every N steps")
    keep: int = flag(2, type=integer_arg(minimum=1), help="checkpoints kept")
    log_every: int = flag(10, type=integer_arg(minimum=1), help="metrics line every N steps")
    workers: int = flag(1, type=integer_arg(minimum=0),
                        help="data loader processes per rank (0: build batches in the trainer)")
    progress: bool = flag(True, names=("--no-progress",), action="store_false",
                          help="no progress bar (by default one is shown)")

    def __post_init__(self) -> None:
        for k in ("data", "set", "valid"):         # (a frozen config holds tuples)
            object.__setattr__(self, k, tuple(getattr(self, k) or ()))

    @property
    def warmup_steps(self) -> int:
        return self.warmup if self.warmup is not None else max(1, self.steps // 100)


@dataclasses.dataclass(kw_only=True)
class ConvertOptions(Options):
    """``swelm convert``."""
    what: str = flag(choices=("from-hf", "to-hf", "add-ext"), positional=True,
                     help="the conversion")
    src: str = flag(positional=True, help="from-hf: the transformers checkpoint folder; "
                                          "to-hf, add-ext: a run or checkpoint folder")
    out: str = flag(help="from-hf, add-ext: the run folder to write (model.safetensors + "
                         "config.json); to-hf: the transformers folder")
    layers: int = flag(1, type=integer_arg(minimum=1), help="add-ext: ext layers to add")
    ext_hidden: int = flag(0, type=integer_arg(minimum=0),
                           help="add-ext: hidden size of new ext layers (0: 4·d_model)")
    vocabulary: str | None = flag(
        None, help="from-hf: the tokenizer of the weights (default: DIR/spiece.model, another "
                   "SentencePiece *.model or DIR/vocab.txt); to-hf: the model's tokenizer "
                   "(default: the one in the run folder, else the bundled SWE vocabulary)")


@dataclasses.dataclass(kw_only=True)
class ModelOptions(Options):
    """The model an LM tool loads, with its tokenizer."""
    FLAGS_FIRST = True
    model: str = flag(help="run folder or checkpoint folder")
    device: str | None = flag(None, help="cpu or cuda (default: cuda when available)")
    vocabulary: str | None = flag(
        None, help="tokenizer file of any kind (default: the one kept in the run folder, else "
                   "the bundled SWE vocabulary); its sha256 must match the model's")
    emoji: str | None = flag(None, help="emoji table (default: beside the vocabulary)")


def _bool(text: str) -> bool:
    """``true``/``false`` as transformers' and Hugging Face's argument parsers take them."""
    low = str(text).lower()
    if low in ("true", "yes", "1", "y", "t"):
        return True
    if low in ("false", "no", "0", "n", "f"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: expected true or false")


@dataclasses.dataclass(kw_only=True)
class GenerateOptions(ModelOptions):
    """``swelm generate``; the spellings of gpt2-japanese's gpt2-generate.py are aliases
    (``--max_length``, ``--top_k``, …)."""
    context: str = flag("", help="text to continue")
    prefix: str | None = flag(None, help="text given as the bidirectional prefix (prefix-LM) "
                                         "before the context")
    max_new_tokens: int = flag(100, names=("--max-new-tokens", "--max_new_tokens", "--max-length",
                                           "--max_length"),
                               type=integer_arg(minimum=1),
                               help="new tokens at most (fewer, with a warning, where the "
                                    "model's context n_ctx ends first)")
    min_new_tokens: int = flag(0, names=("--min-new-tokens", "--min_new_tokens", "--min-length",
                                         "--min_length"),
                               type=integer_arg(minimum=0),
                               help="<|endoftext|> is not chosen before this many new tokens")
    do_sample: bool | None = flag(
        None, names=("--do-sample", "--do_sample"), nargs="?", const=True, type=_bool,
        metavar="BOOL",
        help="sample (the default, as the gpt2-japanese scripts do); --do-sample false (or "
             "--no-do-sample, --temperature 0): greedy, as transformers without do_sample")
    no_do_sample: bool = flag(False, names=("--no-do-sample", "--no_do_sample"),
                              action="store_true", help="greedy decoding")
    beam: int = flag(0, names=("--num-beams", "--num_beams", "--beam"),
                     type=integer_arg(minimum=0),
                     help="beam search with N beams, best first (length-normalised "
                          "log-probability); sampling flags are then ignored (0 or 1: no beam "
                          "search)")
    length_penalty: float = flag(1.0, names=("--length-penalty", "--length_penalty"),
                                 type=number_arg(),
                                 help="beam score = log-probability / length ** this")
    top_k: int = flag(0, names=("--top-k", "--top_k"), type=integer_arg(minimum=0),
                      help="keep the k most likely tokens (0: all)")
    top_p: float = flag(1.0, names=("--top-p", "--top_p"),
                        type=number_arg(minimum=0, maximum=1, exclusive=True),
                        help="nucleus sampling mass (1: off)")
    temperature: float = flag(1.0, type=number_arg(minimum=0), help="0 means greedy")
    repetition_penalty: float = flag(
        1.0, names=("--repetition-penalty", "--repetition_penalty"),
        type=number_arg(minimum=0, exclusive=True),
        help="transformers' (CTRL's) penalty on tokens already in the context or output: "
             "their logits are divided by it when positive, multiplied when negative (1: off)")
    num_samples: int | None = flag(
        None, names=("--num-return-sequences", "--num_return_sequences", "--num-samples",
                     "--num_generate"), type=integer_arg(minimum=1),
        help="outputs per call: samples, or the best beams (default: 1 sample, every beam; "
             "numbered in the output when more than one)")
    seed: int = flag(0, type=integer_arg(minimum=0), help="sampling seed")
    spout: int | None = flag(None, type=integer_arg(minimum=0), metavar="CLASS",
                             help="spout class (one-hot vector) the model was trained with")
    json: bool = flag(False, action="store_true",
                      help="JSON lines with text, token ids and log-probabilities")


@dataclasses.dataclass(kw_only=True)
class FillOptions(ModelOptions):
    """``swelm fill``."""
    context: str = flag(help="text with one or more [MASK]")
    mask_tokens: int = flag(1, type=integer_arg(minimum=1), help="tokens per [MASK]")
    json: bool = flag(False, action="store_true", help="one JSON object instead of text")


@dataclasses.dataclass(kw_only=True)
class ScoreOptions(ModelOptions):
    """``swelm score``."""
    file: str | None = flag(None, positional=True, nargs="?",
                            help="text file (one text per line), or - for standard input")
    input: str | None = flag(None, help="the same as FILE (as vectorize spells it)")
    context: str | None = flag(None, help="one text to score instead of a file")
    tokens: bool = flag(False, action="store_true", help="also one line per token")
    exclude_end: bool = flag(False, action="store_true", help="do not score <|endoftext|>")
    batch_size: int = flag(16, type=integer_arg(minimum=1), help="lines per forward pass")


@dataclasses.dataclass(kw_only=True)
class VectorizeOptions(ModelOptions):
    """``swelm vectorize``."""
    file: str | None = flag(None, positional=True, nargs="?",
                            help="file with one text per line (the same as --input)")
    context: str | None = flag(None, help="one text")
    input: str | None = flag(None, help="file with one text per line")
    pos: int | None = flag(None, type=integer_arg(),
                           help="token position (0-based, negative from the end)")
    layers: str = flag("all", choices=("all", "last"),
                       help="hidden states of every layer, or of the last")
    output: str | None = flag(None, names=("--output", "--out"),
                              help="out.json / out.jsonl (JSON lines) or out.npy "
                                   "(default: JSON on stdout)")
    batch_size: int = flag(16, type=integer_arg(minimum=1), help="texts per forward pass")
