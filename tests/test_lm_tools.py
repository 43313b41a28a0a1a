"""LM tools on a tiny model trained in the test (CPU): beam search, fill, score, vectors."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lmkit import TRAIN_ARGS, encode_corpus, swelm  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("lmtools")
    shards = encode_corpus(d / "shards")
    swelm("train", *TRAIN_ARGS, "--data", shards, "--out", d / "run", "--steps", "30",
          "--mode", "hybrid", "--save-every", "30")
    return d / "run"


@pytest.fixture(scope="module")
def lm(run):
    from swelm.model import LM
    return LM.load(str(run))


def test_beam_search_is_sorted_and_beam1_is_greedy(lm):
    beams = lm.generate("吾輩は", beam=4, max_new_tokens=8)
    assert 1 <= len(beams) <= 4
    assert [b.score for b in beams] == sorted((b.score for b in beams), reverse=True)
    assert len({tuple(b.ids) for b in beams}) == len(beams)
    for b in beams:
        assert b.score == pytest.approx(b.total / len(b.ids))
    greedy = lm.generate("吾輩は", temperature=0, max_new_tokens=8)[0]
    one = lm.generate("吾輩は", beam=1, max_new_tokens=8)[0]
    assert one.ids == greedy.ids
    assert one.total == pytest.approx(greedy.score, abs=1e-4)
    # the best beam is at least as likely (per token) as the greedy path
    assert beams[0].score >= one.score - 1e-6
    ids = lm.enc.encode("吾輩は")
    assert [b.ids for b in lm.generate(ids, beam=3, max_new_tokens=5)] == \
        [b.ids for b in lm.generate("吾輩は", beam=3, max_new_tokens=5)]


def test_score_equals_sum_of_tokens_and_a_direct_forward(lm):
    texts = ["吾輩は猫である。", "今日は朝から雨が降っている。", ""]
    out = lm.score(texts)
    for r in out:
        assert r.total == pytest.approx(sum(r.logprobs), abs=1e-4)
        assert r.tokens[-1] == "<|endoftext|>"
    m, cfg = lm.model, lm.cfg
    ids = [cfg.token("startoftext"), cfg.token("segmenter")] + lm.enc.encode(texts[0]) + \
        [cfg.token("endoftext")]
    with torch.no_grad():
        logp = m(torch.tensor([ids], device=lm.device),
                 num_precontext=1).logits[0].float().log_softmax(-1)
    direct = sum(float(logp[i, ids[i + 1]]) for i in range(1, len(ids) - 1))
    assert out[0].total == pytest.approx(direct, abs=1e-4)
    # batch independence and --exclude-end
    alone = lm.score([texts[1]])[0]
    assert alone.total == pytest.approx(out[1].total, abs=1e-4)
    ex = lm.score([texts[0]], exclude_end=True)[0]
    assert ex.total == pytest.approx(out[0].total - out[0].logprobs[-1], abs=1e-4)
    assert lm.score([""], exclude_end=True)[0].total == 0


def test_score_sliding_window_covers_every_token(lm):
    long = "吾輩は猫である。名前はまだない。" * 20          # longer than n_ctx (128)
    r = lm.score([long], batch_size=3)[0]
    assert len(r.logprobs) > lm.cfg.n_ctx
    assert all(lp < 0 for lp in r.logprobs)
    assert r.total == pytest.approx(sum(r.logprobs), abs=1e-3)
    # a window of the first tokens scores them exactly as a short line does
    head = lm.enc.decode(lm.enc.encode(long)[:50])
    short = lm.score([head], exclude_end=True)[0]
    assert np.allclose(short.logprobs, r.logprobs[:len(short.logprobs)], atol=1e-4)


def test_fill_leaves_unmasked_text_unchanged(lm):
    ctx = "吾輩は[MASK]である。名前は[MASK][MASK]ない。"
    r = lm.fill(ctx)
    parts = ctx.split("[MASK]")
    assert r.text.startswith(parts[0]) and r.text.endswith(parts[-1])
    assert len(r.ids) == 3 and all(len(g) == 1 for g in r.ids)
    assert all(s <= 0 for g in r.scores for s in g)
    rebuilt = parts[0]
    for k, g in enumerate(r.ids):
        rebuilt += lm.enc.decode(g) + parts[k + 1]
    assert rebuilt == r.text
    special = set(lm.cfg.special.values())
    assert not special & {t for g in r.ids for t in g}
    two = lm.fill("吾輩は[MASK]である。", mask_tokens=2)
    assert len(two.ids) == 1 and len(two.ids[0]) == 2
    with pytest.raises(ValueError, match="no \\[MASK\\]"):
        lm.fill("吾輩は猫である。")
    with pytest.raises(ValueError, match="empty context"):
        lm.fill("")


def test_vectors_shape_and_determinism(lm):
    cfg = lm.cfg
    v = lm.vectorize(["吾輩は猫である。", "今日は雨。", "吾輩は猫である。"])
    assert v.shape == (3, cfg.n_layers * cfg.d_model)
    assert np.array_equal(v[0], v[2])
    assert not np.allclose(v[0], v[1])
    alone = lm.vectorize("今日は雨。")
    assert np.allclose(alone[0], v[1], atol=1e-5)       # padding in a batch changes nothing
    last = lm.vectorize(["吾輩は猫である。"], layers="last")
    assert last.shape == (1, cfg.d_model)
    # alone against in a padded batch of 3: the same up to float rounding (the kernels differ)
    assert np.allclose(last[0], v[0, -cfg.d_model:], atol=1e-5)
    p0 = lm.vectorize(["吾輩は猫である。"], pos=0)
    pm = lm.vectorize(["吾輩は猫である。"], pos=-1)
    assert not np.allclose(p0, pm)
    with pytest.raises(ValueError, match="--pos 99"):
        lm.vectorize(["吾輩"], pos=99)
    with pytest.raises(ValueError, match="empty context"):
        lm.vectorize([""])


def test_bad_inputs(run, lm, tmp_path):
    with pytest.raises(ValueError, match="empty context"):
        lm.generate("")
    # scoring slides a window over long lines; the other tools refuse them
    with pytest.raises(ValueError, match="n_ctx"):
        lm.generate("あ" * 400)
    with pytest.raises(ValueError, match="n_ctx"):
        lm.vectorize(["あ" * 400])
    r = swelm("score", "--model", tmp_path / "nothing", "-", check=False, input="x\n")
    assert r.returncode == 2 and "no such model" in r.stderr
    cfg = json.loads((run / "config.json").read_text())
    bad = tmp_path / "badvocab"
    bad.mkdir()
    for f in ("model.safetensors",):
        (bad / f).write_bytes((run / f).read_bytes())
    cfg["vocab_sha256"] = "f" * 64
    (bad / "config.json").write_text(json.dumps(cfg))
    r = swelm("generate", "--model", bad, "--context", "吾輩は", check=False)
    assert r.returncode == 2 and "vocabulary mismatch" in r.stderr


def test_max_new_tokens_past_the_context_is_said(run, lm, caplog):
    """As transformers warns when a generation would pass the model's maximum length, the
    cut at n_ctx is said, once, on the swelm.generate log (stderr for the command)."""
    ctx = "吾輩は猫である。" * 10
    n_input = len(lm.enc.encode(ctx)) + 2
    room = lm.cfg.n_ctx - n_input
    with caplog.at_level("WARNING", logger="swelm.generate"):
        out = lm.generate(ctx, temperature=0, max_new_tokens=room + 50, min_new_tokens=room)
    assert len(out[0].ids) <= room
    said = [r.getMessage() for r in caplog.records if r.name == "swelm.generate"]
    assert len(said) == 1 and f"leaves room for {room} new ones" in said[0]
    caplog.clear()
    with caplog.at_level("WARNING", logger="swelm.generate"):
        lm.generate(ctx, temperature=0, max_new_tokens=room)
    assert not [r for r in caplog.records if r.name == "swelm.generate"]
    r = swelm("generate", "--model", run, "--context", ctx, "--max-new-tokens=500",
              "--do-sample", "false")
    assert r.returncode == 0 and "generate: max_new_tokens 500:" in r.stderr
    assert f"room for {room} new ones" in r.stderr


def test_cli_tools(run, tmp_path):
    r = swelm("generate", "--model", run, "--context", "吾輩は", "--beam", "3",
              "--max-length", "6", "--json")
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert rows and [x["score"] for x in rows] == sorted((x["score"] for x in rows),
                                                         reverse=True)
    r = swelm("fill", "--model", run, "--context", "吾輩は[MASK]である。")
    text = r.stdout.splitlines()[0]
    assert text.startswith("吾輩は") and text.endswith("である。")
    assert "[MASK 1]" in r.stdout
    r = swelm("fill", "--model", run, "--context", "吾輩は猫である。", check=False)
    assert r.returncode == 2 and "no [MASK]" in r.stderr
    f = tmp_path / "lines.txt"
    f.write_text("現在も行方不明のまま。\n吾輩は猫である。\n", encoding="utf-8")
    r = swelm("score", "--model", run, f)
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("現在も行方不明のまま。\t-")
    # gpt2-score.py's layout: TEXT<TAB>total first, then the tokens, a blank line between
    r = swelm("score", "--model", run, "--tokens", "--exclude-end", "-",
              input="吾輩は猫である。\n今日は雨。\n")
    blocks = [b.split("\n") for b in r.stdout.rstrip("\n").split("\n\n")]
    assert [b[0].split("\t")[0] for b in blocks] == ["吾輩は猫である。", "今日は雨。"]
    for b in blocks:
        total = float(b[0].split("\t")[1])
        assert len(b) > 2 and all(len(l.split("\t")) == 2 for l in b)
        assert total == pytest.approx(sum(float(l.split("\t")[1]) for l in b[1:]), abs=0.02)
    one = swelm("score", "--model", run, "--tokens", "--exclude-end",
                "--context", "吾輩は猫である。").stdout
    assert one.rstrip("\n").split("\n") == blocks[0]
    r = swelm("score", "--model", run, check=False)
    assert r.returncode == 2 and "--context" in r.stderr
    # gpt2-generate.py's flag spellings; several samples are numbered
    r = swelm("generate", "--model", run, "--context", "吾輩は", "--num_generate", "2",
              "--top_k", "5", "--top_p", "0.9", "--max_length", "4", "--min_length", "1")
    heads = [l for l in r.stdout.splitlines() if l.startswith("======== SAMPLE")]
    assert heads == ["======== SAMPLE 1 ========", "======== SAMPLE 2 ========"]
    r = swelm("generate", "--model", run, "--context", "吾輩は", "--beam", "2",
              "--max-length", "4")
    heads = [l for l in r.stdout.splitlines() if l.startswith("======== SAMPLE")]
    assert len(heads) == 2 and all(" score -" in h for h in heads)
    one = swelm("generate", "--model", run, "--context", "吾輩は", "--max-length", "3").stdout
    assert one.startswith("吾輩は") and "======== SAMPLE" not in one   # one sample: its text
    out = tmp_path / "v.npy"
    src = tmp_path / "texts.txt"
    src.write_text("吾輩は猫である。\n今日は雨。\n", encoding="utf-8")
    swelm("vectorize", "--model", run, "--input", src, "--output", out, "--layers", "last")
    assert np.load(out).shape == (2, 64)
    r = swelm("vectorize", "--model", run, "--context", "吾輩は猫である。")
    assert len(json.loads(r.stdout)["vector"]) == 2 * 64
    r = swelm("score", "--model", run, tmp_path / "missing.txt", check=False)
    assert r.returncode == 2 and "missing.txt" in r.stderr
