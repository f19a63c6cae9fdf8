"""Gram sums ``Σ AᵀA`` over streamed batches: float32 batch sums updated in place, float64 total.

Both Σ_NODES (one ``[F, F]`` Gram per node) and Σ_INPUTS (one ``[M, M]`` Gram per input
dimension) are batched products of the forward-chain SLTs. Two things keep them near the rate of
a plain matrix multiply: the batch products are added into one preallocated accumulator with
``baddbmm`` (a fresh ``[r, side, side]`` product per chunk costs page faults and a second pass
over memory: ~1.8× slower, measured), and the float64 total is touched once per ``flush_every``
samples instead of once per chunk (a float32 → float64 add converts the whole Gram first).
"""
from __future__ import annotations

import numpy as np
import torch

from .errors import SLTInputError
from .spectra import NodeSpectra, auc_score, spectra_from_gram

__all__ = ["GramSum", "gram_operand", "SLTGrams"]


def gram_operand(jt: torch.Tensor, per: str, index: torch.Tensor | None = None) -> torch.Tensor:
    """The batched operand ``A [r, b, side]`` of the Grams ``AᵀA`` from SLTs ``Jᵀ [b, F, M]``.

    per ``"node"``: ``A[m] = J[:, :, m]`` (``[b, F]``, r = M); per ``"input"``: ``A[f] = J[:, f, :]``
    (``[b, M]``, r = F). index: optional ``[r']`` rows to keep. One copy either way (selection and
    transpose fused); the engine's own passes build these layouts directly
    (``ChainReading.forward_chunk``) and skip it.
    """
    view = jt.permute(2, 0, 1) if per == "node" else jt.permute(1, 0, 2)
    if index is not None:
        return torch.index_select(view, 0, index)
    return view.contiguous()


class GramSum:
    """Running ``Σ AᵀA`` for operands ``A [r, b, side]``; ``total()`` is ``[r, side, side]`` float64 (CPU).

    The batch products accumulate in the operands' dtype and device (float32 on the default path)
    for up to ``flush_every`` samples, then fold into the float64 total. The total keeps only the
    upper triangle (``[r, side·(side+1)/2]``, the Grams are symmetric): 8 + 4 bytes per Gram entry
    become 4 + ~4, so e.g. Σ_INPUTS of four 512-wide layers fits one pass in 3 GB instead of two.
    Folding runs in row blocks of at most ``block_bytes`` (no second full-size copy).
    """

    def __init__(self, r: int, side: int, *, flush_every: int = 4096, block_bytes: int = 64 << 20):
        self.r, self.side = int(r), int(side)
        rows, cols = torch.triu_indices(self.side, self.side)
        self._upper = rows * self.side + cols                   # flat positions of the kept entries
        self._lower = cols * self.side + rows
        self.packed = torch.zeros((self.r, len(self._upper)), dtype=torch.float64)
        self.acc: torch.Tensor | None = None
        self.pending = 0
        self.flush_every = int(flush_every)
        self._step = max(1, block_bytes // max(1, 8 * len(self._upper)))

    def add(self, a: torch.Tensor) -> None:
        """Add ``aᵀa`` for ``a [r, b, side]`` (contiguous)."""
        at = a.transpose(1, 2)
        if self.acc is None or self.acc.dtype != a.dtype or self.acc.device != a.device:
            self.flush()
            self.acc = torch.bmm(at, a)
        else:
            torch.baddbmm(self.acc, at, a, out=self.acc)
        self.pending += a.shape[1]
        if self.pending >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Fold the pending batch sums into the float64 total."""
        if self.acc is None or self.pending == 0:
            return
        flat = self.acc.reshape(self.r, -1)
        upper = self._upper.to(flat.device)
        for s in range(0, self.r, self._step):
            part = torch.index_select(flat[s:s + self._step], 1, upper)
            self.packed[s:s + self._step].add_(part.to("cpu", torch.float64))
        self.acc.zero_()
        self.pending = 0

    def merge(self, other: "GramSum") -> "GramSum":
        """Add another sum of the same shape (in place); returns self."""
        if (other.r, other.side) != (self.r, self.side):
            raise SLTInputError(f"cannot merge Gram sums of shapes {(other.r, other.side)} and {(self.r, self.side)}")
        self.flush()
        other.flush()
        self.packed.add_(other.packed)
        return self

    def total(self) -> torch.Tensor:
        """The float64 Grams ``[r, side, side]`` of everything added so far (a fresh full copy)."""
        self.flush()
        full = torch.empty((self.r, self.side * self.side), dtype=torch.float64)
        full[:, self._lower] = self.packed
        full[:, self._upper] = self.packed
        return full.view(self.r, self.side, self.side)

    def release(self) -> None:
        """Flush and free the batch accumulator (before pickling or when done)."""
        self.flush()
        self.acc = None

    @staticmethod
    def nbytes_for(r: int, side: int, itemsize: int = 4) -> int:
        """Bytes held: the packed float64 total plus the batch accumulator (``itemsize`` bytes per entry)."""
        return r * (8 * side * (side + 1) // 2 + itemsize * side * side)


class SLTGrams:
    """Gram matrices of one layer's SLTs, per node or per input dimension (float64).

    per: ``"node"`` — for each selected node ``m`` the ``[F, F]`` Gram of its ``[N × F]`` SLT
    (``gram [r, F, F]``); ``"input"`` — for each selected input dimension ``f`` the ``[M, M]``
    Gram of the ``[N × M]`` slice (``gram [f, M, M]``). index: the selected nodes / inputs
    (``[r]``, None for all). :meth:`update` takes the forward-chain layout ``Jᵀ [b, F, M]``.
    """

    def __init__(self, layer, per: str, n_in: int, width: int, index=None):
        if per not in ("node", "input"):
            raise SLTInputError(f"per must be 'node' or 'input', got {per!r}")
        self.layer, self.per, self.n_in, self.width = layer, per, int(n_in), int(width)
        full = self.width if per == "node" else self.n_in
        self.index = None if index is None else np.asarray(index, dtype=np.int64)
        r = full if self.index is None else len(self.index)
        side = self.n_in if per == "node" else self.width
        self._sum = GramSum(r, side)
        self._subset = self.index is not None and not np.array_equal(self.index, np.arange(full))
        self._index_t = None
        self.n = 0

    def _rows(self, device) -> torch.Tensor | None:
        """The selected rows as a tensor on ``device``, or None when every row is kept."""
        if not self._subset:
            return None
        if self._index_t is None or self._index_t.device != device:
            self._index_t = torch.as_tensor(self.index, device=device)
        return self._index_t

    @property
    def gram(self) -> torch.Tensor:
        """The float64 Grams ``[r, side, side]`` accumulated so far."""
        return self._sum.total()

    @staticmethod
    def nbytes_for(per: str, n_in: int, width: int, r: int) -> int:
        """Bytes held for ``r`` selected nodes (inputs): float64 Grams plus the float32 batch sums."""
        side = n_in if per == "node" else width
        return GramSum.nbytes_for(r, side)

    def __getstate__(self):          # ship only the float64 totals (Dask partitions)
        self.release()
        state = dict(self.__dict__)
        state["_index_t"] = None
        return state

    def update(self, jt: torch.Tensor) -> "SLTGrams":
        """Add a batch of SLTs in forward-chain layout ``Jᵀ [b, F, M]`` (``LinearMap.weight``
        is ``[b, M, F]``: pass ``weight.transpose(1, 2)``)."""
        jt = jt.detach()
        if jt.ndim != 3 or jt.shape[1] != self.n_in or jt.shape[2] != self.width:
            raise SLTInputError(f"expected SLTs [b, {self.n_in}, {self.width}], got {tuple(jt.shape)}")
        self._sum.add(gram_operand(jt, self.per, self._rows(jt.device)))
        self.n += jt.shape[0]
        return self

    def update_major(self, j: torch.Tensor) -> "SLTGrams":
        """Add a batch in the Gram's own layout: ``[M, b, F]`` (per node) or ``[F, b, M]`` (per
        input), as built by the engine's passes; rows are selected here."""
        rows = self._rows(j.device)
        self._sum.add(j if rows is None else torch.index_select(j, 0, rows))
        self.n += j.shape[1]
        return self

    def release(self) -> "SLTGrams":
        """Fold and free the float32 batch sums (before the spectra are taken, or shipping)."""
        self._sum.release()
        return self

    def flush(self) -> "SLTGrams":
        """Fold the float32 batch sums into the float64 Grams (done by ``gram``, ``merge``, ``result``)."""
        self._sum.flush()
        return self

    def merge(self, other: "SLTGrams") -> "SLTGrams":
        """Add another accumulator over the same layer and selection (in place); returns self."""
        if (not isinstance(other, SLTGrams) or (other._sum.r, other._sum.side) != (self._sum.r, self._sum.side)
                or other.per != self.per
                or not np.array_equal(-1 if other.index is None else other.index,
                                      -1 if self.index is None else self.index)):
            raise SLTInputError("can only merge SLTGrams of the same layer, kind and selection")
        self._sum.merge(other._sum)
        self.n += other.n
        return self

    def result(self) -> NodeSpectra:
        """:class:`~slt_widgets.engine.NodeSpectra`: sigmas ``[r, F]`` (node) or ``[f, M]`` (input)."""
        if self.n == 0:
            raise SLTInputError("no samples were accumulated (empty dataset or iterator)")
        sig = spectra_from_gram(self.gram)          # [r, side], like node_spectra (zeros past rank N)
        dead = sig[:, 0] <= 0
        auc = auc_score(sig) if sig.shape[1] >= 2 else np.full(len(sig), np.nan)
        return NodeSpectra(self.layer, sig, auc, dead, self.n)
