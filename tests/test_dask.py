"""Dask: the streamed statistics over dask arrays/dataframes and on a LocalCluster equal the
single-process results (≤ 1e-8 relative, float64 model)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from slt_widgets.distributed import as_row_chunked, dask_activation_stats, dask_slt_spectra, dask_stats  # noqa: E402
from slt_widgets.analysis import streamed_lda  # noqa: E402
from slt_widgets.engine.errors import SLTInputError  # noqa: E402
from slt_widgets.engine.stats import streaming_activation_stats, streaming_slt_spectra  # noqa: E402

K = 5


def _rel(a, b):
    return np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 24), nn.BatchNorm1d(24), nn.ReLU(), nn.Linear(24, 12), nn.ReLU(),
                         nn.Linear(12, K)).double().eval()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    y = rng.integers(0, K, 2500)
    return rng.normal(size=(2500, 10)) + 0.3 * y[:, None], y


@pytest.fixture(scope="module")
def reference(model, data):
    x, y = data
    return (streaming_activation_stats(model, x, y, n_classes=K, batch_size=1000),
            streaming_slt_spectra(model, x, [2, "output"], batch_size=1000))


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as c:
        yield c


def _check_moments(got, ref):
    for l in ref:
        assert got[l].n == ref[l].n and got[l].counts.tolist() == ref[l].counts.tolist()
        for attr in ("class_means", "gram", "total_scatter", "within_scatter"):
            assert _rel(getattr(got[l], attr), getattr(ref[l], attr)) <= 1e-8, (l, attr)
        lda_g, lda_r = streamed_lda(got[l]), streamed_lda(ref[l])
        assert _rel(lda_g.explained_variance_ratio, lda_r.explained_variance_ratio) <= 1e-8


def test_dask_array_local_scheduler_equals_single_process(model, data, reference):
    x, y = data
    dx = da.from_array(x, chunks=(173, 4))              # ragged row chunks, split columns: rechunked
    got = dask_activation_stats(model, dx, da.from_array(y, chunks=500), n_classes=K, split_every=3)
    _check_moments(got, reference[0])


def test_local_cluster_moments_and_node_spectra(model, data, reference, client):
    x, y = data
    dx = da.from_array(x, chunks=(300, 10))
    got = dask_stats(model, dx, y, client, n_classes=K)
    _check_moments(got, reference[0])
    spec = dask_slt_spectra(model, dx, [2, "output"], client=client)
    for l, ref in reference[1].items():
        assert spec[l].n_samples == len(x)
        assert _rel(spec[l].sigmas, ref.sigmas) <= 1e-8
        np.testing.assert_array_equal(spec[l].dead, ref.dead)


def test_local_cluster_groups_and_blocks(model, data, client):
    x, y = data
    g = np.where(y < 2, y, -1)
    ref = streaming_slt_spectra(model, x, [2], groups=g, per="input")
    got = dask_slt_spectra(model, da.from_array(x, chunks=400), [2], per="input", groups=g, client=client,
                           memory_budget=8 * 12 * 12 * 3 * 4)          # 4 inputs × (2 groups + a product) per pass
    for k in (0, 1):
        assert got[k][2].sigmas.shape == (10, 12)
        assert _rel(got[k][2].sigmas, ref[k][2].sigmas) <= 1e-8


def test_dask_dataframe_with_label_column(model, data, reference):
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd
    x, y = data
    df = pd.DataFrame(x, columns=[f"f{i}" for i in range(10)])
    df["phone"] = y
    got = dask_activation_stats(model, dd.from_pandas(df, npartitions=4), "phone", n_classes=K)
    _check_moments(got, reference[0])


def test_process_workers_get_the_pickled_model(model, data, reference):
    """Real processes: the model is pickled once per worker by client.scatter."""
    x, y = data
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as cluster, distributed.Client(cluster) as c:
        got = dask_activation_stats(model, da.from_array(x, chunks=700), y, layers=[2, "output"],
                                    n_classes=K, client=c)
    for l in (2, "output"):
        assert _rel(got[l].gram, reference[0][l].gram) <= 1e-8


def test_bad_dask_inputs(model, data):
    x, y = data
    with pytest.raises(SLTInputError, match=r"labels must be \[N\]"):
        dask_activation_stats(model, da.from_array(x, chunks=500), y[:-3])
    with pytest.raises(SLTInputError, match="expects 10"):
        dask_activation_stats(model, da.from_array(x[:, :7], chunks=500), y)
    with pytest.raises(SLTInputError, match="split_every"):
        dask_activation_stats(model, da.from_array(x, chunks=500), y, split_every=1)
    unknown = da.from_array(x, chunks=500)[da.from_array(y, chunks=500) > 0]
    with pytest.raises(SLTInputError, match="compute_chunk_sizes"):
        as_row_chunked(unknown)
    with pytest.raises(SLTInputError, match="column name"):
        as_row_chunked(x, "phone")
    with pytest.raises(SLTInputError, match="kind must be"):
        dask_stats(model, x, y, kind="gram")
    with pytest.raises(TypeError, match="dask.array"):
        dask_activation_stats(model, [[1.0] * 10], None)
