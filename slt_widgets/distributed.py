"""Dataset-wide statistics over a ``dask.array`` / ``dask.dataframe`` or on a ``dask.distributed`` cluster.

Map over partitions → one accumulator per partition (class sums and scatter, or SLT Grams; see
:mod:`slt_widgets.engine.stats`) → pairwise merges in a tree built as a Dask graph (``split_every``
partitions per node, like ``dask.array.reduction``) → the same results as the single-process
:func:`~slt_widgets.engine.stats.streaming_activation_stats` /
:func:`~slt_widgets.engine.stats.streaming_slt_spectra` (float64 accumulation; equal to ≤ 1e-8
relative for a float64 model). Dask schedules everything: locally (threads) without a client,
on a cluster with ``client=Client("tcp://scheduler:8786")``. The model is shipped once
(``client.scatter(..., broadcast=True)``, or one shared graph key without a client).
"""
from __future__ import annotations

import numpy as np
import torch

from .engine.chain import eval_mode, to_chain
from .engine.dispatch import read_model
from .engine.errors import SLTInputError, SLTTypeError
from .engine.gram_pass import group_array, join_blocks, plan_blocks
from .engine.stats import activation_layers, merge_moments, partition_grams, partition_moments
from .engine.streaming import parse_bytes

__all__ = ["dask_activation_stats", "dask_slt_spectra", "dask_stats", "as_row_chunked"]


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError as e:  # pragma: no cover - dask is an optional extra
        raise ImportError("slt_widgets.distributed needs dask: pip install 'slt_widgets[dask]'") from e
    return dask, da


def as_row_chunked(data, labels=None):
    """``(x, y)`` as dask arrays chunked along rows only: ``x [N, D]`` (one chunk across ``D``) and
    ``y [N]`` int64 with the same row chunks (or None).

    data: a ``dask.array`` ``[N, D]`` (or ``[N, *shape]``, flattened), a ``dask.dataframe`` (its
    numeric columns; ``labels`` may name the label column) or a numpy array / memmap.
    labels: ``[N]`` numpy / dask array, a column name of the dataframe, or None.
    """
    dask, da = _dask()
    if hasattr(data, "to_dask_array") and hasattr(data, "columns"):            # dask.dataframe
        if isinstance(labels, str):
            if labels not in data.columns:
                raise SLTInputError(f"label column {labels!r} not in the dataframe; columns: {list(data.columns)}")
            y = data[labels].to_dask_array(lengths=True)
            data = data.drop(columns=[labels])
            labels = y
        data = data.to_dask_array(lengths=True)
    elif isinstance(labels, str):
        raise SLTInputError("labels given as a column name need a dask.dataframe; pass an array [N] instead")
    if isinstance(data, (np.ndarray, torch.Tensor)):
        arr = data.numpy() if isinstance(data, torch.Tensor) else data
        data = da.from_array(arr, chunks=(max(1, min(len(arr), 4096)),) + arr.shape[1:])
    if not isinstance(data, da.Array):
        raise SLTTypeError(f"expected a dask.array, dask.dataframe or numpy array [N, D], got {type(data).__name__}")
    if data.ndim < 2:
        raise SLTInputError(f"data must be [N, D], got shape {data.shape}")
    if any(np.isnan(c) for c in data.chunks[0]):
        raise SLTInputError("partition sizes are unknown; call x.compute_chunk_sizes() or "
                            "ddf.to_dask_array(lengths=True) first")
    if data.shape[0] == 0:
        raise SLTInputError("the dask array holds no samples (shape [0, …]); select at least one sample")
    if data.ndim > 2:
        data = data.reshape(data.shape[0], -1)
    x = data.rechunk({1: -1})         # a partition must hold whole samples
    y = None
    if labels is not None:
        y = labels if isinstance(labels, da.Array) else da.from_array(np.asarray(labels))
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise SLTInputError(f"labels must be [N] = [{x.shape[0]}], got shape {y.shape}")
        y = y.rechunk((x.chunks[0],))
    return x, y


def _tree(parts, merge, split_every: int):
    """Merge delayed partials pairwise … ``split_every`` at a time until one is left (a Dask graph)."""
    dask, _ = _dask()
    if not parts:
        raise SLTInputError("the dask array has no partitions")
    level = list(parts)
    while len(level) > 1:
        level = [dask.delayed(_merge_many)(merge, level[i:i + split_every], pure=True)
                 for i in range(0, len(level), split_every)]
    return level[0]


def _merge_many(merge, items):
    out = items[0]
    for it in items[1:]:
        out = merge(out, it)
    return out


def _ship(model, client):
    """The model as one graph dependency: scattered to every worker once, or one delayed key."""
    dask, _ = _dask()
    model.eval()
    if client is not None:
        return client.scatter(model, broadcast=True, hash=False)
    return dask.delayed(model, pure=True)


def _compute(obj, client):
    dask, _ = _dask()
    if client is not None:
        return client.compute(obj).result()
    (out,) = dask.compute(obj)
    return out


def _moments_part(model, x, y, layers, K, dtype, device):
    if len(x) == 0:                 # an empty partition (e.g. of x[mask]) adds nothing to the merge
        return {}
    with torch.no_grad(), eval_mode(model):
        return partition_moments(model, torch.from_numpy(np.ascontiguousarray(x)), y, layers, K,
                                 dtype=dtype, device=device)


def dask_activation_stats(model, data, labels=None, layers=None, *, n_classes: int | None = None,
                          client=None, split_every: int = 8, dtype=None, device=None) -> dict:
    """:class:`~slt_widgets.engine.stats.ActivationStats` per layer over a Dask collection.

    data / labels: see :func:`as_row_chunked` (each partition ``[b, D]`` holds whole samples).
    layers: ``"input"``, ``1..L``, ``"output"`` (default all). client: a
    ``distributed.Client`` (None: dask's current scheduler). split_every: fan-in of the tree
    reduction. device: where each worker runs the forward pass (``"cuda"`` on GPU workers).
    Returns ``{layer: ActivationStats}`` equal to :func:`streaming_activation_stats`'s.
    """
    dask, _ = _dask()
    layers = activation_layers(model, layers)
    if isinstance(split_every, bool) or not isinstance(split_every, int) or split_every < 2:
        raise SLTInputError(f"split_every must be an int ≥ 2, got {split_every!r}")
    K = 1 if n_classes is None else int(n_classes)
    x, y = as_row_chunked(data, labels)
    d_in = to_chain(model).d_in
    if d_in is not None and x.shape[1] != d_in:
        raise SLTInputError(f"data has {x.shape[1]} features per sample but the model expects {d_in}")
    m = _ship(model, client)
    xs = x.to_delayed().ravel()
    ys = [None] * len(xs) if y is None else list(y.to_delayed().ravel())
    parts = [dask.delayed(_moments_part, pure=True)(m, xb, yb, layers, K, dtype, device) for xb, yb in zip(xs, ys)]
    acc = _compute(_tree(parts, merge_moments, split_every), client)
    return {l: acc[l].result() for l in layers}


def _grams_part(model, x, blocks, per, g, G, chunk, dtype, device):
    if len(x) == 0:                 # an empty partition adds nothing to the merge
        return {}
    with torch.no_grad(), eval_mode(model):
        return partition_grams(model, torch.from_numpy(np.ascontiguousarray(x)), blocks, per,
                               None if g is None else np.asarray(g), G, chunk=chunk, dtype=dtype, device=device)


def _merge_grams(a: dict, b: dict) -> dict:
    for k, v in b.items():
        a[k] = v if k not in a else a[k].merge(v)
    return a


def dask_slt_spectra(model, data, layers=None, *, per: str = "node", groups=None, n_groups: int | None = None,
                     memory_budget="1GB", client=None, split_every: int = 8, chunk: int = 128, dtype=None,
                     device=None) -> dict:
    """Σ_NODES / Σ_INPUTS spectra over a Dask collection (see :func:`streaming_slt_spectra`).

    Each partition accumulates ``[r, F, F]`` (``[f, M, M]``) Grams; a tree of merges sums them;
    eigenvalues are taken once at the end. memory_budget bounds the Grams held per task (nodes /
    inputs are split into blocks, one graph per block set). groups: ``[N]`` ints in −1..G−1.
    Returns ``{layer: NodeSpectra}`` or, with groups, ``{group: {layer: NodeSpectra}}``.
    """
    dask, da = _dask()
    if per not in ("node", "input"):
        raise SLTInputError(f"per must be 'node' or 'input', got {per!r}")
    reading = read_model(model)
    if reading.kind != "chain":
        raise SLTInputError("dask_slt_spectra supports chain models (nn.Sequential MLPs); use "
                            "streaming_slt_spectra for other models")
    chain = reading.chain
    layers = [l for l in activation_layers(model, list(range(1, chain.n_hidden + 1)) if layers is None else layers)
              if l != "input"]
    G, g = 1, None
    if groups is not None:
        G = int(n_groups) if n_groups is not None else int(np.max(np.asarray(groups))) + 1
        g = group_array(groups, G)
    x, gd = as_row_chunked(data, g)
    if x.shape[1] != chain.d_in:
        raise SLTInputError(f"data has {x.shape[1]} features per sample but the model expects {chain.d_in}")
    passes = plan_blocks(per, x.shape[1], {l: chain.layer_width(l) for l in layers}, parse_bytes(memory_budget), G)
    m = _ship(model, client)
    xs = x.to_delayed().ravel()
    gs = [None] * len(xs) if gd is None else list(gd.to_delayed().ravel())
    roots = []
    for blocks in passes:
        parts = [dask.delayed(_grams_part, pure=True)(m, xb, blocks, per, gb, G, chunk, dtype, device)
                 for xb, gb in zip(xs, gs)]
        roots.append(_tree(parts, _merge_grams, split_every))
    results = {}
    for root in roots:                       # one block set at a time keeps the Grams within budget
        acc = _compute(root, client)
        for (gi, l, _), a in acc.items():
            results.setdefault(gi, {}).setdefault(l, []).append(a)
    out = {gi: {l: join_blocks(parts) for l, parts in per_layer.items()} for gi, per_layer in results.items()}
    return out if groups is not None else out[0]


def dask_stats(model, data, labels=None, client=None, *, kind: str = "activations", **kw) -> dict:
    """One entry point: ``kind="activations"`` → :func:`dask_activation_stats`; ``"node"`` /
    ``"input"`` → :func:`dask_slt_spectra` with ``per=kind`` (``labels`` then act as ``groups``)."""
    if kind == "activations":
        return dask_activation_stats(model, data, labels, client=client, **kw)
    if kind in ("node", "input"):
        return dask_slt_spectra(model, data, per=kind, groups=labels, client=client, **kw)
    raise SLTInputError(f"kind must be 'activations', 'node' or 'input', got {kind!r}")
