"""Banded (sliding-window) and short-sequence attention kernels against masked full attention."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cplxcodec.functional.attention import (
    band_mask,
    banded_attention,
    banded_blocks,
    small_attention,
)
from cplxcodec.layers import ComplexAxialAttention


def _qkv(length: int, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(3, 2, length, 6, generator=g, dtype=dtype) for _ in range(3)]


@pytest.mark.parametrize("length", [5, 12, 13, 40, 41])  # below and above the 3W blocking
@pytest.mark.parametrize("causal", [False, True])
def test_banded_equals_masked_full_attention_with_gradients(length, causal):
    w = 4
    q, k, v = (t.requires_grad_() for t in _qkv(length))
    mask = band_mask(length, w, causal)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3)
    out = banded_attention(q, k, v, w, causal, scale=0.3)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad(out, (q, k, v), g), torch.autograd.grad(ref, (q, k, v), g)):
        torch.testing.assert_close(a, r)


def test_banded_default_scale_and_errors():
    q, k, v = _qkv(30)
    mask = band_mask(30, 3, False)
    torch.testing.assert_close(
        banded_attention(q, k, v, 3), F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    )
    with pytest.raises(ValueError, match="window"):
        banded_attention(q, k, v, 0)


def test_small_attention_equals_sdpa_and_its_mask_is_additive():
    q, k, v = _qkv(8)
    torch.testing.assert_close(
        small_attention(q, k, v, 0.5), F.scaled_dot_product_attention(q, k, v, scale=0.5)
    )
    mask = band_mask(8, 2, True)
    add = torch.zeros(mask.shape, dtype=q.dtype).masked_fill(~mask, float("-inf"))
    torch.testing.assert_close(
        small_attention(q, k, v, 0.5, add),
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.5),
    )


def test_layer_inference_path_equals_training_path():
    """Short axes use explicit matmuls without autograd and the fused kernel with it."""
    attn = ComplexAxialAttention(8, heads=2, axis="freq")
    x = torch.randn(2, 8, 6, 7, dtype=torch.cfloat)
    with torch.no_grad():
        fast = attn(x)
    slow = attn(x)  # parameters require grad: fused kernel
    assert slow.requires_grad and not fast.requires_grad
    torch.testing.assert_close(fast, slow.detach(), rtol=1e-5, atol=1e-6)


def test_windowed_layer_matches_explicit_band_masked_formula():
    attn = ComplexAxialAttention(8, heads=2, axis="time", window=3)
    x = torch.randn(1, 8, 2, 20, dtype=torch.cfloat)
    b, c, f, n = x.shape
    seq = x.permute(0, 2, 3, 1).reshape(b * f, n, c)
    q, k, v = attn.qkv(seq).chunk(3, dim=-1)
    q, k, v = (t.reshape(b * f, n, 2, 4).transpose(1, 2) for t in (q, k, v))
    scores = (q @ k.conj().transpose(-1, -2)).real / 2.0
    scores = scores.masked_fill(~band_mask(n, 3, False), float("-inf"))
    o = (scores.softmax(-1).to(v.dtype) @ v).transpose(1, 2).reshape(seq.shape)
    ref = attn.out(o).view(b, f, n, c).permute(0, 3, 1, 2)
    torch.testing.assert_close(attn(x), ref, rtol=1e-4, atol=1e-5)


def test_short_axis_fast_path_leaves_training_dropout_alone():
    """Attention dropout in train mode still applies without autograd (no fast path then)."""
    torch.manual_seed(0)
    attn = ComplexAxialAttention(8, heads=2, axis="freq", dropout=0.5).train()
    x = torch.randn(2, 8, 6, 7, dtype=torch.cfloat)
    with torch.no_grad():
        a, b = attn(x), attn(x)
        attn.eval()
        c = attn(x)
    assert not torch.allclose(a, b) and not torch.allclose(a, c)


@pytest.mark.parametrize("causal", [False, True])
def test_banded_blocks_cover_exactly_the_band(causal):
    """Each block's mask, mapped back to absolute key positions, is that block's rows of the
    full band mask; keys and values are the matching windows of the padded sequence."""
    length, w = 23, 4
    q, k, v = _qkv(length)
    qb, kb, vb, mask = banded_blocks(q, k, v, w, causal)
    nb = -(-length // w)
    assert qb.shape == (6, nb, w, 6) and kb.shape == vb.shape == (6, nb, 3 * w, 6)
    assert mask.shape == (nb, w, 3 * w)
    full = band_mask(length, w, causal)
    for j in range(nb):
        for i in range(w):
            t = j * w + i
            if t >= length:  # padded query rows: their outputs are cut off
                continue
            for m in range(3 * w):
                u = j * w - w + m
                assert bool(mask[j, i, m]) == (0 <= u < length and bool(full[t, u]))
                if 0 <= u < length:
                    assert torch.equal(kb[:, j, m], k.reshape(6, length, 6)[:, u])
                    assert torch.equal(vb[:, j, m], v.reshape(6, length, 6)[:, u])
