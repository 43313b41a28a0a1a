"""The Switch-LM on CUDA: the grouped-GEMM MoE in bf16 against a float64 reference, compile,
the KV cache and a few training steps through the trainer.  Skipped without CUDA (CI has none);
run them on a GPU machine with ``python -m pytest tests/test_gpu.py``."""
from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")

if not torch.cuda.is_available():
    pytest.skip("needs a CUDA GPU (these tests check the GPU paths)", allow_module_level=True)

from swelm.model.registry import make_config  # noqa: E402
from swelm.model.switch import SwitchLM  # noqa: E402

DEV = torch.device("cuda")


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    assert torch.isfinite(a).all(), "non-finite values"
    return float((a - b).norm() / b.norm())


def model(impl: str, **kw) -> SwitchLM:
    # GPT-like widths (multiples of 64) so that the bf16 kernels take their real paths
    torch.manual_seed(0)
    cfg = make_config("tiny", vocab_size=1024, d_model=256, n_head=4, n_experts=8,
                      n_ctx=256, d_spout=0, moe_impl=impl, **kw)
    return SwitchLM(cfg)


def loss_of(m, x, autocast=True):
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        out = m(x[:, :-1], labels=x[:, 1:])
        return out.loss + out.router_loss()


@pytest.mark.parametrize("training", [False, True])
def test_moe_paths_in_bf16_on_cuda_match_a_float64_reference(training):
    """Both MoE paths in bf16 on the GPU against the loop path in float64 on the CPU (routing
    is float32 in all, so the same tokens go to the same experts): the logits agree to bf16
    accuracy, and the expert gradients of the grouped path are as accurate as those of plain
    bf16 matmuls (the loop path).  At initialisation these gradients are small sums of terms
    that mostly cancel, so bf16 leaves them only about 20% accurate on either path."""
    ref = model("loop", router_jitter=0.0).double().train(training)
    x = torch.randint(0, 1000, (4, 129), generator=torch.Generator().manual_seed(1))
    loss_of(ref, x, autocast=False).backward()
    ref_grads = {n: p.grad for n, p in ref.named_parameters()}
    with torch.no_grad():
        out_ref = ref(x[:, :-1]).logits
    errs = {}
    for impl in ("loop", "grouped"):
        m = model(impl, router_jitter=0.0).to(DEV).train(training)
        xd = x.to(DEV)
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            out = m(xd[:, :-1]).logits
        assert rel(out, out_ref) < 2e-2, impl
        loss_of(m, xd).backward()
        errs[impl] = {n: rel(p.grad, ref_grads[n]) for n, p in m.named_parameters()
                      if "w_in" in n or "w_out" in n or "bypass" in n}
    for n, e in errs["grouped"].items():
        assert errs["loop"][n] < 0.5 and e < 1.5 * errs["loop"][n] + 5e-3, (n, e, errs["loop"][n])


def test_empty_and_overfull_experts_on_cuda(impl="grouped"):
    """Experts that get no token, and one that gets every token (most over capacity)."""
    m = model(impl).to(DEV).train()
    ffn = m.blocks[0].ffn
    with torch.no_grad():
        ffn.router.weight.zero_()
        ffn.router.weight[3, 0] = 50.0          # feature 0 decides: expert 3 or expert 0
    h = torch.randn(2, 64, m.cfg.d_model, device=DEV)
    h[..., 0] = h[..., 0].abs()                 # every token to expert 3
    loop = model("loop").to(DEV).train()
    loop.load_state_dict(m.state_dict())
    m.cfg.router_jitter = loop.cfg.router_jitter = 0.0
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y_g, (_, _, dropped) = ffn(h, impl=impl)
        y_l, _ = loop.blocks[0].ffn(h, impl="loop")
    cap = ffn.capacity(128)
    assert float(dropped) == pytest.approx(1 - cap / 128)
    assert rel(y_g, y_l) < 1e-2


def test_compiled_training_step_matches_eager():
    """Compiled (one graph: model, loss and the grouped MoE) against eager, both in bf16 and
    both measured against a float64 reference on the CPU."""
    ref = model("loop").double().eval()
    x = torch.randint(0, 1000, (4, 129), device=DEV)
    loss_ref = loss_of(ref, x.cpu(), autocast=False)
    loss_ref.backward()
    m = model("grouped").to(DEV).eval()
    eager = loss_of(m, x)
    eager.backward()
    g_eager = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    net = torch.compile(m, fullgraph=True)
    compiled = loss_of(net, x)
    compiled.backward()
    assert float(compiled) == pytest.approx(float(loss_ref), rel=1e-2)
    assert float(eager) == pytest.approx(float(loss_ref), rel=1e-2)
    for (n, p), g, r in zip(m.named_parameters(), g_eager, ref.parameters()):
        e_eager, e_comp = rel(g, r.grad), rel(p.grad, r.grad)
        assert e_comp < 1.5 * e_eager + 1e-2, (n, e_comp, e_eager)


def test_kv_cache_matches_full_forward_on_cuda():
    m = model("grouped").to(DEV).eval().set_unlimited_capacity()
    x = torch.randint(0, 1000, (2, 40), device=DEV)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        full = m(x).logits
        cache = m.new_cache(2, 40)
        parts = [m(x[:, :30], cache=cache).logits]
        for t in range(30, 40):
            parts.append(m(x[:, t:t + 1], cache=cache).logits)
    assert rel(torch.cat(parts, 1), full) < 2e-2


def test_trainer_on_cuda_with_bf16_and_compile(tmp_path):
    """The trainer's CUDA path end to end: bf16 autocast, compile, fused AdamW, a checkpoint,
    and the loss goes down."""
    from lmkit import TRAIN_ARGS, encode_corpus, swelm
    data = encode_corpus(tmp_path / "train")
    run = tmp_path / "run"
    swelm("train", *TRAIN_ARGS, "--data", data, "--out", run, "--steps", "40",
          "--device", "cuda", "--compile", "--mode", "hybrid", "--save-every", "40")
    rows = [json.loads(l) for l in open(run / "metrics.jsonl", encoding="utf-8")]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 40 and all(map(lambda v: v == v, losses))
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1
    assert os.path.exists(run / "checkpoints" / "step-00000040" / "model.safetensors")
    r = swelm("generate", "--model", run, "--max-new-tokens", "8", "--seed", "1",
              "--device", "cuda", "--context", "吾輩は")
    assert r.stdout.strip()


def test_gpt2_on_cuda_bf16_matches_float64_and_its_cache():
    """The dense gpt2 model in bf16 autocast (and compiled) on the GPU against float64 on the
    CPU, and its KV cache against recomputation."""
    from swelm.model.registry import build_model
    torch.manual_seed(0)
    cfg = make_config("gpt2-tiny", vocab_size=1024, d_model=256, n_head=4, n_ctx=256)
    ref = build_model(cfg).double().eval()
    x = torch.randint(0, 1024, (4, 128), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out_ref = ref(x).logits
    m = build_model(cfg)
    m.load_state_dict({k: v.float() for k, v in ref.state_dict().items()})
    m = m.to(DEV).eval()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        assert rel(m(x.to(DEV)).logits, out_ref) < 2e-2
        assert rel(torch.compile(m)(x.to(DEV)).logits, out_ref) < 2e-2
    with torch.no_grad():
        full = m(x.to(DEV)).logits
        cache = m.new_cache(4)
        parts = [m(x[:, a:b].to(DEV), cache=cache).logits for a, b in ((0, 100), (100, 128))]
        assert rel(torch.cat(parts, 1), full) < 1e-4
