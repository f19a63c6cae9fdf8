"""Gram sums ``Σ AᵀA`` over streamed batches: float32 batch sums updated in place, float64 total.

Both Σ_NODES (one ``[F, F]`` Gram per node) and Σ_INPUTS (one ``[M, M]`` Gram per input
dimension) are batched products of the forward-chain SLTs. Two things keep them near the rate of
a plain matrix multiply: the batch products are added into one preallocated accumulator with
``baddbmm`` (a fresh ``[r, side, side]`` product per chunk costs page faults and a second pass
over memory: ~1.8× slower, measured), and the float64 total is touched once per ``flush_every``
samples instead of once per chunk (a float32 → float64 add converts the whole Gram first).
"""
from __future__ import annotations

import torch

__all__ = ["GramSum", "gram_operand"]


def gram_operand(jt: torch.Tensor, per: str, index: torch.Tensor | None = None) -> torch.Tensor:
    """The batched operand ``A [r, b, side]`` of the Grams ``AᵀA`` from SLTs ``Jᵀ [b, F, M]``.

    per ``"node"``: ``A[m] = J[:, :, m]`` (``[b, F]``, r = M); per ``"input"``: ``A[f] = J[:, f, :]``
    (``[b, M]``, r = F). index: optional ``[r']`` rows to keep. One copy either way (selection and
    transpose fused); the engine's own passes build these layouts directly
    (``slt._forward_chunk_major``) and skip it.
    """
    view = jt.permute(2, 0, 1) if per == "node" else jt.permute(1, 0, 2)
    if index is not None:
        return torch.index_select(view, 0, index)
    return view.contiguous()


class GramSum:
    """Running ``Σ AᵀA`` for operands ``A [r, b, side]``: ``total()`` is ``[r, side, side]`` float64 (CPU).

    The batch products accumulate in the operands' dtype and device (float32 on the default path)
    for up to ``flush_every`` samples, then fold into the float64 total in row blocks of at most
    ``block_bytes`` (so the conversion never holds a second full-size copy).
    """

    def __init__(self, r: int, side: int, *, flush_every: int = 4096, block_bytes: int = 64 << 20):
        self.total64 = torch.zeros((r, side, side), dtype=torch.float64)
        self.acc: torch.Tensor | None = None
        self.pending = 0
        self.flush_every = int(flush_every)
        self._step = max(1, block_bytes // max(1, 8 * side * side))

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
        for s in range(0, self.acc.shape[0], self._step):
            self.total64[s:s + self._step].add_(self.acc[s:s + self._step].to("cpu", torch.float64))
        self.acc.zero_()
        self.pending = 0

    def total(self) -> torch.Tensor:
        """The float64 Grams ``[r, side, side]`` of everything added so far."""
        self.flush()
        return self.total64

    def release(self) -> None:
        """Flush and free the batch accumulator (before pickling or when done)."""
        self.flush()
        self.acc = None

    @staticmethod
    def nbytes_for(r: int, side: int, itemsize: int = 4) -> int:
        """Bytes held: the float64 total plus the batch accumulator (``itemsize`` bytes per entry)."""
        return (8 + itemsize) * r * side * side
