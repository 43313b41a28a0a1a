"""The Switch-LM itself: MoE implementations, routing, masks, KV cache, spout, conversion."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from swelm.model.common import ModelError  # noqa: E402
from swelm.model.registry import make_config  # noqa: E402
from swelm.model.switch import SwitchConfig, SwitchFFN, SwitchLM  # noqa: E402

torch.set_num_threads(1)


def tiny(**kw) -> SwitchLM:
    torch.manual_seed(0)
    return SwitchLM(make_config("tiny", vocab_size=500, **kw))


def test_config_presets_and_errors(tmp_path):
    c = make_config("gptsan-2.8b")
    assert (c.n_switch_layers, c.d_model, c.n_head, c.n_experts, c.n_ctx) == (10, 1024, 16, 16, 1280)
    assert c.expert_hidden == 8 * 1024 and c.ext_hidden == 4 * 1024 and c.d_spout == 128
    assert (c.capacity_factor_train, c.capacity_factor_eval, c.min_capacity) == (1.25, 2.0, 4)
    assert c.token("endoftext") == 35999 and c.token("startoftext") == 35993
    small = make_config("small")
    assert small.n_experts == 16 and small.d_model == 768
    with pytest.raises(ValueError, match="neither a preset"):
        make_config(str(tmp_path / "nope.json"))
    with pytest.raises(ValueError, match="unknown config fields for arch 'switch': bogus"):
        SwitchConfig.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="multiple of n_head"):
        SwitchConfig(d_model=30, n_head=4)


@pytest.mark.parametrize("training", [False, True])
def test_grouped_gemm_matches_loop(training):
    m = tiny()
    m.train(training)
    idx = torch.randint(0, 493, (3, 40))
    outs, grads = [], []
    impls = ("loop", "grouped")
    for impl in impls:
        m.cfg.moe_impl = impl
        m.zero_grad()
        torch.manual_seed(5)                       # same router jitter
        o = m(idx)
        (o.logits.square().mean() + o.aux_loss + o.z_loss).backward()
        outs.append(o.logits.detach())
        grads.append({n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None})
    for i in (1,):
        assert torch.allclose(outs[0], outs[i], atol=1e-5), impls[i]
        assert grads[0].keys() == grads[i].keys()
        for n in grads[0]:
            assert torch.allclose(grads[0][n], grads[i][n], atol=1e-5, rtol=1e-4), (impls[i], n)


def test_decoding_few_tokens_gathers_their_experts():
    """Fewer tokens than experts in evaluation (one new token per sequence): the gathered path
    gives what the loop over experts gives, and the KV-cache decode still matches a full pass."""
    m = tiny(n_experts=8).eval().set_unlimited_capacity()
    ffn = m.blocks[0].ffn
    x = torch.randn(1, 5, m.cfg.d_model)
    y_g, aux_g = ffn(x, "grouped")                 # 5 tokens < 8 experts: gathered
    m.train()
    torch.manual_seed(0)
    m.cfg.router_jitter = 0.0
    y_l, aux_l = ffn(x, "loop")                     # training mode: the loop itself
    m.eval()
    assert torch.allclose(y_g, y_l, atol=1e-6)
    idx = torch.randint(0, 493, (2, 12))
    full = m(idx).logits
    cache = m.new_cache(2, 12)
    steps = [m(idx[:, :8], cache=cache).logits] + [m(idx[:, t:t + 1], cache=cache).logits
                                                   for t in range(8, 12)]
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)


def test_capacity_drops_late_tokens_to_the_bypass_only():
    cfg = make_config("tiny", vocab_size=500, n_experts=2, min_capacity=1,
                      capacity_factor_eval=0.5)
    torch.manual_seed(0)
    f = SwitchFFN(cfg).eval()
    torch.nn.init.normal_(f.w_in, std=0.3)
    torch.nn.init.normal_(f.w_out, std=0.3)
    x = torch.randn(1, 16, cfg.d_model)
    for impl in ("loop", "grouped"):
        y, (lb, z, dropped) = f(x, impl)
        h = x[0]
        _, _, gate, expert = f.route(h)
        cap = f.capacity(16)
        assert cap == 4
        bypass = torch.tanh(f.bypass(h))
        seen = {0: 0, 1: 0}
        for t in range(16):
            e = int(expert[t])
            seen[e] += 1
            if seen[e] > cap:              # over capacity: experts give zero
                assert torch.allclose(y[0, t], bypass[t], atol=1e-6)
            else:
                ref = torch.relu(h[t] @ f.w_in[e].T) @ f.w_out[e].T * gate[t] + bypass[t]
                assert torch.allclose(y[0, t], ref, atol=1e-5)
        assert float(dropped) == pytest.approx(sum(max(0, n - cap) for n in seen.values()) / 16)
    f.unlimited = True
    assert f.capacity(16) == 16


def test_router_losses_and_jitter():
    m = tiny()
    idx = torch.randint(0, 493, (2, 30))
    o = m(idx)
    o.aux_loss, o.z_loss = o.aux_loss.detach(), o.z_loss.detach()
    assert 0.9 < float(o.aux_loss) < 4.0         # E·Σ f·P is 1 when perfectly balanced
    assert float(o.z_loss) > 0
    m.eval()
    assert torch.equal(m(idx).logits, m(idx).logits)     # no jitter in eval
    m.train()
    torch.manual_seed(1)
    a = m(idx).logits
    torch.manual_seed(2)
    b = m(idx).logits
    assert not torch.equal(a, b)                          # jitter in training


def test_router_loss_is_weighted_by_the_trainers_config():
    """The trainer weighs the router losses by its own config (``--set aux_loss_coef=…`` over
    an ``--init`` model), else the model's; a model without routers adds zero."""
    import dataclasses
    m = tiny()
    o = m(torch.randint(0, 493, (2, 30)))
    cfg = m.cfg
    own = o.router_loss()
    assert torch.allclose(own, cfg.aux_loss_coef * o.aux_loss + cfg.z_loss_coef * o.z_loss)
    other = dataclasses.replace(cfg, aux_loss_coef=0.5, z_loss_coef=0.0)
    assert torch.allclose(o.router_loss(other), 0.5 * o.aux_loss)
    dense = SwitchLM(dataclasses.replace(cfg, n_switch_layers=0, n_ext_layers=2))
    assert float(dense(torch.randint(0, 493, (1, 5))).router_loss(other)) == 0.0


def test_an_architecture_that_is_not_a_name_is_one_error():
    from swelm.model.registry import architecture, is_swelm_config
    for bad in (["switch"], {"a": 1}, 3, None):
        with pytest.raises(ModelError, match="config field 'arch'"):
            architecture({"arch": bad})
        assert not is_swelm_config({"arch": bad, "d_model": 8})


def test_causal_and_prefix_masks():
    m = tiny().eval().set_unlimited_capacity()
    idx = torch.randint(0, 493, (1, 12))
    changed = idx.clone()
    changed[0, 8] = (idx[0, 8] + 1) % 493
    a, b = m(idx).logits, m(changed).logits
    assert torch.allclose(a[0, :8], b[0, :8], atol=1e-6)  # causal: the past ignores the future
    # prefix of 10: position 0 sees token 8
    a, b = m(idx, num_precontext=10).logits, m(changed, num_precontext=10).logits
    assert not torch.allclose(a[0, :8], b[0, :8], atol=1e-4)
    # prefix of 5: token 8 lies after the prefix, so positions 0..7 still ignore it
    a, b = m(idx, num_precontext=5).logits, m(changed, num_precontext=5).logits
    assert torch.allclose(a[0, :8], b[0, :8], atol=1e-6)
    # a prefix of just the first token is plain causal attention (the trainer's lm mode)
    assert torch.allclose(m(idx).logits, m(idx, num_precontext=1).logits, atol=1e-6)
    # per-row prefix lengths
    both = m(torch.cat([idx, idx]), num_precontext=torch.tensor([10, 5])).logits
    assert torch.allclose(both[0], m(idx, num_precontext=10).logits[0], atol=1e-5)
    assert torch.allclose(both[1], m(idx, num_precontext=5).logits[0], atol=1e-5)


def test_kv_cache_matches_full_forward():
    m = tiny().eval().set_unlimited_capacity()
    idx = torch.randint(0, 493, (2, 20))
    sp = torch.randn(2, m.cfg.d_spout)
    for kw, cache_kw in (({}, {}), ({"spout": sp}, {"spout": sp})):
        full = m(idx, num_precontext=6, **kw).logits
        c = m.new_cache(2, **cache_kw)
        parts = [m(idx[:, :9], num_precontext=6, cache=c).logits]
        for t in range(9, 20):
            parts.append(m(idx[:, t:t + 1], cache=c).logits)
        assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)
    with pytest.raises(ValueError, match="longer than n_ctx"):
        m(torch.zeros(1, m.cfg.n_ctx + 1, dtype=torch.long))


def test_spout_changes_output_and_hidden_states_shape():
    m = tiny(n_ext_layers=1).eval()
    idx = torch.randint(0, 493, (2, 10))
    o = m(idx, output_hidden_states=True)
    assert len(o.hidden_states) == 3 and o.hidden_states[0].shape == (2, 10, 64)
    e0 = torch.zeros(2, m.cfg.d_spout)
    e0[:, 0] = 1
    e1 = torch.zeros(2, m.cfg.d_spout)
    e1[:, 1] = 1
    assert not torch.allclose(m(idx, spout=e0).logits, m(idx, spout=e1).logits)
    nospout = SwitchLM(make_config("tiny", vocab_size=500, d_spout=0))
    assert nospout.spout is None
    with pytest.raises(ValueError, match="no spout"):
        nospout(idx, spout=e0)


@torch.no_grad()
def test_init_follows_the_design():
    m = tiny(n_ext_layers=1)
    assert m.wpe_ext.weight.abs().max() == 0                       # ext positions start at 0
    assert 0.015 < float(m.wte.weight.std()) < 0.025
    assert 0.007 < float(m.wpe.weight.std()) < 0.013
    assert 0.007 < float(m.blocks[0].ffn.bypass.weight.std()) < 0.013
    assert m.blocks[0].attn.qkv.bias is None and m.blocks[0].ffn.router.bias is None
    assert m.blocks[2].ffn.fc_in.bias is not None


# ---------------------------------------------------------------------------- conversion
def _random_hf(tmp_path, n_ext=1):
    tr = pytest.importorskip("transformers", reason="transformers<5 (test extra) not installed")
    try:
        from transformers.models.deprecated.gptsan_japanese import (
            GPTSanJapaneseConfig, GPTSanJapaneseForConditionalGeneration)
    except ImportError:
        pytest.skip(f"transformers {tr.__version__} has no GPTSanJapanese (removed in 5)")
    torch.manual_seed(0)
    c = GPTSanJapaneseConfig(vocab_size=300, max_position_embeddings=64, d_model=32, d_ff=64,
                             d_ext=48, d_spout=8, num_switch_layers=2, num_ext_layers=n_ext,
                             num_heads=4, num_experts=4, expert_capacity=64)
    hf = GPTSanJapaneseForConditionalGeneration(c).eval()
    with torch.no_grad():
        for n, p in hf.named_parameters():
            p.copy_(1 + 0.1 * torch.randn_like(p) if "norm.weight" in n
                    else 0.1 * torch.randn_like(p))
        hf.final_logits_bias.copy_(0.1 * torch.randn_like(hf.final_logits_bias))
    d = tmp_path / "hf"
    hf.save_pretrained(d)
    (d / "vocab.txt").write_text("dummy vocabulary", encoding="utf-8")
    return hf, d


def test_convert_from_transformers_gptsan_matches_logits(tmp_path):
    from swelm.model.checkpoint import load_model
    from lmkit import swelm
    hf, d = _random_hf(tmp_path)
    swelm("convert", "from-hf", d, "--out", tmp_path / "ours")
    ours = load_model(str(tmp_path / "ours")).set_unlimited_capacity()
    import hashlib
    assert ours.cfg.vocab_sha256 == hashlib.sha256(b"dummy vocabulary").hexdigest()
    ids = torch.randint(0, 290, (2, 12))
    with torch.no_grad():
        a = hf(input_ids=ids).logits
        b = ours(ids).logits
        assert torch.allclose(a, b, atol=1e-4)
        tt = torch.zeros(2, 12)
        tt[0, :5] = 1
        tt[1, :3] = 1
        a = hf(input_ids=ids, token_type_ids=tt).logits
        b = ours(ids, num_precontext=torch.tensor([5, 3])).logits
        assert torch.allclose(a, b, atol=1e-4)
        sp = torch.randn(2, 8)
        a = hf(input_ids=ids, attention_mask=torch.ones(2, 12), spout=sp).logits
        b = ours(ids, spout=sp).logits
        assert torch.allclose(a, b, atol=1e-4)
        # within the default eval capacity factor nothing overflows here, so logits agree too
        ours.set_unlimited_capacity(False)
        out = ours(ids)
        if float(out.dropped) == 0:
            assert torch.allclose(hf(input_ids=ids).logits, out.logits, atol=1e-4)


def test_convert_errors(tmp_path):
    from lmkit import swelm
    r = swelm("convert", "from-hf", tmp_path, "--out", tmp_path / "o", check=False)
    assert r.returncode == 2 and "config.json" in r.stderr
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    r = swelm("convert", "from-hf", tmp_path, "--out", tmp_path / "o", check=False)
    assert r.returncode == 2 and "'gptsan-japanese' or 'gpt2'" in r.stderr
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    r = swelm("convert", "from-hf", tmp_path, "--out", tmp_path / "o", check=False)
    assert r.returncode == 2 and "no tokenizer in it" in r.stderr
    r = swelm("convert", "add-ext", tmp_path / "missing", "--out", tmp_path / "o", check=False)
    assert r.returncode == 2 and "no such model" in r.stderr


def test_add_ext_starts_as_identity(tmp_path):
    from swelm.model.checkpoint import load_model, save_weights
    from swelm.model.convert import add_ext
    m = tiny().eval().set_unlimited_capacity()
    save_weights(m, m.cfg, str(tmp_path / "base"))
    new = add_ext(str(tmp_path / "base"), 2).set_unlimited_capacity()
    assert new.cfg.n_ext_layers == 2 and len(new.blocks) == 4
    idx = torch.randint(0, 493, (2, 16))
    sp = torch.zeros(2, m.cfg.d_spout)
    sp[:, 3] = 1
    assert torch.allclose(new(idx).logits, m(idx).logits, atol=1e-5)
    assert torch.allclose(new(idx, spout=sp).logits, m(idx, spout=sp).logits, atol=1e-5)
    save_weights(new, new.cfg, str(tmp_path / "ext"))
    assert load_model(str(tmp_path / "ext")).cfg.n_ext_layers == 2


# ---------------------------------------------------------------------------- data
def test_compress_runs():
    from swelm.model.data import compress_runs
    assert compress_runs(np.array([1, 1, 1, 1, 2, 3, 3, 3, 4, 4]), 99).tolist() == \
        [1, 99, 2, 3, 99, 4, 4]
    assert compress_runs(np.array([5, 5]), 99).tolist() == [5, 5]


def test_permute_is_a_bijection():
    from swelm.model.data import permute
    for n in (1, 2, 7, 100, 1000):
        got = sorted(permute(i, n, 42) for i in range(n))
        assert got == list(range(n))
    assert [permute(i, 100, 1) for i in range(10)] != [permute(i, 100, 2) for i in range(10)]


def test_sequence_layouts():
    from swelm.model.data import Layout, build_sequence
    cfg = make_config("tiny")
    lay = Layout(20, cfg.vocab_size, cfg.special)
    S, SEG, EOT, PAD, MASK = (cfg.token(t) for t in
                              ("startoftext", "segmenter", "endoftext", "nottoken", "inputmask"))
    chunk = np.arange(100, 110)
    rng = np.random.default_rng(0)
    x, y, npc = build_sequence(chunk, True, "lm", lay, rng)
    assert x[:13].tolist() == [S, SEG] + list(range(100, 110)) + [EOT]
    assert (x[13:] == PAD).all() and npc == 1
    assert y[0] == -1 and y[1:12].tolist() == list(range(100, 110)) + [EOT]
    assert (y[12:] == -1).all()
    for seed in range(20):
        x, y, npc = build_sequence(chunk, False, "hybrid", lay, np.random.default_rng(seed))
        p = npc - 1
        assert x[0] == S and x[p + 1] == SEG
        assert x[p + 2:p + 2 + 10 - p].tolist() == list(range(100 + p, 110))
        assert y[p] == -1 and y[p + 1:p + 1 + 10 - p].tolist() == list(range(100 + p, 110))
        for i in range(p):                         # prefix targets only where chosen
            if y[i] != -1:
                assert y[i] == 100 + i
        assert set(x[1:p + 1].tolist()) - set(range(100, 110)) <= {MASK} | set(range(cfg.vocab_size - 7))
    x, y, npc = build_sequence(chunk, True, "mlm", lay, np.random.default_rng(3))
    assert npc == 11 and x[11] == SEG and EOT not in x.tolist()
    assert (y >= 0).sum() >= 1 and (y[10:] == -1).all()


def test_mlm_masking_rate():
    from swelm.model.data import Layout, build_sequence
    cfg = make_config("tiny")
    lay = Layout(1000, cfg.vocab_size, cfg.special)
    chunk = np.arange(1000, 1990)
    x, y, npc = build_sequence(chunk, False, "mlm", lay, np.random.default_rng(0))
    chosen = (y[:990] >= 0).sum()
    assert 50 < chosen < 110                       # 8% of 990
    masked = (x[1:991] == cfg.token("inputmask")).sum()
    assert 0.65 * chosen < masked < 0.95 * chosen  # 80% of the chosen


def test_sequence_data_is_deterministic_and_weighted(tmp_path):
    from swelm.model.data import Layout, SequenceData, parse_sources
    from lmkit import encode_corpus
    a = encode_corpus(tmp_path / "a", repeat=2)
    b = encode_corpus(tmp_path / "b", texts=["短い文。"], repeat=5)
    cfg = make_config("tiny")
    lay = Layout(48, cfg.vocab_size, cfg.special)
    specs = parse_sources([f"{a}:1", f"{b}:2@3"])
    assert [s.klass for s in specs] == [-1, 3] and specs[1].weight == 2
    d1 = SequenceData(specs, "hybrid", lay, 4, seed=7)
    d2 = SequenceData(specs, "hybrid", lay, 4, seed=7)
    for j in (0, 5, 11):
        for t1, t2 in zip(d1.batch(j), d2.batch(j)):
            assert torch.equal(t1, t2)
    assert d1.mix.epoch_size == 24 + 10
    # one epoch draws every chunk of a once and every chunk of b twice
    seen = [d1.mix.locate(k) for k in range(d1.mix.epoch_size)]
    assert sorted(c for s, c in seen if s == 0) == list(range(24))
    assert sorted(c for s, c in seen if s == 1) == sorted(list(range(5)) * 2)
    classes = [d1.sample(k)[3] for k in range(d1.mix.epoch_size)]
    assert classes.count(3) == 10 and classes.count(-1) == 24
    d3 = SequenceData(specs, "hybrid", lay, 4, seed=8)
    assert not torch.equal(d1.batch(0)[0], d3.batch(0)[0])
    with pytest.raises(ModelError, match="no token shards"):
        parse_sources([str(tmp_path / "none" / "*.arrow")])


@pytest.mark.parametrize("impl", ["grouped"])
def test_moe_traces_as_one_graph(impl):
    """What ``--compile`` relies on: the grouped path has static shapes and no graph break,
    the loss included (traced in bf16, the dtype the grouped kernels take)."""
    m = tiny(d_spout=0, moe_impl=impl).train()
    x = torch.randint(0, 493, (2, 33))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        exp = torch._dynamo.explain(m)(x[:, :-1], labels=x[:, 1:])
    assert exp.graph_count == 1 and exp.graph_break_count == 0, exp.break_reasons
    with torch.autocast("cpu", dtype=torch.bfloat16):
        m.cfg.moe_impl = "loop"
        torch.manual_seed(1)
        a = m(x).logits.float()
        m.cfg.moe_impl = impl
        torch.manual_seed(1)
        b = m(x).logits.float()
    assert torch.allclose(a, b, atol=2e-2)          # bf16 on both paths


def test_labels_give_the_cross_entropy_of_the_logits():
    m = tiny().eval()
    x = torch.randint(0, 493, (2, 20))
    y = torch.randint(0, 493, (2, 20))
    y[0, :5] = -1                                     # no target there
    out = m(x, labels=y)
    assert out.logits is None and out.loss.dtype == torch.float32
    logits = m(x).logits
    ref = torch.nn.functional.cross_entropy(logits.view(-1, 500), y.view(-1), ignore_index=-1)
    assert torch.allclose(out.loss, ref, atol=1e-6)
