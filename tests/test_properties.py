"""Property-based tests (hypothesis): the engine's SLTs on random architectures — depth, widths,
activation kinds, batch norm, dropout, float32/float64 — equal ``torch.func.vmap(jacrev)`` Jacobians,
reproduce the activations exactly for piecewise-linear nets, and stream to the same statistics."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import jacrev, vmap

from slt_widgets.engine import activations, node_spectra, slt, slt_layers
from slt_widgets.engine.stats import streaming_activation_stats, streaming_slt_spectra

PIECEWISE = {"relu": nn.ReLU, "leaky": lambda: nn.LeakyReLU(0.1), "prelu": lambda: nn.PReLU(init=0.2),
             "relu6": nn.ReLU6, "hardtanh": nn.Hardtanh}
SMOOTH = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "softplus": nn.Softplus, "elu": nn.ELU}
ACTS = {**PIECEWISE, **SMOOTH}

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def architectures(draw, kinds=tuple(ACTS)):
    depth = draw(st.integers(1, 4))
    return dict(d_in=draw(st.integers(1, 9)), widths=draw(st.lists(st.integers(1, 12), min_size=depth, max_size=depth)),
                d_out=draw(st.integers(1, 6)), acts=draw(st.lists(st.sampled_from(kinds), min_size=depth,
                                                                     max_size=depth)),
                batch_norm=draw(st.booleans()), dropout=draw(st.sampled_from([0.0, 0.3])),
                float64=draw(st.booleans()), n=draw(st.integers(1, 9)), seed=draw(st.integers(0, 2 ** 16)))


def build(a):
    """``(model, x, cuts)``: a Sequential in eval mode, inputs ``[n, d_in]`` and, per hidden layer,
    the index one past its activation module (``model[:cut]`` is the map x → h_k)."""
    torch.manual_seed(a["seed"])
    mods, cuts, d = [], [], a["d_in"]
    if a["dropout"]:
        mods.append(nn.Dropout(a["dropout"]))
    for w, kind in zip(a["widths"], a["acts"]):
        mods.append(nn.Linear(d, w))
        if a["batch_norm"]:
            bn = nn.BatchNorm1d(w)
            with torch.no_grad():           # non-trivial running statistics and affine parameters
                bn.running_mean.normal_()
                bn.running_var.uniform_(0.5, 2.0)
                bn.weight.normal_()
                bn.bias.normal_()
            mods.append(bn)
        mods.append(ACTS[kind]())
        cuts.append(len(mods))
        if a["dropout"]:
            mods.append(nn.Dropout(a["dropout"]))
        d = w
    mods.append(nn.Linear(d, a["d_out"]))
    model = nn.Sequential(*mods).eval()
    dtype = torch.float64 if a["float64"] else torch.float32
    model.to(dtype)
    x = (torch.randn(a["n"], a["d_in"], dtype=torch.float64) * 2).to(dtype)     # same values in both dtypes
    return model, x, cuts


def reference(model, x, cut=None):
    """Per-sample Jacobian ``[n, r, d_in]`` of x → h (``model[:cut]``, or the whole model) by autograd."""
    f = model if cut is None else model[:cut]
    g = jacrev(lambda v: f(v[None])[0])
    if any(isinstance(m, nn.PReLU) for m in model):        # torch's vmap of PReLU's backward fails: loop
        return torch.stack([g(v) for v in x])
    return vmap(g)(x)


def tol(a):
    return dict(rtol=1e-9, atol=1e-10) if a["float64"] else dict(rtol=2e-4, atol=2e-5)


@SETTINGS
@given(architectures())
def test_slt_equals_vmap_jacrev_for_every_layer(a):
    model, x, cuts = build(a)
    exact = all(k in PIECEWISE for k in a["acts"])
    for k, cut in enumerate(cuts, start=1):
        m = slt(model, x, layer=k)
        assert m.weight.shape == (a["n"], a["widths"][k - 1], a["d_in"]) and m.weight.dtype == x.dtype
        torch.testing.assert_close(m.weight, reference(model, x, cut), **tol(a))
        assert m.exact is exact             # the chain flag: every nonlinearity piecewise linear
    out = slt(model, x)
    torch.testing.assert_close(out.weight, reference(model, x), **tol(a))
    with torch.no_grad():
        y = model(x)
    if exact:        # piecewise linear: the SLT is the network itself around x
        torch.testing.assert_close(out.apply(x), y, **tol(a))
    assert out.exact is exact


@SETTINGS
@given(architectures(kinds=tuple(PIECEWISE)))
def test_forward_chain_all_layers_matches_backward_single_layer(a):
    model, x, cuts = build(a)
    every = slt_layers(model, x)
    acts = activations(model, x)
    for layer, m in every.items():
        one = slt(model, x, layer=layer)
        torch.testing.assert_close(m.weight, one.weight, **tol(a))
        torch.testing.assert_close(m.bias, one.bias, **tol(a))
        torch.testing.assert_close(m.apply(x), acts[layer], **tol(a))


@SETTINGS
@given(architectures(kinds=tuple(PIECEWISE)), st.data())
def test_node_selection_is_a_row_subset(a, data):
    model, x, _ = build(a)
    L = len(a["widths"])
    layer = data.draw(st.sampled_from(list(range(1, L + 1)) + ["output"]))
    width = a["d_out"] if layer == "output" else a["widths"][layer - 1]
    nodes = data.draw(st.lists(st.integers(0, width - 1), min_size=1, max_size=width, unique=True))
    full = slt(model, x, layer=layer)
    part = slt(model, x, layer=layer, nodes=nodes)
    torch.testing.assert_close(part.weight, full.weight[:, nodes], **tol(a))
    torch.testing.assert_close(part.bias, full.bias[:, nodes], **tol(a))


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(architectures(kinds=tuple(PIECEWISE)), st.integers(1, 5), st.integers(1, 4))
def test_streamed_statistics_do_not_depend_on_batching(a, batch_size, n_classes):
    a = {**a, "float64": True, "n": max(a["n"], 3)}
    model, x, _ = build(a)
    y = np.arange(len(x)) % n_classes
    one = streaming_activation_stats(model, x.numpy(), y, batch_size=len(x), n_classes=n_classes)
    many = streaming_activation_stats(model, x.numpy(), y, batch_size=batch_size, n_classes=n_classes)
    h = activations(model, x)
    for layer, s in many.items():
        H = x.numpy() if layer == "input" else h[layer].numpy()
        np.testing.assert_allclose(s.gram, H.T @ H, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(s.gram, one[layer].gram, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(s.counts, np.bincount(y, minlength=n_classes))
    layers = list(range(1, len(a["widths"]) + 1)) + ["output"]
    ref = node_spectra(model, x, layers, batch_size=len(x))
    got = streaming_slt_spectra(model, x.numpy(), layers, batch_size=batch_size, chunk=2)
    for layer in layers:
        scale = max(ref[layer].sigmas.max(), 1e-12)
        np.testing.assert_allclose(got[layer].sigmas, ref[layer].sigmas, atol=1e-6 * scale)


def test_float64_agrees_with_float32_within_float32_precision():
    a = dict(d_in=8, widths=[10, 10], d_out=4, acts=["relu", "relu"], batch_norm=True, dropout=0.2,
             float64=True, n=20, seed=3)
    m64, x64, _ = build(a)
    m32, x32, _ = build({**a, "float64": False})
    w64, w32 = slt(m64, x64).weight, slt(m32, x32).weight
    torch.testing.assert_close(w32.double(), w64, rtol=1e-4, atol=1e-5)
    assert not torch.equal(w32.double(), w64)          # two computations, not one cast


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")])
def test_device_argument_on_cpu(device):
    a = dict(d_in=5, widths=[7, 6], d_out=3, acts=["relu", "leaky"], batch_norm=False, dropout=0.0,
             float64=False, n=4, seed=0)
    model, x, _ = build(a)
    m = slt(model, x, device=device)
    assert m.weight.device.type == "cpu"
    torch.testing.assert_close(m.weight, reference(model, x), rtol=2e-4, atol=2e-5)
    ns = node_spectra(model, x, [2], device=device)
    assert ns[2].sigmas.shape == (6, 5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_device_cuda_matches_cpu():
    a = dict(d_in=5, widths=[7, 6], d_out=3, acts=["relu", "relu"], batch_norm=True, dropout=0.1,
             float64=True, n=16, seed=0)
    model, x, _ = build(a)
    cpu = slt(model, x)
    gpu = slt(model, x, device="cuda")
    assert gpu.weight.device.type == "cuda"
    torch.testing.assert_close(gpu.weight.cpu(), cpu.weight)
