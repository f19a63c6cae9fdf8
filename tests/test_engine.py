"""The exact SLT engine against autograd, the model's own activations and closed forms."""
import numpy as np
import pytest
import torch
from torch import nn
from torch.func import jacrev, vmap

import slt_widgets as sw
from slt_widgets.engine import SLTInputError, UnsupportedModelError


def make_net(kind="relu", d_in=12, widths=(16, 16, 16), d_out=5, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    layers, d = [], d_in
    for i, w in enumerate(widths):
        layers.append(nn.Linear(d, w))
        if kind == "bn":
            bn = nn.BatchNorm1d(w)
            layers.append(bn)
        act = {"relu": nn.ReLU(), "bn": nn.ReLU(), "leaky": nn.LeakyReLU(0.1), "prelu": nn.PReLU(w),
               "tanh": nn.Tanh(), "gelu": nn.GELU(), "mixed": [nn.ReLU(), nn.SiLU(), nn.Softplus()][i % 3],
               "relu6": nn.ReLU6(), "elu": nn.ELU(), "sigmoid": nn.Sigmoid()}[kind]
        layers.append(act)
        if kind == "bn":
            layers.append(nn.Dropout(0.3))
        d = w
    layers.append(nn.Linear(d, d_out))
    net = nn.Sequential(*layers).to(dtype)
    if kind == "bn":  # real running statistics from training batches
        net.train()
        with torch.no_grad():
            for _ in range(20):
                net(torch.randn(64, d_in, dtype=dtype) * 2 + 0.5)
        net.eval()
    if kind == "prelu":
        with torch.no_grad():
            for m in net:
                if isinstance(m, nn.PReLU):
                    m.weight.uniform_(-0.3, 0.5)
    return net


def layer_fn(net, layer):
    """The real activation of a layer for one sample, for autograd."""
    chain = sw.engine.to_chain(net)
    acts = [m for _, m in chain.acts]

    def f(v):
        h = v[None]
        k = 0
        for _, m in chain.modules:
            h = m(h)
            if k < len(acts) and m is acts[k]:
                k += 1
                if k == layer:
                    return h[0]
        return h[0]
    return f


KINDS = ["relu", "bn", "leaky", "prelu", "relu6", "tanh", "gelu", "mixed", "elu", "sigmoid"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layer", [1, 2, 3, "output"])
def test_matches_autograd_and_reconstructs(kind, layer):
    net = make_net(kind).eval()
    x = torch.randn(40, 12, dtype=torch.float64) * 1.5
    m = sw.slt(net, x, layer=layer)
    f = layer_fn(net, 4 if layer == "output" else layer)
    with torch.no_grad():
        if kind == "prelu":  # PReLU's backward does not batch under vmap: per-sample jacrev instead
            J = torch.stack([jacrev(f)(v) for v in x])
        else:
            J = vmap(jacrev(f))(x)
        y = torch.stack([f(v) for v in x])
    assert m.weight.shape == (40, y.shape[1], 12) and m.bias.shape == y.shape
    assert torch.allclose(m.weight, J, atol=1e-12, rtol=1e-10)
    rel = (m.apply(x) - y).abs().max() / y.abs().max().clamp_min(1e-300)
    assert rel <= 1e-12
    assert m.exact == (kind in ("relu", "bn", "leaky", "prelu", "relu6"))


@pytest.mark.parametrize("kind", ["relu", "bn", "leaky", "tanh"])
def test_float32_within_tolerance(kind):
    net = make_net(kind, dtype=torch.float32).eval()
    x = torch.randn(300, 12)
    m = sw.slt(net, x, chunk=64)
    y = net(x).detach()
    assert m.weight.dtype == torch.float32
    assert (m.apply(x) - y).abs().max() <= 1e-5 * y.abs().max()


def test_all_layers_forward_chain_equals_single_layer():
    net = make_net("bn").eval()
    x = torch.randn(70, 12, dtype=torch.float64)
    all_layers = sw.slt_layers(net, x, chunk=32)
    acts = sw.activations(net, x)
    assert set(all_layers) == {1, 2, 3, "output"}
    for layer, m in all_layers.items():
        one = sw.slt(net, x, layer=layer)
        assert torch.allclose(m.weight, one.weight, atol=1e-12)
        assert torch.allclose(m.bias, one.bias, atol=1e-12)
        assert torch.allclose(m.apply(x), acts[layer], atol=1e-12)


def test_nodes_select_rows():
    net = make_net("relu").eval()
    x = torch.randn(20, 12, dtype=torch.float64)
    full = sw.slt(net, x, layer=2)
    sub = sw.slt(net, x, layer=2, nodes=[3, 0, 7])
    assert sub.weight.shape == (20, 3, 12)
    assert torch.equal(sub.weight, full.weight[:, [3, 0, 7]])
    assert torch.allclose(sub.bias, full.bias[:, [3, 0, 7]])
    assert np.array_equal(sub.nodes, [3, 0, 7])
    mask = np.zeros(5, bool)
    mask[[1, 4]] = True
    out = sw.slt(net, x, nodes=mask)
    assert torch.allclose(out.weight, sw.slt(net, x).weight[:, [1, 4]])


def test_masks_come_from_the_forward_pass_near_zero():
    # A pre-activation of ±1e-7 must keep the sign the model computed.
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2)).eval()
    with torch.no_grad():
        net[1].running_mean.copy_(torch.tensor([0.3, -0.2, 0.1]))
        net[1].running_var.copy_(torch.tensor([0.7, 1.3, 2.0]))
    x = torch.randn(200, 4)
    with torch.no_grad():
        z = net[1](net[0](x))
        # shift the first unit's bias so some samples sit within 1e-7 of zero
        net[0].bias[0] -= z[:, 0].median() * net[1].running_var[0].add(net[1].eps).sqrt() / net[1].weight[0]
        z = net[1](net[0](x))
    assert (z[:, 0].abs() < 1e-6).any()
    m = sw.slt(net, x)
    y = net(x).detach()
    assert (m.apply(x) - y).abs().max() <= 1e-5 * y.abs().max()
    J = vmap(jacrev(lambda v: net(v[None])[0]))(x)
    assert torch.allclose(m.weight, J, atol=1e-6)


def test_first_layer_node_slt_is_rank_one():
    net = make_net("relu", widths=(16, 16)).eval()
    x = torch.randn(200, 12, dtype=torch.float64)
    m = sw.slt(net, x, layer=1)
    for node in range(16):
        A = m.weight[:, node, :]                        # [N, F]
        s = sw.singular_spectrum(A)
        if s[0] > 0:
            assert s[1] <= 1e-12 * s[0]
            rows = A[A.abs().sum(1) > 0]
            assert torch.allclose(rows, net[0].weight[node].expand_as(rows))


def test_linear_net_slt_is_product_of_weights():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.Identity(), nn.Linear(5, 4), nn.Dropout(0.5),
                        nn.Sequential(nn.Linear(4, 3))).double().eval()
    x = torch.randn(9, 6, dtype=torch.float64)
    m = sw.slt(net, x)
    W = net[4][0].weight @ net[2].weight @ net[0].weight
    b = net[4][0].weight @ (net[2].weight @ net[0].bias + net[2].bias) + net[4][0].bias
    assert torch.allclose(m.weight, W.expand(9, -1, -1), atol=1e-14)
    assert torch.allclose(m.bias, b.expand(9, -1), atol=1e-14)
    assert m.exact


def test_nested_sequential_and_shared_activation_instance():
    torch.manual_seed(0)
    relu = nn.ReLU()
    net = nn.Sequential(nn.Sequential(nn.Linear(5, 8), relu), nn.Sequential(nn.Linear(8, 8), relu,
                        nn.Sequential(nn.Linear(8, 3)))).double()
    x = torch.randn(30, 5, dtype=torch.float64)
    assert sw.engine.to_chain(net).n_hidden == 2
    m = sw.slt(net, x)
    J = vmap(jacrev(lambda v: net(v[None])[0]))(x)
    assert torch.allclose(m.weight, J, atol=1e-13)


def test_training_mode_model_is_evaluated_in_eval_mode_and_not_mutated():
    net = make_net("bn")
    net.train()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(25, 12, dtype=torch.float64)
    m = sw.slt(net, x)
    assert net.training and all(mod.training for mod in net.modules())
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k
    net.eval()
    assert torch.allclose(m.apply(x), net(x).detach(), atol=1e-12)


def test_numpy_and_image_shaped_input_with_flatten():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    x = np.random.default_rng(0).normal(size=(10, 4, 4)).astype(np.float32)
    m = sw.slt(net, x)
    y = net(torch.from_numpy(x)).detach()
    assert m.weight.shape == (10, 3, 16)
    assert (m.apply(torch.from_numpy(x)) - y).abs().max() < 1e-5


def test_streaming_iterator_matches_one_shot():
    net = make_net("relu", dtype=torch.float32).eval()
    x = torch.randn(103, 12)
    whole = sw.slt(net, x, layer=2)
    parts = list(sw.iter_slt(net, x, layer=2, batch_size=25))
    assert [p[0] for p in parts][-1] == slice(100, 103)
    assert torch.allclose(torch.cat([p[1].weight for p in parts]), whole.weight, atol=1e-6)
    # A DataLoader of (x, y) tuples streams the same way
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(103)), batch_size=40)
    got = torch.cat([m.weight for _, m in sw.iter_slt(net, loader, layer=2)])
    assert torch.allclose(got, whole.weight, atol=1e-6)


@pytest.mark.parametrize("reuse", [False, True])
def test_streamed_output_slt_matches_one_shot_with_and_without_reused_buffers(reuse):
    net = make_net("relu", dtype=torch.float32).eval()
    x = torch.randn(103, 12)
    whole = sw.slt(net, x, nodes=[4, 0])
    ptrs = set()
    for rows, m in sw.iter_slt(net, x, nodes=[4, 0], batch_size=40, chunk=16, reuse_buffers=reuse):
        torch.testing.assert_close(m.weight, whole.weight[rows], atol=1e-6, rtol=1e-6)   # before it is overwritten
        torch.testing.assert_close(m.bias, whole.bias[rows], atol=1e-6, rtol=1e-6)
        ptrs.add(m.weight.data_ptr())
    assert (len(ptrs) == 1) == reuse


@pytest.mark.parametrize("kind", ["relu", "leaky", "prelu"])
def test_activations_whose_offset_is_skipped_reproduce_their_output_exactly(kind):
    # The record stores no offset for these (h = s ⊙ z exactly); check that bit for bit, and that
    # activations which need one (ReLU6's clamped top) still get it.
    from slt_widgets.engine.chain_record import ZERO_OFFSET, _slope, forward_record
    net = make_net(kind, dtype=torch.float32).eval()
    z = torch.randn(500, 16) * 3
    z[:5] = 0.0
    z[5:10] = -0.0
    for _, m in sw.engine.to_chain(net).acts:
        assert isinstance(m, ZERO_OFFSET)
        h = m(z).detach()
        assert torch.equal(_slope(m, z, h) * z, h)
    assert not isinstance(nn.ReLU6(), ZERO_OFFSET)
    # In half precision LeakyReLU multiplies in float and rounds (h ≠ s·z by an ulp): the offset stays.
    half = nn.Sequential(nn.Linear(12, 16), nn.LeakyReLU(0.1), nn.Linear(16, 5)).to(torch.bfloat16)
    rec = forward_record(sw.engine.to_chain(half), (torch.randn(400, 12) * 3).to(torch.bfloat16))
    assert rec.offsets[0] is not None and bool((rec.offsets[0] != 0).any())
    six = make_net("relu6", dtype=torch.float64).eval()
    x = torch.randn(50, 12, dtype=torch.float64) * 20
    for layer in (1, 3, "output"):
        m = sw.slt(six, x, layer=layer)
        ref = sw.activations(six, x)[layer]
        assert (m.apply(x) - ref).abs().max() < 1e-12 * max(1.0, ref.abs().max().item())


@pytest.mark.parametrize("reuse", [False, True])
def test_streamed_layers_match_one_shot_with_and_without_reused_buffers(reuse):
    net = make_net("relu", dtype=torch.float32).eval()
    x = torch.randn(103, 12)
    whole = sw.slt_layers(net, x)
    seen, ptrs = [], set()
    for rows, maps in sw.engine.iter_slt_layers(net, x, batch_size=40, chunk=16, reuse_buffers=reuse):
        for layer, m in maps.items():                 # compare inside the loop: reused maps are overwritten
            torch.testing.assert_close(m.weight, whole[layer].weight[rows], atol=1e-6, rtol=1e-6)
            torch.testing.assert_close(m.bias, whole[layer].bias[rows], atol=1e-6, rtol=1e-6)
        ptrs.add(maps[2].weight.data_ptr())
        seen.append(rows)
    assert seen[-1] == slice(80, 103)
    assert (len(ptrs) == 1) == reuse                   # one buffer for every batch, or a fresh one each


def test_cache_computes_each_selection_once_and_respects_budget():
    from slt_widgets.datasets import FrameDataset
    net = make_net("relu", dtype=torch.float32).eval()
    rng = np.random.default_rng(0)
    ds = FrameDataset.from_arrays(rng.normal(size=(300, 12)).astype(np.float32), rng.integers(0, 3, 300))
    one_map = 100 * 5 * 12 * 4 + 100 * 5 * 4
    cache = sw.SLTCache(net, ds, memory_budget=2 * one_map + 10)
    a = cache.get(np.arange(100))
    b = cache.get(np.arange(100))
    assert a is b and cache.hits == 1 and cache.misses == 1
    cache.get(np.arange(100, 200))
    cache.get(np.arange(200, 300))        # evicts the least recently used (0..99)
    assert len(cache) == 2 and cache.nbytes <= cache.memory_budget
    cache.get(np.arange(100))
    assert cache.misses == 4
    assert torch.allclose(cache.get(np.arange(100, 200), layer=1).apply(torch.from_numpy(ds.features[100:200])),
                          sw.activations(net, ds.features[100:200])[1], atol=1e-5)
    with pytest.raises(ValueError, match="selection is empty"):
        cache.get(np.array([], dtype=int))
    with pytest.raises(IndexError, match="out of range"):
        cache.get([5, 300])


def test_node_spectra_streamed_equals_direct_svd():
    net = make_net("bn").eval()
    x = torch.randn(150, 12, dtype=torch.float64)
    spectra = sw.node_spectra(net, x, batch_size=40, chunk=16)
    full = sw.slt_layers(net, x)
    for layer in (1, 2, 3):
        ns = spectra[layer]
        assert ns.sigmas.shape == (16, 12) and ns.n_samples == 150
        for node in range(16):
            direct = sw.singular_spectrum(full[layer].weight[:, node, :])
            # Gram eigenvalues resolve σ_i to ~sqrt(eps)·σ_1: compare at that precision
            assert np.allclose(ns.sigmas[node], direct, atol=1e-6 * max(direct[0], 1))
            assert ns.auc[node] == pytest.approx(sw.auc_score(direct), abs=1e-5) or direct[0] == 0
    inp = sw.input_spectra(net, x, layers=[2])[2]
    assert inp.sigmas.shape == (12, 16)
    direct = sw.singular_spectrum(full[2].weight[:, :, 5])
    assert np.allclose(inp.sigmas[5], direct, atol=1e-6 * direct[0])


def test_auc_score_hand_computed():
    assert sw.auc_score([2.0, 1.0, 0.5]) == pytest.approx((1 + 0.5) / 2 + (0.5 + 0.25) / 2)
    assert sw.auc_score([3.0, 3.0, 3.0, 3.0]) == pytest.approx(3.0)          # flat: D - 1
    assert sw.auc_score([3.0, 3.0, 3.0, 3.0], normalized=True) == pytest.approx(1.0)
    assert sw.auc_score([5.0, 0.0, 0.0]) == pytest.approx(0.5)                # rank 1
    assert sw.auc_score([4.0, 2.0, 1.0, 1.0], D=2) == pytest.approx(0.75)
    batch = sw.auc_score(np.array([[2.0, 1.0], [0.0, 0.0]]))
    assert batch[0] == pytest.approx(0.75) and np.isnan(batch[1])
    with pytest.raises(ValueError, match="D="):
        sw.auc_score([1.0, 0.5], D=3)
    with pytest.raises(ValueError, match="non-negative"):
        sw.auc_score([1.0, -0.5])


# ----------------------------------------------------------------------------- bad input
def test_unsupported_modules_are_named_with_position():
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Conv1d(1, 1, 3), nn.Linear(2, 2))
    with pytest.raises(UnsupportedModelError, match=r"'2' \(Conv1d\) at position 2.*Supported"):
        sw.slt(net, torch.randn(3, 4), method="chain")
    lstm = nn.Sequential(nn.Linear(4, 4), nn.LSTM(4, 4))
    with pytest.raises(UnsupportedModelError, match="LSTM"):
        sw.slt(lstm, torch.randn(3, 4), method="chain")
    attn = nn.Sequential(nn.Linear(4, 4), nn.MultiheadAttention(4, 2))
    with pytest.raises(UnsupportedModelError, match="MultiheadAttention"):
        sw.slt(attn, torch.randn(3, 4), method="chain")
    bn = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, track_running_stats=False), nn.ReLU())
    with pytest.raises(UnsupportedModelError, match="track_running_stats"):
        sw.slt(bn, torch.randn(3, 4), method="chain")


@pytest.mark.parametrize("bad, match", [
    (torch.randn(5, 7), "expects 12"),
    (torch.randn(12), "single vector"),
    (torch.empty(0, 12), "no samples"),
    (torch.tensor([[float("nan")] * 12]), "NaN"),
    ("not a tensor", "torch.Tensor or numpy"),
])
def test_bad_inputs(bad, match):
    net = make_net("relu", dtype=torch.float32)
    with pytest.raises(SLTInputError, match=match):
        sw.slt(net, bad)


@pytest.mark.parametrize("layer, match", [(0, "does not exist"), (4, "does not exist"), ("hidden", "'output'"),
                                          (1.5, "int")])
def test_bad_layers(layer, match):
    net = make_net("relu", dtype=torch.float32)
    with pytest.raises(SLTInputError, match=match):
        sw.slt(net, torch.randn(3, 12), layer=layer)


@pytest.mark.parametrize("nodes, match", [([16], "out of range"), ([], "selects no node"),
                                          (np.ones(3, bool), "length 16"), ([0.5], "ints")])
def test_bad_nodes(nodes, match):
    net = make_net("relu", dtype=torch.float32)
    with pytest.raises(SLTInputError, match=match):
        sw.slt(net, torch.randn(3, 12), layer=1, nodes=nodes)


def test_layer_aliases():
    net = make_net("relu")
    x = torch.randn(4, 12, dtype=torch.float64)
    assert torch.equal(sw.slt(net, x, layer="HL2").weight, sw.slt(net, x, layer=2).weight)
    assert sw.slt(net, x, layer="output").layer == "output"


def test_describe_lists_numbered_layers():
    text = sw.describe(make_net("bn"), print_it=False)
    assert "HL1" in text and "HL3" in text and "layer=3" in text and "layer='output'" in text
    assert "exact" in text


def test_slt_layers_subset_equals_single_layer():
    net = make_net("relu").eval()
    x = torch.randn(33, 12, dtype=torch.float64)
    for layers in ([3], ["output"], [1, "output"]):
        got = sw.slt_layers(net, x, layers=layers, chunk=10)
        assert set(got) == set(layers)
        for layer, m in got.items():
            ref = sw.slt(net, x, layer=layer)
            assert torch.allclose(m.weight, ref.weight, atol=1e-13) and torch.allclose(m.bias, ref.bias, atol=1e-13)


@pytest.mark.parametrize("chunk", [7, 300, 4096])
def test_records_come_in_whole_chunks_that_cover_every_sample(chunk):
    # The forward record runs on blocks of RECORD_BLOCK samples; each chunk the chain sees must
    # still be `chunk` long (the last one shorter), in order, and hold that chunk's own slopes.
    from slt_widgets.engine.dispatch import read_model
    net = make_net("relu", dtype=torch.float32).eval()
    x = torch.randn(5000, 12)
    reading = read_model(net)
    xt = reading.inputs(x)
    whole = reading.record(xt)
    end = 0
    for s, e, rec in reading.records(xt, chunk):
        assert s == end and (e - s == chunk or e == len(x))
        for k in range(3):
            assert torch.equal(rec.slopes[k], whole.slopes[k][s:e])
            torch.testing.assert_close(rec.biases[k], whole.biases[k][s:e])
        end = e
    assert end == len(x)
