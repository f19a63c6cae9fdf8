"""The one interface the package computes through: a model read once into a :class:`ModelReading`.

A reading holds everything taken from the model's structure (the chain of folded affine blocks, or
the ``torch.fx`` trace) and offers the verbs the rest of the package needs — SLTs of one layer, of
several layers, real activations, Gram operands for the streamed spectra. Two implementations:

* :class:`~slt_widgets.engine.chain_reading.ChainReading` — ReLU-style MLPs as a chain of tall
  matrix multiplies, every chunk checked against the model's own output;
* :class:`~slt_widgets.engine.general.GeneralReading` — any feed-forward model through
  ``torch.func`` Jacobians.

:func:`slt_widgets.engine.dispatch.read_model` chooses one (cached per model) and
:func:`~slt_widgets.engine.dispatch.verified` is the one place that falls back from the chain to the
general path. Every verb takes the user's ``x`` as given and validates it itself; ``dtype`` None
means x's (float32 for non-float input), ``device`` None the model's.
"""
from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from typing import Iterator, Sequence

import numpy as np
from torch import nn

from .errors import SLTInputError
from .maps import LinearMap
from .validate import layer_key

__all__ = ["ModelReading", "Work", "DEFAULT_CHUNK"]

DEFAULT_CHUNK = 256


class Work:
    """Working memory of one call or one stream (never of the cached reading, so nothing large
    outlives the call): scratch buffers of the chain products, the verification's turn and counts,
    and — with ``keep_outputs`` — the output buffers a stream writes every batch into."""

    def __init__(self, keep_outputs: bool = False):
        self.storage: dict | None = {} if keep_outputs else None   # key → (flat weight, flat bias)
        self.scratch: dict = {}
        self.turn = -1                    # the sample position of a chunk checked next (see ChainReading.picks)
        self.checked_chunks = 0           # chunks whose maps were checked against model(x) …
        self.checked_samples = 0          # … and the samples checked in them


class ModelReading(ABC):
    """A model read once, with the verbs the package computes through.

    Attributes: ``model`` (the ``nn.Module``, never changed), ``kind`` (``"chain"`` or
    ``"general"``). Layers are hidden layers ``1..L`` (the k-th nonlinearity's output) and
    ``"output"``, in any spelling :func:`~slt_widgets.engine.validate.resolve_layer` reads.
    """

    kind: str
    _model: "weakref.ref[nn.Module]"

    @property
    def model(self) -> nn.Module:
        """The model read (held weakly: the per-model caches must not keep a model alive)."""
        model = self._model()
        if model is None:
            raise SLTInputError("the model of this reading no longer exists (it was deleted); call "
                                "read_model(model) on a live model")
        return model

    @property
    @abstractmethod
    def exact(self) -> bool:
        """Whether the reading claims exact (piecewise-linear) maps before any call checks them."""

    @abstractmethod
    def n_hidden(self, probe=None) -> int:
        """Number ``L`` of hidden layers; ``probe``: one input batch, needed only by models the
        general path cannot trace (their activation modules are counted on a forward pass)."""

    def layer_key(self, layer, probe=None, allow: tuple = ()):
        """``layer`` in the package's one spelling (:func:`~slt_widgets.engine.validate.layer_key`):
        an int ``1..L``, ``"output"`` or one of ``allow``."""
        return layer_key(self.n_hidden(probe), layer, allow)

    def layer_keys(self, layers: Sequence | None, probe=None, allow: tuple = ()) -> list:
        """Distinct :meth:`layer_key` values of ``layers`` in order (None: every hidden layer and the output)."""
        L = self.n_hidden(probe)
        if layers is None:
            return [*range(1, L + 1), "output"]
        return list(dict.fromkeys(layer_key(L, l, allow) for l in layers))

    @abstractmethod
    def widths(self, layers: Sequence, probe) -> tuple[int, dict]:
        """``(d_in, {layer: width})`` for the canonical ``layers`` on inputs like ``probe [b, …]``."""

    @abstractmethod
    def slt(self, x, layer="output", nodes=None, *, chunk: int = DEFAULT_CHUNK, dtype=None, device=None,
            work: Work | None = None) -> LinearMap:
        """SLTs of one layer: weight ``[n, r, d_in]`` (``[n, r, *shape]`` on the general path), bias
        ``[n, r]`` for ``x [n, d_in]`` and ``r`` selected ``nodes`` (None: all)."""

    @abstractmethod
    def slt_layers(self, x, layers: Sequence | None = None, *, chunk: int = DEFAULT_CHUNK, dtype=None,
                   device=None, work: Work | None = None) -> dict:
        """``{layer: LinearMap}`` with weight ``[n, d_layer, d_in]`` for several layers at once
        (default every hidden layer and the output)."""

    @abstractmethod
    def activations(self, x, *, chunk: int = 4096, dtype=None, device=None) -> dict:
        """Real activations ``{1: [n, d_1], …, L: [n, d_L], "output": [n, d_out]}`` (eval mode)."""

    @abstractmethod
    def gram_operands(self, x, layers: Sequence, per: str, *, chunk: int = 128, dtype=None, device=None,
                      want: np.ndarray | None = None, work: Work | None = None
                      ) -> Iterator[tuple[int, int, dict]]:
        """Yield ``(start, stop, {layer: A})`` over chunks of ``x [n, d_in]``: the batched operands of
        the Grams ``AᵀA`` — ``A [M, c, d_in]`` per node (``per="node"``) or ``[d_in, c, M]`` per input
        dimension (``per="input"``) for the ``c = stop − start`` samples of the chunk. ``layers``:
        canonical keys (see :meth:`layer_keys`). want: optional ``[n]`` bool; chunks holding no wanted
        sample may be skipped."""
