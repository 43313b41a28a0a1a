"""The dense GPT-2 family: the architecture, training on shards of a SentencePiece tokenizer
(encode_swe, swelm encode, .npz), exact resume, DDP, the LM tools, and transformers interop in
both directions (a tiny random GPT2LMHeadModel built here, no download)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from swelm.tokenizer.kinds import Tokenizer, bytes_tokenizer_file, train_sentencepiece
from lmkit import ROOT, swelm
from test_tokenizer_kinds import TEXTS

GPT2_ARGS = ["--config", "gpt2-tiny", "--seq-len", "48", "--batch-size", "4", "--lr", "3e-3",
             "--no-progress", "--workers", "0", "--log-every", "1"]


def metrics(run):
    rows = [json.loads(line) for line in open(run / "metrics.jsonl", encoding="utf-8")]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


@pytest.fixture(scope="module")
def sp(tmp_path_factory):
    """A SentencePiece model (500 pieces) trained here, and its text folder."""
    root = tmp_path_factory.mktemp("sp")
    (root / "sp.model").write_bytes(train_sentencepiece(TEXTS, 500, seed=3,
                                                        character_coverage=0.995))
    txt = root / "txt"
    txt.mkdir()
    for i in range(0, len(TEXTS), 8):
        (txt / f"{i:04d}.txt").write_text("".join(TEXTS[i:i + 8]), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def sp_shards(sp):
    out = sp / "shards"
    swelm("encode-swe", "--src_dir", sp / "txt", "--dst_file", out, "--vocabulary",
          sp / "sp.model", "--num_process", "1", "--combine", "0", "--quiet")
    return out


@pytest.fixture(scope="module")
def sp_run(sp, sp_shards):
    run = sp / "run"
    swelm("train", *GPT2_ARGS, "--data", sp_shards, "--vocabulary", sp / "sp.model",
          "--steps", "8", "--save-every", "4", "--out", run)
    return run


def test_manifest_records_the_tokenizer_kind_hash_and_end(sp, sp_shards):
    m = json.loads((sp_shards / "manifest.json").read_text())
    tok = Tokenizer.load(sp / "sp.model")
    assert m["vocabulary"] == {"kind": "sentencepiece", "size": 500, "eot_id": tok.eot_id,
                               "sha256": hashlib.sha256((sp / "sp.model").read_bytes())
                               .hexdigest()}
    from swelm.tokenizer.shards import iter_rows
    rows = list(iter_rows(str(sp_shards)))
    assert rows[0].tolist() == tok.encode("".join(TEXTS[:8])) + [tok.eot_id]


def test_kv_cache_hidden_states_and_loss():
    from swelm.model.registry import build_model, make_config
    cfg = make_config("gpt2-tiny", vocab_size=300)
    assert (cfg.arch, cfg.d_ff, cfg.eot_id, cfg.bos_id) == ("gpt2", 256, 299, 299)
    m = build_model(cfg).eval()
    x = torch.randint(0, 300, (2, 20))
    full = m(x, output_hidden_states=True)
    c = m.new_cache(2)
    parts = [m(x[:, a:b], cache=c).logits for a, b in ((0, 12), (12, 15), (15, 20))]
    assert torch.allclose(torch.cat(parts, 1), full.logits, atol=1e-5)
    assert len(full.hidden_states) == 2
    assert torch.allclose(full.hidden_states[-1] @ m.wte.weight.T, full.logits, atol=1e-5)
    loss = m(x, labels=x).loss
    ref = torch.nn.functional.cross_entropy(full.logits.view(-1, 300), x.view(-1))
    assert torch.allclose(loss, ref, atol=1e-6)
    with pytest.raises(ValueError, match="causal"):
        m(x, num_precontext=2)
    from swelm.model.registry import all_presets
    from swelm.model.switch import PRESETS
    sizes = {k: (v["n_layers"], v["d_model"]) for k, v in all_presets().items()
             if k not in PRESETS}
    assert sizes["gpt2-small"] == (12, 768) and sizes["gpt2-medium"] == (24, 1024) \
        and sizes["gpt2-large"] == (36, 1280)


def test_dense_sequence_layout():
    from swelm.model.data import Layout, build_dense_sequence
    lay = Layout(8, 50, {"<|endoftext|>": 49}, dense=True, bos=49)
    x, y, npc = build_dense_sequence(np.array([3, 4, 5]), True, lay)
    assert x.tolist() == [49, 3, 4, 5, 49, 49, 49, 49] and npc == 0
    assert y.tolist() == [3, 4, 5, 49, -1, -1, -1, -1]
    x, y, _ = build_dense_sequence(np.array([3, 49, 5]), False, lay)   # an end inside: kept
    assert x.tolist()[:4] == [49, 3, 49, 5] and y.tolist()[:4] == [3, 49, 5, -1]


def test_run_keeps_its_tokenizer_and_the_lm_tools_use_it(sp, sp_run):
    assert (sp_run / "tokenizer.model").read_bytes() == (sp / "sp.model").read_bytes()
    cfg = json.loads((sp_run / "config.json").read_text())
    assert cfg["arch"] == "gpt2" and cfg["vocab_kind"] == "sentencepiece"
    losses = metrics(sp_run)
    assert sorted(losses) == list(range(1, 9)) and losses[8] < losses[1]
    from swelm.model import LM
    lm = LM.load(str(sp_run), device="cpu")
    text = "吾輩は猫である。"
    s = lm.score([text])[0]
    ids = lm.enc.encode(text) + [lm.cfg.eot_id]
    assert s.tokens == [lm.enc.id_to_token(i) for i in ids]
    with torch.no_grad():
        lp = lm.model(torch.tensor([[lm.cfg.bos_id] + ids[:-1]])).logits[0].log_softmax(-1)
    direct = lp.gather(1, torch.tensor(ids)[:, None])[:, 0]
    assert np.allclose(s.logprobs, direct.numpy(), atol=1e-4)
    assert abs(s.total - sum(s.logprobs)) < 1e-3
    v = lm.vectorize([text, "京都の秋"])
    assert v.shape == (2, 2 * 64)
    g = lm.generate("今日は", num_samples=2, max_new_tokens=6, seed=1)
    assert len(g) == 2 and all(len(x.ids) <= 6 for x in g)
    greedy = lm.generate("今日は", temperature=0, max_new_tokens=5)[0]
    beams = lm.generate("今日は", beam=2, max_new_tokens=5)
    assert beams[0].score >= beams[-1].score and greedy.ids
    r = swelm("generate", "--model", sp_run, "--context", "今日は", "--num_generate", "2",
              "--max_length", "5")
    assert r.stdout.count("======== SAMPLE") == 2
    r = swelm("score", "--model", sp_run, "--context", text, "--tokens")
    assert r.stdout.splitlines()[0].startswith(text + "\t")
    r = swelm("fill", "--model", sp_run, "--context", "吾輩は[MASK]である", check=False)
    assert r.returncode == 2 and "LM only" in r.stderr
    r = swelm("generate", "--model", sp_run, "--context", "a", "--prefix", "b", check=False)
    assert r.returncode == 2 and "no --prefix" in r.stderr


def test_resume_from_a_checkpoint_gives_the_same_losses(sp, sp_shards, sp_run, tmp_path):
    run = tmp_path / "r"
    shutil.copytree(sp_run, run)
    shutil.rmtree(run / "checkpoints" / "step-00000008")     # back to the step-4 checkpoint
    swelm("train", *GPT2_ARGS, "--data", sp_shards, "--vocabulary", sp / "sp.model",
          "--steps", "8", "--save-every", "4", "--out", run)
    assert metrics(run) == metrics(sp_run)
    from safetensors.torch import load_file
    a, b = load_file(sp_run / "model.safetensors"), load_file(run / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ddp_two_processes(sp, sp_shards, tmp_path):
    run = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                        "--standalone", "-m", "swelm", "train", *GPT2_ARGS, "--device", "cpu",
                        "--data", str(sp_shards), "--steps", "3", "--out", str(run)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(metrics(run)) == [1, 2, 3]
    state = torch.load(run / "checkpoints" / "step-00000003" / "state.pt", weights_only=False)
    assert state["args"]["world"] == 2


def test_npz_and_swelm_encode_with_a_sentencepiece_tokenizer(sp, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    npz = tmp_path / "ft.npz"
    swelm("encode-swe", "--src_dir", sp / "txt", "--dst_file", npz, "--vocabulary",
          sp / "sp.model", "--num_process", "1", "--format", "npz", "--quiet")
    swelm("train", *GPT2_ARGS, "--data", npz, "--vocabulary", sp / "sp.model", "--steps", "2",
          "--out", tmp_path / "ft")
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["vocab_size"] == 500
    build = tmp_path / "build"
    (build / "corpus").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a", "b"], "genre": ["docs", "docs"],
                             "text": TEXTS[:2], "weight": [1.0, 1.0]}),
                   build / "corpus" / "part-00000.parquet")
    (build / "stats.json").write_text(json.dumps({"settings": {"command": "build-corpus"}}))
    swelm("encode", "--corpus", build / "corpus" / "*.parquet", "--out", tmp_path / "enc",
          "--vocabulary", sp / "sp.model", "--seq-len", "16", "--shards", "1")
    m = json.loads((tmp_path / "enc" / "manifest.json").read_text())
    tok = Tokenizer.load(sp / "sp.model")
    assert m["vocabulary"]["kind"] == "sentencepiece" and m["vocabulary"]["size"] == 500
    from swelm.tokenizer.shards import iter_rows
    flat = np.concatenate(list(iter_rows(str(tmp_path / "enc")))).tolist()
    want = sorted([tok.encode(t) + [tok.eot_id] for t in TEXTS[:2]])
    got, cur = [], []
    for t in flat:
        cur.append(t)
        if t == tok.eot_id:
            got.append(cur)
            cur = []
    assert sorted(got) == want


def test_refusals(sp, sp_shards, sp_run, tmp_path):
    def refused(*args, match):
        r = swelm(*args, check=False)
        assert r.returncode == 2 and match in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    base = [*GPT2_ARGS[2:], "--steps", "1", "--out", tmp_path / "x"]
    refused("train", "--config", "tiny", "--data", sp_shards, *base, match="SWE special tokens")
    refused("train", "--config", "gpt2-tiny", "--mode", "hybrid", "--data", sp_shards, *base,
            match="--mode lm only")
    (tmp_path / "bytes.json").write_bytes(bytes_tokenizer_file())
    refused("train", "--config", "gpt2-tiny", "--data", sp_shards, "--vocabulary",
            tmp_path / "bytes.json", *base, match="shards were encoded with the sentencepiece")
    refused("score", "--model", sp_run, "--context", "x", "--vocabulary",
            tmp_path / "bytes.json", match="vocabulary mismatch")
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in ("config.json", "model.safetensors"):
        shutil.copy(sp_run / f, bare / f)
    refused("score", "--model", bare, "--context", "x", match="keeps none")
    from lmkit import encode_corpus
    swe = encode_corpus(tmp_path / "swe")
    refused("train", "--init", sp_run, "--data", swe, *base[:-2], "--out", tmp_path / "y",
            match="the model was trained with the sentencepiece tokenizer")
    refused("encode-swe", "--src_dir", sp / "txt", "--dst_file", tmp_path / "z",
            "--vocabulary", sp / "sp.model", "--clean_text", match="--clean_text")
    refused("convert", "to-hf", bare, "--out", tmp_path / "hf", match="keeps none")


# ------------------------------------------------------------------------ transformers interop
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def hf_dir(sp, tmp_path_factory):
    """A tiny random GPT2LMHeadModel saved by transformers, with the SentencePiece model."""
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=520, n_positions=64, n_embd=32, n_layer=2,
                                  n_head=4, bos_token_id=1, eos_token_id=2)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    out = tmp_path_factory.mktemp("hf") / "gpt2"
    model.save_pretrained(out)
    shutil.copy(sp / "sp.model", out / "spiece.model")
    return out


def test_from_hf_then_to_hf_keeps_the_logits(sp, hf_dir, tmp_path):
    from swelm.model.checkpoint import load_model
    swelm("convert", "from-hf", hf_dir, "--out", tmp_path / "run")
    assert (tmp_path / "run" / "tokenizer.model").read_bytes() == (sp / "sp.model").read_bytes()
    ours = load_model(str(tmp_path / "run"))
    theirs = transformers.GPT2LMHeadModel.from_pretrained(hf_dir).eval()
    x = torch.randint(0, 520, (3, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = theirs(x).logits
        assert torch.allclose(ours(x).logits, ref, atol=1e-4)
    # the swelm tools on the imported model (its tokenizer kept in the run folder)
    from swelm.model import LM
    lm = LM.load(str(tmp_path / "run"), device="cpu")
    assert lm.enc.kind == "sentencepiece" and lm.cfg.eot_id == 2
    assert len(lm.score(["吾輩は猫である。"])[0].logprobs) == len(lm.enc.encode("吾輩は猫である。")) + 1
    swelm("convert", "to-hf", tmp_path / "run", "--out", tmp_path / "hf")
    back = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    with torch.no_grad():
        assert torch.allclose(back(x).logits, ref, atol=1e-4)
    tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert tok("吾輩は猫である。").input_ids == lm.enc.encode("吾輩は猫である。")
    # a new export replaces the old one; a folder that is not one is refused
    swelm("convert", "to-hf", tmp_path / "run", "--out", tmp_path / "hf")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    r = swelm("convert", "to-hf", tmp_path / "run", "--out", tmp_path / "mine", check=False)
    assert r.returncode == 2 and (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_a_trained_run_exports_and_loads_in_transformers(sp_run, tmp_path):
    from swelm.model.checkpoint import load_model
    swelm("convert", "to-hf", sp_run, "--out", tmp_path / "hf")
    theirs = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    ours = load_model(str(sp_run))
    x = torch.randint(0, 500, (2, 30), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(theirs(x).logits, ours(x).logits, atol=1e-4)


def test_from_hf_refuses_what_the_model_does_not_compute(hf_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(hf_dir, bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["scale_attn_by_inverse_layer_idx"] = True
    (bad / "config.json").write_text(json.dumps(cfg))
    r = swelm("convert", "from-hf", bad, "--out", tmp_path / "o", check=False)
    assert r.returncode == 2 and "scale_attn_by_inverse_layer_idx" in r.stderr
    cfg["scale_attn_by_inverse_layer_idx"] = False
    cfg["activation_function"] = "relu"
    (bad / "config.json").write_text(json.dumps(cfg))
    r = swelm("convert", "from-hf", bad, "--out", tmp_path / "o", check=False)
    assert r.returncode == 2 and "activation_function" in r.stderr
    assert not (tmp_path / "o").exists()


def test_linear_schedule():
    from swelm.model.train import TrainConfig, lr_at
    a = TrainConfig(data=("x",), out="o", steps=11, warmup=1, lr=1e-4, min_lr_ratio=0.0,
                    schedule="linear")
    lrs = [lr_at(s, a) for s in range(11)]
    assert lrs[0] == 1e-4 and abs(lrs[1] - 1e-4) < 1e-12 and abs(lrs[6] - 0.5e-4) < 1e-12
    assert all(x > y for x, y in zip(lrs[1:], lrs[2:])) and abs(lrs[10] - 1e-5) < 1e-12


def test_a_gpt2_on_the_swe_vocabulary_goes_to_transformers_and_back(tmp_path):
    """An SWE-vocabulary gpt2 run: to-hf writes vocab.txt + emoji.json that
    GPTNeoXJapaneseTokenizer loads with the same ids, and from-hf takes the folder back."""
    from swelm.model.checkpoint import load_model
    from swelm.tokenizer import SWEEncoder
    from lmkit import encode_corpus
    shards = encode_corpus(tmp_path / "swe")
    swelm("train", *GPT2_ARGS, "--data", shards, "--steps", "1", "--out", tmp_path / "run")
    swelm("convert", "to-hf", tmp_path / "run", "--out", tmp_path / "hf")
    assert {"vocab.txt", "emoji.json"} <= set(os.listdir(tmp_path / "hf"))
    tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    text = "吾輩は猫である。名前はまだない。"
    assert tok(text).input_ids == SWEEncoder.load().encode(text)
    swelm("convert", "from-hf", tmp_path / "hf", "--out", tmp_path / "back")
    a, b = load_model(str(tmp_path / "run")), load_model(str(tmp_path / "back"))
    assert b.cfg.vocab_kind == "swe" and b.cfg.vocab_sha256 == a.cfg.vocab_sha256
    x = torch.randint(0, a.cfg.vocab_size, (2, 20), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(a(x).logits, b(x).logits, atol=1e-5)
    assert swelm("score", "--model", tmp_path / "back", "--context", text).returncode == 0


def test_an_export_has_one_start_and_end_convention_and_transformers_agrees(sp_run, tmp_path):
    """config.json, generation_config.json and the tokenizer name the same start and end
    tokens; the tokenizer's own tokens around a text give the ids `swelm score` scores, and
    transformers' greedy decoding gives `swelm generate --do-sample false`'s tokens."""
    import stat

    hf = tmp_path / "hf"
    swelm("convert", "to-hf", sp_run, "--out", hf)
    assert stat.S_IMODE(os.stat(hf / "model.safetensors").st_mode) == 0o644
    cfg = json.loads((hf / "config.json").read_text())
    gen = json.loads((hf / "generation_config.json").read_text())
    tok = transformers.AutoTokenizer.from_pretrained(hf)
    assert tok.convert_tokens_to_ids(tok.bos_token) == cfg["bos_token_id"] == gen["bos_token_id"]
    assert tok.convert_tokens_to_ids(tok.eos_token) == cfg["eos_token_id"] == gen["eos_token_id"]
    model = transformers.GPT2LMHeadModel.from_pretrained(hf).eval()
    text = "吾輩は猫である。名前はまだ無い。"
    ids = tok(tok.bos_token + text + tok.eos_token, return_tensors="pt").input_ids
    with torch.no_grad():
        logp = model(ids).logits[0, :-1].log_softmax(-1).gather(1, ids[0, 1:, None]).sum()
    r = swelm("score", "--model", sp_run, "--context", text)
    ours = float(r.stdout.strip().split("\t")[-1])
    assert abs(float(logp) - ours) < 1e-3, (float(logp), ours)
    prompt = "吾輩は"
    for flags in (["--do-sample", "false"], ["--do_sample=false"], ["--no-do-sample"],
                  ["--temperature", "0"]):
        r = swelm("generate", "--model", sp_run, "--context", prompt, "--max-new-tokens", "12",
                  "--json", *flags)
        mine = json.loads(r.stdout)["ids"]
        x = tok(tok.bos_token + prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            theirs = model.generate(x, do_sample=False, max_new_tokens=12)[0, x.shape[1]:]
        theirs = theirs.tolist()
        if cfg["eos_token_id"] in theirs:
            theirs = theirs[:theirs.index(cfg["eos_token_id"]) + 1]
        assert mine == theirs, (flags, mine, theirs)
    # the repetition penalty, as transformers applies it
    r = swelm("generate", "--model", sp_run, "--context", prompt, "--max_new_tokens", "12",
              "--json", "--do-sample", "false", "--repetition-penalty", "1.5")
    x = tok(tok.bos_token + prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        theirs = model.generate(x, do_sample=False, max_new_tokens=12,
                                repetition_penalty=1.5)[0, x.shape[1]:].tolist()
    if cfg["eos_token_id"] in theirs:
        theirs = theirs[:theirs.index(cfg["eos_token_id"]) + 1]
    assert json.loads(r.stdout)["ids"] == theirs


@pytest.mark.parametrize("flags, words", [
    (["--do-sample", "--no-do-sample"], "--do-sample and --no-do-sample: give one"),
    (["--do-sample", "--temperature", "0"], "--do-sample with --temperature 0"),
    (["--do-sample", "false", "--num-return-sequences", "2"],
     "--num-return-sequences 2: greedy decoding gives one sequence"),
    (["--num-beams", "2", "--num_return_sequences=3"],
     "--num-return-sequences 3: at most --num-beams 2"),
    (["--do-sample", "maybe"], "expected true or false"),
    (["--no-do-sample", "--temperature", "0.7"], "--temperature with greedy decoding"),
    (["--do-sample", "false", "--top-k", "5"], "--top-k with greedy decoding"),
    (["--do-sample", "--num-beams", "2"], "--do-sample with --num-beams 2"),
    (["--max-new-tokens", "5", "--min-new-tokens", "10"], "--min-new-tokens 10: above"),
    (["--max-new-tokens", "5", "--max_length", "7"],
     "--max-new-tokens 5 and --max_length 7: the same flag twice with two values"),
])
def test_generation_flags_that_contradict_each_other(sp_run, flags, words):
    r = swelm("generate", "--model", sp_run, "--context", "吾輩は", *flags, check=False)
    assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, \
        r.stderr


def test_num_return_sequences_with_beams_and_samples(sp_run):
    r = swelm("generate", "--model", sp_run, "--context", "吾輩は", "--num-beams", "3",
              "--num-return-sequences", "2", "--max-new-tokens", "6", "--json")
    assert len(r.stdout.strip().splitlines()) == 2
    r = swelm("generate", "--model", sp_run, "--context", "吾輩は", "--do-sample",
              "--num-return-sequences", "3", "--max-new-tokens", "6", "--json", "--top-k", "5")
    assert len(r.stdout.strip().splitlines()) == 3


def test_score_and_vectorize_take_the_file_both_ways(sp_run, tmp_path):
    """A file of texts as FILE or --input, and vectorize's --output as --out too."""
    f = tmp_path / "t.txt"
    f.write_text("吾輩は猫である。\n名前はまだ無い。\n", encoding="utf-8")
    a = swelm("score", "--model", sp_run, f).stdout
    assert swelm("score", "--model", sp_run, "--input", f).stdout == a
    assert swelm("score", "--model", sp_run, f"--input={f}").stdout == a
    assert len(a.strip().splitlines()) == 2
    swelm("vectorize", "--model", sp_run, f, "--out", tmp_path / "v.jsonl")
    swelm("vectorize", "--model", sp_run, "--input", f, "--output", tmp_path / "w.jsonl")
    assert (tmp_path / "v.jsonl").read_text() == (tmp_path / "w.jsonl").read_text()
    r = swelm("score", "--model", sp_run, f, "--input", tmp_path / "other.txt", check=False)
    assert r.returncode == 2 and "give one" in r.stderr
    bom = tmp_path / "bom.txt"                  # a byte-order mark is not text
    bom.write_bytes(b"\xef\xbb\xbf" + f.read_bytes())
    assert swelm("score", "--model", sp_run, bom).stdout == a
