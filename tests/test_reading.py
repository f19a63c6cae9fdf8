"""The model read once into one object (issue 13): read_model chooses the reading and caches it per
model; the chain and the general path are two implementations of one interface whose verbs agree;
the fallback is decided in one place (dispatch.verified), for single calls and streams alike."""
import gc
import warnings
import weakref

import numpy as np
import pytest
import torch
from torch import nn

import slt_widgets as sw
from slt_widgets.engine import SLTFallbackWarning, SLTInputError, UnsupportedModelError
from slt_widgets.engine.chain import mark_broken
from slt_widgets.engine.chain_reading import ChainReading
from slt_widgets.engine.dispatch import read_model
from slt_widgets.engine.general import GeneralReading, general_reading
from slt_widgets.engine.reading import ModelReading, Work

D64 = torch.float64


def mlp(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 9), nn.BatchNorm1d(9), nn.ReLU(), nn.Linear(9, 7), nn.LeakyReLU(0.1),
                        nn.Linear(7, 3)).to(D64)
    net.train()
    net(torch.randn(64, 6, dtype=D64))
    return net.eval()


def conv():
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3)).to(D64).eval()


X = torch.randn(37, 6, generator=torch.Generator().manual_seed(2), dtype=D64)


def test_read_model_chooses_the_path_and_reads_once_until_the_model_changes():
    model = mlp()
    r = read_model(model)
    assert isinstance(r, ChainReading) and isinstance(r, ModelReading) and r.kind == "chain" and r.exact
    assert read_model(model) is r                              # cached: no second reading
    with torch.no_grad():
        model[0].weight.mul_(0.5)                              # trained further
    r2 = read_model(model)
    assert r2 is not r
    torch.testing.assert_close(sw.slt(model, X).apply(X), model(X))
    assert read_model(model, "general") is general_reading(model) and read_model(model, "general").kind == "general"
    assert isinstance(read_model(conv()), GeneralReading)
    hooked = mlp()
    hooked[2].register_forward_hook(lambda m, i, o: o * 2)
    assert read_model(hooked).kind == "general"                 # hooks: only the general path runs them
    with pytest.raises(UnsupportedModelError, match="hook"):
        read_model(hooked, "chain")
    with pytest.raises(SLTInputError, match="'auto', 'chain' or 'general'"):
        read_model(model, "fast")
    with pytest.raises(SLTInputError, match="nn.Module"):
        read_model(lambda x: x)


def test_the_two_readings_agree_on_every_verb():
    model = mlp()
    chain, general = read_model(model), read_model(model, "general")
    for layer in (1, 2, "output"):
        a, b = chain.slt(X, layer, chunk=8), general.slt(X, layer, chunk=8)
        torch.testing.assert_close(a.weight, b.weight, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(a.bias, b.bias, rtol=1e-10, atol=1e-10)
        assert a.exact and b.exact and a.layer == b.layer == layer
    la, lb = chain.slt_layers(X, chunk=8), general.slt_layers(X, chunk=8)
    assert list(la) == list(lb) == [1, 2, "output"]
    for k in la:
        torch.testing.assert_close(la[k].weight, lb[k].weight, rtol=1e-10, atol=1e-10)
    aa, ab = chain.activations(X), general.activations(X)
    assert list(aa) == list(ab)
    for k in aa:
        torch.testing.assert_close(aa[k], ab[k])
    for per in ("node", "input"):
        ga = [(s, e, {k: v.clone() for k, v in ops.items()}) for s, e, ops in chain.gram_operands(X, [2, "output"], per, chunk=10)]
        gb = list(general.gram_operands(X, [2, "output"], per))
        for k in (2, "output"):
            whole = torch.cat([ops[k] for _, _, ops in ga], 1)           # chunks joined along the sample axis
            torch.testing.assert_close(whole, gb[0][2][k], rtol=1e-10, atol=1e-10)
        assert [s for s, _, _ in ga] == list(range(0, len(X), 10))
    assert chain.n_hidden() == general.n_hidden() == 2
    assert chain.widths([2, "output"]) == general.widths([2, "output"], X[:1]) == (6, {2: 7, "output": 3})


def test_skipped_chunks_build_nothing():
    model = mlp()
    want = np.zeros(len(X), bool)
    want[25] = True
    got = list(read_model(model).gram_operands(X, [1], "node", chunk=10, want=want))
    assert [(s, e) for s, e, _ in got] == [(20, 30)]
    assert list(read_model(model, "general").gram_operands(X, [1], "node", want=np.zeros(len(X), bool))) == []


def test_a_work_that_keeps_outputs_writes_every_call_into_the_same_memory():
    model = mlp()                                               # a reading holds its model weakly: keep it
    r = read_model(model)
    work = Work(keep_outputs=True)
    first = r.slt(X, "output", chunk=8, work=work)
    ptr = first.weight.data_ptr()
    second = r.slt(X[:20], "output", chunk=8, work=work)
    assert second.weight.data_ptr() == ptr                      # the kept buffer, viewed for fewer samples
    torch.testing.assert_close(second.apply(X[:20]), model(X[:20]).detach())
    fresh = r.slt(X, "output", chunk=8)
    assert fresh.weight.data_ptr() != ptr


def test_a_stream_falls_back_once_and_finishes_on_the_general_path(monkeypatch):
    model = mlp()
    real = ChainReading._backward_chunk
    calls = []

    def wrong(reading, rec, target, rows, out_w, out_b, work):
        calls.append(1)
        real(reading, rec, target, rows, out_w, out_b, work)
        out_w[:, :, 0] += 0.01
    monkeypatch.setattr(ChainReading, "_backward_chunk", wrong)
    try:
        with pytest.warns(SLTFallbackWarning) as caught:
            got = list(sw.iter_slt(model, X, batch_size=10, reuse_buffers=True))
        assert len([w for w in caught if issubclass(w.category, SLTFallbackWarning)]) == 1
        assert len(calls) == 1                                 # the first batch's chain failed; no second try
        for rows, m in got:
            torch.testing.assert_close(m.apply(X[rows]), model(X[rows]).detach())
        assert caught[0].filename == __file__                  # the warning points at the caller, not the engine
    finally:
        mark_broken(model, None)


def test_a_reading_never_keeps_its_model_alive():
    for make, x in ((mlp, X), (conv, torch.randn(4, 1, 6, dtype=D64))):
        model = make()
        sw.slt(model, x)
        sw.activations(model, x)
        ref = weakref.ref(model)
        reading = read_model(model)
        del model
        gc.collect()
        assert ref() is None, make.__name__
        with pytest.raises(SLTInputError, match="no longer exists"):
            _ = reading.model
        del reading
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gc.collect()
