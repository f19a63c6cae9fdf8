"""Bad input, tried on purpose (issue 7.5): engine, streaming, cache, statistics, datasets, checkpoints,
analyses and widgets. Every case must raise a specific exception whose message says what to do, and
leave the engine, cache and widgets usable: a good call right after must work."""
from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import torch
import traitlets
from torch import nn

from slt_widgets import SLTCache, SLTInputError, UnsupportedModelError, auc_score, node_spectra, singular_spectrum, slt
from slt_widgets.analysis import AnalysisError, class_selectivity, fit_lda, within_class_spectra
from slt_widgets.analysis.activations import resolve_layers
from slt_widgets.analysis._checks import check_seed
from slt_widgets.datasets import FrameDataset, load_digits_dataset
from slt_widgets.engine import iter_inputs, to_chain
from slt_widgets.engine.stats import streaming_activation_stats, streaming_slt_spectra
from slt_widgets.models import CheckpointError, load_checkpoint, mlp, save_checkpoint

torch.manual_seed(0)
MODEL = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 3)).eval()
X = torch.randn(7, 6)


def good_call():
    """The engine still works and is exact after the error."""
    m = slt(MODEL, X)
    with torch.no_grad():
        np.testing.assert_allclose(m.apply(X).numpy(), MODEL(X).numpy(), rtol=1e-4, atol=1e-5)


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn, self.out = nn.LSTM(6, 4, batch_first=True), nn.Linear(4, 3)

    def forward(self, x):
        h, _ = self.rnn(x[:, None])
        return self.out(h[:, -1])


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.att, self.out = nn.MultiheadAttention(6, 2, batch_first=True), nn.Linear(6, 3)

    def forward(self, x):
        y, _ = self.att(x[:, None], x[:, None], x[:, None])
        return self.out(y[:, 0])


class IfSum(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 3)

    def forward(self, x):
        if x.sum() > 0:          # data-dependent control flow: no single graph per sample
            return self.lin(x)
        return -self.lin(x)


class ItemCall(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 3)

    def forward(self, x):
        return self.lin(x) * float(x.abs().max().item() > 1)


CONV = nn.Sequential(nn.Unflatten(1, (1, 2, 3)), nn.Conv2d(1, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(4, 3))

# (id, call, exception, message pattern) — the message must name the problem and the fix
ENGINE_CASES = [
    ("wrong-feature-dim", lambda: slt(MODEL, torch.randn(4, 7)), SLTInputError, r"expects 6; pass x as \[n, 6\]"),
    ("single-vector", lambda: slt(MODEL, torch.randn(6)), SLTInputError, r"x\[None\]"),
    ("nan", lambda: slt(MODEL, torch.full((2, 6), float("nan"))), SLTInputError, "NaN or inf.*clean"),
    ("inf", lambda: slt(MODEL, X.clone().index_fill_(0, torch.tensor([3]), float("inf"))), SLTInputError,
     r"first rows: \[3\]"),
    ("empty-batch", lambda: slt(MODEL, torch.zeros(0, 6)), SLTInputError, "select at least one sample"),
    ("string-dtype", lambda: slt(MODEL, np.array([["a"] * 6])), SLTInputError, "must hold numbers"),
    ("complex-dtype", lambda: slt(MODEL, torch.randn(2, 6, dtype=torch.cfloat)), SLTInputError, "x.real"),
    ("python-list", lambda: slt(MODEL, [[0.0] * 6]), SLTInputError, "torch.Tensor or numpy array"),
    ("layer-too-deep", lambda: slt(MODEL, X, layer=9), SLTInputError, r"hidden layers 1..2"),
    ("layer-zero", lambda: slt(MODEL, X, layer=0), SLTInputError, "does not exist"),
    ("layer-name", lambda: slt(MODEL, X, layer="hidden"), SLTInputError, "'output' or a hidden layer"),
    ("layer-float", lambda: slt(MODEL, X, layer=1.5), SLTInputError, "int 1..2"),
    ("layer-bool", lambda: slt(MODEL, X, layer=True), SLTInputError, "int 1..2"),
    ("node-out-of-range", lambda: slt(MODEL, X, nodes=[5]), SLTInputError, r"nodes 0..2"),
    ("node-negative", lambda: slt(MODEL, X, nodes=[-1]), SLTInputError, "out of range"),
    ("node-float", lambda: slt(MODEL, X, nodes=[0.5]), SLTInputError, "ints, a slice or a boolean mask"),
    ("node-mask-length", lambda: slt(MODEL, X, nodes=[True, False]), SLTInputError, "length 3"),
    ("node-empty", lambda: slt(MODEL, X, 1, nodes=[]), SLTInputError, "pass None for all nodes"),
    ("not-a-module", lambda: slt(lambda z: z, X), TypeError, "torch.nn.Module"),
    ("chunk-zero", lambda: slt(MODEL, X, chunk=0), SLTInputError, "positive int"),
    ("int-dtype", lambda: slt(MODEL, X, dtype=torch.int64), SLTInputError, "float32 or torch.float64"),
    ("half-dtype", lambda: slt(MODEL, X, dtype=torch.float16), SLTInputError, "float32 or torch.float64"),
    ("unknown-device", lambda: slt(MODEL, X, device="gpu7"), SLTInputError, "'cpu', 'cuda'"),
    ("meta-device", lambda: slt(MODEL, X, device="meta"), SLTInputError, "hold no values"),
    ("unknown-method", lambda: slt(MODEL, X, method="fast"), SLTInputError, "'auto', 'chain' or 'general'"),
    ("lstm", lambda: slt(LSTMNet(), X), UnsupportedModelError, "recurrent"),
    ("lstm-in-sequential", lambda: slt(nn.Sequential(nn.LSTM(6, 4)), X), UnsupportedModelError, "recurrent"),
    ("attention-chain-only", lambda: slt(Attention(), X, method="chain"), UnsupportedModelError,
     "not a chain.*method='general'"),
    ("conv2d-chain-only", lambda: slt(CONV, X, method="chain"), UnsupportedModelError,
     "Conv2d|Unflatten.*Supported"),
    ("conv2d-to-chain", lambda: to_chain(CONV), UnsupportedModelError, "Supported: Linear"),
    ("data-dependent-if", lambda: slt(IfSum(), X), UnsupportedModelError, "data-dependent control flow"),
    ("data-dependent-item", lambda: slt(ItemCall(), X), UnsupportedModelError, r"\.item\(\)"),
    ("auc-one-value", lambda: auc_score([1.0]), ValueError, "at least two"),
    ("auc-negative", lambda: auc_score([1.0, -0.5]), ValueError, "non-negative"),
    ("auc-D-too-small", lambda: auc_score([3.0, 2.0, 1.0], D=1), ValueError, "D must be ≥ 2"),
    ("svd-nan", lambda: singular_spectrum(np.full((2, 2), np.nan)), ValueError, "NaN or inf"),
    ("svd-1d", lambda: singular_spectrum(np.ones(3)), ValueError, r"2-D matrix \[N, F\]"),
    ("node-spectra-empty", lambda: node_spectra(MODEL, np.zeros((0, 6), np.float32)), ValueError, "no data"),
    ("node-spectra-wrong-dim", lambda: node_spectra(MODEL, np.zeros((4, 7), np.float32)), SLTInputError,
     r"pass x as \[n, 6\]"),
    ("stream-batch-size", lambda: list(iter_inputs(X, 0)), ValueError, "batch_size must be ≥ 1"),
    ("stream-dict-batches", lambda: list(iter_inputs([{"x": X}])), ValueError, "tuples"),
    ("stream-int", lambda: list(iter_inputs(5)), TypeError, "DataLoader"),
    ("stats-labels-length", lambda: streaming_activation_stats(MODEL, X.numpy(), np.zeros(3, int)), SLTInputError,
     "one label per sample"),
    ("stats-negative-label", lambda: streaming_activation_stats(MODEL, X.numpy(), -np.ones(7, int)), SLTInputError,
     "≥ 0"),
    ("stats-fractional-label", lambda: streaming_activation_stats(MODEL, X.numpy(), np.full(7, 0.5)), SLTInputError,
     "integer class indices"),
    ("stats-unknown-layer", lambda: streaming_activation_stats(MODEL, X.numpy(), layers=[4]), SLTInputError,
     "does not exist"),
    ("stats-budget-too-small", lambda: streaming_slt_spectra(MODEL, X.numpy(), [2], memory_budget=10), SLTInputError,
     "raise memory_budget"),
    ("stats-bad-per", lambda: streaming_slt_spectra(MODEL, X.numpy(), per="edge"), SLTInputError, "'node' or 'input'"),
    ("stats-groups-range", lambda: streaming_slt_spectra(MODEL, X.numpy(), [2], groups=np.full(7, 3), n_groups=2),
     SLTInputError, "groups must lie"),
]
if not torch.cuda.is_available():
    ENGINE_CASES.append(("cuda-absent", lambda: slt(MODEL, X, device="cuda"), SLTInputError, "device='cpu'"))


@pytest.mark.parametrize("call, exc, pattern", [c[1:] for c in ENGINE_CASES], ids=[c[0] for c in ENGINE_CASES])
def test_engine_refuses_bad_input_and_stays_usable(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()
    good_call()


def test_errors_are_value_or_type_errors():
    assert issubclass(SLTInputError, ValueError) and issubclass(UnsupportedModelError, TypeError)
    assert issubclass(AnalysisError, ValueError) and issubclass(CheckpointError, ValueError)


def test_attention_on_the_general_path_is_flagged_inexact():
    """Off the chain path attention is linearised (a Jacobian), never passed off as exact."""
    m = slt(Attention().eval(), X)
    assert m.exact is False and m.weight.shape == (7, 3, 6)


def test_training_mode_model_is_evaluated_in_eval_mode_and_left_as_it_was():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    net(torch.randn(32, 6))                  # move the running statistics off their defaults
    net.train()
    m = slt(net, X)
    assert net.training and all(mod.training for mod in net.modules())
    net.eval()
    with torch.no_grad():
        np.testing.assert_allclose(m.apply(X).numpy(), net(X).numpy(), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------- cache
CACHE_CASES = [
    ("budget-text", lambda c: SLTCache(MODEL, X.numpy(), memory_budget="lots"), ValueError, "'512MB'"),
    ("budget-negative", lambda c: SLTCache(MODEL, X.numpy(), memory_budget=-5), ValueError, "positive"),
    ("index-out-of-range", lambda c: c.get([10]), IndexError, r"0..6"),
    ("index-negative", lambda c: c.get([-1]), IndexError, "out of range"),
    ("selection-empty", lambda c: c.get([]), ValueError, "choose at least one sample"),
    ("index-float", lambda c: c.get([0.5]), IndexError, "ints or a boolean mask"),
    ("mask-length", lambda c: c.get(np.ones(3, bool)), IndexError, "one entry per sample"),
    ("cache-layer", lambda c: c.get([0], layer=7), SLTInputError, "does not exist"),
    ("cache-nodes", lambda c: c.get([0], nodes=[9]), SLTInputError, "out of range"),
]


@pytest.mark.parametrize("call, exc, pattern", [c[1:] for c in CACHE_CASES], ids=[c[0] for c in CACHE_CASES])
def test_cache_refuses_bad_selections_and_stays_usable(call, exc, pattern):
    cache = SLTCache(MODEL, X.numpy(), memory_budget="1MB")
    first = cache.get([0, 2])
    with pytest.raises(exc, match=pattern):
        call(cache)
    again = cache.get([0, 2])
    assert again is first and cache.hits == 1 and len(cache) == 1
    assert torch.allclose(cache.get([1], layer=1).weight[0], slt(MODEL, X[1:2], layer=1).weight[0])


# ---------------------------------------------------------------------------------------- datasets
@pytest.fixture(scope="module")
def small_ds():
    rng = np.random.default_rng(0)
    return FrameDataset.from_arrays(rng.normal(size=(30, 6)).astype(np.float32), np.arange(30) % 3,
                                    ["aa", "b", "sil"], (2, 3))


def test_dataset_bad_inputs(small_ds, tmp_path):
    ds = small_ds
    with pytest.raises(KeyError, match="known classes: aa, b, sil"):
        ds.class_index("zz")
    with pytest.raises(ValueError, match=r"out of range 0..2"):
        ds.class_index(5)
    with pytest.raises(IndexError, match="out of range"):
        ds.features_at([30])
    with pytest.raises(ValueError, match="feature_shape"):
        FrameDataset.from_arrays(np.zeros((4, 6), np.float32), np.zeros(4, int), ["a"], (4, 4))
    with pytest.raises(ValueError, match=r"labels must be \[N\] = \[4\]"):
        FrameDataset.from_arrays(np.zeros((4, 6), np.float32), np.zeros(3, int), ["a"])
    with pytest.raises(ValueError, match="NaN/inf.*clean"):
        FrameDataset.from_arrays(np.full((4, 6), np.nan, np.float32), np.zeros(4, int), ["a"])
    with pytest.raises(ValueError, match="one per class name"):
        FrameDataset.from_arrays(np.zeros((4, 6), np.float32), np.array([0, 1, 2, 3]), ["a", "b"])
    with pytest.raises(FileNotFoundError, match="FrameDataset.save"):
        FrameDataset.load(tmp_path / "missing.npz")
    ds.save(tmp_path / "d.npz")
    data = (tmp_path / "d.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt.*rebuild"):
        FrameDataset.load(tmp_path / "cut.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a slt_widgets FrameDataset"):
        FrameDataset.load(tmp_path / "other.npz")
    back = FrameDataset.load(tmp_path / "d.npz")          # the good file still loads after the bad ones
    np.testing.assert_array_equal(back.features, ds.features)


# ------------------------------------------------------------------------------------- checkpoints
class _Boom:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_checkpoint_with_a_pickle_payload_is_refused_unexecuted(tmp_path):
    marker = tmp_path / "executed.txt"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "slt_widgets.checkpoint/1", "spec": _Boom(marker)}, evil)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="nothing in it was executed"):
        load_checkpoint(evil)
    assert not marker.exists()
    # plain pickle (not a torch zip) with a payload: refused too, still unexecuted
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(_Boom(marker)))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_checkpoint_bad_files_and_arguments(tmp_path):
    net = mlp(6, (8, 5), 3).eval()
    good = save_checkpoint(tmp_path / "ok.pt", net, ["a", "b", "c"], (2, 3))
    data = good.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save(net.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="bare state_dict.*save_checkpoint"):
        load_checkpoint(tmp_path / "bare.pt")
    with zipfile.ZipFile(tmp_path / "junk.pt", "w") as z:
        z.writestr("x.txt", "hello")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="save_checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="one name per output"):
        save_checkpoint(tmp_path / "x.pt", net, ["a", "b"], (2, 3))
    with pytest.raises(ValueError, match="d_in=6"):
        save_checkpoint(tmp_path / "x.pt", net, ["a", "b", "c"], (23, 11))
    with pytest.raises(TypeError, match="mlp"):
        save_checkpoint(tmp_path / "x.pt", CONV, ["a", "b", "c"], (2, 3))
    assert not (tmp_path / "x.pt").exists()
    model, info = load_checkpoint(good)                # the good one still loads
    assert info["class_names"] == ("a", "b", "c")
    with torch.no_grad():
        torch.testing.assert_close(model(X), net(X))


# ---------------------------------------------------------------------------------------- analyses
def test_analysis_bad_inputs():
    rng = np.random.default_rng(0)
    acts, y = rng.normal(size=(20, 4)), np.arange(20) % 4
    with pytest.raises(AnalysisError, match=r"classes \[4\] have no samples"):
        class_selectivity(acts, y, 5)                     # an empty class
    with pytest.raises(AnalysisError, match="NaN or inf"):
        class_selectivity(np.full((20, 4), np.nan), y, 4)
    with pytest.raises(AnalysisError, match=r"\[n\] = \[20\]"):
        class_selectivity(acts, y[:5], 4)
    with pytest.raises(AnalysisError, match="labels go up to 3"):
        class_selectivity(acts, y, 3)
    with pytest.raises(AnalysisError, match="≥ 2 classes"):
        fit_lda(acts, np.zeros(20, int))
    with pytest.raises(AnalysisError, match="more samples"):
        fit_lda(acts[:4], y[:4])                          # single-sample classes
    with pytest.raises(AnalysisError, match="no class has ≥ 2 samples"):
        within_class_spectra(acts[:4], y[:4])
    with pytest.raises(AnalysisError, match="reshape"):
        class_selectivity(acts.reshape(20, 2, 2), y, 4)
    with pytest.raises(AnalysisError, match="non-negative int"):
        check_seed(-1)
    with pytest.raises(AnalysisError, match="hidden layers 1..2"):
        resolve_layers(MODEL, [3])
    # good calls right after
    csv = class_selectivity(acts, y, 4)
    np.testing.assert_allclose(csv[1], acts[y == 1].mean(0))
    assert fit_lda(acts, y).score(acts, y) > 0.2


# ----------------------------------------------------------------------------------------- widgets
def test_template_panel_front_end_values():
    from slt_widgets.widgets import TemplatePanel
    w = TemplatePanel(np.arange(12, dtype=np.float32).reshape(2, 2, 3))
    before = w.images.copy()
    with pytest.raises(traitlets.TraitError, match="3-D"):
        w.images = np.zeros(5)
    with pytest.raises(traitlets.TraitError, match="NaN"):
        w.images = np.full((2, 2, 3), np.inf)
    w.set_state({"columns": "three"})                     # malformed value from the browser
    assert w.columns == 0 and w.error
    w.set_state({"origin": "sideways"})
    assert w.origin == "lower" and "sideways" in w.error
    w.set_state({"columns": 2})                           # a good value clears the error
    assert w.columns == 2 and w.error == ""
    np.testing.assert_array_equal(w.images, before)


def test_cluster_tree_front_end_values():
    from scipy.cluster.hierarchy import linkage
    from slt_widgets.widgets import ClusterTree
    Z = linkage(np.random.default_rng(0).normal(size=(12, 3)), "average")
    w = ClusterTree(Z, cut=float(Z[-3, 2]))
    cut, labels = w.cut, w.labels.copy()
    for bad in ({"cut": float("nan")}, {"cut": -1.0}, {"cut": "high"}, {"selected": 999}, {"selected": [1]},
                {"cut": 0.1, "selected": 10 ** 6}):
        w.error = ""
        w.set_state(bad)
        assert w.error and w.cut == cut
        np.testing.assert_array_equal(w.labels, labels)
    w.set_state({"selected": 0})
    assert w.selected == 0 and w.error == ""


@pytest.fixture(scope="module")
def explorer():
    from slt_widgets.widgets import Explorer
    from slt_widgets.reproduce import train_toy_mlp
    ds = load_digits_dataset("all")
    net = train_toy_mlp(ds, hidden=(24,), steps=60, lr=1e-2, seed=0)
    return Explorer(net, ds, cls="3", max_samples=150)


EXPLORER_CASES = [
    ("unknown-class", dict(cls="eleven"), KeyError, "known classes"),
    ("class-index", dict(cls=12), ValueError, r"out of range 0..9"),
    ("layer", dict(layer=5), KeyError, "choose one of HL1, output"),
    ("node", dict(node=99), ValueError, r"0..9"),
    ("node-type", dict(node="a"), ValueError, "node must be an int"),
    ("cluster", dict(cluster=500), ValueError, "cluster must be in"),
    ("cluster-type", dict(cluster=1.5), TypeError, "cluster must be None or an int"),
    # issue 15: a bool is not an int here (True would silently mean node 1 / cluster 1 / class 1)
    ("node-bool", dict(node=True), ValueError, "node must be an int"),
    ("cluster-bool", dict(cluster=True), TypeError, "cluster must be None or an int"),
    ("class-bool", dict(cls=True), TypeError, "is a bool"),
    ("class-float", dict(cls=3.0), TypeError, r"name \(str\) or an int"),
]


@pytest.mark.parametrize("kw, exc, pattern", [c[1:] for c in EXPLORER_CASES], ids=[c[0] for c in EXPLORER_CASES])
def test_explorer_refuses_bad_selections_and_stays_usable(explorer, kw, exc, pattern):
    explorer.select(cls="3", layer="output")
    before = explorer.selection
    with pytest.raises(exc, match=pattern):
        explorer.select(**kw)
    assert explorer.selection.cls == before.cls and explorer.selection.layer == before.layer
    sel = explorer.select(cls="5", cluster=0)
    assert sel.cls == "5" and sel.cluster == 0 and sel.n >= 1
    assert (explorer.dataset.labels[sel.indices] == 5).all()


def test_explorer_front_end_widgets_reject_bad_values(explorer):
    explorer.select(cls="3", layer="output")
    cut = explorer.tree.cut
    explorer.tree.set_state({"cut": -5.0})
    assert explorer.tree.cut == cut and explorer.tree.error
    explorer.tree.set_state({"selected": 1})
    assert explorer.selection.cluster == 1 and explorer.tree.error == ""


def test_explorer_refuses_mismatched_model_and_dataset():
    from slt_widgets.widgets import Explorer
    ds = load_digits_dataset("all").subset(np.arange(60))
    with pytest.raises(ValueError, match="expects 6 inputs.*64 features"):
        Explorer(MODEL, ds)
    with pytest.raises(UnsupportedModelError):
        Explorer(LSTMNet(), ds)
    with pytest.raises(TypeError, match="FrameDataset.from_arrays"):
        Explorer(MODEL, X.numpy())
