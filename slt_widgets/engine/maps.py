"""The engine's result: per-sample affine maps (:class:`LinearMap`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["LinearMap"]


@dataclass
class LinearMap:
    """Per-sample affine maps ``h = weight @ x + bias``.

    weight: ``[n, d_layer, d_in]`` (``d_layer`` = number of selected nodes);
    bias: ``[n, d_layer]``; exact: True when every nonlinearity on the path is
    piecewise linear (the map is then the network itself around ``x``), False for
    a Jacobian linearisation; layer: ``1..L`` or ``"output"``; nodes: ``[d_layer]``
    indices of the selected rows, or None for all.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    exact: bool
    layer: int | str = "output"
    nodes: np.ndarray | None = None

    def __len__(self) -> int:
        return self.weight.shape[0]

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """``weight @ x + bias`` for inputs ``x [n, d_in]`` or ``[n, *shape]`` → ``[n, d_layer]``.

        A tuple of inputs (a several-input model on the general path) is flattened and
        concatenated in order; weights ``[n, r, *shape]`` are flattened likewise.
        """
        if isinstance(x, (tuple, list)):
            x = torch.cat([t.reshape(t.shape[0], -1) for t in x], 1)
        x = x.reshape(x.shape[0], -1).to(self.weight.dtype)
        w = self.weight.reshape(self.weight.shape[0], self.weight.shape[1], -1)
        return torch.einsum("nrd,nd->nr", w, x) + self.bias

    def numpy(self) -> tuple[np.ndarray, np.ndarray]:
        """``(weight, bias)`` as numpy arrays."""
        return self.weight.detach().cpu().numpy(), self.bias.detach().cpu().numpy()

    @property
    def nbytes(self) -> int:
        return self.weight.numel() * self.weight.element_size() + self.bias.numel() * self.bias.element_size()
