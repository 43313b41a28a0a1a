"""Tokenizer speed on one core: the SWE encoder against SentencePiece and Hugging Face
``tokenizers``, in the same run on the same Japanese text.

    python -m bench.tokenizer [--reference PATH/encode_swe.py] [--sp-train-mb 30]

Prints one JSON line per figure.  The text is ``valid.jsonl.gz`` of the shared corpus (331
documents: literature, encyclopedia, legal, technical documentation).  The anchors, trained
here on a slice of ``train.jsonl.gz`` with the SWE vocabulary's size and cached under
``out/bench-cache``:

* SentencePiece, unigram model (``sp.encode(text)``, one text per call);
* Hugging Face ``tokenizers``, byte-level BPE as GPT-2 uses (``tok.encode(text)``, one text
  per call, its thread pool off).  Its pre-tokenizer splits at spaces and punctuation, which
  Japanese has few of, so its BPE works on long pieces; splitting at script changes as well
  (``UnicodeScripts``) was tried and is no faster.

``ratio`` is ours / SentencePiece.  Targets: SWE encode ≥ 60 MB/s and ≥ 5× SentencePiece,
``clean=True`` ≥ 50 MB/s, ``encode_batch`` on lines of 20–200 characters within 20% of the
MB/s on the documents (27 KB on average), decode ≥ 200 MB/s, and each adversarial 1 MB input for the clean step ≤ 0.5 s
(timed at 0.25 and 1 MB: ``growth`` near 4 is linear).  Timings are the best of three.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAYON_NUM_THREADS", "1")

from bench._common import DATA, ROOT, emit, load_texts, timed, train_sentencepiece  # noqa: E402
from swelm.tokenizer import SWEEncoder  # noqa: E402

ADVERSARIAL = [("price_digits_x", "1" * 22 + "x"), ("price_kanji_x", "111111千" * 5 + "x"),
               ("price_digits_yen", "1" * 25 + "円"), ("yen_run", "円"), ("year_run", "年"),
               ("email_run", "a" * 40 + "@"), ("at_chain", "a@"), ("dash_chain", "1-"),
               ("date_chain", "2023/" * 10 + "x"), ("dates_chained", "2023年1月1日"),
               ("yen_every_17", "円" + "あ" * 16), ("price_comma_units", ",千万円"),
               ("prices_counting", lambda: (f",{i}千円" for i in range(10 ** 7))),
               ("prices_random_runs", lambda: _random_runs(7))]


def _random_runs(length: int):
    """Prices whose number parts are random runs of 0-3, ٣, comma and 億万千 (each a new
    shape, so no cached start helps)."""
    import random
    rng = random.Random(0)
    while True:
        yield ("".join(rng.choice("0123٣,億万千") for _ in range(length))
               + rng.choice(["円", "千円", "万円", "ドル"]))


def _adversarial(seed, size: int) -> str:
    """``size`` bytes of a repeated seed, or of the pieces a generator function yields."""
    if isinstance(seed, str):
        return seed * (size // len(seed.encode("utf-8")))
    out, n = [], 0
    for piece in seed():
        n += len(piece.encode("utf-8"))
        if n > size:
            break
        out.append(piece)
    return "".join(out)


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    import sentencepiece
    import tokenizers
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "sentencepiece": sentencepiece.__version__, "tokenizers": tokenizers.__version__}


def train_hf_bpe(vocab_size: int, train_mb: int, cache: str):
    """A byte-level BPE of ``vocab_size`` tokens (GPT-2's scheme) from ``tokenizers``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    path = os.path.join(cache, f"hf-bpe-{vocab_size}-{train_mb}mb.json")
    if not os.path.exists(path):
        os.makedirs(cache, exist_ok=True)
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        texts = load_texts("train.jsonl.gz", train_mb << 20)
        tok.train_from_iterator(texts, trainer=trainer)
        tok.save(path + ".tmp")
        os.replace(path + ".tmp", path)
    return Tokenizer.from_file(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", help="path to the reference encode_swe.py (SWEEncoder_ja)")
    ap.add_argument("--vocab", default=os.path.join(DATA, "upstream-swe", "ja-swe36k.txt"),
                    help="vocabulary to time (default: the reference vocabulary in shared data)")
    ap.add_argument("--emoji", default=None)
    ap.add_argument("--sp-train-mb", type=int, default=30)
    ap.add_argument("--cache", default=os.path.join(ROOT, "out", "bench-cache"))
    args = ap.parse_args()

    emit(figure="machine", **machine())
    texts = load_texts("valid.jsonl.gz")
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    emit(figure="input", file="valid.jsonl.gz", docs=len(texts), mb=round(mb, 2))

    enc = SWEEncoder.load(args.vocab, args.emoji)
    py = SWEEncoder.load(args.vocab, args.emoji, use_c=False)
    sp = train_sentencepiece(len(enc), args.sp_train_mb, args.cache)
    hf = train_hf_bpe(len(enc), args.sp_train_mb, args.cache)

    ids = [enc.encode(t) for t in texts]
    assert ids == [py.encode(t) for t in texts[:20]] + ids[20:], "compiled and Python paths differ"
    sp_ids = [sp.encode(t) for t in texts]
    hf_ids = [hf.encode(t).ids for t in texts]
    # interleaved, so that a slower spell of a shared machine falls on all of them
    sp_enc = mb / timed(lambda: [sp.encode(t) for t in texts])
    ours_enc = mb / timed(lambda: [enc.encode(t) for t in texts])
    hf_enc = mb / timed(lambda: [hf.encode(t) for t in texts])
    ours_clean = mb / timed(lambda: [enc.encode(t, clean=True) for t in texts])
    ours_u16 = mb / timed(lambda: [enc.encode_array(t) for t in texts])
    ours_py = mb / timed(lambda: [py.encode(t) for t in texts], 1)
    sp_dec = mb / timed(lambda: [sp.decode(i) for i in sp_ids])
    ours_dec = mb / timed(lambda: [enc.decode(i) for i in ids])
    hf_dec = mb / timed(lambda: [hf.decode(i) for i in hf_ids])

    def ratio(value, anchor):
        return round(value / anchor, 2)

    emit(figure="encode_MBps", impl="swelm (C core)", value=round(ours_enc, 1),
         anchor="sentencepiece", anchor_value=round(sp_enc, 1), ratio=ratio(ours_enc, sp_enc),
         target=60, target_ratio=5.0)
    emit(figure="encode_MBps", impl="swelm clean=True", value=round(ours_clean, 1),
         ratio=ratio(ours_clean, sp_enc), target=50)
    emit(figure="encode_MBps", impl="swelm encode_array (uint16)", value=round(ours_u16, 1),
         ratio=ratio(ours_u16, sp_enc))
    emit(figure="encode_MBps", impl="swelm (pure Python)", value=round(ours_py, 2),
         ratio=ratio(ours_py, sp_enc))
    emit(figure="encode_MBps", impl="tokenizers byte-level BPE", value=round(hf_enc, 1),
         ratio=ratio(hf_enc, sp_enc))
    emit(figure="decode_MBps", impl="swelm (C core)", value=round(ours_dec, 1),
         anchor="sentencepiece", anchor_value=round(sp_dec, 1), ratio=ratio(ours_dec, sp_dec),
         target=200)
    emit(figure="decode_MBps", impl="tokenizers byte-level BPE", value=round(hf_dec, 1),
         ratio=ratio(hf_dec, sp_dec))
    chars = sum(map(len, texts))
    for impl, got in (("swelm", ids), ("sentencepiece", sp_ids), ("tokenizers BPE", hf_ids)):
        emit(figure="chars_per_token", impl=impl, value=round(chars / sum(map(len, got)), 3))

    # many short texts (the documents' lines of 20-200 characters) against the documents
    lines = [ln for t in texts for ln in t.split("\n") if 20 <= len(ln) <= 200]
    lmb = sum(len(ln.encode("utf-8")) for ln in lines) / 1e6
    batch_mbps = lmb / timed(lambda: enc.encode_batch(lines))
    single_mbps = lmb / timed(lambda: [enc.encode(ln) for ln in lines])
    sp_lines = lmb / timed(lambda: [sp.encode(ln) for ln in lines])
    emit(figure="encode_batch_MBps", lines=len(lines), mb=round(lmb, 2),
         value=round(batch_mbps, 1), documents_value=round(ours_enc, 1),
         ratio_to_documents=ratio(batch_mbps, ours_enc), target_ratio=0.8,
         encode_per_line=round(single_mbps, 1), sentencepiece_per_line=round(sp_lines, 1))

    if args.reference:
        spec = importlib.util.spec_from_file_location("reference_swe", args.reference)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        with open(args.vocab, encoding="utf-8") as f:
            bpe = f.read().split("\n")
        with open(enc.emoji.path, encoding="utf-8") as f:
            emj = json.load(f)
        ref = mod.SWEEncoder_ja(bpe, emj)
        sub = texts[:20]
        sub_mb = sum(len(t.encode("utf-8")) for t in sub) / 1e6
        ref_enc = sub_mb / timed(lambda: [ref.encode(t) for t in sub], 1)
        same = all(ref.encode(t) == enc.encode(t) for t in sub)
        emit(figure="encode_MBps", impl="reference SWEEncoder_ja", value=round(ref_enc, 3),
             ratio=ratio(ref_enc, sp_enc), same_ids=same)

    for name, seed in ADVERSARIAL:
        took = []
        for size in (250_000, 1_000_000):
            big = _adversarial(seed, size)
            took.append(timed(lambda: enc.encode(big, clean=True), 1))
        emit(figure="clean_adversarial_1MB_s", input=name, value=round(took[1], 3),
             growth=round(took[1] / max(took[0], 1e-6), 1), target=0.5)


if __name__ == "__main__":
    main()
