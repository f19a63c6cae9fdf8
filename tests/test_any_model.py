"""Any feed-forward torch model (issue 8): fx-read custom MLPs on the fast chain path,
conv nets / residual blocks / several inputs on the general torch.func path, refusals."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import jacrev, vmap

import slt_widgets as sw
from slt_widgets.engine import UnsupportedModelError, general
from slt_widgets.engine.chain import to_chain

D64 = torch.float64


# ----------------------------------------------------------------------------- example models
class CustomMLP(nn.Module):
    """The forward a user writes: view, F.relu, F.dropout, module BN, F.leaky_relu, F.linear."""

    def __init__(self, d_in=12, h=16, d_out=5):
        super().__init__()
        self.fc1 = nn.Linear(d_in, h)
        self.bn = nn.BatchNorm1d(h)
        self.fc2 = nn.Linear(h, h)
        self.w3 = nn.Parameter(torch.randn(d_out, h) / 4)
        self.b3 = nn.Parameter(torch.randn(d_out))

    def forward(self, x):
        x = x.view(x.size(0), -1)
        h = F.relu(self.bn(self.fc1(x)))
        h = F.dropout(h, 0.3, training=self.training)
        h = F.leaky_relu(self.fc2(h) * 0.5 + 1.0, 0.1)
        return F.linear(torch.flatten(h, 1), self.w3, self.b3)


def sequential_twin(m: CustomMLP) -> nn.Sequential:
    """The same function as an nn.Sequential (sharing the parameters)."""
    lin3 = nn.Linear(m.w3.shape[1], m.w3.shape[0]).to(m.w3.dtype)
    lin3.weight, lin3.bias = m.w3, m.b3
    scale = nn.Linear(m.fc2.out_features, m.fc2.out_features).to(m.w3.dtype)
    with torch.no_grad():
        scale.weight.copy_(torch.eye(m.fc2.out_features) * 0.5)
        scale.bias.fill_(1.0)
    return nn.Sequential(nn.Flatten(), m.fc1, m.bn, nn.ReLU(), nn.Dropout(0.3), m.fc2, scale, nn.LeakyReLU(0.1),
                         lin3)


def trained_bn(m, d_in, dtype=D64):
    m.train()
    with torch.no_grad():
        for _ in range(10):
            m(torch.randn(64, d_in, dtype=dtype) * 2 + 0.3)
    return m.eval()


class ResMLP(nn.Module):
    def __init__(self, d=10, d_out=3):
        super().__init__()
        self.inp = nn.Linear(d, 16)
        self.blocks = nn.ModuleList([nn.Linear(16, 16) for _ in range(2)])
        self.out = nn.Linear(16, d_out)

    def forward(self, x):
        h = F.relu(self.inp(x))
        for blk in self.blocks:
            h = h + F.relu(blk(h))          # residual addition: not a chain
        return self.out(h)


class ConvNet(nn.Module):
    """A small conv net for 8×8 digits; takes [n, 1, 8, 8] or flat [n, 64] (reshaped inside)."""

    def __init__(self, act=nn.ReLU):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.act = act()
        self.pool = nn.MaxPool2d(2)
        self.c2 = nn.Conv2d(4, 6, 3, padding=1)
        self.fc = nn.Linear(6 * 2 * 2, 10)

    def forward(self, x):
        x = x.view(-1, 1, 8, 8)
        h = self.pool(self.act(self.bn(self.c1(x))))
        h = F.max_pool2d(torch.relu(self.c2(h)), 2)
        return self.fc(h.flatten(1))


class MixedNet(nn.Module):
    """Smooth and piecewise-linear activations mixed: the map is a Jacobian, exact=False."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.o = nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, x):
        h = F.relu(self.a(x))
        return self.o(torch.tanh(self.b(h)) + F.softplus(h))


def per_sample_jacobian(fn, x):
    """The reference: vmap(jacrev) of the model on one sample."""
    return vmap(jacrev(lambda v: fn(v[None])[0]))(x)


def check_exact(m, x, fn, atol=1e-12):
    """SLT of the output equals vmap(jacrev) and reconstructs the output."""
    with torch.no_grad():
        y = fn(x)
    J = per_sample_jacobian(fn, x)
    assert m.weight.shape == (x.shape[0], *J.shape[1:])
    assert torch.allclose(m.weight, J, atol=atol, rtol=1e-10)
    rel = (m.apply(x) - y.reshape(len(x), -1)).abs().max() / y.abs().max()
    assert rel <= 1e-12


# ----------------------------------------------------------------------------- fx-read chains (fast path)
@pytest.fixture
def custom():
    torch.manual_seed(0)
    return trained_bn(CustomMLP().double(), 12)


def test_custom_mlp_takes_the_fast_chain_path(custom, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the general path must not run for a chain-shaped module")
    monkeypatch.setattr(general.GeneralReading, "slt", refuse)
    monkeypatch.setattr(general.GeneralReading, "activations", refuse)
    chain = to_chain(custom)
    assert chain.traced and chain.n_hidden == 2 and chain.widths == [16, 16] and chain.d_in == 12 and chain.exact
    x = torch.randn(40, 12, dtype=D64)
    check_exact(sw.slt(custom, x), x, custom)
    for layer in (1, 2):
        m = sw.slt(custom, x, layer=layer)
        assert torch.allclose(m.apply(x), sw.activations(custom, x)[layer], atol=1e-12)


def test_custom_mlp_equals_its_sequential_twin_in_every_analysis(custom):
    seq = sequential_twin(custom).eval()
    x = torch.randn(60, 12, dtype=D64)
    assert torch.allclose(seq(x), custom(x), atol=1e-12)
    a, b = sw.slt_layers(custom, x), sw.slt_layers(seq, x)
    assert set(a) == set(b) == {1, 2, "output"}
    for layer in a:
        assert torch.allclose(a[layer].weight, b[layer].weight, atol=1e-12)
        assert torch.allclose(a[layer].bias, b[layer].bias, atol=1e-12)
    acts_a, acts_b = sw.activations(custom, x), sw.activations(seq, x)
    assert all(torch.allclose(acts_a[k], acts_b[k], atol=1e-12) for k in acts_b)
    spec_a, spec_b = sw.node_spectra(custom, x), sw.node_spectra(seq, x)
    assert np.allclose(spec_a[2].sigmas, spec_b[2].sigmas, atol=1e-8)


def test_describe_numbers_the_traced_layers(custom):
    text = sw.describe(custom, print_it=False)
    assert "torch.fx" in text and "HL1" in text and "HL2" in text and "layer=2" in text
    assert "relu (ReLU)" in text and "leaky_relu (LeakyReLU)" in text and "layer='output'" in text


def test_chain_reading_follows_weight_updates(custom):
    x = torch.randn(5, 12, dtype=D64)
    before = sw.slt(custom, x).weight.clone()
    with torch.no_grad():
        custom.fc2.weight.mul_(2.0)          # in place: the cached chain must be rebuilt
    after = sw.slt(custom, x)
    assert not torch.allclose(before, after.weight)
    assert torch.allclose(after.apply(x), custom(x), atol=1e-12)


def test_training_mode_custom_model_is_not_mutated(custom):
    custom.train()
    state = {k: v.clone() for k, v in custom.state_dict().items()}
    x = torch.randn(8, 12, dtype=D64)
    m = sw.slt(custom, x)
    assert custom.training and all(mod.training for mod in custom.modules())
    assert all(torch.equal(v, state[k]) for k, v in custom.state_dict().items())
    custom.eval()
    assert torch.allclose(m.apply(x), custom(x), atol=1e-12)


# ----------------------------------------------------------------------------- general path
def test_residual_mlp_general_path_is_exact():
    torch.manual_seed(1)
    net = ResMLP().double().eval()
    with pytest.raises(UnsupportedModelError, match="residual"):
        to_chain(net)
    x = torch.randn(30, 10, dtype=D64)
    m = sw.slt(net, x)
    assert m.exact
    check_exact(m, x, net)
    acts = sw.activations(net, x)
    assert set(acts) == {1, 2, 3, "output"}
    for layer in (1, 2, 3):
        h = sw.slt(net, x, layer=layer)
        assert torch.allclose(h.apply(x), acts[layer], atol=1e-12)
    sub = sw.slt(net, x, layer=2, nodes=[5, 0, 9])
    full = sw.slt(net, x, layer=2)
    assert sub.weight.shape == (30, 3, 10) and np.array_equal(sub.nodes, [5, 0, 9])
    assert torch.allclose(sub.weight, full.weight[:, [5, 0, 9]], atol=1e-14)


def test_conv_net_with_max_pooling_keeps_the_image_shape():
    torch.manual_seed(2)
    net = trained_bn(ConvNet().double(), 64)
    x = torch.randn(25, 1, 8, 8, dtype=D64)
    m = sw.slt(net, x)
    assert m.weight.shape == (25, 10, 1, 8, 8) and m.exact
    check_exact(m, x, net)
    h1 = sw.slt(net, x, layer=1, nodes=slice(0, 40))     # conv layer 1: 4×8×8 values, flattened rows
    assert h1.weight.shape == (25, 40, 1, 8, 8)
    acts = sw.activations(net, x)
    assert acts[1].shape == (25, 256) and acts[2].shape == (25, 6 * 4 * 4)
    assert torch.allclose(h1.apply(x), acts[1][:, :40], atol=1e-12)
    text = sw.describe(net, print_it=False)
    assert "HL1 layer=1" in text and "HL2 layer=2" in text and "pool (MaxPool2d)" in text


def test_conv_net_through_slt_cache_on_flat_features():
    from slt_widgets.datasets import FrameDataset
    torch.manual_seed(3)
    net = ConvNet().eval()
    rng = np.random.default_rng(0)
    ds = FrameDataset.from_arrays(rng.normal(size=(50, 64)).astype(np.float32), rng.integers(0, 3, 50),
                                  feature_shape=(8, 8))
    cache = sw.SLTCache(net, ds)
    m = cache.get(np.arange(20))
    assert cache.get(np.arange(20)) is m and m.weight.shape == (20, 10, 64)
    x = torch.from_numpy(ds.features[:20])
    assert (m.apply(x) - net(x)).abs().max() <= 1e-5 * net(x).abs().max()


def test_mixed_smooth_and_piecewise_linear_is_not_exact():
    torch.manual_seed(4)
    net = MixedNet().double().eval()
    x = torch.randn(20, 6, dtype=D64)
    m = sw.slt(net, x)
    assert not m.exact
    check_exact(m, x, net)            # still the Jacobian and a tangent plane through the output
    assert sw.slt(net, x, layer=1).exact     # layer 1 only runs a Linear and F.relu
    conv_tanh = ConvNet(act=nn.Tanh).double().eval()
    assert not sw.slt(conv_tanh, torch.randn(3, 1, 8, 8, dtype=D64)).exact


def test_several_inputs_are_flattened_and_concatenated():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.o = nn.Linear(4, 5), nn.Conv1d(2, 3, 3), nn.Linear(5 + 12, 2)

        def forward(self, u, v):
            return self.o(F.relu(torch.cat([self.a(u), self.b(v).flatten(1)], 1)))
    torch.manual_seed(5)
    net = Two().double().eval()
    u, v = torch.randn(7, 4, dtype=D64), torch.randn(7, 2, 6, dtype=D64)
    m = sw.slt(net, (u, v))
    assert m.weight.shape == (7, 2, 4 + 12) and m.exact
    Ju, Jv = vmap(jacrev(lambda a, b: net(a[None], b[None])[0], argnums=(0, 1)))(u, v)
    assert torch.allclose(m.weight, torch.cat([Ju, Jv.reshape(7, 2, -1)], 2), atol=1e-12)
    assert torch.allclose(m.apply((u, v)), net(u, v), atol=1e-12)


def test_prelu_conv_falls_back_when_vmap_cannot_batch_it():
    torch.manual_seed(6)
    net = nn.Sequential(nn.Conv1d(1, 2, 3), nn.PReLU(2), nn.Flatten(), nn.Linear(8, 2)).double().eval()
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([0.2, -0.4]))
    x = torch.randn(9, 1, 6, dtype=D64)
    m = sw.slt(net, x)
    J = torch.stack([jacrev(lambda v: net(v[None])[0])(v) for v in x])
    assert m.exact and torch.allclose(m.weight, J, atol=1e-12)
    assert torch.allclose(m.apply(x), net(x), atol=1e-12)


def test_float32_model_computed_in_float64_without_changing_it():
    torch.manual_seed(7)
    net = ConvNet().eval()
    x = torch.randn(6, 1, 8, 8)
    m = sw.slt(net, x, dtype=torch.float64, chunk=4)
    assert m.weight.dtype == torch.float64 and next(net.parameters()).dtype == torch.float32
    ref = sw.slt(ConvNet_double(net), x.double())
    assert torch.allclose(m.weight, ref.weight, atol=1e-12)


def ConvNet_double(net):
    twin = ConvNet().double().eval()
    twin.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in net.state_dict().items()})
    return twin


def test_untraceable_shape_control_flow_uses_hooks():
    class ShapeIf(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 6), nn.Linear(6, 3)
            self.act1, self.act2 = nn.ReLU(), nn.LeakyReLU(0.2)

        def forward(self, x):
            if x.shape[1] == 4:                  # fx cannot follow this; it does not depend on values
                x = self.act1(self.a(x))
            return self.b(self.act2(x))
    torch.manual_seed(8)
    net = ShapeIf().double()
    x = torch.randn(12, 4, dtype=D64)
    m = sw.slt(net, x)
    assert m.exact
    check_exact(m, x, net)
    acts = sw.activations(net, x)
    assert set(acts) == {1, 2, "output"}
    assert torch.allclose(sw.slt(net, x, layer=2).apply(x), acts[2], atol=1e-12)
    text = sw.describe(net, print_it=False)
    assert "could not trace it" in text and "act1 (ReLU)" in text and "x.shape[1] == 4" in text


# ----------------------------------------------------------------------------- refusals
class _Lin(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 3)


def test_refusals_say_why():
    x = torch.randn(5, 4)

    class RNN(_Lin):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(4, 4)

        def forward(self, x):
            return self.a(self.rnn(x)[0])

    class Pair(_Lin):
        def forward(self, x):
            return self.a(x), x

    class DataIf(_Lin):
        def forward(self, x):
            if x.sum() > 0:
                return F.relu(self.a(x))
            return self.a(x)

    class Bias(_Lin):
        def forward(self, x):
            return self.a.bias.expand(x.shape[0], 3)

    class BatchMix(_Lin):
        def forward(self, x):
            return self.a(x - x.mean(0))

    with pytest.raises(UnsupportedModelError, match=r"'rnn' \(GRU\) is recurrent"):
        sw.slt(RNN(), x)
    with pytest.raises(UnsupportedModelError, match="returns a tuple, not one tensor"):
        sw.slt(Pair(), x)
    with pytest.raises(UnsupportedModelError, match=r"data-dependent control flow.*if x.sum\(\) > 0:"):
        sw.slt(DataIf(), x)
    with pytest.raises(UnsupportedModelError, match="does not depend on its input"):
        sw.slt(Bias(), x)
    with pytest.raises(UnsupportedModelError, match="other samples of the batch"):
        sw.slt(BatchMix(), x)
    with pytest.raises(sw.SLTInputError, match=r"failed on inputs of shape \[5, 4\]"):
        sw.slt(ConvNet(), torch.randn(5, 4))
    with pytest.raises(sw.SLTInputError, match="does not exist"):
        sw.slt(ConvNet(), torch.randn(2, 64), layer=3)


def test_conv_net_in_the_explorer_draws_image_templates():
    """A conv net on the digits goes through the general path inside the Explorer unchanged."""
    import torch.nn.functional as F
    from slt_widgets import Explorer
    from slt_widgets.datasets import load_digits_dataset

    class DigitConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 4 * 4, 10)

        def forward(self, x):
            h = F.max_pool2d(F.relu(self.c1(x.view(-1, 1, 8, 8))), 2)
            return self.fc(h.flatten(1))

    torch.manual_seed(0)
    ds = load_digits_dataset("eval")
    net = DigitConv()
    x, y = torch.from_numpy(ds.features), torch.from_numpy(ds.labels)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    ex = Explorer(net, ds, cls="3")
    sel = ex.selection
    assert sel.cls == "3" and sel.n >= 10
    assert ex.templates.images.shape == (3, 8, 8)
    m = sw.slt(net, ds.features_at(sel.indices))
    mean_slt = m.weight[:, 3].mean(0).reshape(8, 8).detach().numpy()
    assert np.allclose(ex.templates.images[1], mean_slt, atol=1e-5)
    ex.select(cls="3", cluster=0)
    assert ex.selection.cluster == 0 and 0 < ex.selection.n <= sel.n
