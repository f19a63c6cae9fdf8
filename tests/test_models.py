"""mlp(), train(), checkpoints."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from slt_widgets.datasets import FrameDataset, load_digits_dataset
from slt_widgets.models import (CheckpointError, evaluate, load_checkpoint, mlp, mlp_from_spec, predict,
                                save_checkpoint, spec_of, train)


@pytest.fixture(scope="module")
def digits():
    return {s: load_digits_dataset(s) for s in ("train", "dev", "eval")}


# ----------------------------------------------------------------------------- mlp
def test_mlp_default_is_the_papers_small_net():
    m = mlp(253)
    kinds = [type(x) for x in m]
    assert kinds == [nn.Linear, nn.ReLU] * 5 + [nn.Linear]
    assert [x.out_features for x in m if isinstance(x, nn.Linear)] == [256] * 5 + [40]
    assert m(torch.zeros(7, 253)).shape == (7, 40)
    n_params = sum(p.numel() for p in m.parameters())
    assert n_params == 253 * 256 + 256 + 4 * (256 * 256 + 256) + 256 * 40 + 40


def test_mlp_batch_norm_and_dropout_layout():
    m = mlp(10, (8, 6), 3, batch_norm=True, dropout=0.2)
    assert [type(x) for x in m] == [nn.Dropout, nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout,
                                    nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout, nn.Linear]
    assert all(x.p == 0.2 for x in m if isinstance(x, nn.Dropout))
    m.eval()
    x = torch.randn(5, 10)
    assert torch.equal(m(x), m(x))           # eval mode: dropout off, deterministic
    assert mlp(4, (), 2)[0].in_features == 4  # no hidden layer: logistic regression


@pytest.mark.parametrize("kw,err", [(dict(d_in=0), ValueError), (dict(d_in=2.5), TypeError),
                                    (dict(d_in=3, hidden=256), TypeError), (dict(d_in=3, hidden=(4, -1)), ValueError),
                                    (dict(d_in=3, dropout=1.0), ValueError), (dict(d_in=3, batch_norm="yes"), TypeError)])
def test_mlp_rejects_bad_arguments(kw, err):
    with pytest.raises(err):
        mlp(**kw)


def test_spec_round_trip_and_foreign_models():
    m = mlp(12, (7, 5, 3), 4, batch_norm=True, dropout=0.1)
    spec = spec_of(m)
    assert spec == {"d_in": 12, "hidden": [7, 5, 3], "d_out": 4, "batch_norm": True, "dropout": 0.1}
    assert str(mlp_from_spec(spec)) == str(m)
    with pytest.raises(TypeError, match="mlp"):
        spec_of(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)))
    with pytest.raises(TypeError):
        spec_of(nn.Linear(3, 3).__class__(3, 3))


# ----------------------------------------------------------------------------- training
def test_train_improves_on_digits_and_is_reproducible(digits):
    torch.manual_seed(0)
    m = mlp(64, (64, 64), 10)
    before = evaluate(m, digits["eval"])["accuracy"]
    h = train(m, digits["train"], digits["dev"], epochs=12, batch_size=64, seed=3, threads=1, progress=False)
    after = evaluate(m, digits["eval"])["accuracy"]
    assert before < 0.3 and after > 0.9
    assert h["train_loss"][-1] < h["train_loss"][0]
    assert len(h["dev_acc"]) == h["epochs_run"] == len(h["lr"])
    assert not m.training
    torch.manual_seed(0)
    m2 = mlp(64, (64, 64), 10)
    train(m2, digits["train"], digits["dev"], epochs=12, batch_size=64, seed=3, threads=1, progress=False)
    for a, b in zip(m.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    pred = predict(m, digits["eval"])
    assert pred.shape == (len(digits["eval"]),)
    assert np.mean(pred == digits["eval"].labels) == pytest.approx(after)


def test_early_stopping_restores_the_best_state(digits):
    # dev labels scrambled: dev accuracy wanders around chance, so it stops improving early
    dev = digits["dev"]
    rng = np.random.default_rng(0)
    noisy = FrameDataset.from_arrays(dev.features, rng.permutation(dev.labels), dev.class_names, (8, 8))
    torch.manual_seed(1)
    m = mlp(64, (32,), 10)
    h = train(m, digits["train"], noisy, epochs=40, batch_size=64, patience=3, lr_patience=1, progress=False)
    assert h["stopped"] == "early_stopping" and h["epochs_run"] < 40
    best = h["best_epoch"]
    assert best == int(np.argmax(h["dev_acc"])) and best < h["epochs_run"] - 1
    assert h["epochs_run"] == best + 1 + 3
    assert evaluate(m, noisy)["accuracy"] == pytest.approx(h["dev_acc"][best], abs=1e-12)
    # the learning rate was halved after each epoch without improvement
    assert h["lr"][best + 1] == h["lr"][best] and h["lr"][best + 2] == pytest.approx(h["lr"][best] / 2)
    assert h["lr"][-1] < h["lr"][0]


def test_train_streams_spliced_datasets_like_dense_arrays():
    rng = np.random.default_rng(0)
    T, B = 300, 4
    frames = rng.normal(size=(T, B)).astype(np.float16)
    bounds = np.array([[0, 120], [120, 300]])
    labels = (frames[:, 0] > 0).astype(np.int64)
    spliced = FrameDataset(labels=labels, class_names=("lo", "hi"), feature_shape=(B, 3), _frames=frames,
                           _frame_index=np.arange(T), _utt_of_sample=np.repeat([0, 1], [120, 180]),
                           utt_bounds=bounds, context=1)
    dense = FrameDataset.from_arrays(spliced.features, labels, ("lo", "hi"), (B, 3))
    out = []
    for ds in (spliced, dense):
        torch.manual_seed(0)
        m = mlp(12, (8,), 2, batch_norm=True, dropout=0.1)
        h = train(m, ds, ds, epochs=3, batch_size=32, seed=0, progress=False)
        out.append((m, h))
    for a, b in zip(out[0][0].state_dict().values(), out[1][0].state_dict().values()):
        assert torch.equal(a, b)
    assert out[0][1]["dev_acc"] == out[1][1]["dev_acc"]


def test_train_errors_and_time_cap(digits):
    m = mlp(64, (8,), 10)
    with pytest.raises(TypeError, match="FrameDataset"):
        train(m, np.zeros((3, 64)), digits["dev"], progress=False)
    with pytest.raises(ValueError, match="d_in=64"):
        train(mlp(10, (8,), 10), digits["train"], digits["dev"], progress=False)
    with pytest.raises(ValueError, match="monitor"):
        train(m, digits["train"], digits["dev"], monitor="acc", progress=False)
    h = train(m, digits["train"], digits["dev"], epochs=50, batch_size=8, max_seconds=0.0, progress=False)
    assert h["stopped"] == "max_seconds" and h["epochs_run"] == 1
    h = train(m, digits["train"], digits["dev"], epochs=50, batch_size=100, max_batches=25, progress=False)
    # 1078 training digits = 11 batches per epoch: the cap falls inside the third epoch
    assert h["stopped"] == "max_batches" and h["batches"] == 25 and h["epochs_run"] == 3


# ----------------------------------------------------------------------------- checkpoints
def _trained_bn_model():
    torch.manual_seed(0)
    m = mlp(6, (5, 4), 3, batch_norm=True, dropout=0.2)
    m.train()
    m(torch.randn(64, 6) * 3 + 1)      # move the BatchNorm running statistics off their defaults
    return m.eval()


def test_checkpoint_round_trip_exact(tmp_path):
    m = _trained_bn_model()
    p = save_checkpoint(tmp_path / "m.pt", m, ["a", "b", "c"], (2, 3),
                        meta={"acc": np.float32(0.5), "hist": np.arange(3), "note": "x"})
    m2, info = load_checkpoint(p)
    assert info["class_names"] == ("a", "b", "c") and info["feature_shape"] == (2, 3)
    assert info["meta"] == {"acc": 0.5, "hist": [0, 1, 2], "note": "x"} and info["stored_dtype"] == "float32"
    assert info["spec"]["batch_norm"] and not m2.training
    sd, sd2 = m.state_dict(), m2.state_dict()
    assert sd.keys() == sd2.keys()
    for k in sd:
        assert torch.equal(sd[k], sd2[k]), k
    x = torch.randn(9, 6)
    assert torch.equal(m(x), m2(x))
    assert not list(tmp_path.glob("*.partial"))
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask     # like any new file, not mkstemp's private 0600


def test_checkpoint_half_storage(tmp_path):
    m = mlp(40, (64, 64), 5)
    full = save_checkpoint(tmp_path / "f.pt", m, list("abcde"), (40,))
    half = save_checkpoint(tmp_path / "h.pt", m, list("abcde"), (40,), half=True)
    raw = torch.load(half, weights_only=True)
    assert all(v.dtype == torch.float16 for v in raw["state_dict"].values())
    assert half.stat().st_size < 0.6 * full.stat().st_size
    m2, info = load_checkpoint(half)
    assert info["stored_dtype"] == "float16"
    for k, v in m.state_dict().items():
        got = m2.state_dict()[k]
        assert got.dtype == torch.float32 and torch.equal(got, v.half().float())


def test_checkpoint_argument_errors(tmp_path):
    m = mlp(6, (4,), 3)
    with pytest.raises(ValueError, match="class names"):
        save_checkpoint(tmp_path / "x.pt", m, ["a"], (6,))
    with pytest.raises(ValueError, match="feature_shape"):
        save_checkpoint(tmp_path / "x.pt", m, "abc", (5,))
    with pytest.raises(TypeError, match="meta"):
        save_checkpoint(tmp_path / "x.pt", m, "abc", (6,), meta={"f": object()})
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "x.pt", nn.Sequential(nn.Linear(6, 3), nn.Sigmoid()), "abc", (6,))
    with pytest.raises(FileNotFoundError, match="save_checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    m = mlp(6, (4,), 3)
    p = save_checkpoint(tmp_path / "m.pt", m, "abc", (6,))
    before = p.read_bytes()

    def boom(obj, f):
        f.write(b"half a file")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(p, mlp(6, (4,), 3), "abc", (6,))
    assert p.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["m.pt"]


def test_corrupt_and_foreign_files_are_refused(tmp_path):
    m = mlp(6, (4,), 3)
    good = save_checkpoint(tmp_path / "m.pt", m, "abc", (6,)).read_bytes()
    cases = {"trunc.pt": good[: len(good) // 2], "noise.pt": os.urandom(3000), "empty.pt": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match=name):
            load_checkpoint(tmp_path / name)
    torch.save(m.state_dict(), tmp_path / "sd.pt")
    with pytest.raises(CheckpointError, match="bare state_dict.*save_checkpoint"):
        load_checkpoint(tmp_path / "sd.pt")
    torch.save(torch.ones(3), tmp_path / "t.pt")
    with pytest.raises(CheckpointError, match="not a slt_widgets checkpoint"):
        load_checkpoint(tmp_path / "t.pt")
    torch.save({"format": "slt_widgets.checkpoint/1", "spec": {"d_in": 6}, "state_dict": {}}, tmp_path / "dmg.pt")
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(tmp_path / "dmg.pt")


class _Evil:
    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))      # would create the marker file if ever unpickled


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("how", ["torch_save", "raw_pickle"])
def test_pickle_payload_is_refused_never_executed(tmp_path, how):
    marker = tmp_path / "PWNED"
    evil = _Evil()
    evil.marker = str(marker)
    path = tmp_path / "evil.pt"
    payload = {"format": "slt_widgets.checkpoint/1", "spec": evil}
    if how == "torch_save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused.*nothing in it was executed") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)
    if how == "torch_save":
        assert "io.open" in str(err.value)        # names what it would have called
    assert not marker.exists()


# ------------------------------------------------------------------ hostile / careless checkpoints (issue 15)
def _tamper(tmp_path, name, **changes):
    """A real checkpoint with payload fields changed (its digest dropped, as a hand edit would)."""
    m = mlp(6, (4,), 3)
    save_checkpoint(tmp_path / "src.pt", m, "abc", (2, 3))
    payload = torch.load(tmp_path / "src.pt", weights_only=True)
    payload.pop("sha256", None)
    for k, v in changes.items():
        if callable(v):
            v(payload)
        else:
            payload[k] = v
    torch.save(payload, tmp_path / name)
    return tmp_path / name


def _poison(value):
    def f(p):
        p["state_dict"]["0.weight"][1, 2] = value
    return f


@pytest.mark.parametrize("name, changes, words", [
    ("names.pt", {"class_names": ["a", "b"]}, "2 class names for a model with d_out=3"),
    ("dupnames.pt", {"class_names": ["a", "b", "a"]}, "class names repeat (['a'])"),
    ("shape.pt", {"feature_shape": [5]}, "feature_shape [5] does not multiply to d_in=6"),
    ("negshape.pt", {"feature_shape": [-2, -3]}, "feature_shape [-2, -3]"),
    ("nan.pt", {"nan": _poison(float("nan"))}, "0.weight holds NaN or inf"),
    ("inf.pt", {"inf": _poison(float("inf"))}, "0.weight holds NaN or inf"),
    ("lie.pt", {"spec": {"d_in": 12000, "hidden": [12000], "d_out": 3}}, "0.weight is (4, 6) but the spec says (12000, 12000)"),
    ("boolspec.pt", {"spec": {"d_in": True, "hidden": [4], "d_out": 3}}, "spec widths must be positive ints"),
    ("meta.pt", {"meta": [1, 2]}, "meta is a list, not a dict"),
])
def test_checkpoint_fields_are_checked_against_each_other(tmp_path, name, changes, words):
    path = _tamper(tmp_path, name, **changes)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert words in str(err.value) and str(path) in str(err.value)


def test_a_spec_lie_is_refused_before_any_module_is_built(tmp_path, monkeypatch):
    import slt_widgets.models.checkpoint as ck
    path = _tamper(tmp_path, "lie.pt", spec={"d_in": 40000, "hidden": [40000], "d_out": 3})

    def never(spec):
        raise AssertionError(f"built modules for {spec}")
    monkeypatch.setattr(ck, "mlp_from_spec", never)
    with pytest.raises(CheckpointError, match="spec says"):
        load_checkpoint(path)


def test_a_changed_byte_anywhere_in_a_checkpoint_is_noticed(tmp_path):
    m = mlp(6, (4,), 3)
    p = save_checkpoint(tmp_path / "m.pt", m, "abc", (2, 3), meta={"acc": 0.5})
    payload = torch.load(p, weights_only=True)
    for edit in (lambda q: q["state_dict"]["0.weight"].mul_(1.0001), lambda q: q["meta"].update(acc=0.9),
                 lambda q: q.update(class_names=["a", "c", "b"])):
        q = {**payload, "state_dict": {k: v.clone() for k, v in payload["state_dict"].items()},
             "meta": dict(payload["meta"])}
        edit(q)
        torch.save(q, tmp_path / "edited.pt")
        with pytest.raises(CheckpointError, match="do not match the SHA-256"):
            load_checkpoint(tmp_path / "edited.pt")
    assert load_checkpoint(p)[1]["meta"] == {"acc": 0.5}


def test_save_refuses_what_would_load_wrong(tmp_path):
    m = mlp(6, (4,), 3)
    with torch.no_grad():
        m[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="weight '0.weight' holds NaN or inf"):
        save_checkpoint(tmp_path / "x.pt", m, "abc", (6,))
    with torch.no_grad():
        m[0].weight[0, 0] = 1e6
    with pytest.raises(ValueError, match="beyond float16's range"):
        save_checkpoint(tmp_path / "x.pt", m, "abc", (6,), half=True)
    with pytest.raises(ValueError, match=r"class names must be unique; \['a'\]"):
        save_checkpoint(tmp_path / "x.pt", m, "aba", (6,))
    assert not (tmp_path / "x.pt").exists()


def test_meta_with_tuple_keys_cycles_or_objects_names_the_entry(tmp_path):
    m = mlp(6, (4,), 3)
    cyc = {"a": []}
    cyc["a"].append(cyc)
    cases = [({(1, 2): "x"}, r"meta has the key \(1, 2\) \(tuple\); checkpoint meta keys must be strings"),
             ({"h": {3: 1}}, r"meta\['h'\] has the key 3 \(int\)"),
             (cyc, r"meta\['a'\]\[0\] contains itself \(a cycle\)"),
             ({"f": [1, object()]}, r"meta\['f'\]\[1\] holds a object")]
    for meta, pattern in cases:
        with pytest.raises(TypeError, match=pattern):
            save_checkpoint(tmp_path / "x.pt", m, "abc", (6,), meta=meta)
    p = save_checkpoint(tmp_path / "x.pt", m, "abc", (6,), meta={"t": (1, 2), "s": {3, 1}, "n": np.float32(0.5)})
    assert load_checkpoint(p)[1]["meta"] == {"t": [1, 2], "s": [1, 3], "n": 0.5}
