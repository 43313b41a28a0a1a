"""Helpers for the model tests: a small hand-written Japanese corpus encoded into token shards,
and a tiny model trained on it for a few steps (CPU, seconds)."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent

TEXTS = [
    "吾輩は猫である。名前はまだない。どこで生れたか見当がつかぬ。",
    "今日は朝から雨が降っている。傘を持って駅まで歩いた。",
    "京都の秋は紅葉が美しい。多くの人が寺を訪れる。",
    "新しい図書館が町の中心にできた。週末には子供たちが本を読みに来る。",
    "山の上から見る海は青く、遠くに船が一隻浮かんでいた。",
    "彼は毎朝六時に起きて、近くの公園を走ることにしている。",
    "このお店のラーメンはスープが濃くて、麺が細い。",
    "電車が遅れたので、会議に十分ほど遅刻してしまった。",
    "春になると桜が咲き、川沿いの道は花見の人でにぎわう。",
    "祖母は庭で野菜を育てていて、夏にはトマトがたくさん採れる。",
    "ははははは、と彼は大きな声で笑った。",
    "東京から大阪までは新幹線で二時間半ほどかかる。",
]


def encode_corpus(out: pathlib.Path, texts=None, repeat: int = 4, shard_tokens: int = 400):
    from swelm.tokenizer import SWEEncoder
    from swelm.tokenizer.shards import ShardWriter
    enc = SWEEncoder.load()
    with ShardWriter(str(out), vocab_sha256=enc.vocab_sha256, vocab_size=len(enc),
                     shard_tokens=shard_tokens, source={"tool": "tests"}) as w:
        for _ in range(repeat):
            for t in texts or TEXTS:
                w.add(np.asarray(enc.encode(t), dtype=np.uint16))
    return out


def swelm(*args, env=None, check=True, **kw):
    e = dict(os.environ, OMP_NUM_THREADS="1")
    e.update(env or {})
    r = subprocess.run([sys.executable, "-m", "swelm", *map(str, args)], cwd=ROOT,
                       env=e, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"swelm {' '.join(map(str, args))} failed ({r.returncode}):\n"
                             f"{r.stdout}\n{r.stderr}")
    return r


TRAIN_ARGS = ["--config", "tiny", "--seq-len", "48", "--batch-size", "4", "--lr", "3e-3",
              "--no-progress", "--workers", "0", "--log-every", "1"]
