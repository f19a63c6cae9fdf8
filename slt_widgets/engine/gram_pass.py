"""The one streaming Gram pipeline: per-node (Σ_NODES) and per-input (Σ_INPUTS) SLT Grams over any
number of batches, for any model reading, with an optional group of every sample (METHODS §2).

:func:`accumulate_grams` is the chunk loop every spectrum goes through —
:func:`node_spectra` / :func:`input_spectra` (one pass, every node), the memory-budgeted
:func:`~slt_widgets.engine.stats.streaming_slt_spectra` (node blocks, several passes, groups) and
the Dask partitions of :mod:`slt_widgets.distributed`. Chunks holding no sample of a selected
group are skipped before any SLT is built.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import torch

from .dispatch import read_model, verified
from .errors import SLTInputError
from .grams import SLTGrams
from .reading import ModelReading, Work
from .spectra import NodeSpectra
from .streaming import iter_inputs

__all__ = ["accumulate_grams", "node_spectra", "input_spectra", "plan_blocks", "join_blocks", "group_array"]


def accumulate_grams(reading: ModelReading, batches: Iterable, blocks, per: str, *, groups=None,
                     n_groups: int = 1, chunk: int = 128, dtype=None, device=None,
                     widths: tuple[int, dict] | None = None) -> tuple[dict, int]:
    """``({(group, layer, block_id): SLTGrams}, N)`` over every batch ``x [b, F]`` of ``batches``.

    blocks: ``[(layer, index [r] or None)]`` — the nodes (``per="node"``) or input dimensions
    (``per="input"``) whose Grams are kept, per layer (any spelling; keys come out canonical:
    ``1..L`` / ``"output"``). groups: ``[N]`` ints in −1..G−1 over the whole stream (−1: the sample
    is left out), or None (every sample in group 0). widths: ``(F, {layer: M})`` when the caller
    knows them (else read from the first batch). Each ``SLTGrams`` holds ``[r, F, F]`` (``[r, M, M]``)
    float64 Grams; an accumulator exists for every (group, block) from the first batch on, even
    one no sample reaches. N counts every sample of the stream.
    """
    if per not in ("node", "input"):
        raise SLTInputError(f"per must be 'node' or 'input', got {per!r}")
    g_all = None if groups is None else np.asarray(groups)
    work = Work()
    accs: dict = {}
    keys: list = []
    start = 0
    for xb in batches:
        b = len(xb)
        gb = None
        if g_all is not None:
            gb = g_all[start:start + b]
            if len(gb) != b:
                raise SLTInputError(f"groups has {len(g_all)} entries but the data has more samples; pass one "
                                    "group per sample")
        if not keys:                                         # the first batch: canonical layers, accumulators
            probe = xb[:1]
            canon = dict(zip(dict.fromkeys(l for l, _ in blocks),
                             reading.layer_keys(list(dict.fromkeys(l for l, _ in blocks)), probe)))
            keys = [(canon[l], idx) for l, idx in blocks]
            n_in, width = widths if widths is not None else reading.widths(list(dict.fromkeys(canon.values())), probe)
            for gi in range(n_groups):
                for bi, (l, idx) in enumerate(keys):
                    accs[(gi, l, bi)] = SLTGrams(l, per, n_in, width[l], idx)
        layers = list(dict.fromkeys(l for l, _ in keys))
        want = None if gb is None else gb >= 0
        for s, e, ops in reading.gram_operands(xb, layers, per, chunk=chunk, dtype=dtype, device=device, want=want,
                                               work=work):
            gc = None if gb is None else gb[s:e]
            picked = {}
            for (gi, l, bi), acc in accs.items():
                j = ops[l]                                   # [M, c, F] or [F, c, M]
                if gc is None:
                    acc.update_major(j)
                    continue
                rows = gc == gi
                if rows.all():
                    acc.update_major(j)
                elif rows.any():
                    if (gi, l) not in picked:
                        picked[(gi, l)] = j[:, torch.as_tensor(np.flatnonzero(rows), device=j.device)]
                    acc.update_major(picked[(gi, l)])
        start += b
    if g_all is not None and start != len(g_all):
        raise SLTInputError(f"groups has {len(g_all)} entries but the data has {start} samples")
    for a in accs.values():              # free the float32 batch sums before the spectra are taken
        a.release()
    return accs, start


def _spectra(model, data, layers, per, batch_size, chunk, dtype, device, progress) -> dict:
    """``{layer: NodeSpectra}`` of every node (``per="node"``) or input dimension of ``layers``."""
    if layers is None:
        layers = list(range(1, read_model(model, "chain").n_hidden() + 1))

    def run(reading):
        batches = iter_inputs(data, batch_size, progress=progress, desc=f"{per} spectra")
        return accumulate_grams(reading, batches, [(l, None) for l in layers], per, chunk=chunk, dtype=dtype,
                                device=device)
    (accs, n), _ = verified(model, read_model(model), run)
    if n == 0:
        raise SLTInputError("node_spectra got no data (an empty dataset or iterator)")
    return {key[1]: accs.pop(key).result() for key in list(accs)}   # one layer's full Gram at a time


def node_spectra(model, data, layers=None, *, batch_size: int = 2048, chunk: int = 128,
                 dtype=None, device=None, progress: bool = False) -> dict:
    """Streaming Σ_NODES: singular values of every node's SLT ``[N × F]`` for each layer.

    data: ``[N, F]`` tensor/array, a ``FrameDataset``, a ``DataLoader`` or any iterable of
    batches. layers: hidden layers and/or ``"output"`` (default: every hidden layer).
    Memory: ``M × F × F`` float64 per layer plus one chunk of SLTs. Returns
    ``{layer: NodeSpectra}``.
    """
    return _spectra(model, data, layers, "node", batch_size, chunk, dtype, device, progress)


def input_spectra(model, data, layers=None, *, batch_size: int = 2048, chunk: int = 128,
                  dtype=None, device=None, progress: bool = False) -> dict:
    """Streaming Σ_INPUTS: per input dimension f, singular values of the ``[N × M]`` slice.

    Returns ``{layer: NodeSpectra}`` whose ``sigmas`` is ``[F, M]`` (one row per input dim).
    """
    return _spectra(model, data, layers, "input", batch_size, chunk, dtype, device, progress)


# --------------------------------------------------------------------------- memory-budgeted passes
def plan_blocks(per: str, n_in: int, widths: dict, budget: int, n_groups: int) -> list[list[tuple]]:
    """Split ``(layer, index)`` Gram blocks into passes whose Grams fit ``budget`` bytes.

    A pass holds its Grams (all groups; float64 totals plus float32 batch sums, see
    :meth:`SLTGrams.nbytes_for`) plus room for folding its largest block into the totals."""
    jobs = []
    for layer, width in widths.items():
        full = width if per == "node" else n_in
        one = SLTGrams.nbytes_for(per, n_in, width, 1)            # one node's (input's) float64 Gram
        if one * (n_groups + 1) > budget:
            need = math.ceil(one * (n_groups + 1) / 2 ** 20)
            raise SLTInputError(f"one {per}'s Gram of layer {layer!r} needs {need} MB ({n_groups} group(s) + a "
                                f"batch product) but memory_budget is {budget / 2 ** 20:.1f} MB; raise memory_budget")
        per_block = max(1, budget // (one * (n_groups + 1)))
        for s in range(0, full, per_block):
            r = min(per_block, full - s)
            jobs.append((layer, np.arange(s, s + r), one * r))
    passes, cur, used, big = [], [], 0, 0
    for layer, idx, b in jobs:
        if cur and used + b * n_groups + max(big, b) > budget:
            passes.append(cur)
            cur, used, big = [], 0, 0
        cur.append((layer, idx))
        used += b * n_groups
        big = max(big, b)
    if cur:
        passes.append(cur)
    return passes


def group_array(groups, n_groups: int) -> np.ndarray:
    """``groups`` as an int64 vector ``[N]`` with values in −1..G−1 (−1 = skip the sample)."""
    g = groups.detach().cpu().numpy() if isinstance(groups, torch.Tensor) else np.asarray(groups)
    if g.ndim != 1 or not np.issubdtype(g.dtype, np.integer):
        raise SLTInputError(f"groups must be an int vector [N] (−1 = skip the sample), got {g.dtype} {g.shape}")
    if g.size and (g.min() < -1 or g.max() >= n_groups):
        raise SLTInputError(f"groups must lie in −1..{n_groups - 1}")
    return g.astype(np.int64)


def join_blocks(parts: list) -> NodeSpectra:
    """One layer's spectra from its node (input) blocks' :class:`SLTGrams`, in index order."""
    parts = sorted(parts, key=lambda a: -1 if a.index is None else int(a.index[0]))
    res = [p.result() for p in parts]
    F = max(r.sigmas.shape[1] for r in res)
    sig = np.concatenate([np.pad(r.sigmas, ((0, 0), (0, F - r.sigmas.shape[1]))) for r in res])
    return NodeSpectra(res[0].layer, sig, np.concatenate([np.atleast_1d(r.auc) for r in res]),
                       np.concatenate([r.dead for r in res]), res[0].n_samples)
