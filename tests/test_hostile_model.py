"""Hostile input to the model commands (train, generate, fill, score, vectorize, convert): one
line on stderr with exit status 2, no traceback, nothing written; a damaged checkpoint falls
back to the one before it."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from lmkit import TRAIN_ARGS, encode_corpus, swelm
from test_hostile import refused

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return encode_corpus(tmp_path_factory.mktemp("hshards") / "train")


@pytest.fixture(scope="module")
def run(shards, tmp_path_factory):
    """A tiny hybrid model, 10 steps, checkpoints at 5 and 10."""
    out = tmp_path_factory.mktemp("hrun") / "run"
    swelm("train", *TRAIN_ARGS, "--data", shards, "--out", out, "--steps", "10",
          "--save-every", "5", "--mode", "hybrid", "--keep", "3")
    return out


def train(shards, out, *extra):
    return ["train", *TRAIN_ARGS, "--data", shards, "--out", out, *extra]


@pytest.mark.parametrize("extra, words", [
    (["--steps", "-5"], ["--steps", "'-5'"]),
    (["--steps", "0"], ["--steps"]),
    (["--batch-size", "0"], ["--batch-size"]),
    (["--grad-accum", "0"], ["--grad-accum"]),
    (["--log-every", "0"], ["--log-every"]),
    (["--save-every", "0"], ["--save-every"]),
    (["--lr", "nan"], ["--lr", "'nan'"]),
    (["--set", "n_head=0"], ["config field 'n_head'", "got 0"]),
    (["--set", "d_model=\"32\""], ["config field 'd_model'", "'32'"]),
])
def test_train_bad_flags(shards, tmp_path, extra, words):
    refused(train(shards, tmp_path / "out", *extra), *words)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("spec, words", [
    (":inf", ["WEIGHT must be a finite number", "'inf'"]),
    (":nan", ["WEIGHT must be a finite number"]),
    ("@host", ["CLASS a spout class number", "'host'"]),
])
def test_train_bad_data_specs(shards, tmp_path, spec, words):
    refused(["train", *TRAIN_ARGS, "--data", f"{shards}{spec}", "--out", tmp_path / "o"], *words)


def test_train_bad_configs(shards, tmp_path):
    cfg = tmp_path / "list.json"
    cfg.write_text("[1, 2]")
    refused(["train", *TRAIN_ARGS[2:], "--config", cfg, "--data", shards, "--out",
             tmp_path / "o"], str(cfg), "a config must be a JSON object")
    cfg = tmp_path / "typed.json"
    cfg.write_text(json.dumps({"d_model": "32", "n_head": 4}))
    refused(["train", *TRAIN_ARGS[2:], "--config", cfg, "--data", shards, "--out",
             tmp_path / "o"], str(cfg), "config field 'd_model'", "'32'")


def test_train_refuses_a_folder_that_is_not_a_run(shards, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    refused(train(shards, mine, "--steps", "2"), "not part of a swelm model run")
    assert sorted(os.listdir(mine)) == ["notes.txt"]


@pytest.mark.parametrize("extra, words", [
    (["--top-k", "-1"], ["--top-k"]),
    (["--temperature", "nan"], ["--temperature", "'nan'"]),
    (["--num-samples", "0"], ["--num-samples"]),
    (["--top-p", "0"], ["--top-p"]),
])
def test_generate_bad_flags(run, extra, words):
    refused(["generate", "--model", run, "--context", "吾輩は", *extra], *words)


def test_fill_needs_at_least_one_token_per_mask(run):
    refused(["fill", "--model", run, "--context", "吾輩は[MASK]である。", "--mask-tokens", "0"],
            "--mask-tokens")
    from swelm.model import LM
    from swelm.model.inference import InputError
    with pytest.raises(InputError, match="mask_tokens"):
        LM.load(str(run)).fill("吾輩は[MASK]である。", mask_tokens=-1)


def test_score_inputs(run, tmp_path):
    refused(["score", "--model", run, tmp_path], str(tmp_path), "cannot read")
    lines = tmp_path / "lines.txt"
    lines.write_text("一行目\x0cの続き\n二行目\u2028の続き\n", encoding="utf-8")
    refused(["score", "--model", run, lines, "--batch-size", "0"], "--batch-size")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe")
    refused(["score", "--model", run, bad], str(bad), "not valid UTF-8")
    r = swelm("score", "--model", run, lines)
    assert len(r.stdout.strip().split("\n")) == 2      # split at newlines only


def test_vectorize_outputs(run, tmp_path):
    refused(["vectorize", "--model", run, "--context", "猫", "--output", tmp_path],
            "--output", "expected a .npy, .json or .jsonl")
    refused(["vectorize", "--model", run, "--context", "猫", "--output", tmp_path / "v.csv"],
            "expected a .npy, .json or .jsonl")
    (tmp_path / "d.npy").mkdir()
    refused(["vectorize", "--model", run, "--context", "猫", "--output", tmp_path / "d.npy"],
            "is a folder")
    (tmp_path / "mine.jsonl").write_text("my notes\n")
    refused(["vectorize", "--model", run, "--context", "猫", "--output",
             tmp_path / "mine.jsonl"], "not a JSON-lines vector file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npy", "mine.jsonl"]
    (tmp_path / "in.txt").write_text("猫\n\n犬\n")
    refused(["vectorize", "--model", run, "--input", tmp_path / "in.txt"],
            f"--input {tmp_path / 'in.txt'}: line 2 is blank")
    refused(["vectorize", "--model", run, "--context", ""], "--context: empty")


def test_a_valid_set_that_is_not_shards_is_named(shards, tmp_path):
    refused(train(shards, tmp_path / "o", "--valid", "/dev/zero"),
            "--valid /dev/zero: a device", "token shard folder")
    refused(train(shards, tmp_path / "o", "--valid", tmp_path / "none"),
            f"--valid {tmp_path / 'none'}: no token shards match")
    assert not (tmp_path / "o").exists()


def test_vectorize_json_output_and_a_users_npy(run, tmp_path):
    """``--output vec.json`` (as --help offers) writes JSON lines and a rerun replaces them; an
    existing .npy cannot be proven swelm's, so it is never replaced."""
    out = tmp_path / "vec.json"
    for _ in range(2):
        swelm("vectorize", "--model", run, "--context", "猫", "--output", out)
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["text"] for r in rows] == ["猫"] and len(rows[0]["vector"]) > 1
    import numpy as np
    mine = tmp_path / "mine.npy"
    np.save(mine, np.arange(3))
    before = mine.read_bytes()
    refused(["vectorize", "--model", run, "--context", "猫", "--output", mine], str(mine),
            "never replaces")
    assert mine.read_bytes() == before
    swelm("vectorize", "--model", run, "--context", "猫", "--output", tmp_path / "new.npy")
    assert np.load(tmp_path / "new.npy").shape[0] == 1


def test_weights_of_another_shape_name_the_config_field(run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(run, other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["d_model"] = 96
    (other / "config.json").write_text(json.dumps(cfg))
    refused(["generate", "--model", other, "--context", "吾輩は"], "config field 'd_model'",
            "tensor")


def test_a_damaged_checkpoint_falls_back_to_the_previous_one(run, shards, tmp_path):
    """The newest checkpoint's state.pt is truncated (a full disk): the rerun says so and
    resumes from the one before it."""
    out = tmp_path / "run"
    shutil.copytree(run, out)
    cks = sorted((out / "checkpoints").iterdir())
    assert [c.name for c in cks] == ["step-00000005", "step-00000010"]
    state = cks[-1] / "state.pt"
    state.write_bytes(state.read_bytes()[:100])
    # what a kill during safetensors' own write leaves (its Rust temporaries are .tmpXXXXXX)
    (out / ".tmpe2SAP5").write_bytes(b"partial")
    (out / "checkpoints" / ".tmpQ1w2E3").write_bytes(b"partial")
    r = swelm("train", *TRAIN_ARGS, "--data", shards, "--out", out, "--steps", "12",
              "--save-every", "5", "--mode", "hybrid", "--keep", "3")
    assert "step-00000010 is damaged" in r.stderr and "resuming" in r.stderr
    assert "from step 5" in r.stderr
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 12
    for ck in (out / "checkpoints").iterdir():          # every checkpoint is whole again
        assert (ck / "checksums.json").exists()
    assert not list(out.glob(".tmp*")) and not list(out.glob("checkpoints/.tmp*"))


def test_a_diverging_run_stops_and_keeps_its_last_finite_checkpoint(shards, tmp_path):
    """``--lr 1e10``: the loss turns non-finite; the run stops with one line, the step is not
    applied, and every published weight is finite."""
    from safetensors.torch import load_file
    out = tmp_path / "run"
    # a finite start (a checkpoint at step 2), then the same run continued at a huge rate
    swelm("train", *TRAIN_ARGS, "--data", shards, "--out", out, "--steps", "2")
    args = [a if a != "3e-3" else "1e10" for a in TRAIN_ARGS]
    r = swelm("train", *args, "--data", shards, "--out", out, "--steps", "40",
              "--save-every", "1", "--warmup", "0", check=False)
    lines = [line for line in r.stderr.splitlines() if line.startswith("swelm train:")]
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(lines) == 1 and "not finite" in lines[0] and "--lr" in lines[0], r.stderr
    for path in [out / "model.safetensors", *out.glob("checkpoints/*/model.safetensors")]:
        assert all(bool(t.isfinite().all()) for t in load_file(path).values()), path


def test_empty_or_inconsistent_token_files_are_refused(shards, tmp_path):
    import numpy as np
    empty = tmp_path / "empty.npz"
    np.savez(empty, np.zeros(0, np.int64), np.zeros(0, np.int64))
    refused(["train", *TRAIN_ARGS, "--data", empty, "--out", tmp_path / "o"],
            "no tokens to train on", str(empty))
    # a shard holding an id over the max_id its manifest records
    bad = tmp_path / "bad"
    shutil.copytree(shards, bad)
    m = json.loads((bad / "manifest.json").read_text())
    m["shards"][0]["max_id"] = 5
    (bad / "manifest.json").write_text(json.dumps(m))
    refused(train(bad, tmp_path / "o2", "--steps", "2"), "shard-00000.arrow",
            "over the max_id 5")
    assert not (tmp_path / "o2" / "model.safetensors").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a torch without CUDA")
def test_a_cuda_device_on_a_cpu_torch_is_one_line(run, shards, tmp_path):
    refused(["generate", "--model", run, "--context", "猫", "--device", "cuda"],
            "--device cuda", "use --device cpu")
    refused(train(shards, tmp_path / "o", "--device", "cuda"), "--device cuda")
    refused(["generate", "--model", run, "--context", "猫", "--device", "gpu"],
            "--device gpu: not a device name")
    if not torch.backends.mps.is_available():
        refused(["generate", "--model", run, "--context", "猫", "--device", "mps"],
                "--device mps", "no mps device")
        refused(train(shards, tmp_path / "o", "--device", "mps"), "--device mps")
    refused(["generate", "--model", run, "--context", "猫", "--device", "meta"],
            "--device meta", "expected cpu or cuda")


def test_sizes_no_machine_holds_are_refused(run, shards, tmp_path):
    refused(train(shards, tmp_path / "o", "--set", "n_experts=1000000"), "parameters",
            "GiB is free")
    refused(train(shards, tmp_path / "o", "--workers", "1000"), "--workers 1000")
    refused(train(shards, tmp_path / "o", "--batch-size", "1000000"), "--batch-size 1000000",
            "activations", "--grad-accum")
    refused(train(shards, tmp_path / "o", "--init", run, "--batch-size", "1000000"),
            "--batch-size 1000000")
    refused(["generate", "--model", run, "--context", "猫", "--num-beams", "100000000"],
            "beam 100000000", "at most")
    refused(["generate", "--model", run, "--context", "猫", "--num-samples", "100000000"],
            "num_samples 100000000")
    assert not (tmp_path / "o").exists()


def test_vectorize_of_an_empty_input(run, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    refused(["vectorize", "--model", run, "--input", empty], str(empty), "no lines")


def test_damaged_transformers_folders_are_one_line(shards, tmp_path):
    """from-hf with garbage, cut weights or a config whose sizes the weights do not have; a
    transformers folder given to generate says to convert it."""
    from swelm.model.checkpoint import load_model
    from swelm.model.hf_gpt2 import gpt2_to_hf
    hf = tmp_path / "hf"
    gpt2 = tmp_path / "gpt2run"
    swelm("train", "--config", "gpt2-tiny", "--mode", "lm", *TRAIN_ARGS[2:], "--data", shards,
          "--out", gpt2, "--steps", "1")
    gpt2_to_hf(load_model(str(gpt2)), str(hf), None)
    refused(["generate", "--model", hf, "--context", "猫"], "a transformers model (gpt2)",
            "swelm convert from-hf")
    weights = hf / "model.safetensors"
    good = weights.read_bytes()
    for bad in (good[: len(good) // 2], b"garbage" * 100):
        weights.write_bytes(bad)
        refused(["convert", "from-hf", hf, "--out", tmp_path / "o"], str(weights),
                "cannot read the weights")
    weights.write_bytes(good)
    cfg = json.loads((hf / "config.json").read_text())
    cfg["n_embd"] *= 2
    (hf / "config.json").write_text(json.dumps(cfg))
    refused(["convert", "from-hf", hf, "--out", tmp_path / "o"],
            "the weights do not fit its config.json")
    refused(["convert", "add-ext", gpt2, "--out", tmp_path / "o2"],
            "a dense gpt2 model has no ext layers")
    assert not (tmp_path / "o").exists() and not (tmp_path / "o2").exists()



@pytest.mark.parametrize("mode", ["beam", "sample"])
def test_the_row_memory_estimate_covers_what_decoding_takes(run, mode):
    """The estimate that refuses too many beams or samples is at least the peak memory each
    row takes (measured as the process's peak resident size, in a fresh process)."""
    code = f"""
import resource, sys
from swelm.model.lm import LM
import swelm.model.lm as lm_module
lm_module.free_memory = lambda device: None
lm = LM.load({str(run)!r}, device="cpu")
ids = lm._ids("吾輩は猫である")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
n = 1500
if {mode!r} == "beam":
    lm.beam_search("吾輩は猫である", beam=n, max_new_tokens=10, min_new_tokens=10)
else:
    lm.generate("吾輩は猫である", num_samples=n, max_new_tokens=10, min_new_tokens=10, top_k=50,
                top_p=0.9)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print((peak - base) / n, lm.row_bytes(len(ids) + 12, len(ids) + 2))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr
    measured, estimate = map(float, r.stdout.split())
    assert measured > 0 and estimate >= measured, (measured, estimate)


def test_the_activation_estimate_covers_what_a_training_step_takes(run):
    """The per-token estimate that refuses too large a --batch-size is at least what one
    forward and backward pass takes (peak resident size, in a fresh process)."""
    code = f"""
import resource, torch
from swelm.model.checkpoint import load_model
from swelm.model.inference import activation_bytes
m = load_model({str(run)!r}).train()
B, T = 32, 48
x = torch.randint(0, m.cfg.vocab_size - 16, (B, T))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
out = m(x, labels=x)
(out.loss + out.router_loss()).backward()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print((peak - base) / (B * T), activation_bytes(m.cfg, T))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr
    measured, estimate = map(float, r.stdout.split())
    assert measured > 0 and estimate >= measured, (measured, estimate)
