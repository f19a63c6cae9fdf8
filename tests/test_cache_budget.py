"""Issue 15 (engine part): the SLT cache's keys, memory-budget strings and Dask's empty partitions."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import slt_widgets as sw
from slt_widgets.engine.errors import SLTInputError
from slt_widgets.engine.streaming import parse_bytes


@pytest.fixture()
def cache_and_data():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4)).double().eval()
    x = np.random.default_rng(0).normal(size=(40, 6))
    return sw.SLTCache(net, x), net, x


def test_node_lists_and_masks_never_share_a_key(cache_and_data):
    cache, net, x = cache_and_data
    idx = np.arange(10)
    full = sw.slt(net, x[idx]).weight
    rep = cache.get(idx, nodes=[1, 0, 1])
    torch.testing.assert_close(rep.weight, full[:, [1, 0, 1]])
    mask = cache.get(idx, nodes=np.array([True, False, True, False]))
    torch.testing.assert_close(mask.weight, full[:, [0, 2]])
    torch.testing.assert_close(cache.get(idx, nodes=[0, 2]).weight, full[:, [0, 2]])
    torch.testing.assert_close(cache.get(idx, nodes=torch.tensor([1, 0, 1])).weight, full[:, [1, 0, 1]])
    torch.testing.assert_close(cache.get(idx, nodes=slice(1, 3)).weight, full[:, 1:3])
    assert cache.get(idx, nodes=[1, 0, 1]) is rep


def test_bad_selections_are_refused_even_next_to_a_cached_entry(cache_and_data):
    cache, net, x = cache_and_data
    idx = np.arange(10)
    cache.get(idx, nodes=[0, 2])
    with pytest.raises(SLTInputError, match="boolean node mask must have length 4"):
        cache.get(idx, nodes=[True, False, True])            # selects rows 0, 2 — but is 3 long
    with pytest.raises(SLTInputError, match="nodes must be ints"):
        cache.get(idx, nodes=[0.0, 2.0])
    cache.get(idx, layer=1)
    with pytest.raises(SLTInputError, match="layer must be"):
        cache.get(idx, layer="1")
    assert len(cache) == 2                                    # still usable, nothing half-written
    assert cache.get(idx, nodes=[0, 2]).weight.shape == (10, 2, 6)


def test_the_cache_empties_when_the_model_changes(cache_and_data):
    cache, net, x = cache_and_data
    idx = np.arange(10)
    before = cache.get(idx)
    with torch.no_grad():
        net[2].weight.mul_(2)                                 # trained further, in place
    after = cache.get(idx)
    assert after is not before
    torch.testing.assert_close(after.apply(torch.from_numpy(x[idx])), net(torch.from_numpy(x[idx])).detach())
    h = net[1].register_forward_hook(lambda m, i, o: o + 1)
    hooked = cache.get(idx)
    torch.testing.assert_close(hooked.apply(torch.from_numpy(x[idx])), net(torch.from_numpy(x[idx])).detach())
    h.remove()
    torch.testing.assert_close(cache.get(idx).weight, after.weight)


BAD_BUDGETS = [0, -1, -0.0, 0.4, "0", "0GB", "-1", "-1GB", " -2 mb ", "0.0000001KB", float("nan"), float("inf"),
               "nan", "NaN GB", "inf", "infGB", "-inf", "1e400", "1e400GB", "", "   ", "GB", "lots", "1.5.5GB",
               "12XB", True, False, None, [1], b"1GB", 10 ** 400]


@pytest.mark.parametrize("budget", BAD_BUDGETS, ids=repr)
def test_bad_memory_budgets_are_refused_with_a_message(budget):
    with pytest.raises(SLTInputError, match="memory budget"):
        parse_bytes(budget)
    with pytest.raises(SLTInputError, match="memory budget"):
        sw.SLTCache(nn.Linear(2, 2), np.zeros((3, 2)), memory_budget=budget)


@pytest.mark.parametrize("text, size", [("1.5TB", int(1.5 * 2 ** 40)), (" 2 gb ", 2 << 30), ("512MiB", 512 << 20),
                                        ("64k", 64 << 10), ("100B", 100), ("1e3", 1000), (1e9, 10 ** 9),
                                        ("3 G", 3 << 30), ("1_000", 1000), (np.int64(7), 7), ("1kib", 1024)])
def test_good_memory_budgets(text, size):
    assert parse_bytes(text) == size


UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=1e-3, max_value=1e6, allow_nan=False), st.sampled_from(sorted(UNITS)),
       st.sampled_from(["", "B", "iB"]), st.sampled_from(["", " "]), st.booleans())
def test_budget_text_property(number, unit, suffix, space, lower):
    suffix = suffix if unit or suffix != "iB" else ""
    text = f"{number!r}{space}{unit}{suffix}"
    text = text.lower() if lower else text
    expected = number * UNITS[unit]
    if expected >= 1:
        assert parse_bytes(text) == int(expected)
    else:
        with pytest.raises(SLTInputError, match="positive"):
            parse_bytes(text)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(alphabet="0123456789.-+eEkKmMgGtTpPiIbB nNaAfF_", max_size=12), st.floats(),
                 st.integers()))
def test_any_budget_is_a_positive_size_or_an_slt_input_error(value):
    try:
        size = parse_bytes(value)
    except SLTInputError as e:
        assert "memory budget" in str(e)
    else:
        assert isinstance(size, int) and size >= 1


def test_dask_accepts_empty_partitions_and_refuses_only_no_samples():
    da = pytest.importorskip("dask.array")
    from slt_widgets.distributed import dask_activation_stats, dask_slt_spectra
    from slt_widgets.engine.stats import streaming_activation_stats, streaming_slt_spectra
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).double().eval()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 6))
    y = rng.integers(0, 3, 300)
    keep = np.zeros(300, bool)
    keep[:100] = True                          # partitions 2 and 3 (of 100 rows each) become empty
    keep[250:] = True
    xd = da.from_array(x, chunks=(50, 6))[da.from_array(keep, chunks=50)]
    xd.compute_chunk_sizes()
    assert 0 in xd.chunks[0]
    got = dask_activation_stats(net, xd, y[keep], n_classes=3)
    ref = streaming_activation_stats(net, x[keep], y[keep], n_classes=3)
    for l in ref:
        np.testing.assert_allclose(got[l].gram, ref[l].gram, rtol=1e-10)
    sp = dask_slt_spectra(net, xd, [1])
    # (zero singular values come out as √(rounding of the Gram eigenvalues) ≈ 1e-8 · σ₁)
    np.testing.assert_allclose(sp[1].sigmas, streaming_slt_spectra(net, x[keep], [1])[1].sigmas, rtol=1e-8, atol=1e-6)
    none = da.from_array(x, chunks=(50, 6))[da.from_array(np.zeros(300, bool), chunks=50)]
    none.compute_chunk_sizes()
    with pytest.raises(SLTInputError, match="holds no samples"):
        dask_activation_stats(net, none)
    assert math.isfinite(got[1].n)
