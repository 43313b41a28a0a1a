"""``swelm demo`` (``make demo``): the main job end to end on embedded default inputs, as far as the project
goes today:

1. the SWE tokenizer and ``encode_swe`` on a few embedded texts;
2. ``swelm pipeline --demo``: the embedded Japanese demo site served on 127.0.0.1, crawled into
   WARC, built into a filtered, deduplicated Parquet corpus with a report, encoded into shards;
3. ``swelm train``: a tiny Switch-LM trained for a few steps on those shards (CPU), then
   ``swelm generate`` and ``swelm score`` with it.
"""
from __future__ import annotations

import os
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Embedded default input: short texts written for the project.
DOCS = {
    "news/01.txt": "東京都渋谷区で2024年4月1日に新しいサービスが始まりました。\n"
                   "詳しくは https://example.jp/info を参照してください。",
    "news/02.txt": "価格は1,980円(税込)です。お問い合わせは03-1234-5678まで。",
    "novel/01.txt": "吾輩は猫である。名前はまだ無い。\nどこで生れたかとんと見当がつかぬ。",
    "docs/01.txt": "設定ファイルを編集して、サーバーを再起動してください。\t（注意）慶應と慶応は同じトークンです。",
    "misc/01.txt": "今日は良い天気ですね😀 ①②③ ｶﾀｶﾅ ＡＢＣ",
}


def say(msg: str = "") -> None:
    print(msg, flush=True)


def find_vocabulary() -> tuple[str | None, str | None, str]:
    from swelm.tokenizer.encoder import bundled_path
    bundled = bundled_path("ja-swe36k.txt")
    if bundled:
        return bundled, None, "the bundled vocabulary"
    shared = os.environ.get("JA_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
    ref = os.path.join(shared, "upstream-swe", "ja-swe36k.txt")
    if os.path.isfile(ref):
        return ref, os.path.join(shared, "upstream-swe", "emoji.json"), (
            "the reference vocabulary from the shared data (the bundled vocab/ja-swe36k.txt "
            "does not exist yet: the vocabulary builder will create it with `make vocab`)")
    return None, None, ""


def main(out: str) -> int:
    """Run the demo, writing everything under ``out``."""
    OUT = out
    start = time.time()
    vocab, emoji, what = find_vocabulary()
    if vocab is None:
        say("make demo: STOPPED: the bundled vocabulary vocab/ja-swe36k.txt does not exist yet "
            "and no reference vocabulary was found under JA_SHARED_DATA.\n"
            "  Build it with `make vocab` once the vocabulary builder exists, or set "
            "SWELM_VOCAB/SWELM_EMOJI to a vocabulary in the SWE format.")
        return 1
    from swelm.tokenizer import SWEEncoder
    from swelm.cli import encode_swe
    from swelm.tokenizer.shards import iter_rows, read_manifest

    say(f"== swelm demo: tokenizer and token shards\n   vocabulary: {vocab}\n   ({what})")
    enc = SWEEncoder.load(vocab, emoji)
    say(f"   {len(enc)} tokens, compiled core: {'yes' if enc.uses_c else 'no (pure Python)'}")

    src = os.path.join(OUT, "text")
    for name, text in DOCS.items():
        path = os.path.join(src, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    say(f"\n1. input: {len(DOCS)} embedded documents written to {src}")

    sample = DOCS["docs/01.txt"]
    ids = enc.encode(sample)
    say("\n2. encode / decode one document")
    say(f"   text   : {sample!r}")
    say(f"   tokens : {[enc.id_to_token(i) for i in ids][:24]} …")
    say(f"   decoded: {enc.decode(ids)!r}")
    say(f"   clean=True: {enc.decode(enc.encode(DOCS['news/02.txt'], clean=True))!r}")

    shards = os.path.join(OUT, "shards")
    argv = ["--src_dir", src, "--dst_file", shards, "--vocabulary", vocab, "--combine", "0",
            "--num_process", "2", "--quiet"]
    if emoji:
        argv += ["--emoji", emoji]
    say("\n3. encode_swe: the folder -> Arrow token shards")
    rc = encode_swe(argv)
    if rc != 0:
        say(f"make demo: FAILED: encode_swe exited with {rc}")
        return rc
    m = read_manifest(shards)
    say(f"   {m['documents']} documents, {m['tokens']} tokens in {len(m['shards'])} shard(s); "
        f"vocabulary sha256 {m['vocabulary']['sha256'][:12]}…")
    first = next(iter_rows(shards))
    say(f"   first row decoded: {enc.decode(first)!r}")

    say("\n4. swelm pipeline --demo: serve the demo site, crawl -> WARC -> corpus -> shards")
    from swelm.cli import main as swelm
    run = os.path.join(OUT, "pipeline")
    rc = swelm(["pipeline", "--demo", "--out", run, "--seq-len", "256", "--workers", "2"])
    if rc != 0:
        say(f"make demo: FAILED: swelm pipeline exited with {rc}")
        return rc
    import json
    stats = json.load(open(os.path.join(run, "build", "stats.json"), encoding="utf-8"))
    say(f"   kept {stats['kept']['docs']} pages, rejected {stats['rejected_docs']} "
        f"({', '.join(f'{k} {v}' for k, v in stats['rules'].items())})")

    say("\n5. swelm train: a tiny Switch-LM for 60 steps on the demo shards (CPU)")
    model_dir = os.path.join(OUT, "model")
    rc = swelm(["train", "--config", "tiny", "--data", os.path.join(run, "shards"),
                "--out", model_dir, "--steps", "60", "--batch-size", "4", "--seq-len", "128",
                "--lr", "3e-3", "--device", "cpu", "--save-every", "60", "--log-every", "10",
                "--workers", "0"])
    if rc != 0:
        say(f"make demo: FAILED: swelm train exited with {rc}")
        return rc
    say("\n6. swelm generate (3 samples) and swelm score with the tiny model")
    for argv in (["generate", "--model", model_dir, "--context", "東京の", "--max-new-tokens",
                  "24", "--num-samples", "3", "--top-k", "40", "--seed", "1"],):
        rc = swelm(argv)
        if rc != 0:
            say(f"make demo: FAILED: swelm {argv[0]} exited with {rc}")
            return rc
    from swelm.model import LM
    lm = LM.load(model_dir)
    r = lm.score(["東京の天気は晴れです。"])[0]
    say(f"   score: {r.text}\t{r.total:.2f} nats over {len(r.tokens)} tokens")

    say(f"\nDone in {time.time() - start:.1f}s.  Outputs:\n   text   : {src}\n   shards : {shards}"
        f"\n   manifest: {os.path.join(shards, 'manifest.json')}"
        f"\n   crawl  : {os.path.join(run, 'crawl')} (WARC + log)"
        f"\n   corpus : {os.path.join(run, 'build', 'corpus')} (Parquet), rejects in "
        f"{os.path.join(run, 'build', 'rejected')}"
        f"\n   report : {os.path.join(run, 'build', 'stats.md')}"
        f"\n   shards : {os.path.join(run, 'shards')}"
        f"\n   model  : {model_dir} (safetensors, metrics.jsonl, loss.png)")
    return 0

