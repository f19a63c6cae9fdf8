"""Exact means exact (issue 13): models as people write them — hooks, pre-hooks, global hooks,
subclasses that override forward, in-place activations — give the model's own map or a refusal
that names the cause, and a chain that is wrong can never come out labelled exact."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

import slt_widgets as sw
from slt_widgets.engine.chain import mark_broken, to_chain
from slt_widgets.engine.chain_reading import ChainReading
from slt_widgets.engine.dispatch import read_model
from slt_widgets.engine.general import GeneralReading
from slt_widgets.engine.reading import Work
from slt_widgets.engine.errors import SLTFallbackWarning, SLTInputError, UnsupportedModelError
from slt_widgets.engine.slt import ChainMismatchError

D64 = torch.float64


def mlp(seed=0, d_in=6, h=8, d_out=3, dtype=D64):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, d_out)).to(dtype).eval()


def inputs(n=24, d_in=6, seed=1):
    return torch.randn(n, d_in, generator=torch.Generator().manual_seed(seed), dtype=D64)


def reference(model, x, layer="output"):
    """Per-sample Jacobian of the real model (hooks and all) by autograd, and the real values."""
    def f(v):
        if layer == "output":
            return model(v[None])[0]
        return hidden(model, v[None], layer)[0]
    jac = torch.stack([torch.autograd.functional.jacobian(f, v) for v in x])
    with torch.no_grad():
        y = model(x) if layer == "output" else hidden(model, x, layer)
    return jac, y


def hidden(model, x, k):
    """The k-th activation module's output (after its own hooks: this hook is registered last)."""
    acts = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.Tanh))]
    got = []
    handles = [m.register_forward_hook(lambda mod, i, o: got.append(o.clone())) for m in dict.fromkeys(acts)]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return got[k - 1]


def assert_exact_map(model, x, layer="output"):
    m = sw.slt(model, x, layer=layer)
    jac, y = reference(model, x, layer)
    torch.testing.assert_close(m.weight.reshape(jac.shape), jac, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(m.apply(x), y.reshape(len(x), -1), rtol=1e-9, atol=1e-9)
    return m


class Scaled(nn.Linear):
    def forward(self, x):
        return super().forward(x) * 0.5 + 0.1


class OwnForward(nn.Sequential):
    """A Sequential subclass whose forward doubles the first hidden layer and skips nothing."""

    def forward(self, x):
        for i, m in enumerate(self):
            x = m(x)
            if i == 1:
                x = 2 * x - 0.25
        return x


def hooked_relu():
    m = mlp()
    m[1].register_forward_hook(lambda mod, inp, out: out * 1.5)
    return m


def prehooked_linear():
    m = mlp()
    m[2].register_forward_pre_hook(lambda mod, args: (args[0] * 2 + 0.5,))
    return m


def hooked_sequential():
    m = mlp()
    m.register_forward_hook(lambda mod, inp, out: out * 1.5 - 1)
    return m


def scaled_linear():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), Scaled(8, 8), nn.ReLU(), nn.Linear(8, 3)).double().eval()


def own_forward_sequential():
    torch.manual_seed(0)
    return OwnForward(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)).double().eval()


def nested_own_forward():
    torch.manual_seed(0)
    return nn.Sequential(OwnForward(nn.Linear(6, 8), nn.ReLU()), nn.Linear(8, 3)).double().eval()


TABLE = {"forward hook on a ReLU": hooked_relu, "pre-hook on a Linear": prehooked_linear,
         "hook on the whole Sequential": hooked_sequential, "Linear subclass with its own forward": scaled_linear,
         "Sequential subclass with its own forward": own_forward_sequential,
         "nested Sequential subclass": nested_own_forward}


@pytest.mark.parametrize("make", TABLE.values(), ids=TABLE.keys())
@pytest.mark.parametrize("layer", [1, "output"])
def test_every_model_of_the_table_gets_its_own_exact_map(make, layer):
    model, x = make(), inputs()
    m = assert_exact_map(model, x, layer)
    assert m.exact


@pytest.mark.parametrize("make", TABLE.values(), ids=TABLE.keys())
def test_all_layer_maps_and_activations_of_the_table_are_the_models(make):
    model, x = make(), inputs()
    acts = sw.activations(model, x)
    with torch.no_grad():
        torch.testing.assert_close(acts["output"], model(x), rtol=1e-12, atol=1e-12)
    maps = sw.slt_layers(model, x)
    for layer, m in maps.items():
        torch.testing.assert_close(m.apply(x), acts[layer], rtol=1e-9, atol=1e-9)
        assert m.exact


def test_hooks_are_read_before_choosing_the_chain():
    for make in (hooked_relu, prehooked_linear, hooked_sequential):
        with pytest.raises(UnsupportedModelError, match="hook '.*<lambda>' on module"):
            to_chain(make())
    # classes overriding forward are read through torch.fx (which follows their forward) or refused there
    assert to_chain(scaled_linear()).traced
    assert to_chain(own_forward_sequential()).traced


def test_global_module_hooks_are_honoured():
    model, x = mlp(), inputs()
    plain = sw.slt(model, x)
    h = torch.nn.modules.module.register_module_forward_hook(
        lambda mod, inp, out: out * 1.25 if isinstance(mod, nn.ReLU) else None)
    try:
        with pytest.raises(UnsupportedModelError, match="global forward hook"):
            to_chain(model)
        m = assert_exact_map(model, x)
        assert m.exact and not torch.allclose(m.weight, plain.weight)
    finally:
        h.remove()
    h = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda mod, args: (args[0] + 0.5,) if isinstance(mod, nn.Linear) else None)
    try:
        assert_exact_map(model, x)
    finally:
        h.remove()
    torch.testing.assert_close(sw.slt(model, x).weight, plain.weight)   # hooks gone: the chain again


def test_in_place_activation_after_tanh_keeps_each_layers_values():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.ReLU(inplace=True), nn.Linear(8, 3)).double().eval()
    x = inputs()
    z = model[0](x).detach()
    acts = sw.activations(model, x)
    torch.testing.assert_close(acts[1], torch.tanh(z))
    torch.testing.assert_close(acts[2], torch.relu(torch.tanh(z)))
    m1 = sw.slt(model, x, layer=1)
    torch.testing.assert_close(m1.apply(x), torch.tanh(z))
    assert not m1.exact
    maps = sw.slt_layers(model, x)
    torch.testing.assert_close(maps[1].apply(x), torch.tanh(z))
    torch.testing.assert_close(maps["output"].apply(x), model(x).detach())
    # the general path keeps each layer's values too (its traced graph returns copies)
    g = sw.engine.general.activations_general(model, x)
    torch.testing.assert_close(g[1], torch.tanh(z))


def test_in_place_relus_in_a_relu_net_stay_exact():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(inplace=True), nn.Linear(8, 8), nn.LeakyReLU(0.1, inplace=True),
                          nn.Linear(8, 3)).double().eval()
    x = inputs()
    for layer in (1, 2, "output"):
        assert assert_exact_map(model, x, layer).exact


def test_a_hook_added_after_a_first_call_is_seen():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(6, 8), nn.Linear(8, 3)

        def forward(self, x):
            return self.b(F.relu(self.a(x)))

    torch.manual_seed(0)
    model, x = Custom().double().eval(), inputs()
    assert to_chain(model).traced
    before = sw.slt(model, x)
    handle = model.a.register_forward_hook(lambda mod, inp, out: out - 1.0)
    after = assert_exact_map(model, x)
    assert not torch.allclose(after.bias, before.bias)
    handle.remove()
    torch.testing.assert_close(sw.slt(model, x).bias, before.bias)


def test_weight_recomputing_hooks_and_parametrizations_stay_on_the_chain():
    torch.manual_seed(0)
    x = inputs()
    pruned = mlp()
    prune.l1_unstructured(pruned[2], "weight", amount=0.5)
    old_sn = mlp()
    old_sn[0] = nn.utils.spectral_norm(old_sn[0])
    new_wn = mlp()
    new_wn[2] = nn.utils.parametrizations.weight_norm(new_wn[2])
    new_sn = mlp()
    new_sn[0] = nn.utils.parametrizations.spectral_norm(new_sn[0])
    shared = nn.Linear(8, 8)
    tied = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 8), nn.ReLU(),
                         nn.Linear(8, 3)).double()
    tied[4].weight = shared.weight                                  # one Parameter used by two layers
    assert tied[4].weight is tied[2].weight
    for model in (pruned, old_sn, new_wn, new_sn, tied):
        model.eval()
        chain = to_chain(model)
        assert not chain.traced
        assert assert_exact_map(model, x).exact
    # the pruning mask changes: the next call reads the new weight
    with torch.no_grad():
        pruned[2].weight_mask.zero_()
    m = sw.slt(pruned, x)
    torch.testing.assert_close(m.apply(x), pruned(x).detach())


def test_backward_hooks_leave_the_chain_alone_and_are_refused_by_the_general_path():
    model, x = mlp(), inputs()
    model[2].register_full_backward_hook(lambda mod, gin, gout: tuple(g * 3 if g is not None else g for g in gin))
    m = sw.slt(model, x)                 # forward values are untouched: the chain map is the model's
    torch.testing.assert_close(m.weight, reference(mlp(), x)[0], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(m.apply(x), model(x).detach())
    conv = nn.Sequential(nn.Unflatten(1, (1, 3, 3)), nn.Conv2d(1, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    conv[1].register_full_backward_hook(lambda mod, gin, gout: gin)
    with pytest.raises(UnsupportedModelError, match="backward hook"):
        sw.slt(conv.double(), torch.randn(4, 9, dtype=D64))


# ----------------------------------------------------------------------------- the chain made wrong
def _wrong_backward(monkeypatch):
    real = ChainReading._backward_chunk

    def wrong(reading, rec, target, rows, out_w, out_b, work):
        real(reading, rec, target, rows, out_w, out_b, work)
        out_w[:, :, 0] += 0.01                   # one input's column a little off
    monkeypatch.setattr(ChainReading, "_backward_chunk", wrong)


def test_a_wrong_chain_falls_back_to_the_general_path_and_the_map_is_the_models(monkeypatch):
    model, x = mlp(), inputs()
    _wrong_backward(monkeypatch)
    with pytest.warns(SLTFallbackWarning, match="does not reproduce the output"):
        m = sw.slt(model, x)
    jac, y = reference(model, x)
    torch.testing.assert_close(m.weight, jac, rtol=1e-9, atol=1e-9)
    assert m.exact
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # marked: the next call goes to the general path directly
        torch.testing.assert_close(sw.slt(model, x).weight, jac, rtol=1e-9, atol=1e-9)


def test_a_wrong_chain_without_a_general_path_raises_and_never_says_exact(monkeypatch):
    model, x = mlp(), inputs()
    _wrong_backward(monkeypatch)

    def unavailable(*a, **k):
        raise UnsupportedModelError("general path switched off for this test")
    monkeypatch.setattr(GeneralReading, "slt", unavailable)
    with pytest.raises(ChainMismatchError, match="chain products themselves are wrong.*switched off") as e:
        sw.slt(model, x)
    assert isinstance(e.value, SLTInputError)
    with pytest.raises(ChainMismatchError):     # not marked as fallen back: still refused, never a wrong map
        sw.slt(model, x)


def test_a_wrong_weight_names_the_module_that_breaks_the_chain(monkeypatch):
    model, x = mlp(), inputs()
    real_weights = ChainReading.weights

    def weights(self, dtype, device):
        out = list(real_weights(self, dtype, device))
        w, b = out[1]
        out[1] = (w * 1.01, b)                   # HL2's block (module '2') read wrong
        return out
    monkeypatch.setattr(ChainReading, "weights", weights)
    monkeypatch.setattr(GeneralReading, "slt", lambda *a, **k: (_ for _ in ()).throw(UnsupportedModelError("off")))
    with pytest.raises(ChainMismatchError, match=r"first layer that differs is HL2, computed by 2 → 3 \(ReLU\)"):
        sw.slt(model, x, layer=2)


def test_wrong_forward_chain_is_caught_in_all_layers_and_gram_passes(monkeypatch):
    model, x = mlp(), inputs(n=40)
    direct = {}
    for k in (1, 2):
        w = sw.slt(model, x, layer=k).weight                       # [n, M, F]
        direct[k] = np.stack([np.linalg.svd(w[:, m].numpy(), compute_uv=False) for m in range(w.shape[1])])
    real = ChainReading.forward_chunk

    def wrong(reading, rec, x, targets, major, dst, work):
        out = real(reading, rec, x, targets, major, dst, work)
        for v in out.values():
            v.mul_(1.001)
        return out
    monkeypatch.setattr(ChainReading, "forward_chunk", wrong)
    import slt_widgets.engine.stats as stats
    with pytest.warns(SLTFallbackWarning):
        maps = sw.slt_layers(model, x)
    for k, m in maps.items():
        torch.testing.assert_close(m.apply(x), sw.activations(model, x)[k])
    for run in (lambda: sw.node_spectra(model, x, [1, 2], batch_size=16),
                lambda: stats.streaming_slt_spectra(model, x, [1, 2], batch_size=16)):
        mark_broken(model, None)
        with pytest.warns(SLTFallbackWarning):
            got = run()
        for k in (1, 2):
            np.testing.assert_allclose(got[k].sigmas, direct[k], rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("run", ["slt", "slt_layers"])
def test_every_chunk_is_verified_and_every_position_in_turn(run):
    model, x = mlp(), inputs(n=600)
    reading, work = read_model(model), Work()
    assert isinstance(reading, ChainReading)
    seen = []
    real_check = ChainReading.check
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ChainReading, "check", lambda self, recon, *a: (seen.append(recon.shape[0]),
                                                                   real_check(self, recon, *a)))
        if run == "slt":
            reading.slt(x, "output", None, chunk=64, work=work)
            assert len(seen) == 10                   # 600 samples in chunks of 64
        else:
            reading.slt_layers(x, None, chunk=64, work=work)
            assert len(seen) == 10 * 3               # every layer of every chunk
    assert work.checked_chunks == len(seen) and all(k >= 1 for k in seen)
    # one wrong sample of a chunk is found when its position's turn comes
    real = ChainReading._backward_chunk

    def one_wrong(reading, rec, target, rows, out_w, out_b, work):
        real(reading, rec, target, rows, out_w, out_b, work)
        out_w[5, :, 0] += 0.1
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ChainReading, "_backward_chunk", one_wrong)
        with pytest.raises(ChainMismatchError):
            reading.slt(x, "output", None, chunk=64, work=Work())


def test_the_model_is_read_once_until_it_changes():
    model, x = mlp(), inputs()
    first = to_chain(model)
    assert to_chain(model) is first                       # cached: no second reading or folding
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model(x).sum().backward()
    opt.step()                                            # trained further
    second = to_chain(model)
    assert second is not first
    torch.testing.assert_close(sw.slt(model, x).apply(x), model(x).detach())
    model[0].weight.data.mul_(0.5)                        # .data bypasses the version counter
    assert to_chain(model) is not second
    torch.testing.assert_close(sw.slt(model, x).apply(x), model(x).detach())
    h = model[3].register_forward_hook(lambda m, i, o: o * 2)
    with pytest.raises(UnsupportedModelError, match="forward hook"):
        to_chain(model)
    h.remove()
    assert to_chain(model).blocks[0].weight is not None
