"""Streaming sufficient statistics (engine/stats.py) against direct in-memory computations."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from torch import nn

from slt_widgets.analysis import streamed_lda
from slt_widgets.datasets import FrameDataset
import slt_widgets as sw
from slt_widgets.engine import activations, input_spectra, node_spectra, slt_layers
from slt_widgets.engine.errors import SLTInputError
from slt_widgets.engine.gram_pass import plan_blocks
from slt_widgets.engine.stats import (ClassMoments, SLTGrams, iter_labeled, streaming_activation_stats,
                                      streaming_slt_spectra)

K = 4


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 10), nn.ReLU(), nn.Linear(10, K)).double().eval()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, K, 600)
    x = rng.normal(size=(600, 12)) + y[:, None] * 0.5          # class-dependent means: LDA has signal
    return x, y


def _rel(a, b):
    return np.abs(np.asarray(a) - np.asarray(b)).max() / max(np.abs(np.asarray(b)).max(), 1e-300)


def test_class_moments_match_numpy_closed_forms(model, data):
    x, y = data
    st = streaming_activation_stats(model, x, y, batch_size=37)
    acts = activations(model, torch.from_numpy(x))
    for l in ("input", 1, 2, "output"):
        H = x if l == "input" else acts[l].numpy()
        s = st[l]
        assert s.n == len(x) and s.counts.tolist() == np.bincount(y, minlength=K).tolist()
        means = np.stack([H[y == k].mean(0) for k in range(K)])
        assert _rel(s.class_means, means) < 1e-12
        assert _rel(s.gram, H.T @ H) < 1e-12
        c = H - H.mean(0)
        assert _rel(s.total_scatter, c.T @ c) < 1e-12
        within = sum((H[y == k] - means[k]).T @ (H[y == k] - means[k]) for k in range(K))
        assert _rel(s.within_scatter, within) < 1e-10
        assert _rel(s.singular_values, np.linalg.svd(H, compute_uv=False)) < 1e-8


def test_merge_equals_one_pass_and_labels_grow(data):
    x, y = data
    one = ClassMoments(12).update(x, y)
    a = ClassMoments(12).update(x[:100], y[:100])
    b = ClassMoments(12, n_classes=2).update(x[100:], y[100:])       # K grows to 4 from the labels
    r1, r2 = one.result(), a.merge(b).result()
    assert _rel(r2.total_scatter, r1.total_scatter) < 1e-12 and _rel(r2.class_means, r1.class_means) < 1e-12
    assert r2.counts.tolist() == r1.counts.tolist()
    # absent class → NaN mean row, not a silent zero
    r3 = ClassMoments(12, n_classes=6).update(x, y).result()
    assert np.isnan(r3.class_means[4:]).all() and np.isfinite(r3.class_means[:4]).all()


def test_scatter_is_stable_with_a_large_offset():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2000, 3)) + 1e6        # HᵀH − nμμᵀ would lose every digit here
    st = ClassMoments(3)
    for s in range(0, 2000, 128):
        st.update(x[s:s + 128])
    c = x - x.mean(0)
    assert _rel(st.result().total_scatter, c.T @ c) < 1e-8


def test_streamed_lda_equals_sklearn_svd_solver(model, data):
    x, y = data
    st = streaming_activation_stats(model, x, y, batch_size=64)
    acts = activations(model, torch.from_numpy(x))
    for l in ("input", 2, "output"):
        H = x if l == "input" else acts[l].numpy()
        sk = LinearDiscriminantAnalysis(solver="svd").fit(H, y)
        ld = streamed_lda(st[l])
        assert _rel(ld.explained_variance_ratio, sk.explained_variance_ratio_) < 1e-8
        assert _rel(ld.decision_function(H), sk.decision_function(H)) < 1e-8
        np.testing.assert_array_equal(ld.predict(H), sk.predict(H))
        assert ld.score(H, y) == pytest.approx(sk.score(H, y))
        # columns of the projection are defined up to sign
        assert _rel(np.abs(ld.transform(H)), np.abs(sk.transform(H))) < 1e-8


def test_sources_memmap_framedataset_dataloader_agree(model, data, tmp_path):
    x, y = data
    ref = streaming_activation_stats(model, x, y, batch_size=600)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float64, shape=x.shape)
    mm[:] = x
    mm.flush()
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    ds = FrameDataset.from_arrays(x.astype(np.float32), y, [f"c{k}" for k in range(K)], (3, 4))
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                     batch_size=50)
    from_mm = streaming_activation_stats(model, mm, y, batch_size=64)
    from_dl = streaming_activation_stats(model, dl, batch_size=64)
    from_ds = streaming_activation_stats(model.float(), ds, batch_size=64)
    model.double()
    for l in ref:
        assert _rel(from_mm[l].gram, ref[l].gram) < 1e-12
        assert _rel(from_dl[l].class_means, ref[l].class_means) < 1e-12
        assert _rel(from_ds[l].class_means, ref[l].class_means) < 1e-4          # float32 features and model
        assert from_ds[l].counts.tolist() == ref[l].counts.tolist()


def test_iter_labeled_checks_label_count(data):
    x, y = data
    with pytest.raises(SLTInputError, match="one label per sample"):
        list(iter_labeled(x, y[:-1], 100))
    with pytest.raises(SLTInputError, match="one label per sample"):
        list(iter_labeled(x[:50], y, 100))
    xb, yb = next(iter_labeled([(x[:5], y[:5])]))
    assert xb.shape == (5, 12) and yb.tolist() == y[:5].tolist()


def test_slt_spectra_equal_engine_node_and_input_spectra(model, data):
    x, _ = data
    xt = torch.from_numpy(x)
    ns = node_spectra(model, xt, [1, 2, "output"])
    ss = streaming_slt_spectra(model, x, [1, 2, "output"], batch_size=77, chunk=30)
    for l in ns:
        assert ss[l].sigmas.shape == ns[l].sigmas.shape
        assert np.abs(ss[l].sigmas - ns[l].sigmas).max() <= 1e-6 * ns[l].sigmas.max()
        np.testing.assert_array_equal(ss[l].dead, ns[l].dead)
    ins = input_spectra(model, xt, [2])
    si = streaming_slt_spectra(model, x, [2], per="input", batch_size=100)
    assert si[2].sigmas.shape == (12, 10)
    assert np.abs(si[2].sigmas - ins[2].sigmas).max() <= 1e-9 * ins[2].sigmas.max()


def test_layer1_node_slts_are_rank_one(model, data):
    x, _ = data
    s = streaming_slt_spectra(model, x, [1])[1].sigmas
    live = s[:, 0] > 0
    assert (s[live, 1:] <= 1e-6 * s[live, :1]).all()


def test_memory_budget_splits_into_blocks_with_identical_results(model, data):
    x, _ = data
    full = streaming_slt_spectra(model, x, [2, "output"])
    one_gram = SLTGrams.nbytes_for("node", 12, 10, 1)
    passes = plan_blocks("node", 12, {2: 10, "output": K}, one_gram * 4, 1)
    assert len(passes) == 7 and all(len(i) <= 2 for p in passes for _, i in p)     # 2 nodes + a product each
    blocked = streaming_slt_spectra(model, x, [2, "output"], memory_budget=one_gram * 4)
    for l in full:
        np.testing.assert_allclose(blocked[l].sigmas, full[l].sigmas, rtol=1e-10, atol=1e-12)
    with pytest.raises(SLTInputError, match="raise memory_budget"):
        streaming_slt_spectra(model, x, [2], memory_budget=100)


def test_groups_give_each_subset_its_own_spectra(model, data):
    x, y = data
    g = np.where(y == 0, 0, np.where(y == 1, 1, -1))
    sg = streaming_slt_spectra(model, x, [2, "output"], groups=g, batch_size=64)
    for k in (0, 1):
        ref = node_spectra(model, torch.from_numpy(x[y == k]), [2, "output"])
        for l in ref:
            assert sg[k][l].n_samples == (y == k).sum()
            assert np.abs(sg[k][l].sigmas - ref[l].sigmas).max() <= 1e-6 * ref[l].sigmas.max()
    with pytest.raises(SLTInputError, match="groups must lie"):
        streaming_slt_spectra(model, x, [2], groups=np.full(len(x), 5), n_groups=2)


def test_device_cpu_and_float32_default(data):
    x, y = data
    torch.manual_seed(1)
    m32 = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    a = streaming_activation_stats(m32, x.astype(np.float32), y, device="cpu")
    b = streaming_activation_stats(m32, x.astype(np.float32), y, device=torch.device("cpu"))
    ref = activations(m32.double(), torch.from_numpy(x))[1].numpy()
    m32.float()
    assert _rel(a[1].gram, ref.T @ ref) < 1e-5
    np.testing.assert_array_equal(a[1].gram, b[1].gram)
    s1 = streaming_slt_spectra(m32, x.astype(np.float32), [1, "output"], device="cpu")
    assert s1["output"].sigmas.shape == (3, 12)


def test_conv_model_uses_the_general_path():
    torch.manual_seed(2)
    conv = nn.Sequential(nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8, 3)).double().eval()
    x = torch.randn(40, 16, dtype=torch.float64)
    ref = node_spectra(conv, x, [1, "output"], batch_size=16)
    got = streaming_slt_spectra(conv, x.numpy(), [1, "output"], batch_size=16)
    for l in ref:
        # zero singular values come out as √(rounding of the Gram's eigenvalues) ≈ √eps · σ₁ ≈ 1e-8
        np.testing.assert_allclose(got[l].sigmas, ref[l].sigmas, rtol=1e-9, atol=1e-7)


def test_empty_sources_are_errors(model):
    with pytest.raises(SLTInputError, match="no data"):
        streaming_activation_stats(model, iter([]))
    with pytest.raises(SLTInputError, match="no samples"):
        ClassMoments(3).result()
    with pytest.raises(SLTInputError, match=r"\[b, 3\]"):
        ClassMoments(3).update(np.zeros((2, 4)))


@pytest.mark.parametrize("major", ["node", "input", "sample"])
@pytest.mark.parametrize("arch", ["bn", "double_act", "ends_with_act"])
def test_forward_chain_layouts_equal_the_backward_chain(major, arch):
    """Every layout of the forward chain ([M, n, F] per node, [F, n, M] per input, [n, F, M] for
    slt_layers) holds the SLTs that the backward chain of each single layer gives."""
    from slt_widgets.engine.dispatch import read_model
    from slt_widgets.engine.reading import Work
    torch.manual_seed(3)
    if arch == "bn":
        net = torch.nn.Sequential(torch.nn.Linear(7, 9), torch.nn.BatchNorm1d(9), torch.nn.ReLU(),
                                  torch.nn.Dropout(0.2), torch.nn.Linear(9, 6), torch.nn.LeakyReLU(0.1),
                                  torch.nn.Linear(6, 4))
        net.train()
        net(torch.randn(64, 7))
    elif arch == "double_act":              # an activation right after another: no Linear in between
        net = torch.nn.Sequential(torch.nn.Linear(7, 9), torch.nn.ReLU(), torch.nn.LeakyReLU(0.2),
                                  torch.nn.Linear(9, 4))
    else:                                   # the output is the last hidden layer
        net = torch.nn.Sequential(torch.nn.Linear(7, 9), torch.nn.ReLU(), torch.nn.Linear(9, 4), torch.nn.ReLU())
    net.eval()
    x = torch.randn(11, 7, dtype=torch.float64)
    net = net.double()
    reading = read_model(net)
    xt = reading.inputs(x)
    L = reading.n_hidden()
    targets = list(range(1, L + 2))
    got = reading.forward_chunk(reading.record(xt), xt, targets, major, None, Work())
    for t in targets:
        w = sw.slt(net, x, layer="output" if t == L + 1 else t).weight      # [n, M, F], backward chain
        want = {"node": w.permute(1, 0, 2), "input": w.permute(2, 0, 1), "sample": w.permute(0, 2, 1)}[major]
        torch.testing.assert_close(got[t], want, rtol=1e-12, atol=1e-12)


def test_gram_sum_keeps_the_upper_triangle_and_folds_in_float64():
    from slt_widgets.engine.grams import GramSum
    torch.manual_seed(0)
    parts = [torch.randn(3, b, 5) for b in (4, 7, 2, 9)]
    want = sum(p.double().transpose(1, 2) @ p.double() for p in parts)
    whole, left, right = GramSum(3, 5, flush_every=6), GramSum(3, 5, flush_every=6), GramSum(3, 5)
    for i, p in enumerate(parts):
        whole.add(p)
        (left if i < 2 else right).add(p)
    assert whole.packed.shape == (3, 15)
    torch.testing.assert_close(whole.total(), want, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(left.merge(right).total(), want, rtol=1e-6, atol=1e-5)
    g = whole.total()
    assert torch.equal(g, g.transpose(1, 2))
    assert GramSum.nbytes_for(3, 5) == 3 * (8 * 15 + 4 * 25)
    with pytest.raises(ValueError, match="cannot merge"):
        whole.merge(GramSum(2, 5))
