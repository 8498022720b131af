"""Hidden: padded patches have no influence, both backends give the same gradients, other shapes
and head counts, no mask at all."""

import math

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from lab.cross_attention import CrossAttention


def reference(m, text, image, image_mask=None):
    H, Dh = m.n_heads, m.d_head
    q = m.q_proj(text).view(text.shape[0], -1, H, Dh).permute(0, 2, 1, 3)
    k = m.k_proj(image).view(image.shape[0], -1, H, Dh).permute(0, 2, 1, 3)
    v = m.v_proj(image).view(image.shape[0], -1, H, Dh).permute(0, 2, 1, 3)
    scores = q @ k.transpose(-1, -2) / math.sqrt(Dh)
    if image_mask is not None:
        scores = scores.masked_fill(~image_mask[:, None, None, :], float("-inf"))
    out = scores.softmax(-1) @ v
    return m.out_proj(out.permute(0, 2, 1, 3).reshape(text.shape[0], -1, H * Dh))


def test_padded_patches_have_no_influence():
    torch.manual_seed(0)
    m = CrossAttention(dropout=0.0).eval()
    text, image = torch.randn(3, 4, 32), torch.randn(3, 6, 48)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0]], dtype=torch.bool)
    noisy = image.clone()
    noisy[~mask] = 100 * torch.randn(int((~mask).sum()), 48)
    with torch.no_grad():
        assert torch.allclose(m(text, image, mask), m(text, noisy, mask), atol=1e-5), "padded patches changed the output"


def test_backends_agree_on_gradients():
    torch.manual_seed(1)
    m = CrossAttention(dropout=0.0)
    text, image = torch.randn(2, 3, 32), torch.randn(2, 9, 48)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 5:] = False
    grads = []
    for backend in (SDPBackend.MATH, SDPBackend.FLASH_ATTENTION):
        m.zero_grad()
        with sdpa_kernel(backend):
            m(text, image, mask).square().sum().backward()
        grads.append([p.grad.clone() for p in m.parameters()])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-4), "MATH and FLASH backends give different gradients"


def test_other_shapes_and_heads():
    for heads, t, p in ((1, 1, 1), (8, 3, 11), (2, 16, 2)):
        torch.manual_seed(heads)
        m = CrossAttention(d_text=24, d_image=16, d_model=32, n_heads=heads, dropout=0.2).eval()
        text, image = torch.randn(2, t, 24), torch.randn(2, p, 16)
        with torch.no_grad():
            got, want = m(text, image), reference(m, text, image)
        assert got.shape == (2, t, 24) and torch.allclose(got, want, atol=1e-5), f"n_heads={heads}, T={t}, P={p}, no mask"
