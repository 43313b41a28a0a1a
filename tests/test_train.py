"""The trainer (checkpoints, exact resume after a kill, DDP on gloo, ext fine-tuning) and
sampling, on a tiny model and a hand-written corpus (CPU)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")

from lmkit import ROOT, TRAIN_ARGS, encode_corpus, swelm  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("shards")
    return encode_corpus(d / "train"), encode_corpus(d / "valid", repeat=1)


@pytest.fixture(scope="module")
def trained(shards, tmp_path_factory):
    """A tiny model trained for 40 steps (hybrid mode, so prefix, masks and fill all work)."""
    run = tmp_path_factory.mktemp("run") / "tiny"
    swelm("train", *TRAIN_ARGS, "--data", shards[0], "--valid", shards[1], "--out", run,
          "--steps", "40", "--mode", "hybrid", "--eval-every", "20", "--eval-batches", "2",
          "--save-every", "20")
    return run


def metrics(run):
    rows = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"), encoding="utf-8")]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}, \
        [r for r in rows if "valid_loss" in r]


def test_training_writes_run_and_learns(trained):
    losses, valid = metrics(trained)
    assert sorted(losses) == list(range(1, 41))
    assert sum(losses[s] for s in range(36, 41)) / 5 < sum(losses[s] for s in range(1, 6)) / 5 - 1
    assert [v["step"] for v in valid] == [20, 40]
    assert all(v["valid_bpc"] > 0 and v["valid_tokens"] > 0 for v in valid)
    for name in ("model.safetensors", "config.json", "loss.png", "metrics.jsonl"):
        assert (trained / name).exists(), name
    cks = sorted(os.listdir(trained / "checkpoints"))
    assert cks == ["step-00000020", "step-00000040"]
    for c in cks:
        assert sorted(os.listdir(trained / "checkpoints" / c)) == [
            "checksums.json", "config.json", "model.safetensors", "state.pt"]
    assert [p for p in os.listdir(trained) if p.startswith(".")] == [".swelm-owner.json"]
    cfg = json.load(open(trained / "config.json"))
    from swelm.tokenizer import SWEEncoder
    assert cfg["vocab_sha256"] == SWEEncoder.load().vocab_sha256


def test_resume_after_kill_gives_the_same_losses(shards, tmp_path):
    common = [*TRAIN_ARGS, "--data", shards[0], "--steps", "24", "--save-every", "4",
              "--mode", "hybrid", "--seed", "3"]
    ref = tmp_path / "ref"
    swelm("train", *common, "--out", ref)
    run = tmp_path / "killed"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "swelm", "train", *map(str, common),
                             "--out", str(run)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (run / "checkpoints" / "step-00000008").exists():
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = metrics(run)[0]
    assert max(done) < 24
    swelm("train", *common, "--out", run)
    a, b = metrics(ref)[0], metrics(run)[0]
    assert sorted(b) == list(range(1, 25))
    assert a == b                                    # bit-identical losses
    from safetensors.torch import load_file
    wa, wb = load_file(ref / "model.safetensors"), load_file(run / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [p for p in os.listdir(run) if p.startswith(".")] == [".swelm-owner.json"]


def test_resume_refuses_changed_arguments(shards, tmp_path):
    run = tmp_path / "r"
    swelm("train", *TRAIN_ARGS, "--data", shards[0], "--steps", "2", "--out", run)
    r = swelm("train", *TRAIN_ARGS, "--data", shards[0], "--steps", "4", "--out", run,
              "--seed", "9", check=False)
    assert r.returncode == 2 and "seed" in r.stderr and "new --out" in r.stderr


def test_a_log_gets_lines_and_a_finished_run_says_so(shards, tmp_path):
    """Not on a terminal: a plain line per metrics line, no carriage return; a rerun of a
    finished run says it has nothing to do."""
    run = tmp_path / "r"
    args = [a for a in TRAIN_ARGS if a != "--no-progress"]
    r = swelm("train", *args, "--data", shards[0], "--steps", "4", "--log-every", "2",
              "--out", run)
    assert "\r" not in r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("swelm train: step ")]
    assert [x.split(",")[0] for x in lines] == ["swelm train: step 2/4", "swelm train: step 4/4"]
    r = swelm("train", *args, "--data", shards[0], "--steps", "4", "--out", run)
    assert (f"swelm train: {run} has trained 4 steps (--steps 4); nothing to do (--steps N "
            "with N above 4 trains on)") in r.stderr


def test_loader_workers_give_the_same_batches(shards):
    from swelm.model.data import Layout, SequenceData, loader, parse_sources
    from swelm.model.registry import make_config
    cfg = make_config("tiny")
    data = SequenceData(parse_sources([str(shards[0])]), "hybrid",
                        Layout(48, cfg.vocab_size, cfg.special), 4, seed=1)
    it0, it2 = iter(loader(data, 3, 1, 2, workers=0)), iter(loader(data, 3, 1, 2, workers=2))
    for j in range(5):
        a, b = next(it0), next(it2)
        assert all(torch.equal(x, y) for x, y in zip(a, b))
        assert torch.equal(a[0], data.batch((3 + j) * 2 + 1)[0])
    del it2


def test_ddp_two_processes_on_gloo(shards, tmp_path):
    run = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                        "--standalone", "-m", "swelm", "train", *TRAIN_ARGS,
                        "--device", "cpu", "--data", str(shards[0]), "--steps", "6",
                        "--save-every", "3",
                        "--out", str(run)], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    losses, _ = metrics(run)
    assert sorted(losses) == list(range(1, 7))
    state = torch.load(run / "checkpoints" / "step-00000006" / "state.pt", weights_only=False)
    assert state["args"]["world"] == 2 and len(state["rng"]) == 2


def test_train_only_ext_changes_only_ext_layers(trained, shards, tmp_path):
    from safetensors.torch import load_file
    ext = tmp_path / "ext"
    swelm("convert", "add-ext", trained, "--layers", "1", "--out", ext)
    r = swelm("train", *TRAIN_ARGS, "--init", ext, "--train-only", "ext", "--data", shards[0],
              "--steps", "3", "--out", tmp_path / "ft")
    before, after = load_file(ext / "model.safetensors"), load_file(tmp_path / "ft" /
                                                                   "model.safetensors")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("blocks.2.", "wpe_ext.")) for k in changed), changed
    r = swelm("train", *TRAIN_ARGS, "--init", trained, "--train-only", "ext", "--data",
              shards[0], "--steps", "1", "--out", tmp_path / "bad", check=False)
    assert r.returncode == 2 and "no ext layers" in r.stderr


def test_train_errors(shards, tmp_path):
    r = swelm("train", *TRAIN_ARGS, "--data", tmp_path / "nothing", "--out", tmp_path / "o",
              check=False)
    assert r.returncode == 2 and "nothing" in r.stderr
    other = tmp_path / "other"
    shutil.copytree(shards[0], other)
    m = json.load(open(other / "manifest.json"))
    m["vocabulary"]["sha256"] = "0" * 64
    json.dump(m, open(other / "manifest.json", "w"))
    r = swelm("train", *TRAIN_ARGS, "--data", shards[0], other, "--out", tmp_path / "o",
              check=False)
    assert r.returncode == 2 and "different vocabularies" in r.stderr
    r = swelm("train", *TRAIN_ARGS, "--data", shards[0], "--seq-len", "4096", "--out",
              tmp_path / "o", check=False)
    assert r.returncode == 2 and "n_ctx" in r.stderr


# ---------------------------------------------------------------------------- sampling
def test_sampling(trained):
    from swelm.model.inference import load
    from swelm.model.lm import LM
    model, enc = load(str(trained))
    sample = LM(model, enc).sample
    greedy = sample("吾輩は", max_new_tokens=12, temperature=0)
    nocache = sample("吾輩は", max_new_tokens=12, temperature=0, use_cache=False)
    assert greedy[0].ids == nocache[0].ids
    assert all(abs(a - b) < 1e-4 for a, b in zip(greedy[0].logprobs, nocache[0].logprobs))
    topk1 = sample("吾輩は", max_new_tokens=12, top_k=1, seed=5)
    assert topk1[0].ids == greedy[0].ids
    s1 = sample("吾輩は", max_new_tokens=10, num_samples=3, seed=1, top_p=0.9)
    s2 = sample("吾輩は", max_new_tokens=10, num_samples=3, seed=1, top_p=0.9)
    assert [s.ids for s in s1] == [s.ids for s in s2] and len(s1) == 3
    eot = model.cfg.token("endoftext")
    for s in sample("", max_new_tokens=8, num_samples=4, seed=2, min_new_tokens=8):
        assert eot not in s.ids and len(s.ids) == 8
    for s in s1:
        assert len(s.ids) <= 10 and (eot not in s.ids[:-1])
        assert all(lp <= 0 for lp in s.logprobs)
    pre = sample("", prefix="吾輩は猫である。", max_new_tokens=5, temperature=0)
    assert len(pre[0].ids) >= 1
    sp = sample("吾輩は", max_new_tokens=5, temperature=0, spout=2)
    assert len(sp[0].ids) >= 1


def test_generate_cli(trained):
    r = swelm("generate", "--model", trained, "--context", "今日は", "--max-new-tokens", "8",
              "--num-samples", "2", "--seed", "1", "--json", "--top-k", "20")
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(rows) == 2 and all(x["text"].startswith("今日は") for x in rows)
    assert all(len(x["ids"]) == len(x["logprobs"]) for x in rows)
    r = swelm("generate", "--model", trained, "--context", "あ" * 400, check=False)
    assert r.returncode == 2 and "n_ctx" in r.stderr
    r = swelm("generate", "--model", trained / "nope", check=False)
    assert r.returncode == 2 and "no such model" in r.stderr
    r = swelm("generate", "--model", trained, "--context", "今日は", "--spout", "999",
              check=False)
    assert r.returncode == 2 and "classes are" in r.stderr
    r = swelm("generate", "--model", trained, check=False)
    assert r.returncode == 2 and "empty context" in r.stderr


def test_decode_expands_bag_of_tokens(trained):
    from swelm.model.inference import decode, load
    model, enc = load(str(trained))
    ha = enc.encode("は")[0]
    assert decode(enc, [ha, model.cfg.token("bagoftoken"), model.cfg.token("endoftext"), ha],
                  model.cfg) == "はははは"


@pytest.mark.parametrize("fused", [False, True])
def test_clip_and_step_equals_clip_grad_norm_then_step(fused):
    """Clipping folded into a fused optimizer's step (its grad_scale) or done by division:
    the same parameters as clip_grad_norm_ followed by a plain step."""
    from swelm.model.train import clip_and_step
    torch.manual_seed(0)
    ref = [torch.nn.Parameter(torch.randn(7, 5)), torch.nn.Parameter(torch.randn(5))]
    ours = [torch.nn.Parameter(p.detach().clone()) for p in ref]
    opt_ref = torch.optim.AdamW(ref, lr=0.1)
    opt = torch.optim.AdamW(ours, lr=0.1, fused=fused)
    for step, g_scale in enumerate((30.0, 0.01, 5.0)):      # clipped, not clipped, clipped
        grads = [torch.randn_like(p) * g_scale for p in ref]
        for p, q, g in zip(ref, ours, grads):
            p.grad, q.grad = g.clone(), g.clone()
        n_ref = torch.nn.utils.clip_grad_norm_(ref, 1.0)
        opt_ref.step()
        n = clip_and_step(opt, ours, 1.0)
        assert float(n) == pytest.approx(float(n_ref), rel=1e-6)
        assert not hasattr(opt, "grad_scale")
        for p, q in zip(ref, ours):
            assert torch.allclose(p, q, atol=1e-6), step


def test_remote_data_is_refused_with_how_to_copy(tmp_path):
    r = swelm("train", *TRAIN_ARGS, "--data", "s3://bucket/shards", "--out", tmp_path / "o",
              check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "reads local shard folders" in r.stderr and "aws s3 cp --recursive" in r.stderr


def test_reference_npz_trains_like_the_same_rows_in_shards(shards, tmp_path):
    """``--data finetune.npz`` (one int array per chunk, as encode_swe --format npz and
    gpt2-japanese's encode_bpe.py write it) gives the same sequences, so the same losses, as a
    shard folder holding the same rows."""
    import numpy as np

    from swelm.tokenizer.shards import iter_rows
    npz = tmp_path / "finetune.npz"
    np.savez_compressed(npz, *[r.astype(np.int64) for r in iter_rows(str(shards[0]))])
    runs = []
    for data in (shards[0], npz):
        out = tmp_path / f"run-{len(runs)}"
        swelm("train", *TRAIN_ARGS, "--data", data, "--out", out, "--steps", "4",
              "--save-every", "4")
        runs.append(metrics(out)[0])
    assert runs[0] == runs[1] and sorted(runs[0]) == [1, 2, 3, 4]
    # ids outside the model's vocabulary, and a file that is not an .npz, are refused clearly
    big = tmp_path / "big.npz"
    np.savez_compressed(big, np.array([1, 2, 10 ** 6], dtype=np.int64))
    r = swelm("train", *TRAIN_ARGS, "--data", big, "--out", tmp_path / "o", check=False)
    assert r.returncode == 2 and "token id 1000000" in r.stderr and "--init" in r.stderr
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip", encoding="utf-8")
    r = swelm("train", *TRAIN_ARGS, "--data", bad, "--out", tmp_path / "o", check=False)
    assert r.returncode == 2 and "bad.npz: not an .npz token file" in r.stderr
