"""Complex convolutions and linear layer: maths, gradients, causality, reference agreement."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from complexPyTorch.complexLayers import ComplexConv2d as RefConv2d

from cplxcodec.functional import complex_conv
from cplxcodec.layers import (
    ComplexConv1d,
    ComplexConv2d,
    ComplexConvTranspose1d,
    ComplexConvTranspose2d,
    ComplexLinear,
)

IMPLS = ["block", "karatsuba", "native"]


def _double(m: torch.nn.Module) -> torch.nn.Module:
    for p in m.parameters():
        p.data = p.data.to(torch.complex128 if p.is_complex() else torch.float64)
    return m


def _assert_same_values_and_grads(out, ref, leaves):
    """``out`` equals ``ref``, and so do their gradients w.r.t. ``leaves`` for one random
    ``grad_output``."""
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(ref)
    got = torch.autograd.grad(out, leaves, g)
    want = torch.autograd.grad(ref, leaves, g)
    for a, r in zip(got, want):
        torch.testing.assert_close(a, r)


def _four_conv(x, w, **kw):
    """The obvious four-real-convolution reference."""
    conv = F.conv2d if x.dim() == 4 else F.conv1d
    xr, xi, wr, wi = x.real, x.imag, w.real, w.imag
    return torch.complex(
        conv(xr, wr, **kw) - conv(xi, wi, **kw), conv(xr, wi, **kw) + conv(xi, wr, **kw)
    )


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dim", [1, 2])
def test_kernels_match_four_real_convolutions(impl, dim):
    sp = (9,) if dim == 1 else (7, 6)
    x = torch.randn(2, 4, *sp, dtype=torch.cdouble)
    w = torch.randn(6, 2, *([3] * dim), dtype=torch.cdouble)
    kw = dict(stride=(2,) * dim, padding=(1,) * dim, dilation=(1,) * dim, groups=2)
    ref = _four_conv(x, w, **kw)
    y = complex_conv(x, w, kw["stride"], kw["padding"], kw["dilation"], groups=2, impl=impl)
    torch.testing.assert_close(y, ref)


@pytest.mark.parametrize("impl", IMPLS)
def test_transposed_kernel_is_adjoint_of_conv(impl):
    """<conv(x), y> = <x, convT(y)> for the complex bilinear (no conjugation) convolution."""
    x = torch.randn(2, 4, 8, 7, dtype=torch.cdouble)
    w = torch.randn(6, 4, 3, 3, dtype=torch.cdouble)
    geo = dict(stride=(2, 1), padding=(1, 1), dilation=(1, 1))
    y = complex_conv(x, w, **geo, impl=impl)
    g = torch.randn_like(y)
    xt = complex_conv(g, w, **geo, transposed=True, output_padding=(1, 0), impl=impl)
    assert xt.shape == x.shape
    torch.testing.assert_close((y * g).sum(), (x * xt).sum())


LAYERS = [
    lambda impl: ComplexConv1d(3, 4, 3, stride=2, padding=1, dilation=1, groups=1, impl=impl),
    lambda impl: ComplexConv1d(4, 4, 3, dilation=2, groups=2, causal=True, impl=impl),
    lambda impl: ComplexConv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), impl=impl),
    lambda impl: ComplexConv2d(2, 2, 3, padding=(1, 0), causal=True, impl=impl),
    lambda impl: ComplexConvTranspose1d(3, 4, 4, stride=2, padding=1, impl=impl),
    lambda impl: ComplexConvTranspose1d(4, 2, 4, stride=2, causal=True, groups=2, impl=impl),
    lambda impl: ComplexConvTranspose2d(2, 2, (3, 4), stride=(1, 2), padding=(1, 1), impl=impl),
]


@pytest.mark.parametrize("make", LAYERS)
@pytest.mark.parametrize("impl", ["block", "karatsuba"])
def test_gradcheck_complex128(make, impl):
    layer = _double(make(impl))
    shape = (1, layer.in_channels, 5) if layer._ndim == 1 else (1, layer.in_channels, 3, 4)
    x = torch.randn(shape, dtype=torch.cdouble, requires_grad=True)
    params = [p for p in layer.parameters()]

    def fn(x, *ps):
        for p, q in zip(params, ps):
            p.data = q.detach()
        return torch.func.functional_call(layer, dict(zip(["weight", "bias"], ps)), (x,))

    assert torch.autograd.gradcheck(fn, (x, *[p.detach().requires_grad_() for p in params]))


@pytest.mark.parametrize("cls", [ComplexConv1d, ComplexConv2d])
def test_causal_conv_ignores_future(cls):
    kw = {"padding": (2, 0)} if cls is ComplexConv2d else {}
    layer = cls(2, 3, 3, dilation=2, causal=True, **kw)
    shape = (1, 2, 20) if cls is ComplexConv1d else (1, 2, 4, 20)
    x = torch.randn(shape, dtype=torch.cfloat)
    y = layer(x)
    assert y.shape[-1] == 20
    x2 = x.clone()
    x2[..., 12:] = torch.randn_like(x2[..., 12:])
    torch.testing.assert_close(layer(x2)[..., :12], y[..., :12])
    assert not torch.allclose(layer(x2)[..., 12:], y[..., 12:])


@pytest.mark.parametrize("stride,k", [(2, 4), (2, 2), (4, 8)])
def test_causal_transposed_conv_ignores_future(stride, k):
    layer = ComplexConvTranspose1d(2, 3, k, stride=stride, causal=True)
    x = torch.randn(1, 2, 10, dtype=torch.cfloat)
    y = layer(x)
    assert y.shape[-1] == 10 * stride
    x2 = x.clone()
    x2[..., 6:] = torch.randn_like(x2[..., 6:])
    torch.testing.assert_close(layer(x2)[..., : 6 * stride], y[..., : 6 * stride])


def test_same_padding_keeps_length():
    for k, d in itertools.product([2, 3, 4], [1, 2]):
        layer = ComplexConv1d(2, 2, k, padding="same", dilation=d)
        assert layer(torch.randn(1, 2, 11, dtype=torch.cfloat)).shape[-1] == 11


def test_agrees_with_complexpytorch():
    ref = RefConv2d(3, 5, 3, stride=1, padding=1)
    ours = ComplexConv2d(3, 5, 3, padding=1)
    with torch.no_grad():
        ours.weight.copy_(torch.complex(ref.conv_r.weight, ref.conv_i.weight))
        ours.bias.copy_(
            torch.complex(ref.conv_r.bias - ref.conv_i.bias, ref.conv_r.bias + ref.conv_i.bias)
        )
    x = torch.randn(2, 3, 8, 6, dtype=torch.cfloat)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-5)


def test_trabelsi_init_variance():
    layer = ComplexConv2d(64, 64, 3)
    fan_in, fan_out = 64 * 9, 64 * 9
    var = layer.weight.detach().abs().square().mean().item()
    assert var == pytest.approx(2 / (fan_in + fan_out), rel=0.05)
    phase = layer.weight.detach().angle().flatten()
    hist = torch.histc(phase, bins=8, min=-torch.pi, max=torch.pi) / phase.numel()
    assert (hist - 1 / 8).abs().max() < 0.01
    he = ComplexLinear(256, 128, init="he")
    assert he.weight.detach().abs().square().mean().item() == pytest.approx(2 / 256, rel=0.05)


def test_block_output_is_channels_last_and_stack_agrees():
    a = ComplexConv2d(4, 8, 3, padding=1, impl="block")
    b = ComplexConv2d(8, 4, 3, padding=1, impl="block")
    x = torch.randn(2, 4, 10, 9, dtype=torch.cfloat)
    y = b(torch.tanh(a(x).real) + 1j * a(x).imag)
    assert a(x).is_contiguous(memory_format=torch.channels_last)
    for m in (a, b):
        m.impl = "native"
    torch.testing.assert_close(y, b(torch.tanh(a(x).real) + 1j * a(x).imag), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("transposed", [False, True])
def test_fused_bias_matches_added_bias_with_gradients(impl, transposed):
    """The bias fused into the real convolutions equals adding it afterwards, gradients too."""
    x = torch.randn(2, 4, 6, 5, dtype=torch.cdouble, requires_grad=True)
    # conv: weight (O=3, I=4, 3, 3); transposed with groups=2: weight (I=4, O/2=3, 3, 3), O=6
    w_shape = (4, 3, 3, 3) if transposed else (3, 4, 3, 3)
    w = torch.randn(w_shape, dtype=torch.cdouble, requires_grad=True)
    b = torch.randn(6 if transposed else 3, dtype=torch.cdouble, requires_grad=True)
    geo = dict(stride=(2, 1), padding=(1, 1), dilation=(1, 1), groups=2 if transposed else 1)
    geo |= dict(transposed=transposed, output_padding=(1, 0) if transposed else None)
    y = complex_conv(x, w, **geo, impl=impl, bias=b)
    ref = complex_conv(x, w, **geo, impl="native") + b.view(1, -1, 1, 1)
    _assert_same_values_and_grads(y, ref, (x, w, b))


def test_karatsuba_keeps_channels_last_layout_and_is_exact():
    """Channels-last input runs channels-last planes; values and gradients match native."""
    x = torch.randn(2, 3, 5, 4, dtype=torch.cdouble).contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    w = torch.randn(5, 3, 3, 3, dtype=torch.cdouble, requires_grad=True)
    b = torch.randn(5, dtype=torch.cdouble, requires_grad=True)
    geo = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1))
    y = complex_conv(x, w, **geo, bias=b)  # the default kernel is karatsuba
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    torch.testing.assert_close(y, complex_conv(x, w, **geo, impl="native", bias=b))
    assert torch.autograd.gradcheck(lambda x, w, b: complex_conv(x, w, **geo, bias=b), (x, w, b))
    assert ComplexConv2d(2, 2, 3).impl == "karatsuba"


def test_karatsuba_complex64_agrees_with_native_to_rounding():
    """At float32 the kernels differ only by rounding: relative error near float32 epsilon."""
    x = torch.randn(2, 16, 12, 10, dtype=torch.cfloat, requires_grad=True)
    w = torch.randn(16, 16, 3, 3, dtype=torch.cfloat, requires_grad=True)
    geo = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1))
    y, ref = (complex_conv(x, w, **geo, impl=i) for i in ("karatsuba", "native"))
    assert ((y - ref).abs().max() / ref.abs().max()).item() < 1e-5
    g = torch.randn_like(y)
    for got, want in zip(torch.autograd.grad(y, (x, w), g), torch.autograd.grad(ref, (x, w), g)):
        assert ((got - want).abs().max() / want.abs().max()).item() < 1e-5


@pytest.mark.parametrize("impl", IMPLS)
def test_conjugated_input_and_gradient(impl):
    """Lazily conjugated inputs, weights and incoming gradients (``.conj()`` views) work."""
    x = torch.randn(1, 2, 5, 4, dtype=torch.cdouble, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.cdouble, requires_grad=True)
    geo = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1))
    y = complex_conv(x.conj(), w.conj(), **geo, impl=impl).conj()  # grad arrives conjugated
    ref = complex_conv(x.conj().resolve_conj(), w.conj().resolve_conj(), **geo, impl="native")
    ref = ref.conj().resolve_conj()
    torch.testing.assert_close(y, ref)
    loss, loss_ref = (t.real.sum() + t.imag.square().sum() for t in (y, ref))
    for got, want in zip(torch.autograd.grad(loss, (x, w)), torch.autograd.grad(loss_ref, (x, w))):
        torch.testing.assert_close(got, want)


def test_linear_matches_matmul_and_gradcheck():
    layer = _double(ComplexLinear(5, 3))
    x = torch.randn(4, 2, 5, dtype=torch.cdouble, requires_grad=True)
    torch.testing.assert_close(layer(x), x @ layer.weight.T + layer.bias)
    assert torch.autograd.gradcheck(layer, (x,))


def test_clear_errors():
    conv = ComplexConv2d(3, 4, 3)
    with pytest.raises(TypeError, match="complex"):
        conv(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="input channels"):
        conv(torch.randn(1, 2, 8, 8, dtype=torch.cfloat))
    with pytest.raises(ValueError, match="shape"):
        conv(torch.randn(3, 8, 8, dtype=torch.cfloat))
    with pytest.raises(ValueError, match="divisible"):
        ComplexConv1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="causal"):
        ComplexConv1d(3, 4, 3, padding=1, causal=True)
    with pytest.raises(TypeError, match="complex"):
        ComplexLinear(3, 2)(torch.randn(4, 3))
    with pytest.raises(ValueError, match="unknown convolution kernel"):
        complex_conv(
            torch.randn(1, 1, 4, dtype=torch.cfloat),
            torch.randn(1, 1, 1, dtype=torch.cfloat),
            (1,),
            (0,),
            (1,),
            impl="fast",
        )  # type: ignore[arg-type]


# (kernel, stride, padding, output_padding) along the strided axis: kernels that the stride
# divides and does not, zero and large padding, output padding, a 1-tap kernel
_SUBPIXEL_GEOMETRIES = [
    (16, 8, 4, 0),
    (8, 4, 2, 0),
    (3, 2, 1, 1),
    (4, 2, 1, 0),
    (5, 3, 0, 2),
    (7, 3, 3, 1),
    (2, 2, 0, 0),
    (1, 2, 0, 1),
]


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("k,s,p,op", _SUBPIXEL_GEOMETRIES)
def test_subpixel_transposed_matches_native_values_and_gradients(dim, k, s, p, op):
    """Few-output strided transposed convolutions take the sub-pixel path in the karatsuba
    kernel; it must equal torch's own transposed convolution, forward and backward."""
    from cplxcodec.functional.conv import _SUBPIXEL_MAX_OUT, _subpixel_transposed

    ks, ss = [k] + [3] * (dim - 1), [s] + [2] * (dim - 1)
    ps, ops = [p] + [1] * (dim - 1), [op] + [1] * (dim - 1)
    x = torch.randn(2, 5, *[6, 7][:dim], dtype=torch.cdouble, requires_grad=True)
    w = torch.randn(5, _SUBPIXEL_MAX_OUT, *ks, dtype=torch.cdouble, requires_grad=True)
    b = torch.randn(_SUBPIXEL_MAX_OUT, dtype=torch.cdouble, requires_grad=True)
    geo = (ss, ps, [1] * dim, True, ops, 1)
    assert _subpixel_transposed(x, w, b, geo) is not None  # the path under test is taken
    args = (ss, ps, [1] * dim, 1, True, ops)
    ref = complex_conv(x, w, *args, impl="native", bias=b)
    out = complex_conv(x, w, *args, impl="karatsuba", bias=b)
    assert out.shape == ref.shape
    _assert_same_values_and_grads(out, ref, (x, w, b))


def test_subpixel_path_is_skipped_where_it_does_not_apply():
    from cplxcodec.functional.conv import _SUBPIXEL_MAX_OUT, _subpixel_transposed

    x = torch.randn(1, 3, 5, 6, dtype=torch.cfloat)
    geo = ([2, 1], [1, 1], [1, 1], True, [0, 0], 1)
    many = torch.randn(3, _SUBPIXEL_MAX_OUT + 1, 4, 3, dtype=torch.cfloat)
    assert _subpixel_transposed(x, many, None, geo) is None  # deconvolution is as fast there
    few = torch.randn(3, 1, 4, 3, dtype=torch.cfloat)
    assert _subpixel_transposed(x, few, None, ([1, 1], *geo[1:])) is None  # no stride
    assert _subpixel_transposed(x, few, None, (geo[0], geo[1], [2, 1], *geo[3:])) is None
    # every case still computes the same transposed convolution
    for w in (many, few):
        torch.testing.assert_close(
            complex_conv(x, w, [2, 1], [1, 1], [1, 1], 1, True, [1, 0]),
            complex_conv(x, w, [2, 1], [1, 1], [1, 1], 1, True, [1, 0], impl="native"),
            rtol=1e-4,
            atol=1e-4,
        )


@pytest.mark.parametrize("causal", [False, True])
def test_decoder_style_upsampler_layer_matches_native(causal):
    """The codec decoder's last upsampler (few outputs, kernel 16, stride 8) through the layer,
    including the causal trim, agrees with torch's transposed convolution."""
    pad = (4, 0) if causal else (4, 1)  # causal layers trim time themselves
    layer = _double(
        ComplexConvTranspose2d(6, 1, kernel_size=(16, 3), stride=(8, 1), padding=pad, causal=causal)
    )
    x = torch.randn(2, 6, 4, 9, dtype=torch.cdouble)
    y = layer(x)
    layer.impl = "native"
    torch.testing.assert_close(y, layer(x))


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("bias", [False, True])
def test_pointwise_gemm_path_matches_native_values_and_gradients(dim, bias):
    """1×1 convolutions run as one complex GEMM in the karatsuba kernel."""
    from cplxcodec.functional.conv import _is_pointwise

    x = torch.randn(3, 5, *[6, 7][:dim], dtype=torch.cdouble, requires_grad=True)
    w = torch.randn(4, 5, *[1] * dim, dtype=torch.cdouble, requires_grad=True)
    b = torch.randn(4, dtype=torch.cdouble, requires_grad=True) if bias else None
    args = ([1] * dim, [0] * dim, [1] * dim)
    assert _is_pointwise(w, (*args, False, [0] * dim, 1))
    out = complex_conv(x, w, *args, bias=b)
    ref = complex_conv(x, w, *args, impl="native", bias=b)
    _assert_same_values_and_grads(out, ref, (x, w) + ((b,) if bias else ()))
    # a conjugated view goes through the same path
    xc = x.detach().conj()
    torch.testing.assert_close(
        complex_conv(xc, w.detach(), *args), complex_conv(xc, w.detach(), *args, impl="native")
    )


def test_pointwise_path_only_for_plain_one_by_one():
    from cplxcodec.functional.conv import _is_pointwise

    w1 = torch.randn(4, 5, 1, 1, dtype=torch.cfloat)
    plain = ([1, 1], [0, 0], [1, 1], False, [0, 0], 1)
    assert _is_pointwise(w1, plain)
    assert not _is_pointwise(w1, ([2, 1], *plain[1:]))  # strided
    assert not _is_pointwise(w1, (plain[0], [1, 0], *plain[2:]))  # padded
    assert not _is_pointwise(w1, (*plain[:3], True, *plain[4:]))  # transposed
    assert not _is_pointwise(torch.randn(4, 5, 3, 1, dtype=torch.cfloat), plain)
    grouped = torch.randn(4, 1, 1, 1, dtype=torch.cfloat)
    assert not _is_pointwise(grouped, (*plain[:5], 5))


def test_fast_paths_accept_lazily_conjugated_weights_and_inputs():
    x = torch.randn(1, 3, 5, 6, dtype=torch.cdouble)
    for w, geo in (
        (torch.randn(3, 2, 4, 3, dtype=torch.cdouble), ([2, 1], [1, 1], [1, 1], 1, True, [0, 0])),
        (torch.randn(2, 3, 1, 1, dtype=torch.cdouble), ([1, 1], [0, 0], [1, 1], 1, False, None)),
    ):
        got = complex_conv(x.conj(), w.conj(), *geo)
        want = complex_conv(x.conj().resolve_conj(), w.conj().resolve_conj(), *geo, impl="native")
        torch.testing.assert_close(got, want)


def test_fast_paths_keep_batch_zero_layout_and_torchs_errors():
    # an empty batch: same empty output as the general route
    assert ComplexConv2d(2, 3, 1)(torch.randn(0, 2, 3, 4, dtype=torch.cfloat)).shape == (0, 3, 3, 4)
    up = ComplexConvTranspose2d(2, 1, (4, 3), stride=(2, 1), padding=(1, 1))
    assert up(torch.randn(0, 2, 3, 4, dtype=torch.cfloat)).shape == (0, 1, 6, 4)
    # channels-last in, channels-last out (the deconvolution route is kept for it); else contiguous
    x = torch.randn(2, 2, 3, 4, dtype=torch.cfloat)
    y = up(x.contiguous(memory_format=torch.channels_last))
    assert y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, up(x))
    assert up(x).is_contiguous()
    # invalid geometries and operands still get torch's errors, not a silent result
    w = torch.randn(2, 1, 6, 3, dtype=torch.cfloat)
    with pytest.raises(RuntimeError, match="output padding"):
        complex_conv(x, w, [3, 1], [0, 0], [1, 1], 1, True, [3, 0])  # output_padding >= stride
    with pytest.raises(RuntimeError, match="output padding"):
        complex_conv(x, w, [2, 1], [0, 0], [1, 1], 1, True, [0, 1])  # on a stride-1 axis
    with pytest.raises(RuntimeError, match="negative padding"):
        complex_conv(x, w, [2, 1], [-1, 0], [1, 1], 1, True, [0, 0])
    with pytest.raises(RuntimeError, match="channels|size"):
        complex_conv(torch.randn(1, 3, 4, 4, dtype=torch.cfloat), w, [2, 1], [0, 0], [1, 1], 1, True, [0, 0])
    with pytest.raises(RuntimeError):
        complex_conv(x, w.to(torch.cdouble), [2, 1], [0, 0], [1, 1], 1, True, [0, 0])
    w1 = torch.randn(3, 4, 1, 1, dtype=torch.cfloat)
    with pytest.raises(RuntimeError, match="channels|size"):
        complex_conv(x, w1, [1, 1], [0, 0], [1, 1])  # 2 input channels, weight wants 4
    with pytest.raises(RuntimeError):
        complex_conv(x, w1[:, :2].to(torch.cdouble), [1, 1], [0, 0], [1, 1])


def test_fast_paths_complex64_agree_with_native_to_rounding():
    x = torch.randn(2, 16, 12, 10, dtype=torch.cfloat)
    for w, geo in (
        (torch.randn(16, 1, 16, 3, dtype=torch.cfloat), ([8, 1], [4, 1], [1, 1], 1, True, [0, 0])),
        (torch.randn(16, 16, 1, 1, dtype=torch.cfloat), ([1, 1], [0, 0], [1, 1], 1, False, None)),
    ):
        y, ref = (complex_conv(x, w, *geo, impl=i) for i in ("karatsuba", "native"))
        assert ((y - ref).abs().max() / ref.abs().max()).item() < 1e-5
