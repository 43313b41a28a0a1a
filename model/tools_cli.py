"""``swelm fill``, ``swelm score`` and ``swelm vectorize``: thin wrappers around :class:`LM`."""
from __future__ import annotations

import json
import os
import sys

import numpy as np

from .checkpoint import CheckpointError
from .generate import InputError
from .tools import LM

ERRORS = (CheckpointError, InputError, ValueError, FileNotFoundError, UnicodeDecodeError)


def _lines(path: str) -> list[str]:
    if path == "-":
        return sys.stdin.read().splitlines()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def cmd_fill(args) -> int:
    try:
        lm = LM.load(args.model, args.device, args.vocabulary, args.emoji)
        r = lm.fill(args.context, mask_tokens=args.mask_tokens)
    except ERRORS as e:
        print(f"swelm fill: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"text": r.text, "tokens": r.tokens, "ids": r.ids, "scores": r.scores},
                         ensure_ascii=False))
        return 0
    print(r.text)
    for k, (toks, scores) in enumerate(zip(r.tokens, r.scores), 1):
        print(f"[MASK {k}]\t" + " ".join(f"{t}({s:.3f})" for t, s in zip(toks, scores)))
    return 0


def cmd_score(args) -> int:
    try:
        lines = _lines(args.file)
        lm = LM.load(args.model, args.device, args.vocabulary, args.emoji)
        out = lm.score(lines, exclude_end=args.exclude_end, batch_size=args.batch_size)
    except ERRORS as e:
        print(f"swelm score: {e}", file=sys.stderr)
        return 2
    for r in out:
        if args.tokens:
            for t, lp in zip(r.tokens, r.logprobs):
                print(f"{t}\t{lp:.3f}")
        print(f"{r.text}\t{r.total:.3f}")
        if args.tokens:
            print()
    return 0


def cmd_vectorize(args) -> int:
    try:
        if (args.context is None) == (args.input is None):
            raise InputError("give exactly one of --context TEXT and --input FILE")
        texts = [args.context] if args.context is not None else _lines(args.input)
        lm = LM.load(args.model, args.device, args.vocabulary, args.emoji)
        vecs = lm.vectorize(texts, pos=args.pos, layers=args.layers, batch_size=args.batch_size)
    except ERRORS as e:
        print(f"swelm vectorize: {e}", file=sys.stderr)
        return 2
    if args.output and args.output.endswith(".npy"):
        tmp = args.output + ".tmp.npy"
        np.save(tmp, vecs)
        os.replace(tmp, args.output)
    else:
        rows = [json.dumps({"text": t, "vector": [round(float(x), 6) for x in v]},
                           ensure_ascii=False) for t, v in zip(texts, vecs)]
        if args.output:
            tmp = args.output + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("\n".join(rows) + "\n")
            os.replace(tmp, args.output)
        else:
            print("\n".join(rows))
    if args.output:
        print(f"wrote {len(vecs)} vectors of {vecs.shape[1]} values to {args.output}",
              file=sys.stderr)
    return 0
