"""CrossAttention: equal to a reference written with explicit math, under SDPA's math backend and
its CPU flash backend, never building the (T, P) score matrix itself, dropout only in training."""

import math

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode

from lab.cross_attention import CrossAttention

B, T, P = 2, 5, 7  # T != P: a (T, P) matrix is recognisable among the tensors the block makes
FLASH_OP = "aten._scaled_dot_product_flash_attention_for_cpu"


def reference(m, text, image, image_mask=None):
    """The block written out: scores, mask, softmax, weighted sum (no dropout)."""
    H, Dh = m.n_heads, m.d_head
    q = m.q_proj(text).view(text.shape[0], -1, H, Dh).permute(0, 2, 1, 3)
    k = m.k_proj(image).view(image.shape[0], -1, H, Dh).permute(0, 2, 1, 3)
    v = m.v_proj(image).view(image.shape[0], -1, H, Dh).permute(0, 2, 1, 3)
    scores = q @ k.transpose(-1, -2) / math.sqrt(Dh)
    if image_mask is not None:
        scores = scores.masked_fill(~image_mask[:, None, None, :], float("-inf"))
    out = scores.softmax(-1) @ v
    return m.out_proj(out.permute(0, 2, 1, 3).reshape(text.shape[0], -1, H * Dh))


class Recorder(TorchDispatchMode):
    """Every ATen op the block runs, with the shapes of the tensors it returns."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        outs = out if isinstance(out, (tuple, list)) else (out,)
        self.ops.append((str(func.overloadpacket), [tuple(o.shape) for o in outs if isinstance(o, torch.Tensor)]))
        return out


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    text = torch.randn(B, T, 32, generator=g)
    image = torch.randn(B, P, 48, generator=g)
    mask = torch.ones(B, P, dtype=torch.bool)
    mask[0, 4:] = False  # the first image has 4 real patches, 3 of padding
    return text, image, mask


def _model(dropout=0.0):
    torch.manual_seed(0)
    return CrossAttention(dropout=dropout).eval()


def _run(m, *args, backend):
    with sdpa_kernel(backend), Recorder() as rec, torch.no_grad():
        out = m(*args)
    return out, rec.ops


def _check_close(got, want, what):
    assert got.shape == want.shape, f"{what}: output shape {tuple(got.shape)}, expected {tuple(want.shape)} (text's)"
    assert torch.allclose(got, want, atol=1e-5), (
        f"{what}: the block differs from the reference (max difference {(got - want).abs().max().item():.3g}). "
        "Check the head layout (B, L, n_heads, d_head) -> (B, n_heads, L, d_head) and the mask "
        "(True = a real patch, broadcast as (B, 1, 1, P))")


def test_matches_reference_under_math_backend():
    m = _model()
    text, image, mask = _inputs()
    out, ops = _run(m, text, image, mask, backend=SDPBackend.MATH)
    with torch.no_grad():
        _check_close(out, reference(m, text, image, mask), "under SDPBackend.MATH, with a padding mask")
    assert not any(name == FLASH_OP for name, _ in ops), (
        "the flash kernel ran although only SDPBackend.MATH was allowed: call F.scaled_dot_product_attention, "
        "not a backend's op directly")


def test_flash_backend_runs_and_no_score_matrix():
    m = _model()
    text, image, mask = _inputs(1)
    try:
        out, ops = _run(m, text, image, mask, backend=SDPBackend.FLASH_ATTENTION)
    except RuntimeError as e:
        pytest.fail(f"the block does not run under SDPBackend.FLASH_ATTENTION: {str(e).splitlines()[0][:300]} "
                    "(the flash kernel wants q, k, v as (B, n_heads, L, d_head) and a mask that broadcasts)")
    with torch.no_grad():
        _check_close(out, reference(m, text, image, mask), "under SDPBackend.FLASH_ATTENTION")
    assert any(name == FLASH_OP for name, _ in ops), f"the CPU flash kernel ({FLASH_OP}) never ran: use F.scaled_dot_product_attention"
    scores = [name for name, shapes in ops for s in shapes if len(s) >= 2 and s[-2:] == (T, P)]
    assert not scores, (
        f"the block built a (T, P) = ({T}, {P}) matrix of attention scores itself ({', '.join(sorted(set(scores)))}): "
        "the fused kernel exists so that it is never materialized; leave scores, mask and softmax to SDPA")


def test_dropout_only_in_training():
    m = _model(dropout=0.5)
    text, image, mask = _inputs(2)
    with torch.no_grad():
        m.eval()
        a, b = m(text, image, mask), m(text, image, mask)
        _check_close(a, reference(m, text, image, mask), "in eval mode with dropout=0.5 (dropout must be off)")
        assert torch.equal(a, b), "two calls in eval mode differ: dropout must be off in eval"
        m.train()
        torch.manual_seed(3)
        c = m(text, image, mask)
        torch.manual_seed(3)
        d = m(text, image, mask)
    assert not torch.allclose(c, a), (
        "in training mode with dropout=0.5 the output equals the eval output: pass dropout_p=self.dropout to "
        "SDPA while self.training")
    assert torch.equal(c, d), "in training mode, the same seed must give the same output"
